"""Follow-ups: issues that keep an incident from recurring, tracked as its sub-issues."""

from __future__ import annotations

import hashlib
import unicodedata
from dataclasses import dataclass, replace
from datetime import datetime

from app.domain.facts import Decision, Hint, Issue
from app.domain.labels import LabelScheme
from app.domain.lifecycle import Status
from app.domain.plan import Effect, Effects, OpenIssue, PostComment, marker, opened
from app.domain.records import EntryKind, Incident, TimelineEntry

# A follow-up's title is one line; GitHub allows 256 characters, a reader wants far fewer.
MAX_TITLE = 120
# Action items opened from one retrospective: a pasted wall of checkboxes is not a plan.
MAX_FROM_RETRO = 20
KEY_PREFIX = "followup:"
# The retrospective's heading its action items are read under (app/domain/retrospectives.py).
HEADING = "Follow-ups"
# The template's own example item, which is no action.
PLACEHOLDER = "_a follow-up issue_"


@dataclass(frozen=True)
class FollowUp:
    """One follow-up issue: by its number, or by the key of the issue this plan opens."""

    number: int | None
    state: str  # "open" | "closed"
    title: str = ""
    opened_at: datetime | None = None
    key: str | None = None

    @property
    def ref(self) -> str:
        return f"#{self.number}" if self.number is not None else opened(self.key or "")


@dataclass(frozen=True)
class FollowUps:
    """The follow-ups a plan knows of; `complete`: all of the incident's (its sub-issues read)."""

    items: tuple[FollowUp, ...]
    complete: bool


def parent_marker(number: int) -> str:
    """Hidden in a follow-up's body: its deliveries queue behind its incident's (payloads)."""
    return marker(f"follow-up-of:{number}")


def clean_title(text: str) -> str:
    """A title a person wrote, made safe to send as one: no control or format characters
    (bidi overrides included), whitespace collapsed, bounded. Linear in the text."""
    kept = "".join(" " if ch.isspace() else ch for ch in text[: MAX_TITLE * 4] if _shown(ch))
    title = " ".join(kept.split())
    return title if len(title) <= MAX_TITLE else title[: MAX_TITLE - 1].rstrip() + "…"


def _shown(ch: str) -> bool:
    return ch.isspace() or not unicodedata.category(ch).startswith("C")


def needs_sub_issues(incident: Incident | None) -> bool:
    """Whether the shell reads the incident's sub-issues: only once it has follow-ups."""
    return incident is not None and any(e.kind == EntryKind.FOLLOW_UP for e in incident.timeline)


def is_follow_up(issue: Issue, scheme: LabelScheme) -> bool:
    return any(label.casefold() == scheme.follow_up.casefold() for label in issue.labels)


def known_follow_ups(
    sub_issues: tuple[Issue, ...] | None, plan: Effects, scheme: LabelScheme, at: datetime
) -> FollowUps | None:
    """The incident's follow-ups after this plan, oldest first: those among its sub-issues
    (when read) and those the plan opens. None: none known, nothing to show or save."""
    listed = sorted(
        (i for i in sub_issues or () if is_follow_up(i, scheme)), key=lambda i: i.number
    )
    # A retried plan opens again an issue an earlier attempt opened: the listed one stands.
    bodies = [i.body for i in listed]
    new = tuple(
        FollowUp(None, "open", e.title, at, key=e.key)
        for e in plan
        if isinstance(e, OpenIssue) and e.key.startswith(KEY_PREFIX) and e.repo is None
        if not any(marker(e.key) in body for body in bodies)
    )
    items = (
        *(FollowUp(i.number, _state(i), i.title, i.created_at) for i in listed),
        *new,
    )
    if sub_issues is None and not new:
        return None
    return FollowUps(items, complete=sub_issues is not None)


def _state(issue: Issue) -> str:
    return "closed" if issue.state == "closed" else "open"


def render(items: tuple[FollowUp, ...]) -> list[str]:
    """Follow-ups by number and state, never their titles in the bot's voice (GitHub shows
    each title beside its reference). A parent has at most 100 sub-issues: bounded."""
    return [f"- {item.ref}: {item.state}" for item in items]


def open_follow_up(
    incident: Incident,
    title: str,
    *,
    key: str,
    hint: Hint,
    scheme: LabelScheme,
    why: str,
    ref: str | None = None,
) -> tuple[Incident, OpenIssue]:
    """The follow-up issue, a sub-issue of the incident labelled as one (never critical)."""
    body = f"A follow-up of incident #{incident.number}: {why}\n\n{parent_marker(incident.number)}"
    effect = OpenIssue(
        key=key,
        title=title,
        body=body,
        labels=(scheme.follow_up,),
        sub_issue_of=incident.number,
    )
    detail = f"Follow-up {opened(key)} opened"
    entry = TimelineEntry(hint.at, hint.actor, EntryKind.FOLLOW_UP, detail, ref=ref)
    return incident.noted(entry), effect


def link_by_hand(hint: Hint, incident: Incident, child: Issue, scheme: LabelScheme) -> Decision:
    """A sub-issue labelled as a follow-up, linked by hand: noted once, never critical."""
    ref = f"follow-up:{child.number}"
    if not incident.managed or incident.has_ref(ref):
        return Decision(incident)
    detail = f"Follow-up #{child.number} linked"
    entry = TimelineEntry(hint.at, hint.actor, EntryKind.FOLLOW_UP, detail, ref=ref)
    return Decision(incident.noted(entry))


def after_retro(
    hint: Hint, decision: Decision, body: str, retro_number: int, scheme: LabelScheme
) -> Decision:
    """A retrospective accepted (its incident is Reviewed): its action items become follow-ups."""
    after = decision.incident
    if after is None or not after.managed or after.status is not Status.REVIEWED:
        return decision
    noted, effects = from_retrospective(hint, after, body, retro_number, scheme)
    return replace(decision, incident=noted, plan=(*decision.plan, *effects))


def from_retrospective(
    hint: Hint, incident: Incident, body: str, retro_number: int, scheme: LabelScheme
) -> tuple[Incident, tuple[Effect, ...]]:
    """A completed retrospective's unchecked action items become follow-ups, each once:
    its key is on the timeline (and in the issue's body, for a retried plan)."""
    items = action_items(body)
    plan: list[Effect] = []
    for item in items[:MAX_FROM_RETRO]:
        title = clean_title(item)
        digest = hashlib.sha256(title.casefold().encode()).hexdigest()[:16]
        key = f"{KEY_PREFIX}action:{retro_number}:{digest}"
        if not title or incident.has_ref(key):
            continue
        why = f"an action item of its retrospective #{retro_number}."
        incident, effect = open_follow_up(
            incident, title, key=key, hint=hint, scheme=scheme, why=why, ref=key
        )
        plan.append(effect)
    if len(items) > MAX_FROM_RETRO:
        text = (
            f"Retrospective #{retro_number} lists {len(items)} unchecked action items; I "
            f"opened follow-ups for the first {MAX_FROM_RETRO}. Open the others with "
            "`/followup TITLE`."
        )
        plan.append(PostComment(f"follow-ups-capped:{retro_number}", text, look_first=True))
    return incident, tuple(plan)


def action_items(body: str) -> list[str]:
    """The unchecked `- [ ]` items under the follow-ups heading, each once, in order.

    One pass over the lines with string operations: linear in the body. Items in code
    blocks or quotes, the template's example and bare references (`#12`) are no actions.
    """
    items: list[str] = []
    seen: set[str] = set()
    inside = fenced = False
    for raw in body.splitlines():
        line = raw.strip()
        if line.startswith(("```", "~~~")):
            fenced = not fenced
            continue
        if fenced:
            continue
        if line.startswith("#") and not line[1:2].isdigit():
            inside = _heading(line) == _heading(HEADING)
            continue
        if not inside or line[:5] not in ("- [ ]", "* [ ]", "+ [ ]"):
            continue
        text = line[5:].strip()
        reference = text.startswith("#") and text[1:2].isdigit()
        if text and text != PLACEHOLDER and not reference and text.casefold() not in seen:
            seen.add(text.casefold())
            items.append(text)
    return items


def _heading(line: str) -> str:
    """A heading's words, lower case, without its `#`s, hyphens or spaces."""
    return "".join(ch for ch in line.lstrip("#").casefold() if ch.isalnum())
