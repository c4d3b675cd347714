"""The label scheme: which label names stand for which part of an incident's state."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TypeVar

from app.domain.lifecycle import Severity, Status

K = TypeVar("K")


@dataclass(frozen=True)
class LabelSpec:
    name: str
    color: str
    description: str


def _default_status_names() -> dict[Status, str]:
    return {status: f"status:{status.value}" for status in Status}


def _default_severity_names() -> dict[Severity, str]:
    return {severity: f"severity:{int(severity)}" for severity in Severity}


@dataclass(frozen=True)
class LabelScheme:
    """Label names for one repository; the defaults unless its config renames them."""

    incident: str = "incident"
    critical: str = "priority:critical"
    stabilization: str = "incident:stabilization"
    # An outsider's incident report, waiting for a maintainer to declare it with `/incident N`.
    reported: str = "incident:reported"
    # Work that prevents a recurrence, tracked as a sub-issue of the incident; never critical.
    follow_up: str = "incident:follow-up"
    # A security report: never recorded in public (app/domain/security.py).
    security: str = "security"
    statuses: dict[Status, str] = field(default_factory=_default_status_names)
    severities: dict[Severity, str] = field(default_factory=_default_severity_names)
    # The repo's priority labels (`labels.priorities`): an issue keeps one of them.
    priorities: tuple[str, ...] = ()

    def other_priorities(self) -> tuple[str, ...]:
        """The priority labels that adding `critical` removes."""
        critical = self.critical.casefold()
        return tuple(name for name in self.priorities if name.casefold() != critical)

    def is_priority(self, label: str) -> bool:
        """`critical` or another of the repo's priority labels."""
        folded = label.casefold()
        return folded == self.critical.casefold() or any(
            folded == name.casefold() for name in self.priorities
        )

    def status_label(self, status: Status) -> str:
        return self.statuses[status]

    def severity_label(self, severity: Severity) -> str:
        return self.severities[severity]

    def status_of(self, label: str) -> Status | None:
        return _lookup(self.statuses, label)

    def severity_of(self, label: str) -> Severity | None:
        return _lookup(self.severities, label)

    def statuses_in(self, labels: Iterable[str]) -> set[Status]:
        return {s for s in (self.status_of(label) for label in labels) if s is not None}

    def severities_in(self, labels: Iterable[str]) -> set[Severity]:
        return {s for s in (self.severity_of(label) for label in labels) if s is not None}

    def specs(self) -> list[LabelSpec]:
        """Every label the app uses, with colour and description, for label sync."""
        specs = [
            LabelSpec(self.incident, "d93f0b", "A production incident (managed by Incident Flow)"),
            LabelSpec(self.critical, "b60205", "Must be addressed ASAP"),
            LabelSpec(self.stabilization, "fbca04", "Work to stabilize an incident"),
            LabelSpec(self.reported, "f9d0c4", "Reported as an incident; a maintainer confirms it"),
            LabelSpec(self.follow_up, "c5def5", "Follow-up work from an incident or its review"),
            LabelSpec(self.security, "ee0701", "A security report: kept out of the public record"),
        ]
        severity_colours = {Severity.CRITICAL: "b60205", Severity.MAJOR: "d93f0b"}
        for severity, name in self.severities.items():
            specs.append(
                LabelSpec(
                    name,
                    severity_colours.get(severity, "fbca04"),
                    f"Incident severity {int(severity)}",
                )
            )
        for status, name in self.statuses.items():
            specs.append(LabelSpec(name, "1d76db", f"Incident status: {status.display}"))
        return specs


def _lookup(table: dict[K, str], label: str) -> K | None:
    folded = label.casefold()
    for key, name in table.items():
        # GitHub treats label names case-insensitively.
        if name.casefold() == folded:
            return key
    return None


DEFAULT_LABELS = LabelScheme()
