"""The plan: small frozen effects the core asks the shell to carry out on GitHub."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from app.domain.records import Incident


# The hidden marker that makes the bot's comments and issues findable again: one format.
MARKER_PREFIX = "<!-- incident-flow:"


def marker(key: str) -> str:
    """The hidden line that makes a comment findable again: one comment per key."""
    return f"{MARKER_PREFIX}{key} -->"


def marker_pattern(key: str) -> re.Pattern[str]:
    """The markers whose key matches the regular expression `key` (bounded by the caller)."""
    return re.compile(re.escape(MARKER_PREFIX) + key + re.escape(" -->"))


# `number` on an effect: it acts on that issue of the repository instead of the plan's own
# (`/recurrence-of` changes the earlier incident too).


@dataclass(frozen=True)
class AddLabels:
    names: tuple[str, ...]
    number: int | None = None


@dataclass(frozen=True)
class RemoveLabel:
    name: str
    number: int | None = None


@dataclass(frozen=True)
class PostComment:
    """A comment keyed by a hidden marker, so that a retried plan never posts it twice."""

    key: str
    body: str
    # Look for the marker before every post, not only on retries: for answers to comments,
    # which GitHub may deliver again under a new delivery id.
    look_first: bool = False
    number: int | None = None


@dataclass(frozen=True)
class SetIssueState:
    state: str  # "open" | "closed"
    reason: str | None = None  # GitHub's state_reason: completed, not_planned, duplicate, reopened
    number: int | None = None


@dataclass(frozen=True)
class OpenIssue:
    """Open an issue in the same repository (or `repo`), once (its body carries the key's marker).

    Later effects and timeline entries name it with `opened(key)`, which the shell
    replaces with `#NUMBER` once GitHub has given it one.
    """

    key: str
    title: str
    body: str
    labels: tuple[str, ...] = ()
    assignees: tuple[str, ...] = ()
    sub_issue_of: int | None = None  # link it as a sub-issue of this issue number
    record: Incident | None = None  # record the new issue as this incident
    # Look for its marker before every creation, not only on retries: for issues whose record
    # the database may have lost (a retrospective), found again by the marker in their body.
    look_first: bool = False
    # Another repository of the installation (a security report's private incident): effects
    # `on` this key go there too. Never with `sub_issue_of`: it is not work of this issue.
    repo: str | None = None


@dataclass(frozen=True)
class KeepStatusComment:
    """Edit the issue's one status comment in place (`comment_id`, else found by its marker);
    post it again if it is gone. `on`: the key of an issue this plan opens, instead of ours."""

    text: str
    comment_id: int | None = None
    on: str | None = None
    number: int | None = None


@dataclass(frozen=True)
class LabelOpenSubIssues:
    """Add labels to this issue's open sub-issues that carry the label `having`, and take off
    those of `remove` they carry (the other priorities, when `critical` is added)."""

    having: str
    add: tuple[str, ...]
    remove: tuple[str, ...] = ()


@dataclass(frozen=True)
class AddSubIssueLabels:
    """Add labels to one sub-issue (by number), e.g. a stabilization issue linked by hand,
    and take off those of `remove` (the sub-issue's other priority labels)."""

    number: int
    names: tuple[str, ...]
    remove: tuple[str, ...] = ()


@dataclass(frozen=True)
class Assign:
    """Change the issue's assignees: add some, remove others, leave the rest alone."""

    add: tuple[str, ...] = ()
    remove: tuple[str, ...] = ()
    on: str | None = None  # the key of an issue this plan opens, instead of ours


def opened(key: str) -> str:
    """A placeholder for `#NUMBER` of the issue an OpenIssue with `key` creates."""
    return f"\u27e6opened:{key}\u27e7"


def opened_number(key: str) -> str:
    """A placeholder for the bare NUMBER of the issue an OpenIssue with `key` creates."""
    return f"\u27e6number:{key}\u27e7"


Effect = (
    AddLabels
    | RemoveLabel
    | PostComment
    | SetIssueState
    | OpenIssue
    | LabelOpenSubIssues
    | AddSubIssueLabels
    | Assign
    | KeepStatusComment
)
Effects = tuple[Effect, ...]
