"""Slash commands in issue comments: the parser and the registry of commands."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from app.domain.config import RepoConfig
    from app.domain.facts import Decision, Hint, Issue, Related
    from app.domain.gates import Gates
    from app.domain.labels import LabelScheme
    from app.domain.records import Incident

# A command is a whole line starting with "/": `/name args`, anchored like Prow's plugins.
# Read with plain string operations, never a backtracking regex: a comment is hostile input,
# and every line costs time linear in its length. A longer line is prose, not a command.
MAX_COMMAND_LINE = 200
FENCE = re.compile(r"^\s{0,3}(```|~~~)")  # bounded and anchored: constant time per line
_LETTERS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_NAME_TAIL = _LETTERS | frozenset("0123456789_-")


@dataclass(frozen=True)
class Command:
    name: str  # canonical name, lower case, aliases resolved
    args: str
    line: int  # 1-based line in the comment: with the comment id, the command's identity
    text: str  # the line as written (never echoed: replies show `command_flow.shown`)


def parse_commands(body: str | None) -> list[Command]:
    """Every command line in a comment, in order; quotes and code blocks are skipped.

    Never raises: any text is a valid comment, most of it with no command at all.
    """
    commands: list[Command] = []
    fence: str | None = None
    for number, raw in enumerate((body or "").splitlines(), start=1):
        opened = FENCE.match(raw)
        if opened:
            marker = opened.group(1)
            if fence is None:
                fence = marker
            elif marker == fence:
                fence = None
            continue
        if fence is not None or raw.startswith(("    ", "\t")):
            continue  # inside a fenced or an indented code block
        line = raw.strip()
        if line.startswith(">"):
            continue  # a quoted command does nothing
        read = command_line(line)
        if read is None:
            continue
        name, args = read
        commands.append(Command(ALIASES.get(name, name), args, number, line))
    return commands


def command_line(line: str) -> tuple[str, str] | None:
    """`(name, args)` of a stripped line that is a command, else None; linear in the line."""
    if len(line) > MAX_COMMAND_LINE or len(line) < 2 or line[0] != "/":
        return None
    if line[1] not in _LETTERS:
        return None
    end = 2
    while end < len(line) and line[end] in _NAME_TAIL:
        end += 1
    rest = line[end:]
    if rest and rest[0] not in " \t":
        return None  # `/help!` or `/path/to/file`: prose
    return line[1:end].lower(), rest.strip()


@dataclass(frozen=True)
class CommandContext:
    """What a command decides from: the comment's hint, the issue, the record, the caller."""

    hint: Hint
    issue: Issue
    incident: Incident | None
    config: RepoConfig
    comment_id: int
    permitted: bool  # the commenter has triage or higher on the repository
    # When the bot last gave `/help` on this issue, as the shell read it from its comments.
    help_given_at: datetime | None = None
    # The open sub-issues that may hold `/resolved` and `/reviewed`, when the shell read them.
    gates: Gates | None = None
    # Other issues the comment's commands name, as the shell read them (`/recurrence-of #N`).
    related: Mapping[int, Related] = field(default_factory=dict)
    # When each person last led one of the repo's incidents: who is asked after a decline.
    last_led: Mapping[str, datetime] = field(default_factory=dict)

    @property
    def scheme(self) -> LabelScheme:
        return self.config.scheme

    def ref(self, command: Command) -> str:
        """The command's identity: a timeline entry carrying it marks the command as done."""
        return f"comment:{self.comment_id}:{command.line}"


Handler = Callable[[Command, CommandContext], "Decision"]


@dataclass(frozen=True)
class CommandSpec:
    name: str
    usage: str
    summary: str
    who: str  # "anyone" or "triage"
    handler: Handler
    aliases: tuple[str, ...] = ()
    needs_incident: bool = True


REGISTRY: dict[str, CommandSpec] = {}
ALIASES: dict[str, str] = {}


def command(
    name: str,
    *,
    usage: str,
    summary: str,
    who: str = "triage",
    aliases: tuple[str, ...] = (),
    needs_incident: bool = True,
) -> Callable[[Handler], Handler]:
    """Register a command handler (a pure function: command + context → decision)."""

    def register(handler: Handler) -> Handler:
        REGISTRY[name] = CommandSpec(name, usage, summary, who, handler, aliases, needs_incident)
        for alias in aliases:
            ALIASES[alias] = name
        return handler

    return register
