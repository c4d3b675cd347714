"""The plan: small frozen effects the core asks the shell to carry out on GitHub."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AddLabels:
    names: tuple[str, ...]


@dataclass(frozen=True)
class RemoveLabel:
    name: str


@dataclass(frozen=True)
class PostComment:
    """A comment keyed by a hidden marker, so that a retried plan never posts it twice."""

    key: str
    body: str


@dataclass(frozen=True)
class SetIssueState:
    state: str  # "open" | "closed"
    reason: str | None = None  # GitHub's state_reason: completed, not_planned, reopened


Effect = AddLabels | RemoveLabel | PostComment | SetIssueState
Plan = tuple[Effect, ...]
