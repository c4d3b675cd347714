"""When the impact began: `/started TIME` backdates it, and time to stabilize counts from it.

TIME is one of three forms, all in UTC unless an offset is written, as GitLab's incident
timeline takes a UTC date and time:

- `2026-11-02 08:30`, `2026-11-02T08:30:15Z`, `2026-11-02T09:30+01:00`: a date and time;
- `08:30` (or `08:30 UTC`): the latest 08:30 UTC at or before the command;
- `45m ago`, `1h30m ago` or `-45m`: that long before the command, to the minute.

The time may not be after the command (never in the future), nor after the incident was
recorded (later impact is not a backdate), nor more than MAX_BACKDATE before the recording
(a mistyped year must not distort the statistics). Every form is read with anchored
patterns of fixed shape: linear in the argument, which the parser already capped.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

from app.domain.command_flow import managed, reply
from app.domain.commands import Command, CommandContext, command
from app.domain.durations import format_duration, format_time, parse_duration
from app.domain.facts import Decision
from app.domain.records import EntryKind, TimelineEntry

MAX_BACKDATE = timedelta(days=30)
USAGE = "/started TIME"
_DATE_TIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2})(?::(\d{2}))?"
    r"\s*(?:(Z|UTC)|([+-])(\d{2}):?(\d{2}))?",
    re.IGNORECASE,
)
_TIME_OF_DAY = re.compile(r"(\d{1,2}):(\d{2})(?:\s*(?:Z|UTC))?", re.IGNORECASE)
FORMS = "`2026-11-02 08:30` (UTC), `08:30` (UTC, the latest one) or `45m ago`"


def parse_started(text: str, *, now: datetime) -> datetime:
    """The moment `text` names, read at `now` (the command's time); ValueError if none."""
    text = text.strip()
    try:
        if found := _DATE_TIME.fullmatch(text):
            return _date_time(found)
        if found := _TIME_OF_DAY.fullmatch(text):
            at = now.astimezone(UTC).replace(
                hour=int(found.group(1)), minute=int(found.group(2)), second=0, microsecond=0
            )
            return at if at <= now else at - timedelta(days=1)
        if span := _ago(text):
            return (now - parse_duration(span)).replace(second=0, microsecond=0)
    except (ValueError, OverflowError):
        pass  # an hour of 25, a month of 13, a span beyond the calendar
    raise ValueError(f"a time like {FORMS}")


def _ago(text: str) -> str | None:
    """The duration of `45m ago` or `-45m` (plain string operations), else None."""
    if text.lower().endswith(" ago"):
        return text[:-4]
    if text.startswith("-"):
        return text[1:]
    return None


def _date_time(found: re.Match[str]) -> datetime:
    year, month, day, hour, minute = (int(found.group(i)) for i in range(1, 6))
    second = int(found.group(6) or 0)
    zone = UTC
    if found.group(8):  # an offset: +01:00 is an hour ahead of UTC
        offset = timedelta(hours=int(found.group(9)), minutes=int(found.group(10)))
        zone = timezone(offset if found.group(8) == "+" else -offset)
    return datetime(year, month, day, hour, minute, second, tzinfo=zone).astimezone(UTC)


@command(
    "started",
    usage=USAGE,
    summary=(
        "when the impact began, if before the recording (`2026-11-02 08:30` UTC, `08:30` or "
        "`45m ago`); time to stabilize counts from it"
    ),
)
def started_command(cmd: Command, ctx: CommandContext) -> Decision:
    incident = managed(ctx)
    now = ctx.hint.at
    try:
        began = parse_started(cmd.args, now=now)
    except ValueError:
        return Decision(incident, (reply(ctx, cmd, f"usage: `{USAGE}`, TIME as {FORMS}."),))
    recorded = incident.declared_at
    problem = None
    if began > now:
        problem = "that is in the future"
    elif began > recorded:
        problem = f"that is after the incident was recorded ({format_time(recorded)})"
    elif recorded - began > MAX_BACKDATE:
        problem = f"that is more than {MAX_BACKDATE.days} days before it was recorded"
    if problem is not None:
        return Decision(incident, (reply(ctx, cmd, f"{problem}, so nothing changed."),))
    if incident.impact_started_at == began:
        text = f"the impact is already recorded as beginning at {format_time(began)}."
        return Decision(incident, (reply(ctx, cmd, text),))
    before = (
        f"{format_duration(recorded - began)} before it was recorded"
        if began < recorded
        else "when it was recorded"
    )
    entry = TimelineEntry(
        now,
        ctx.hint.actor,
        EntryKind.IMPACT,
        f"Impact began {format_time(began)}, {before}",
        from_value=_iso(incident.impact_started_at),
        to_value=_iso(began),
    )
    return Decision(replace(incident, impact_started_at=began).noted(entry), ())


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat() if moment is not None else None
