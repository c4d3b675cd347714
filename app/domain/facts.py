"""The facts a decision is made from and returns: the issue, the hint, the decision."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from app.domain.plan import Effects
from app.domain.records import Extras, Incident


@dataclass(frozen=True)
class Issue:
    """An issue as just read from GitHub."""

    repo: str
    repo_id: int
    number: int
    id: int
    title: str
    state: str
    labels: tuple[str, ...]
    author: str = ""
    created_at: datetime | None = None  # GitHub's time the issue was opened
    body: str = ""


@dataclass(frozen=True)
class Hint:
    """What a delivery says happened; a hint only: the decision reads the issue itself."""

    event: str
    action: str
    actor: str
    at: datetime
    delivery_id: str
    label: str | None = None
    # Whoever put `incident` on an unrecorded issue may declare (triage or higher, or another
    # App); when not, the issue is an outsider's report. The shell asks GitHub only then.
    declarer_permitted: bool = True


@dataclass(frozen=True)
class Related:
    """Another issue a decision needs (the incident `/recurrence-of #N` names), as read."""

    issue: Issue
    incident: Incident | None
    extras: Extras = field(default_factory=Extras)


@dataclass(frozen=True)
class Decision:
    incident: Incident | None
    plan: Effects = ()
    # `/retro` asked for the retrospective now (what follows the change opens it, once).
    retro: bool = False
    # The records of other incidents this decision changed (each saved with its own issue).
    others: tuple[Incident, ...] = ()
