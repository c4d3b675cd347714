"""The incident lifecycle: severities, statuses and the one table of legal moves."""

from __future__ import annotations

from datetime import timedelta
from enum import IntEnum, StrEnum


class Severity(IntEnum):
    CRITICAL = 1
    MAJOR = 2
    MINOR = 3


class Status(StrEnum):
    STABILIZATION_PENDING = "stabilization-pending"
    STABILIZED = "stabilized"
    UNDER_INVESTIGATION = "under-investigation"
    RESOLVED = "resolved"
    REVIEWED = "reviewed"

    @property
    def display(self) -> str:
        return STATUS_TITLES[self]


# The policy's table. Keep the README's diagram in step: tests/test_lifecycle.py checks it.
LEGAL_MOVES: dict[Status, frozenset[Status]] = {
    Status.STABILIZATION_PENDING: frozenset({Status.STABILIZED}),
    Status.STABILIZED: frozenset(
        {Status.UNDER_INVESTIGATION, Status.RESOLVED, Status.STABILIZATION_PENDING}
    ),
    Status.UNDER_INVESTIGATION: frozenset({Status.RESOLVED, Status.STABILIZATION_PENDING}),
    Status.RESOLVED: frozenset({Status.REVIEWED, Status.STABILIZATION_PENDING}),
    Status.REVIEWED: frozenset(),
}

# Statuses of an incident that is over: the issue may be closed, no reminders are owed.
CLOSED: frozenset[Status] = frozenset({Status.RESOLVED, Status.REVIEWED})
# Severities that page: chat hears of them, stabilization work is marked critical.
SEVERE: frozenset[Severity] = frozenset({Severity.CRITICAL, Severity.MAJOR})
# A recurrence within this time after resolution reopens the incident (the repo may change it).
RECURRENCE_WINDOW = timedelta(hours=48)

# Statuses an incident may be recorded in.
INITIAL: frozenset[Status] = frozenset({Status.STABILIZATION_PENDING, Status.STABILIZED})

STATUS_TITLES: dict[Status, str] = {
    Status.STABILIZATION_PENDING: "Stabilization pending",
    Status.STABILIZED: "Stabilized",
    Status.UNDER_INVESTIGATION: "Under investigation",
    Status.RESOLVED: "Resolved",
    Status.REVIEWED: "Reviewed",
}

MEANINGS: dict[Status, str] = {
    Status.STABILIZATION_PENDING: "the incident is actively disrupting service.",
    Status.STABILIZED: (
        "the incident is no longer directly disrupting service; root causes may still be unknown."
    ),
    Status.UNDER_INVESTIGATION: (
        "the root causes are being researched; stabilized but not yet resolved."
    ),
    Status.RESOLVED: (
        "the incident is stable and short-term fixes to prevent a recurrence are in place."
    ),
    Status.REVIEWED: "a retrospective has been completed for the incident.",
}

SEVERITY_MEANINGS: dict[Severity, str] = {
    Severity.CRITICAL: "Critical: all or most users and functionality",
    Severity.MAJOR: "Major: many users, or critical functionality",
    Severity.MINOR: "Minor: few users, or non-critical functionality",
}

# Lifecycle order, for choosing deterministically among several status labels.
ORDER: tuple[Status, ...] = tuple(Status)


def is_legal(current: Status, target: Status) -> bool:
    return target in LEGAL_MOVES[current]


def legal_moves(current: Status) -> list[Status]:
    """The legal next statuses from `current`, in lifecycle order."""
    return [s for s in ORDER if s in LEGAL_MOVES[current]]


def mermaid() -> str:
    """The lifecycle as a mermaid state diagram, generated from the table."""
    lines = ["stateDiagram-v2"]
    for source in ORDER:
        for target in legal_moves(source):
            lines.append(f"    {_node(source)} --> {_node(target)}")
    return "\n".join(lines)


def _node(status: Status) -> str:
    return status.display.replace(" ", "_")
