"""What holds a move back: open stabilization work holds Resolved, an open retrospective holds
Reviewed. Pure: the shell reads the incident's sub-issues into `Gates` when `wanted` says so."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from app.domain.facts import Issue
from app.domain.labels import LabelScheme
from app.domain.lifecycle import Status, is_legal
from app.domain.records import Incident

# Commands whose move a gate may hold, by name (the move commands of status_comment.py).
GATED_COMMANDS: dict[str, Status] = {"resolved": Status.RESOLVED, "reviewed": Status.REVIEWED}
# A refusal names at most this many open issues: a reply stays short whatever the repo holds.
NAMED = 10


@dataclass(frozen=True)
class Gates:
    """The incident's open sub-issues that hold a move, by number, as the shell just read them."""

    stabilization: tuple[int, ...] = ()  # open sub-issues labelled as stabilization work
    retrospective: int | None = None  # the retrospective, while it is open
    had_retro: bool = False  # the incident has a retrospective, open or closed
    # The plan being decided opens the retrospective (`/resolved` then `/reviewed` in one
    # comment): Reviewed waits for it as for an open one.
    retro_coming: bool = False


def read_gates(children: Iterable[Issue], scheme: LabelScheme, retro_number: int | None) -> Gates:
    """The gates from the incident's sub-issues (and its retrospective, wherever it is)."""
    stabilization: list[int] = []
    retro_open = False
    folded = scheme.stabilization.casefold()
    for child in children:
        if child.state != "open":
            continue
        if child.number == retro_number:
            retro_open = True
        elif any(label.casefold() == folded for label in child.labels):
            stabilization.append(child.number)
    return Gates(
        tuple(sorted(set(stabilization))),
        retro_number if retro_open else None,
        had_retro=retro_number is not None,
    )


def wanted_for_labels(
    incident: Incident | None, labels: Iterable[str], scheme: LabelScheme, retro: int | None
) -> bool:
    """Whether the issue's status labels ask a legal move that a gate may hold: only then is
    reading the sub-issues worth a call (an illegal move is refused without them)."""
    if incident is None:
        return False
    targets = scheme.statuses_in(labels) - {incident.status}
    return any(_gated(incident.status, target, retro) for target in targets)


def wanted_for_commands(incident: Incident | None, names: Iterable[str]) -> bool:
    """Whether a comment's commands may ask a gated move. Commands run in order and each may
    change the status (or open the retrospective), so any gated command reads them."""
    if incident is None or not incident.managed:
        return False
    return any(name in GATED_COMMANDS for name in names)


def _gated(current: Status, target: Status, retro: int | None) -> bool:
    if target is Status.RESOLVED:
        return is_legal(current, target)
    # Without a retrospective nothing can hold Reviewed: no call is needed.
    return target is Status.REVIEWED and retro is not None and is_legal(current, target)


def refusal(
    incident: Incident, target: Status, gates: Gates | None, scheme: LabelScheme
) -> str | None:
    """Why a legal move must wait, naming what holds it by number; None when nothing does.

    `gates` None: nothing was read, because `wanted_*` said no move could be held.
    """
    if gates is None:
        return None
    move = f"{incident.status.display} → {target.display}"
    if target is Status.RESOLVED and gates.stabilization:
        some = _numbers(gates.stabilization)
        verb, it = ("is", "it") if len(gates.stabilization) == 1 else ("are", "them")
        return (
            f"{move} waits: stabilization work {some} {verb} still open, and Resolved means "
            f"the short-term fixes are in place. Close {it} first (or remove "
            f"`{scheme.stabilization}` from an issue that is not stabilization work)."
        )
    if target is Status.REVIEWED and gates.retrospective is not None:
        number = gates.retrospective
        return (
            f"{move} waits: retrospective #{number} is still open, and Reviewed means a "
            f"retrospective has been completed. Closing #{number} as completed moves the "
            "incident to Reviewed."
        )
    if target is Status.REVIEWED and gates.retro_coming:
        return (
            f"{move} waits for the retrospective this comment opens: Reviewed means a "
            "retrospective has been completed. Closing it as completed moves the incident "
            "to Reviewed."
        )
    return None


def rules(scheme: LabelScheme) -> str:
    """What holds the moves, in a sentence or two (for `/help`)."""
    return (
        f"Resolved waits until every stabilization sub-issue (`{scheme.stabilization}`) is "
        "closed. Reviewed waits until the incident's retrospective is closed, and closing it "
        "as completed reviews the incident; an incident that never had a retrospective may be "
        "reviewed directly."
    )


def _numbers(numbers: tuple[int, ...]) -> str:
    named = ", ".join(f"#{n}" for n in numbers[:NAMED])
    more = len(numbers) - NAMED
    return f"{named} and {more} more" if more > 0 else named
