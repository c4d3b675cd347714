"""Run a comment's commands through the registry: permissions, once-only, one reply at most."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, TypeGuard

from app.domain.commands import REGISTRY, Command, CommandContext
from app.domain.facts import Decision, Issue, Related
from app.domain.followup import wants_retro
from app.domain.gates import Gates
from app.domain.payloads import is_bot
from app.domain.plan import AddLabels, Effect, PostComment, RemoveLabel, marker
from app.domain.records import Incident

# One comment runs at most this many commands: a pasted wall of commands is not a runbook.
MAX_COMMANDS = 10
# `/help` is answered at most once per issue in this time: a table per line is a flood.
HELP_EVERY = timedelta(minutes=10)
# Hidden in a reply that carries the help table, so the next `/help` can see it was given.
HELP_MARK = marker("help-given")
# How much of a command's argument a reply may show, after sanitising.
SHOWN_ARGS = 40
_SHOWN_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ._-")


def run_commands(commands: list[Command], ctx: CommandContext) -> Decision:
    """Decide a comment's first commands in order, each seeing the state the last left.

    Every answer is gathered into one reply. Below triage on an issue that is not an
    incident nothing is answered at all: a stranger must not be able to make the bot talk.
    """
    incident = ctx.incident
    issue = ctx.issue
    gates = ctx.gates
    if not ctx.permitted and not (incident is not None and incident.managed):
        return Decision(incident, ())
    known = [c for c in commands if c.name in REGISTRY]  # others: another bot's, or prose
    plan: list[Effect] = []
    answers: list[tuple[Command, str]] = []
    others: dict[int, Incident] = {}  # other incidents the commands changed, by number
    helped = ran = retro = False
    for command in known[:MAX_COMMANDS]:
        spec = REGISTRY[command.name]
        ref = ctx.ref(command)
        if incident is not None and incident.has_ref(ref):
            continue  # an edited or redelivered comment: this command ran already
        if spec.who == "triage" and not ctx.permitted:
            answers.append((command, refusal()))
            continue
        if spec.needs_incident and (incident is None or not incident.managed):
            answers.append(
                (
                    command,
                    "this issue is not an incident. Record it first with `/incident N` "
                    "(N = severity 1, 2 or 3).",
                )
            )
            continue
        if command.name == "help":
            if helped or help_recent(ctx):
                continue  # given in this reply, or on this issue a moment ago
            helped = True
        related = _with_others(ctx, others)
        step = replace(ctx, incident=incident, issue=issue, gates=gates, related=related)
        decision = spec.handler(command, step)
        ran = True
        retro = retro or decision.retro
        if gates is not None and _opens_retro(gates, incident, decision, retro, ctx):
            # The retrospective this plan opens holds a later `/reviewed` as an open one would.
            gates = replace(gates, retro_coming=True)
        if decision.incident is not None:
            incident = _tag(decision.incident, incident, ref)
        others.update((other.number, other) for other in decision.others)
        # The answers on this issue make its one reply; comments on another issue stay.
        effects = tuple(e for e in decision.plan if not _answer(e))
        answers += [(command, e.body) for e in decision.plan if _answer(e)]
        plan += effects
        issue = labels_after(issue, effects)
    skipped = len(known) - MAX_COMMANDS
    # Commands skipped are worth a word when something else was done or said, not alone:
    # a reader's wall of `/help`, answered a minute ago, gets no reply at all.
    if answers or (ran and skipped > 0):
        plan.append(_one_reply(ctx, answers, skipped, helped))
    return Decision(incident, tuple(plan), retro=retro, others=tuple(others.values()))


def _answer(effect: Effect) -> TypeGuard[PostComment]:
    return isinstance(effect, PostComment) and effect.number is None


def _with_others(ctx: CommandContext, others: dict[int, Incident]) -> Mapping[int, Related]:
    """The related issues with the records earlier commands of the comment changed."""
    if not others:
        return ctx.related
    return {
        number: replace(related, incident=others.get(number, related.incident))
        for number, related in ctx.related.items()
    }


def _opens_retro(
    gates: Gates, before: Incident | None, decision: Decision, asked: bool, ctx: CommandContext
) -> bool:
    """Whether the plan so far opens the retrospective: `/retro`, or reaching Resolved."""
    if gates.had_retro or decision.incident is None:
        return False
    return asked or wants_retro(before, decision.incident, ctx.config)


def _one_reply(
    ctx: CommandContext, answers: list[tuple[Command, str]], skipped: int, helped: bool
) -> PostComment:
    """The comment's one reply, keyed by the comment: a redelivery finds it, never repeats it."""
    parts = [f"`{shown(command)}`: {text}" for command, text in answers]
    if skipped > 0:
        parts.append(
            f"{skipped} more command{'s' if skipped > 1 else ''} ignored: at most "
            f"{MAX_COMMANDS} run per comment."
        )
    body = f"@{ctx.hint.actor} " + "\n\n".join(parts)
    if helped:
        body += f"\n\n{HELP_MARK}"
    return PostComment(key=f"reply:comment:{ctx.comment_id}", body=body, look_first=True)


def help_recent(ctx: CommandContext) -> bool:
    """True when the bot gave `/help` on this issue within HELP_EVERY before the comment
    (or after it: then perhaps to this very comment, delivered again)."""
    given = ctx.help_given_at
    return given is not None and ctx.hint.at - given < HELP_EVERY


def help_given_at(comments: Iterable[dict[str, Any]]) -> datetime | None:
    """When the bot last posted the help table, from an issue's comments as GitHub lists them."""
    latest: datetime | None = None
    for comment in comments:
        user = comment.get("user") or {}
        if not is_bot(str(user.get("login") or ""), user.get("type")):
            continue  # a user pasting the mark must not silence help for others
        if HELP_MARK not in str(comment.get("body") or ""):
            continue
        try:
            at = datetime.fromisoformat(str(comment.get("created_at")).replace("Z", "+00:00"))
        except ValueError:
            continue
        latest = at if latest is None or at > latest else latest
    return latest


def shown(command: Command) -> str:
    """The command as a reply may show it: its name and a short, defanged argument.

    Whatever a user wrote is hostile in the bot's voice: no mentions, links, Markdown or
    length survive. Linear in the argument, which the parser already capped.
    """
    words = [w for w in command.args.split() if not _linkish(w)]
    args = "".join(ch for ch in " ".join(words) if ch in _SHOWN_CHARS).strip()
    if len(args) > SHOWN_ARGS:
        args = args[:SHOWN_ARGS].rstrip() + "..."
    return f"/{command.name} {args}" if args else f"/{command.name}"


def _linkish(word: str) -> bool:
    lowered = word.casefold()
    return ":" in word or "/" in word or lowered.startswith("www.") or "@" in word[1:]


def managed(ctx: CommandContext) -> Incident:
    """The incident a command runs on: the dispatcher answers commands on non-incidents."""
    assert ctx.incident is not None
    return ctx.incident


def reply(ctx: CommandContext, command: Command, text: str) -> PostComment:
    """A command's answer: one part of the comment's one reply (see run_commands)."""
    return PostComment(key=f"reply:{ctx.ref(command)}", body=text, look_first=True)


def refusal() -> str:
    return (
        "needs triage permission or higher on this repository, so it changed nothing. "
        "`/help` lists the commands."
    )


def labels_after(issue: Issue, plan: tuple[Effect, ...]) -> Issue:
    """The issue as it will look once the plan's label effects are applied."""
    labels = list(issue.labels)
    for effect in plan:
        if isinstance(effect, AddLabels | RemoveLabel) and effect.number is not None:
            continue  # on another issue
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
