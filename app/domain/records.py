"""The app's own record of an incident and its timeline, as plain immutable values."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum

from app.domain.lifecycle import Severity, Status


class EntryKind(StrEnum):
    """What a timeline entry records (stored as its value)."""

    DECLARED = "declared"
    REPORTED = "reported"
    STATUS = "status"
    SEVERITY = "severity"
    LEAD = "lead"
    NOTE = "note"
    WITHDRAWN = "withdrawn"
    RESUMED = "resumed"
    REVERTED = "reverted"
    REOPENED = "reopened"
    RECURRED = "recurred"
    STABILIZATION = "stabilization"
    RETRO = "retro"
    IMPACT = "impact"  # `/started`: when the impact began, backdated (to_value: ISO time)
    ALERT = "alert"  # an alert group fired again, resolved, or still fires
    ACKNOWLEDGED = "acknowledged"  # the lead confirmed they lead (app/domain/escalation.py)
    ESCALATION = "escalation"  # a lead's time to acknowledge ran out and no one else was free
    SNOOZED = "snoozed"  # reminders held until `to_value` (an ISO time)
    FOLLOW_UP = "follow-up"


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime  # GitHub's time of the event, never the worker's clock
    actor: str
    kind: str  # an EntryKind (older records may hold other words)
    detail: str = ""
    from_value: str | None = None
    to_value: str | None = None
    ref: str | None = None  # what caused it: "comment:ID:LINE" marks a command as done


@dataclass(frozen=True)
class Extras:
    """What the app keeps beside a record: its status comment, last update, retrospective."""

    status_comment_id: int | None = None
    # The last update: a comment by the lead or a triage+ user (reminders count from it).
    last_human_comment_at: datetime | None = None
    retro_number: int | None = None


@dataclass(frozen=True)
class Incident:
    repo: str
    repo_id: int
    number: int
    status: Status
    severity: Severity | None
    declared_at: datetime
    declared_by: str
    managed: bool = True
    stabilized_at: datetime | None = None
    resolved_at: datetime | None = None
    reviewed_at: datetime | None = None
    title: str = ""
    lead: str | None = None
    # When a lead first acknowledged the incident (time to acknowledge counts to it).
    acknowledged_at: datetime | None = None
    timeline: tuple[TimelineEntry, ...] = field(default=())
    # When the impact began, if before the recording (`/started`); None: at the recording.
    impact_started_at: datetime | None = None

    @property
    def impact_began(self) -> datetime:
        """When users were first affected: time to stabilize counts from here."""
        return self.impact_started_at or self.declared_at

    def moved_to(self, status: Status, at: datetime) -> Incident:
        """This incident with `status` recorded at `at` (milestone times kept first-seen)."""
        changes: dict[str, object] = {"status": status}
        if status is Status.STABILIZED and self.stabilized_at is None:
            changes["stabilized_at"] = at
        if status is Status.RESOLVED:
            # Recurrence counts from the latest resolution.
            changes["resolved_at"] = at
            if self.stabilized_at is None:
                changes["stabilized_at"] = at
        if status is Status.REVIEWED and self.reviewed_at is None:
            changes["reviewed_at"] = at
        return replace(self, **changes)  # type: ignore[arg-type]

    def noted(self, *entries: TimelineEntry) -> Incident:
        return replace(self, timeline=self.timeline + entries)

    @classmethod
    def opened_pending(
        cls,
        repo: str,
        repo_id: int,
        title: str,
        severity: Severity | None,
        *,
        at: datetime,
        actor: str,
        detail: str,
    ) -> Incident:
        """The record of an issue the app opens as a new incident, Stabilization pending
        (an alert, a recurrence, a security report's private copy); the shell fills in the
        number GitHub gives the issue (and the repo id, for another repository)."""
        pending = Status.STABILIZATION_PENDING
        entry = TimelineEntry(at, actor, EntryKind.DECLARED, detail, to_value=pending.value)
        return cls(repo, repo_id, 0, pending, severity, at, actor, title=title).noted(entry)

    def has_ref(self, ref: str) -> bool:
        return any(entry.ref == ref for entry in self.timeline)
