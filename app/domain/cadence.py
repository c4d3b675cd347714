"""Update reminders: when one is owed, to whom, and what it says (pure; the shell sends it)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from app.domain.config import LeadConfig, RepoConfig
from app.domain.durations import format_duration
from app.domain.leads import on_duty_now, runner_at
from app.domain.lifecycle import CLOSED, Status
from app.domain.records import EntryKind, Incident

# A reminder to the maintainers (an incident without a lead) names at most this many.
MAX_MENTIONS = 10
# Entries that start a new count: the incident changed, and with it perhaps the cadence.
_RESTARTS = frozenset({EntryKind.STATUS, EntryKind.SEVERITY, EntryKind.RECURRED, EntryKind.RESUMED})
# The longest `/snooze`: reminders can be held for a night, not forgotten.
MAX_SNOOZE = timedelta(hours=24)


@dataclass(frozen=True)
class Reminder:
    key: str  # the comment's marker: one comment per overdue period
    body: str


def cadence(incident: Incident, config: RepoConfig) -> timedelta | None:
    """How often an update is owed: per severity while Stabilization pending, then the
    slower `updates.stabilized`; none once Resolved (or when the app no longer manages it)."""
    if not incident.managed or incident.status in CLOSED:
        return None
    if incident.status is Status.STABILIZATION_PENDING:
        return config.updates.cadence(incident.severity)
    return config.updates.stabilized


def snoozed_until(incident: Incident) -> datetime | None:
    """The end of the latest `/snooze` (none when never snoozed)."""
    ends = [
        until
        for e in incident.timeline
        if e.kind == EntryKind.SNOOZED and (until := _time(e.to_value)) is not None
    ]
    return max(ends, default=None)


def reminder_due(
    incident: Incident, last_update_at: datetime | None, config: RepoConfig, at: datetime
) -> Reminder | None:
    """The reminder owed at `at`, if no update was posted for longer than the cadence.

    Periods count from the last update (a comment by the lead or a triage+ user), the
    recording, or the last change of status or severity, whichever is latest. A reminder
    waits while it is snoozed, and while the people it would mention are off duty.
    """
    every = cadence(incident, config)
    if every is None:
        return None
    changes = [e.at for e in incident.timeline if e.kind in _RESTARTS]
    since = max([incident.declared_at, *changes, *([last_update_at] if last_update_at else [])])
    periods = (at - since) // every
    if periods < 1:
        return None
    until = snoozed_until(incident)
    if until is not None and at < until:
        return None
    to = recipients(incident, config.lead, at)
    if to is None:
        return None
    key = f"reminder:{int(since.timestamp())}:{periods}"
    return Reminder(key, _body(incident, to, at - since, every))


def recipients(incident: Incident, config: LeadConfig, at: datetime) -> tuple[str, ...] | None:
    """Who a reminder mentions at `at`: the lead, or without one the maintainers (the runner
    first), only those on duty where their hours are known. None: wait until they are back."""
    if incident.lead is not None:
        return (incident.lead,) if on_duty_now(config, incident.lead, at) else None
    runner = runner_at(config, at)
    pool = [runner.login] if runner is not None else []
    pool += [m for m in config.maintainers if m.casefold() not in {p.casefold() for p in pool}]
    if not pool:
        return ()  # nobody to name: the reminder asks whoever reads it
    present = tuple(login for login in pool if on_duty_now(config, login, at))
    return present[:MAX_MENTIONS] or None


def _body(incident: Incident, to: tuple[str, ...], quiet: timedelta, every: timedelta) -> str:
    mentions = " ".join(f"@{login}" for login in to)
    if incident.status is Status.STABILIZATION_PENDING:
        severity = f"severity {int(incident.severity)}" if incident.severity else "this"
        when = f"for a {severity} incident while it is disrupting service"
    else:
        when = "once it is stabilized, until it is resolved"
    ask = (
        f"The runbook asks for one every {format_duration(every)} {when}: what is known, "
        "what is being done, what comes next. `/snooze 2h` holds reminders for a while."
    )
    if incident.lead is None:
        opening = (
            f"this incident has no lead, and no one has posted an update on it for "
            f"{format_duration(quiet)}. One of you, please take it with `/lead`."
        )
    else:
        opening = f"no one has posted an update on this incident for {format_duration(quiet)}."
    if not mentions:
        opening = opening[0].upper() + opening[1:]
    return " ".join(part for part in (mentions, opening, ask) if part)


def _time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None
