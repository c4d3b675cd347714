"""Lead duty, pure: who led which incident when (from its timeline), and each person's load.

A lead period is one person leading one open incident at one severity. Periods come from
the timeline, which records every lead change with GitHub's time: the first `lead` entry's
`from_value` is who led before it (none for the first choice), and an incident whose record
names a lead without any `lead` entry (recorded before there were any) was led by that
person from its recording. A period ends at the next hand-over, a severity change (a new
period at the new severity), Resolved or Reviewed, or the incident's withdrawal; reopening
the incident within the recurrence window starts a new one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from app.domain.lifecycle import CLOSED, Severity, Status
from app.domain.records import EntryKind, Incident, TimelineEntry

WINDOWS = (30, 90, 365)  # days: the periods the dashboard and the CLI show
# Severities in the order tables show them; None: not set yet.
SEVERITIES: tuple[Severity | None, ...] = (*Severity, None)
# A period still running is the most recent duty of all (for the lead choice).
LEADING_NOW = datetime.max.replace(tzinfo=UTC)
# The timeline entries that change who leads, whether the incident is open, or its severity.
DUTY_KINDS = frozenset(
    {
        EntryKind.DECLARED,
        EntryKind.STATUS,
        EntryKind.SEVERITY,
        EntryKind.LEAD,
        EntryKind.WITHDRAWN,
        EntryKind.RESUMED,
    }
)
_STATUS_KINDS = (EntryKind.DECLARED, EntryKind.STATUS)


@dataclass(frozen=True)
class LeadPeriod:
    login: str
    repo: str
    number: int
    severity: Severity | None
    start: datetime
    end: datetime | None = None  # None: still leading


@dataclass(frozen=True)
class _State:
    lead: str | None
    status: Status | None  # None: before the recording
    severity: Severity | None
    managed: bool = True

    def on_duty(self) -> bool:
        return (
            self.lead is not None
            and self.managed
            and self.status is not None
            and self.status not in CLOSED
        )

    def duty(self) -> tuple[str | None, Severity | None] | None:
        """Who leads at which severity; None while nobody is on duty."""
        return (self.lead, self.severity) if self.on_duty() else None

    def after(self, entry: TimelineEntry) -> _State:
        if entry.kind in _STATUS_KINDS:
            return replace(self, status=_status(entry.to_value) or self.status)
        if entry.kind == EntryKind.SEVERITY:
            return replace(self, severity=_severity(entry.to_value))
        if entry.kind == EntryKind.LEAD:
            return replace(self, lead=entry.to_value or None)
        return replace(self, managed=entry.kind != EntryKind.WITHDRAWN)


def lead_periods(incident: Incident) -> list[LeadPeriod]:
    """The incident's lead periods in time order (GitHub's times, never going backwards)."""
    changes = [e for e in incident.timeline if e.kind in DUTY_KINDS]
    state = _State(
        lead=_before(changes, (EntryKind.LEAD,), incident.lead),
        status=_status(_before(changes, _STATUS_KINDS, incident.status.value)),
        severity=_severity(
            _before(changes, (EntryKind.SEVERITY,), _text(incident.severity)),
        ),
    )
    periods: list[LeadPeriod] = []
    start = incident.declared_at
    for entry in changes:
        after = state.after(entry)
        if after.duty() == state.duty():
            state = after  # Stabilized → Under investigation: the same period goes on
            continue
        # Deliveries may carry times slightly out of order: a period never ends before it began.
        at = max(entry.at, start)
        periods += _period(incident, state, start, at)
        state, start = after, at
    # The record is the authority on the present: a period it does not show open has ended.
    ongoing = incident.managed and incident.status not in CLOSED
    periods += _period(incident, state, start, None if ongoing else start)
    return periods


def _period(
    incident: Incident, state: _State, start: datetime, end: datetime | None
) -> list[LeadPeriod]:
    if state.lead is None or not state.on_duty() or (end is not None and end <= start):
        return []
    return [LeadPeriod(state.lead, incident.repo, incident.number, state.severity, start, end)]


def duty_periods(incidents: Iterable[Incident]) -> list[LeadPeriod]:
    """Every lead period of the managed incidents (a withdrawn one was a false alarm)."""
    return [p for i in incidents if i.managed for p in lead_periods(i)]


def last_led(periods: Iterable[LeadPeriod]) -> dict[str, datetime]:
    """When each person (casefolded login) last led: a hand-over keeps its credit."""
    latest: dict[str, datetime] = {}
    for period in periods:
        key, end = period.login.casefold(), period.end or LEADING_NOW
        if key not in latest or end > latest[key]:
            latest[key] = end
    return latest


@dataclass(frozen=True)
class Load:
    incidents: int = 0
    seconds: float = 0.0

    @property
    def hours(self) -> float:
        return self.seconds / 3600


@dataclass(frozen=True)
class Duty:
    """One person's lead duty over a window: in all, and per severity."""

    login: str
    total: Load
    by_severity: Mapping[Severity | None, Load]


def lead_duty(periods: Iterable[LeadPeriod], *, now: datetime, days: int) -> list[Duty]:
    """Per person, the incidents led and the time led within the last `days` days, most first.

    An incident counts once per person, under the most severe severity they led it at.
    """
    since = now - timedelta(days=days)
    names: dict[str, str] = {}
    worst: dict[str, dict[tuple[str, int], Severity | None]] = {}
    seconds: dict[str, dict[Severity | None, float]] = {}
    for period in sorted(periods, key=lambda p: p.start):
        led = min(period.end or now, now) - max(period.start, since)
        if led <= timedelta(0):
            continue
        key = period.login.casefold()
        names[key] = period.login  # the latest spelling
        incident = (period.repo.casefold(), period.number)
        held = worst.setdefault(key, {})
        if incident not in held or _rank(period.severity) < _rank(held[incident]):
            held[incident] = period.severity
        per = seconds.setdefault(key, {})
        per[period.severity] = per.get(period.severity, 0.0) + led.total_seconds()
    result = []
    for key, login in names.items():
        counts = list(worst[key].values())
        by = {s: Load(counts.count(s), seconds[key].get(s, 0.0)) for s in SEVERITIES}
        total = Load(len(counts), sum(seconds[key].values()))
        result.append(Duty(login, total, by))
    return sorted(result, key=lambda d: (-d.total.seconds, -d.total.incidents, d.login.lower()))


def _before(changes: list[TimelineEntry], kinds: tuple[str, ...], now: str | None) -> str | None:
    """The value before the first change of these kinds (its `from_value`), else `now`."""
    for entry in changes:
        if entry.kind in kinds:
            return entry.from_value
    return now


def _rank(severity: Severity | None) -> int:
    return int(severity) if severity is not None else 9


def _text(severity: Severity | None) -> str | None:
    return str(int(severity)) if severity is not None else None


def _severity(value: str | None) -> Severity | None:
    if value is None or value not in {"1", "2", "3"}:
        return None
    return Severity(int(value))


def _status(value: str | None) -> Status | None:
    try:
        return Status(value) if value is not None else None
    except ValueError:
        return None
