"""Run a comment's commands through the registry: permissions, once-only, in order."""

from __future__ import annotations

from dataclasses import replace

from app.commands import REGISTRY, Command, CommandContext
from app.decide import Decision, Issue
from app.plan import AddLabels, Effect, PostComment, RemoveLabel
from app.records import Incident


def run_commands(commands: list[Command], ctx: CommandContext) -> Decision:
    """Decide every command of one comment in order, each seeing the state the last left."""
    incident = ctx.incident
    issue = ctx.issue
    plan: list[Effect] = []
    for command in commands:
        spec = REGISTRY.get(command.name)
        if spec is None:
            continue  # not ours: another bot's command, or prose that starts with "/"
        ref = ctx.ref(command)
        if incident is not None and incident.has_ref(ref):
            continue  # an edited or redelivered comment: this command ran already
        if spec.who == "triage" and not ctx.permitted:
            plan.append(reply(ctx, command, refusal(ctx, command)))
            continue
        if spec.needs_incident and (incident is None or not incident.managed):
            plan.append(
                reply(
                    ctx,
                    command,
                    f"`{command.text}`: this issue is not an incident. Record it first with "
                    "`/incident N` (N = severity 1, 2 or 3).",
                )
            )
            continue
        step = replace(ctx, incident=incident, issue=issue)
        decision = spec.handler(command, step)
        if decision.incident is not None:
            incident = _tag(decision.incident, incident, ref)
        plan += decision.plan
        issue = labels_after(issue, decision.plan)
    return Decision(incident, tuple(plan))


def managed(ctx: CommandContext) -> Incident:
    """The incident a command runs on: the dispatcher answers commands on non-incidents."""
    assert ctx.incident is not None
    return ctx.incident


def reply(ctx: CommandContext, command: Command, text: str) -> PostComment:
    """A short answer to one command, posted once however often the comment is seen."""
    return PostComment(
        key=f"reply:{ctx.ref(command)}", body=f"@{ctx.hint.actor} {text}", look_first=True
    )


def refusal(ctx: CommandContext, command: Command) -> str:
    return (
        f"`{command.text}` needs triage permission or higher on this repository, so it "
        "changed nothing. `/help` lists the commands."
    )


def labels_after(issue: Issue, plan: tuple[Effect, ...]) -> Issue:
    """The issue as it will look once the plan's label effects are applied."""
    labels = list(issue.labels)
    for effect in plan:
        if isinstance(effect, AddLabels):
            labels += [
                n for n in effect.names if n.casefold() not in {x.casefold() for x in labels}
            ]
        elif isinstance(effect, RemoveLabel):
            labels = [n for n in labels if n.casefold() != effect.name.casefold()]
    return replace(issue, labels=tuple(labels))


def _tag(new: Incident, old: Incident | None, ref: str) -> Incident:
    """Mark the timeline entries a command added with the command's identity."""
    start = len(old.timeline) if old is not None else 0
    entries = tuple(
        e if i < start or e.ref else replace(e, ref=ref) for i, e in enumerate(new.timeline)
    )
    return replace(new, timeline=entries)
