"""The commands every installation has; importing this module registers them."""

from __future__ import annotations

from dataclasses import replace

from app.domain.command_flow import managed, reply
from app.domain.commands import REGISTRY, Command, CommandContext, Handler, command
from app.domain.decide import explain_status
from app.domain.facts import Decision
from app.domain.gates import rules
from app.domain.lifecycle import Severity, Status, legal_moves
from app.domain.plan import Effect, OpenIssue, opened
from app.domain.records import EntryKind, Incident, TimelineEntry
from app.domain.reports import credit_report
from app.domain.security import is_security_report, pointer
from app.domain.status_comment import MOVE_COMMANDS
from app.domain.transitions import (
    MoveKind,
    change_severity,
    recurrence_rule,
    replace_labels,
    request_move,
    stabilization_labels,
)


@command(
    "help",
    usage="/help",
    summary="the commands, who may use them, and the legal moves from the current status",
    who="anyone",
    needs_incident=False,
)
def help_command(cmd: Command, ctx: CommandContext) -> Decision:
    rows = ["| command | what it does | who |", "|---|---|---|"]
    for spec in sorted(REGISTRY.values(), key=lambda s: s.name):
        who = "anyone" if spec.who == "anyone" else "triage or higher"
        aliases = "".join(f" (or `/{a}`)" for a in spec.aliases)
        rows.append(f"| `{spec.usage}`{aliases} | {spec.summary} | {who} |")
    text = "Incident Flow commands (one per line, at most 10 a comment):\n\n" + "\n".join(rows)
    text += (
        f"\n\nAn issue opened with `{ctx.scheme.incident}` by someone below triage is a report "
        f"(`{ctx.scheme.reported}`), not an incident: nobody is paged until a maintainer "
        "declares it with `/incident N`. Other Apps with write access may declare."
    )
    text += f"\n\n{rules(ctx.scheme)} {recurrence_rule(ctx.config.recurrence_window)}"
    if ctx.incident is not None and ctx.incident.managed:
        text += "\n\n" + explain_status(ctx.incident.status, ctx.scheme)
    return Decision(ctx.incident, (reply(ctx, cmd, text),))


@command(
    "incident",
    usage="/incident [1|2|3] [stabilized]",
    summary="record this issue as an incident with that severity (already stable: `stabilized`)",
    needs_incident=False,
)
def incident_command(cmd: Command, ctx: CommandContext) -> Decision:
    if is_security_report(ctx.issue, ctx.scheme):
        return Decision(ctx.incident, (reply(ctx, cmd, pointer(ctx.issue.repo)),))
    words = cmd.args.lower().split()
    severity: Severity | None = None
    stable = False
    for word in words:
        if word in {"1", "2", "3"} and severity is None:
            severity = Severity(int(word))
        elif word in {"stabilized", "stable"} and not stable:
            stable = True
        else:
            return _usage(cmd, ctx, "incident")
    scheme = ctx.scheme
    incident = ctx.incident
    if incident is not None and incident.managed:
        return Decision(
            incident,
            (
                reply(
                    ctx,
                    cmd,
                    f"this issue is already an incident (severity {_sev(incident)}, "
                    f"{incident.status.display}). Use `/severity N` to change its severity.",
                ),
            ),
        )
    at, actor = ctx.hint.at, ctx.hint.actor
    plan: list[Effect] = []
    if incident is not None:  # withdrawn earlier: resume from the record
        incident, credit = credit_report(ctx.issue, incident, scheme)
        incident = replace(incident, managed=True).noted(
            TimelineEntry(at, actor, EntryKind.RESUMED, "Recorded again with /incident")
        )
    else:
        status = Status.STABILIZED if stable else Status.STABILIZATION_PENDING
        incident = Incident(
            repo=ctx.issue.repo,
            repo_id=ctx.issue.repo_id,
            number=ctx.issue.number,
            title=ctx.issue.title,
            status=Status.STABILIZATION_PENDING,
            severity=None,
            declared_at=at,
            declared_by=actor,
        )
        if status is not Status.STABILIZATION_PENDING:
            incident = incident.moved_to(status, at)
        # An outsider's report (`incident:reported`) declared: the timeline credits them.
        incident, credit = credit_report(ctx.issue, incident, scheme)
        incident = incident.noted(
            TimelineEntry(
                at,
                actor,
                EntryKind.DECLARED,
                f"Recorded as {status.display}",
                to_value=status.value,
            )
        )
    if severity is not None:
        incident, effects = change_severity(incident, severity, at=at, actor=actor, scheme=scheme)
        plan += effects
    wanted = [scheme.incident, scheme.status_label(incident.status)]
    if incident.severity is not None:
        wanted.append(scheme.severity_label(incident.severity))
    plan = _set_labels(ctx, wanted) + credit + plan
    if incident.severity is None:
        plan.append(
            reply(
                ctx,
                cmd,
                "recorded. This incident has no severity yet: use `/severity N` "
                "(1 critical, 2 major, 3 minor).",
            )
        )
    return Decision(incident, tuple(plan))


@command("severity", usage="/severity N", summary="change the severity (1, 2 or 3)")
def severity_command(cmd: Command, ctx: CommandContext) -> Decision:
    incident = managed(ctx)
    if cmd.args not in {"1", "2", "3"}:
        return _usage(cmd, ctx, "severity")
    severity = Severity(int(cmd.args))
    if incident.severity == severity:
        return Decision(incident, (reply(ctx, cmd, f"the severity is already {int(severity)}."),))
    changed, effects = change_severity(
        incident, severity, at=ctx.hint.at, actor=ctx.hint.actor, scheme=ctx.scheme
    )
    labels = _set_labels(ctx, [ctx.scheme.severity_label(severity)])
    return Decision(changed, (*labels, *effects))


def _status_command(target: Status) -> Handler:
    def handler(cmd: Command, ctx: CommandContext) -> Decision:
        incident = managed(ctx)
        move = request_move(
            incident,
            target,
            at=ctx.hint.at,
            actor=ctx.hint.actor,
            config=ctx.config,
            title=ctx.issue.title,
            gates=ctx.gates,
        )
        if move.kind is MoveKind.SAME:
            text = f"the incident is already {target.display}. " + explain_status(
                target, ctx.scheme
            )
            return Decision(incident, (reply(ctx, cmd, text),))
        if move.kind is MoveKind.ILLEGAL:
            moves = legal_moves(incident.status)
            options = ", ".join(f"`{MOVE_COMMANDS[m]}`" for m in moves) or "none"
            text = (
                f"{incident.status.display} → {target.display} is not a legal move, so "
                f"nothing changed. {explain_status(incident.status, ctx.scheme)} "
                f"Commands for those moves: {options}."
            )
            return Decision(incident, (reply(ctx, cmd, text),))
        if move.kind is MoveKind.BLOCKED:
            return Decision(incident, (reply(ctx, cmd, f"{move.reason} Nothing changed."),))
        if move.kind is MoveKind.RECURRENCE:
            return Decision(move.incident, move.effects)
        labels = _set_labels(ctx, [ctx.scheme.status_label(target)])
        return Decision(move.incident, (*labels, *move.effects))

    return handler


command("stabilized", usage="/stabilized", summary="→ Stabilized")(
    _status_command(Status.STABILIZED)
)
command(
    "investigating",
    usage="/investigating",
    summary="→ Under investigation",
    aliases=("under-investigation",),
)(_status_command(Status.UNDER_INVESTIGATION))
command("resolved", usage="/resolved", summary="→ Resolved")(_status_command(Status.RESOLVED))
command("reviewed", usage="/reviewed", summary="→ Reviewed; the app closes the issue")(
    _status_command(Status.REVIEWED)
)
command(
    "recurred",
    usage="/recurred",
    summary=(
        "it happened again: back to Stabilization pending, or a new linked incident when "
        "resolved more than 48 hours ago or already reviewed"
    ),
    aliases=("destabilized",),
)(_status_command(Status.STABILIZATION_PENDING))


@command(
    "stabilize",
    usage="/stabilize TITLE",
    summary="open a stabilization issue as a sub-issue (critical for severity 1 and 2)",
)
def stabilize_command(cmd: Command, ctx: CommandContext) -> Decision:
    incident = managed(ctx)
    title = cmd.args.strip()
    if not title:
        return _usage(cmd, ctx, "stabilize")
    key = f"stabilize:{ctx.ref(cmd)}"
    body = (
        f"Stabilization work for incident #{incident.number}, opened by @{ctx.hint.actor} "
        f"with `/stabilize`."
    )
    effect = OpenIssue(
        key=key,
        title=title,
        body=body,
        labels=stabilization_labels(incident, ctx.scheme),
        sub_issue_of=incident.number,
    )
    noted = incident.noted(
        TimelineEntry(
            ctx.hint.at,
            ctx.hint.actor,
            EntryKind.STABILIZATION,
            f"Stabilization issue {opened(key)} opened: {title}",
        )
    )
    return Decision(noted, (effect,))


def _set_labels(ctx: CommandContext, wanted: list[str]) -> list[Effect]:
    """Add `wanted` and remove the labels they replace (other statuses and severities)."""
    return replace_labels(ctx.issue.labels, ctx.scheme, wanted)


def _usage(cmd: Command, ctx: CommandContext, name: str) -> Decision:
    spec = REGISTRY[name]
    text = f"I could not read it. Usage: `{spec.usage}`: {spec.summary}."
    return Decision(ctx.incident, (reply(ctx, cmd, text),))


def _sev(incident: Incident) -> str:
    return str(int(incident.severity)) if incident.severity else "not set"
