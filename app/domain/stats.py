"""Dashboard numbers, pure: ordering, time in status, time to acknowledge/stabilize/resolve."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from app.domain.durations import format_duration
from app.domain.lifecycle import CLOSED, ORDER, Severity
from app.domain.records import EntryKind, Incident

WINDOW = timedelta(days=90)
SORTS = ("open", "severity", "age", "status", "repo", "lead")


def is_open(incident: Incident) -> bool:
    return incident.status not in CLOSED


def status_since(incident: Incident) -> datetime:
    """When the incident entered its current status (GitHub's time, from the timeline)."""
    for entry in reversed(incident.timeline):
        if (
            entry.kind in (EntryKind.STATUS, EntryKind.DECLARED)
            and entry.to_value == incident.status.value
        ):
            return entry.at
    return incident.declared_at


def time_to_stabilize(incident: Incident) -> timedelta | None:
    """From when the impact began (`/started`, else the recording) to Stabilized."""
    if incident.stabilized_at is None:
        return None
    return max(incident.stabilized_at - incident.impact_began, timedelta(0))


def time_to_acknowledge(incident: Incident) -> timedelta | None:
    """From the recording to the lead's acknowledgement."""
    if incident.acknowledged_at is None:
        return None
    return max(incident.acknowledged_at - incident.declared_at, timedelta(0))


def time_to_resolve(incident: Incident) -> timedelta | None:
    if incident.resolved_at is None:
        return None
    return incident.resolved_at - incident.declared_at


def ordered(incidents: list[Incident], sort: str = "open") -> list[Incident]:
    """Open first, then by severity (unknown last), then oldest first; or by one column."""
    managed = [i for i in incidents if i.managed]

    def severity(i: Incident) -> int:
        return int(i.severity) if i.severity else 9

    keys = {
        "open": lambda i: (not is_open(i), severity(i), i.declared_at),
        "severity": lambda i: (severity(i), not is_open(i), i.declared_at),
        "age": lambda i: (i.declared_at,),
        "status": lambda i: (ORDER.index(i.status), severity(i), i.declared_at),
        "repo": lambda i: (i.repo.lower(), i.number),
        "lead": lambda i: (i.lead is None, (i.lead or "").lower(), i.declared_at),
    }
    return sorted(managed, key=keys.get(sort, keys["open"]))


def percentile(values: list[float], fraction: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default)."""
    if not values:
        return None
    ranked = sorted(values)
    position = fraction * (len(ranked) - 1)
    low = int(position)
    high = min(low + 1, len(ranked) - 1)
    return ranked[low] + (ranked[high] - ranked[low]) * (position - low)


@dataclass(frozen=True)
class Spread:
    count: int
    median: float | None  # seconds
    p90: float | None

    @classmethod
    def of(cls, durations: list[timedelta]) -> Spread:
        seconds = [d.total_seconds() for d in durations]
        return cls(len(seconds), percentile(seconds, 0.5), percentile(seconds, 0.9))


@dataclass(frozen=True)
class SeverityStats:
    severity: Severity
    incidents: int
    to_stabilize: Spread
    to_resolve: Spread
    to_acknowledge: Spread = Spread(0, None, None)


def severity_stats(
    incidents: list[Incident], now: datetime, window: timedelta = WINDOW
) -> list[SeverityStats]:
    """Per severity, over incidents recorded in the window: median and p90 durations."""
    recent = [i for i in incidents if i.managed and i.declared_at >= now - window]
    result = []
    for severity in Severity:
        group = [i for i in recent if i.severity == severity]
        result.append(
            SeverityStats(
                severity,
                len(group),
                Spread.of([d for d in map(time_to_stabilize, group) if d is not None]),
                Spread.of([d for d in map(time_to_resolve, group) if d is not None]),
                Spread.of([d for d in map(time_to_acknowledge, group) if d is not None]),
            )
        )
    return result


def humanize(duration: timedelta | float | None) -> str:
    """`3d 4h`, `2h 5m`, `12m`, `40s`; an em dash when unknown."""
    if duration is None:
        return "—"
    span = duration if isinstance(duration, timedelta) else timedelta(seconds=duration)
    return format_duration(span, seconds=True)
