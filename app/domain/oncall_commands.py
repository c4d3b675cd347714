"""On-call commands: `/ack` (the lead confirms) and `/snooze DURATION` (hold reminders)."""

from __future__ import annotations

from app.domain.cadence import MAX_SNOOZE
from app.domain.command_flow import managed, reply
from app.domain.commands import Command, CommandContext, command
from app.domain.durations import format_duration, format_time, parse_duration
from app.domain.escalation import acknowledge, lead_period, leads
from app.domain.facts import Decision
from app.domain.lifecycle import CLOSED
from app.domain.records import EntryKind, TimelineEntry

_MOST = f"{int(MAX_SNOOZE.total_seconds() // 3600)}h"


@command(
    "ack",
    usage="/ack",
    summary="the lead acknowledges leading this incident (any comment of theirs does too)",
    who="anyone",
)
def ack_command(cmd: Command, ctx: CommandContext) -> Decision:
    incident = managed(ctx)
    if not leads(incident, ctx.hint.actor):
        # No mention: naming the lead here must not make the bot ping them.
        who = f"{incident.lead} leads it" if incident.lead else "it has no lead"
        text = f"only the lead acknowledges, and {who}. `/lead` takes the lead yourself."
        return Decision(incident, (reply(ctx, cmd, text),))
    period = lead_period(incident)
    if period is not None and period.acknowledged:
        return Decision(incident, (reply(ctx, cmd, "you have acknowledged already."),))
    return Decision(acknowledge(incident, ctx.hint.actor, ctx.hint.at))


@command(
    "snooze",
    usage="/snooze DURATION",
    summary=f"hold update reminders for a while: `30m`, `2h` (at most {_MOST})",
)
def snooze_command(cmd: Command, ctx: CommandContext) -> Decision:
    incident = managed(ctx)
    try:
        span = parse_duration(cmd.args)
    except ValueError:
        text = "usage: `/snooze DURATION`, e.g. `/snooze 2h`."
        return Decision(incident, (reply(ctx, cmd, text),))
    if span > MAX_SNOOZE:
        text = f"reminders can be snoozed for {_MOST} at most."
        return Decision(incident, (reply(ctx, cmd, text),))
    if incident.status in CLOSED:
        text = f"no reminders are sent once an incident is {incident.status.display}."
        return Decision(incident, (reply(ctx, cmd, text),))
    until = ctx.hint.at + span
    entry = TimelineEntry(
        ctx.hint.at,
        ctx.hint.actor,
        EntryKind.SNOOZED,
        f"Reminders snoozed for {format_duration(span)}, until {format_time(until)}",
        to_value=until.isoformat(),
    )
    return Decision(incident.noted(entry))
