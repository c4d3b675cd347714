"""`/recurrence-of #N`: a new issue that reports an incident again, by the 48-hour rule."""

from __future__ import annotations

from dataclasses import replace

from app.domain.command_flow import reply
from app.domain.commands import REGISTRY, Command, CommandContext, command
from app.domain.facts import Decision, Related
from app.domain.lifecycle import Severity, Status
from app.domain.plan import Effect, PostComment, RemoveLabel, SetIssueState
from app.domain.records import EntryKind, Incident, TimelineEntry
from app.domain.reports import credit_report
from app.domain.transitions import (
    MoveKind,
    change_severity,
    recurs_as_new,
    replace_labels,
    request_move,
)

NAME = "recurrence-of"
_DIGITS = frozenset("0123456789")


def recurrence_target(args: str) -> tuple[int, Severity | None] | None:
    """`#N` or `N`, then an optional severity: the incident recurring and the one given."""
    words = args.split()
    if not 1 <= len(words) <= 2:
        return None
    number = words[0].removeprefix("#")
    if not number or len(number) > 9 or not set(number) <= _DIGITS or int(number) == 0:
        return None
    if len(words) == 2 and words[1] not in {"1", "2", "3"}:
        return None
    severity = Severity(int(words[1])) if len(words) == 2 else None
    return int(number), severity


@command(
    NAME,
    usage="/recurrence-of #N [1|2|3]",
    summary=(
        "this new issue reports incident #N again: within 48 hours of its resolution #N goes "
        "back to Stabilization pending and this issue is closed as a duplicate; later (or "
        "once reviewed) this issue becomes a new incident with #N's severity (or the one given)"
    ),
    needs_incident=False,
)
def recurrence_of_command(cmd: Command, ctx: CommandContext) -> Decision:
    target = recurrence_target(cmd.args)
    if target is None:
        text = f"I could not read it. Usage: `{REGISTRY[NAME].usage}`."
        return Decision(ctx.incident, (reply(ctx, cmd, text),))
    number, severity = target
    if number == ctx.issue.number:
        text = "an issue cannot be a recurrence of itself, so nothing changed."
        return Decision(ctx.incident, (reply(ctx, cmd, text),))
    related = ctx.related.get(number)
    old = related.incident if related is not None else None
    if related is None or old is None or not old.managed:
        text = f"#{number} is not an incident I keep a record of, so nothing changed."
        return Decision(ctx.incident, (reply(ctx, cmd, text),))
    if old.has_ref(ctx.ref(cmd)):
        return Decision(ctx.incident)  # a redelivered comment: done already
    if recurs_as_new(old, ctx.hint.at, ctx.config.recurrence_window):
        return _new_incident(cmd, ctx, related, old, severity)
    return _fold_back(cmd, ctx, related, old)


def _fold_back(cmd: Command, ctx: CommandContext, related: Related, old: Incident) -> Decision:
    """Within the window (or not resolved yet): #N is destabilized, this issue a duplicate."""
    at, actor, scheme, here = ctx.hint.at, ctx.hint.actor, ctx.scheme, ctx.issue.number
    number, ref = old.number, ctx.ref(cmd)
    move = request_move(
        old,
        Status.STABILIZATION_PENDING,
        at=at,
        actor=actor,
        config=ctx.config,
        title=related.issue.title,
    )
    moved = move.incident if move.kind is MoveKind.MOVED else old
    moved = moved.noted(
        TimelineEntry(at, actor, EntryKind.RECURRED, f"Recurred: reported again in #{here}")
    )
    moved = _tagged(moved, old, ref)
    pending = scheme.status_label(Status.STABILIZATION_PENDING)
    plan: list[Effect] = replace_labels(related.issue.labels, scheme, [pending], number=number)
    if related.issue.state == "closed":
        plan.append(SetIssueState("open", "reopened", number=number))
    now = "is back to" if move.kind is MoveKind.MOVED else "is still"
    plan.append(
        PostComment(
            key=f"recurrence-of:{ref}",
            body=f"This incident recurred: #{here} reported it again. It {now} "
            "**Stabilization pending**.",
            look_first=True,
            number=number,
        )
    )
    incident = ctx.incident
    if incident is not None and incident.managed:
        # Recorded as an incident already: withdrawn, as a duplicate is not one.
        entry = TimelineEntry(
            at, actor, EntryKind.WITHDRAWN, f"A recurrence of #{number}: closed as a duplicate"
        )
        incident = replace(incident, managed=False).noted(entry)
        plan += [
            RemoveLabel(label)
            for label in ctx.issue.labels
            if scheme.status_of(label) or label.casefold() == scheme.incident.casefold()
        ]
    text = (
        f"this issue reports incident #{number} again, which {_when(old, ctx)}, so #{number} "
        f"{now} Stabilization pending and I closed this issue as its duplicate."
    )
    plan += [reply(ctx, cmd, text), SetIssueState("closed", "duplicate")]
    return Decision(incident, tuple(plan), others=(moved,))


def _new_incident(
    cmd: Command, ctx: CommandContext, related: Related, old: Incident, given: Severity | None
) -> Decision:
    """Beyond the window (or reviewed): this issue is a new incident; #N stays as it is."""
    at, actor, scheme, here = ctx.hint.at, ctx.hint.actor, ctx.scheme, ctx.issue.number
    number, ref = old.number, ctx.ref(cmd)
    why = _when(old, ctx)
    plan: list[Effect] = []
    incident = ctx.incident
    if incident is not None and incident.managed:
        incident = incident.noted(
            TimelineEntry(at, actor, EntryKind.NOTE, f"A recurrence of #{number}")
        )
    else:
        if incident is not None:  # withdrawn earlier: resumed from the record
            incident = replace(incident, managed=True)
        else:
            incident = Incident(
                repo=ctx.issue.repo,
                repo_id=ctx.issue.repo_id,
                number=here,
                title=ctx.issue.title,
                status=Status.STABILIZATION_PENDING,
                severity=None,
                declared_at=at,
                declared_by=actor,
            )
        incident, credit = credit_report(ctx.issue, incident, scheme)
        plan += credit
        incident = incident.noted(
            TimelineEntry(
                at,
                actor,
                EntryKind.DECLARED,
                f"Recorded as {incident.status.display} (recurrence of #{number})",
                to_value=incident.status.value,
            )
        )
    severity = given or (old.severity if incident.severity is None else None)
    if severity is not None:
        incident, effects = change_severity(incident, severity, at=at, actor=actor, scheme=scheme)
        plan += effects
    wanted = [scheme.incident, scheme.status_label(incident.status)]
    if incident.severity is not None:
        wanted.append(scheme.severity_label(incident.severity))
    plan = replace_labels(ctx.issue.labels, scheme, wanted) + plan
    link = TimelineEntry(
        at, actor, EntryKind.RECURRED, f"Recurred: continued as new incident #{here}"
    )
    noted = _tagged(old.noted(link), old, ref)
    plan.append(
        PostComment(
            key=f"recurrence-of:{ref}",
            body=f"This incident recurred: #{here} reported it again. It {why}, so it stays as "
            f"it is and the recurrence is recorded as a new incident, #{here}.",
            look_first=True,
            number=number,
        )
    )
    sev = f"severity {int(incident.severity)}" if incident.severity else "no severity yet"
    text = f"recorded as a new incident ({sev}), a recurrence of #{number}, which {why}."
    return Decision(incident, (*plan, reply(ctx, cmd, text)), others=(noted,))


def _when(old: Incident, ctx: CommandContext) -> str:
    """Why the 48-hour rule decided as it did, in a few words."""
    hours = int(ctx.config.recurrence_window.total_seconds() // 3600)
    if old.status is Status.REVIEWED:
        return "was reviewed"
    if old.status is not Status.RESOLVED:
        return "was not resolved yet"
    if recurs_as_new(old, ctx.hint.at, ctx.config.recurrence_window):
        return f"was resolved more than {hours} hours ago"
    return f"was resolved less than {hours} hours ago"


def _tagged(new: Incident, old: Incident, ref: str) -> Incident:
    """The entries the command added to #N carry its identity: a redelivery does nothing."""
    start = len(old.timeline)
    entries = tuple(
        e if i < start else replace(e, ref=e.ref or ref) for i, e in enumerate(new.timeline)
    )
    return replace(new, timeline=entries)
