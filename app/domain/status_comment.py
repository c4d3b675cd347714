"""The incident's status comment, rendered purely from the record: status, lead, timeline."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime

from app.domain.durations import format_duration, format_time
from app.domain.escalation import lead_period
from app.domain.labels import LabelScheme
from app.domain.lifecycle import MEANINGS, SEVERITY_MEANINGS, Status, legal_moves
from app.domain.records import EntryKind, Incident, TimelineEntry

STATUS_KEY = "status"

# The command that makes each move, once the command exists (see `commands_for_moves`).
MOVE_COMMANDS: dict[Status, str] = {
    Status.STABILIZATION_PENDING: "/recurred",
    Status.STABILIZED: "/stabilized",
    Status.UNDER_INVESTIGATION: "/investigating",
    Status.RESOLVED: "/resolved",
    Status.REVIEWED: "/reviewed",
}


def commands_for_moves(registered: Mapping[str, object]) -> dict[Status, str]:
    """The move commands that are registered: a reply never names a command that isn't there."""
    return {s: c for s, c in MOVE_COMMANDS.items() if c.removeprefix("/") in registered}


def render_status(
    incident: Incident,
    scheme: LabelScheme,
    *,
    commands: Mapping[Status, str],
    retro_number: int | str | None = None,
    followups: Sequence[str] = (),
) -> str:
    """The whole status comment; the same record always gives the same text.

    `followups`: the follow-up lines (app/domain/followups.py), by number and state.
    """
    lines = [f"### Incident status: {incident.status.display}", ""]
    if not incident.managed:
        lines += [
            f"The `{scheme.incident}` label was removed, so this issue is no longer managed as "
            f"an incident. Add `{scheme.incident}` again to resume from the record below.",
            "",
        ]
    severity = (
        f"{int(incident.severity)} ({SEVERITY_MEANINGS[incident.severity]})"
        if incident.severity
        else f"not set yet: add one of {_label_list(scheme.severities.values())}"
    )
    rows = [
        ("Severity", severity),
        ("Status", f"**{incident.status.display}**: {MEANINGS[incident.status]}"),
        ("Lead", _lead(incident)),
        ("Recorded", f"{format_time(incident.declared_at)} by {incident.declared_by}"),
        ("Time to stabilize", _since(incident.impact_began, incident.stabilized_at)),
        ("Time to resolve", _since(incident.declared_at, incident.resolved_at)),
    ]
    if incident.impact_started_at is not None:
        # Time to stabilize counts from here (`/started`); the row says so beside it.
        rows.insert(4, ("Impact began", format_time(incident.impact_started_at)))
    if retro_number is not None:
        rows.append(("Retrospective", f"#{retro_number}"))
    lines += ["| | |", "|---|---|"] + [f"| **{k}** | {v} |" for k, v in rows] + [""]
    if moves := _next_moves(incident, scheme, commands, retro_number):
        lines += [*moves, ""]
    if followups:
        lines += ["#### Follow-ups", "", *followups, ""]
    lines += ["#### Timeline", "", *render_timeline(incident.timeline), ""]
    lines.append(
        "<sub>Kept up to date by Incident Flow from its record of the incident: edits to this "
        "comment are overwritten. `/timeline TEXT` adds a note.</sub>"
    )
    return "\n".join(lines)


def _lead(incident: Incident) -> str:
    if incident.lead is None:
        return "none: this incident has no lead. `/lead` takes it"
    period = lead_period(incident)
    if period is not None and not period.acknowledged:
        return f"@{incident.lead} (not acknowledged yet: `/ack`)"
    return f"@{incident.lead}"


def render_timeline(entries: tuple[TimelineEntry, ...]) -> list[str]:
    """The timeline as a Markdown table with GitHub's times (UTC) and who acted."""
    if not entries:
        return ["Nothing recorded yet."]
    rows = ["| time (UTC) | who | what |", "|---|---|---|"]
    for entry in entries:
        when = entry.at.astimezone(UTC).strftime("%Y-%m-%d %H:%M")
        rows.append(f"| {when} | {_cell(entry.actor)} | {_cell(describe(entry))} |")
    return rows


def describe(entry: TimelineEntry) -> str:
    if entry.kind == EntryKind.NOTE:
        return f"Note: {quiet(entry.detail or '')}"
    return quiet(entry.detail or "") or entry.kind.replace("-", " ").capitalize()


def quiet(text: str) -> str:
    """Text people wrote (notes, sub-issue titles), without mentions in the bot's voice.

    A word joiner after `@` keeps the name readable but stops GitHub from notifying it
    each time the status comment is edited.
    """
    return text.replace("@", "@\u2060")


def _next_moves(
    incident: Incident,
    scheme: LabelScheme,
    commands: Mapping[Status, str],
    retro_number: int | str | None,
) -> list[str]:
    if not incident.managed:
        return []
    moves = legal_moves(incident.status)
    if not moves:
        return ["**Next moves:** none, this is the final status."]
    lines = ["**Next moves:**", ""]
    for move in moves:
        ways = [f"`{commands[move]}`"] if move in commands else []
        ways.append(f"the label `{scheme.status_label(move)}`")
        # What holds a move (app/domain/gates.py), said from the record: no call is needed.
        if move is Status.REVIEWED and retro_number is not None:
            held = " and ".join(ways)
            verb = "waits" if len(ways) == 1 else "wait"
            text = f"closing #{retro_number} as completed ({held} {verb} until it is closed)"
        elif move is Status.RESOLVED:
            text = f"{_either(ways)}, once every stabilization issue (`{scheme.stabilization}`)"
            text += " is closed"
        else:
            text = _either(ways)
        lines.append(f"- {move.display}: {text}")
    return lines


def _either(ways: list[str]) -> str:
    return ways[0] if len(ways) == 1 else ", ".join(ways[:-1]) + " or " + ways[-1]


def _label_list(names: Iterable[str]) -> str:
    return ", ".join(f"`{name}`" for name in names)


def _since(start: datetime, end: datetime | None) -> str:
    return format_duration(end - start) if end is not None else "not yet"


def _cell(text: str) -> str:
    # A pipe or a line break would end the table cell early.
    return text.replace("|", "\\|").replace("\r", " ").replace("\n", " ")
