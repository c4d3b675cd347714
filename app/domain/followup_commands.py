"""The lead, notes, retrospective and follow-up commands: /lead, /timeline, /retro, /followup."""

from __future__ import annotations

import re
from dataclasses import replace

from app.domain.command_flow import managed, reply
from app.domain.commands import Command, CommandContext, command
from app.domain.escalation import hand_over, leads
from app.domain.facts import Decision
from app.domain.followups import KEY_PREFIX, clean_title, open_follow_up
from app.domain.plan import Assign
from app.domain.records import EntryKind, TimelineEntry

# A GitHub login: letters, digits and single hyphens, at most 39 characters.
LOGIN = re.compile(r"^@?([A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38})$")


@command(
    "lead",
    usage="/lead [@user]",
    summary=(
        "make @user the incident's lead (yourself without a name); assigns them. "
        "`/lead decline`: the lead hands it to the next candidate"
    ),
)
def lead_command(cmd: Command, ctx: CommandContext) -> Decision:
    incident = managed(ctx)
    words = cmd.args.split()
    if [w.casefold() for w in words] == ["decline"]:
        return _decline(cmd, ctx)
    match = LOGIN.match(words[0]) if len(words) == 1 else None
    if len(words) > 1 or (words and match is None):
        usage = "usage: `/lead @user`, `/lead` alone, or `/lead decline`"
        return Decision(incident, (reply(ctx, cmd, usage),))
    new = match.group(1) if match else ctx.hint.actor
    old = incident.lead
    if old is not None and old.casefold() == new.casefold():
        # No mention: a login someone typed must not make the bot ping that person.
        return Decision(incident, (reply(ctx, cmd, f"{new} already leads this incident."),))
    detail = f"Lead: {old} → {new}" if old else f"Lead: {new}"
    entry = TimelineEntry(
        ctx.hint.at, ctx.hint.actor, EntryKind.LEAD, detail, from_value=old, to_value=new
    )
    plan = (Assign(add=(new,), remove=(old,) if old else ()),)
    return Decision(replace(incident, lead=new).noted(entry), plan)


def _decline(cmd: Command, ctx: CommandContext) -> Decision:
    """The lead cannot lead: the next candidate is asked, as when their time runs out."""
    incident = managed(ctx)
    if not leads(incident, ctx.hint.actor):
        who = f"{incident.lead} leads it" if incident.lead else "it has no lead"
        text = f"only the lead can decline, and {who}. `/lead @user` hands it to someone."
        return Decision(incident, (reply(ctx, cmd, text),))
    why = f"{incident.lead} declined"
    changed, effects = hand_over(
        incident,
        ctx.config,
        ctx.last_led,
        at=ctx.hint.at,
        actor=ctx.hint.actor,
        why=why,
        keep_if_alone=False,
    )
    if changed.lead is None:
        text = "no one else is available to lead: this incident has no lead until someone takes it."
        effects = (*effects, reply(ctx, cmd, text))
    return Decision(changed, effects)


@command(
    "timeline",
    usage="/timeline TEXT",
    summary="add a note to the incident's timeline",
)
def timeline_command(cmd: Command, ctx: CommandContext) -> Decision:
    incident = managed(ctx)
    if not cmd.args:
        return Decision(incident, (reply(ctx, cmd, "usage: `/timeline what happened`"),))
    entry = TimelineEntry(ctx.hint.at, ctx.hint.actor, EntryKind.NOTE, cmd.args)
    return Decision(incident.noted(entry), ())


@command(
    "retro",
    usage="/retro",
    summary="open the retrospective issue now (Sev 1/2 get one on reaching Resolved)",
)
def retro_command(cmd: Command, ctx: CommandContext) -> Decision:
    # What follows the change opens the issue (app/domain/followup.py), once per incident.
    incident = managed(ctx)
    entry = TimelineEntry(ctx.hint.at, ctx.hint.actor, EntryKind.RETRO, "Retrospective requested")
    return Decision(incident.noted(entry), (), retro=True)


@command(
    "followup",
    usage="/followup TITLE",
    summary="open a follow-up issue as a sub-issue of the incident (never critical)",
    aliases=("follow-up",),
)
def followup_command(cmd: Command, ctx: CommandContext) -> Decision:
    incident = managed(ctx)
    title = clean_title(cmd.args)
    if not title:
        text = "usage: `/followup TITLE`, e.g. `/followup Alert on queue depth`"
        return Decision(incident, (reply(ctx, cmd, text),))
    noted, effect = open_follow_up(
        incident,
        title,
        key=KEY_PREFIX + ctx.ref(cmd),
        hint=ctx.hint,
        scheme=ctx.scheme,
        why="opened with `/followup`.",
    )
    return Decision(noted, (effect,))
