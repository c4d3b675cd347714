"""The rules for changing an incident, shared by labels and commands: moves, recurrence,
severity and the critical label."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import Enum

from app.domain.config import RepoConfig
from app.domain.durations import format_duration
from app.domain.gates import Gates, refusal
from app.domain.labels import LabelScheme
from app.domain.lifecycle import CLOSED, SEVERE, Severity, Status, is_legal
from app.domain.plan import (
    AddLabels,
    Effect,
    LabelOpenSubIssues,
    OpenIssue,
    PostComment,
    RemoveLabel,
    SetIssueState,
    opened,
)
from app.domain.records import EntryKind, Incident, TimelineEntry


class MoveKind(Enum):
    MOVED = "moved"
    SAME = "same"
    ILLEGAL = "illegal"
    RECURRENCE = "recurrence"  # a new incident is opened; this one stays as it is
    BLOCKED = "blocked"  # legal, but held by open work (app/domain/gates.py): `reason` says


@dataclass(frozen=True)
class Move:
    kind: MoveKind
    incident: Incident
    effects: tuple[Effect, ...] = ()
    reason: str = ""  # why a move is blocked, naming what holds it


def request_move(
    incident: Incident,
    target: Status,
    *,
    at: datetime,
    actor: str,
    config: RepoConfig,
    title: str,
    gates: Gates | None = None,
) -> Move:
    """Decide a requested status change, applying the recurrence rule to Resolved/Reviewed
    and the gates (open stabilization work, an open retrospective) read for it."""
    current = incident.status
    window = config.recurrence_window
    if target is current:
        return Move(MoveKind.SAME, incident)
    if target is Status.STABILIZATION_PENDING and recurs_as_new(incident, at, window):
        return _recurrence(
            incident, at=at, actor=actor, scheme=config.scheme, title=title, window=window
        )
    if not is_legal(current, target):
        return Move(MoveKind.ILLEGAL, incident)
    if (held := refusal(incident, target, gates, config.scheme)) is not None:
        return Move(MoveKind.BLOCKED, incident, reason=held)
    moved = incident.moved_to(target, at).noted(
        TimelineEntry(
            at,
            actor,
            EntryKind.STATUS,
            f"{current.display} → {target.display}",
            from_value=current.value,
            to_value=target.value,
        )
    )
    effects: tuple[Effect, ...] = ()
    if target is Status.REVIEWED:
        effects = (SetIssueState("closed", "completed"),)
    return Move(MoveKind.MOVED, moved, effects)


def recurs_as_new(incident: Incident, at: datetime, window: timedelta) -> bool:
    """The 48-hour rule: a recurrence at `at` is a new incident when this one was reviewed,
    or resolved more than the window before (an unresolved one simply destabilizes)."""
    if incident.status not in CLOSED:
        return False
    within = (
        incident.status is Status.RESOLVED
        and incident.resolved_at is not None
        and at - incident.resolved_at <= window
    )
    return not within


def replace_labels(
    labels: tuple[str, ...], scheme: LabelScheme, wanted: list[str], *, number: int | None = None
) -> list[Effect]:
    """Add `wanted` and remove the labels they replace (other statuses and severities);
    `number`: of another issue than the plan's own."""
    present = {label.casefold() for label in labels}
    wanted_folded = {w.casefold() for w in wanted}
    replaces_status = any(scheme.status_of(w) for w in wanted)
    replaces_severity = any(scheme.severity_of(w) for w in wanted)
    plan: list[Effect] = []
    missing = tuple(w for w in wanted if w.casefold() not in present)
    if missing:
        plan.append(AddLabels(missing, number))
    for label in labels:
        if label.casefold() in wanted_folded:
            continue
        if (replaces_status and scheme.status_of(label)) or (
            replaces_severity and scheme.severity_of(label)
        ):
            plan.append(RemoveLabel(label, number))
    return plan


def _recurrence(
    incident: Incident,
    *,
    at: datetime,
    actor: str,
    scheme: LabelScheme,
    title: str,
    window: timedelta,
) -> Move:
    """More than the window after resolution (or after review): a NEW incident links this one."""
    hours = int(window.total_seconds() // 3600)
    key = f"recurrence:{incident.number}:{at.isoformat()}"
    labels = [scheme.incident, scheme.status_label(Status.STABILIZATION_PENDING)]
    if incident.severity is not None:
        labels.insert(1, scheme.severity_label(incident.severity))
    why = (
        "it was reviewed"
        if incident.status is Status.REVIEWED
        else f"it was resolved more than {hours} hours ago"
    )
    new_record = Incident.opened_pending(
        incident.repo,
        incident.repo_id,
        _recurrence_title(title),
        incident.severity,
        at=at,
        actor=actor,
        detail=f"Recorded as Stabilization pending (recurrence of #{incident.number})",
    )
    body = (
        f"This incident is a recurrence of #{incident.number}, reported by @{actor}. "
        f"#{incident.number} stays as it is because {why}; the policy makes a recurrence "
        "after that a new incident.\n\nPrevious incident: #" + str(incident.number)
    )
    effects: tuple[Effect, ...] = (
        OpenIssue(
            key=key, title=new_record.title, body=body, labels=tuple(labels), record=new_record
        ),
        PostComment(
            key=f"{key}:link",
            body=(
                f"This incident recurred, and {why}, so it stays as it is: the recurrence is "
                f"recorded as a new incident, {opened(key)}."
            ),
        ),
    )
    noted = incident.noted(
        TimelineEntry(
            at, actor, EntryKind.RECURRED, f"Recurred: continued as new incident {opened(key)}"
        )
    )
    return Move(MoveKind.RECURRENCE, noted, effects)


def recurrence_rule(window: timedelta) -> str:
    """The recurrence rule in two sentences, for `/help` (the README says the same)."""
    seconds = int(window.total_seconds())
    span = f"{seconds // 3600} hours" if seconds % 3600 == 0 else format_duration(window)
    return (
        f"A recurrence (`/recurred`) within {span} of the resolution sends the incident back "
        "to Stabilization pending; later, it opens a new incident that links this one. A "
        f"Reviewed incident that recurs opens a new incident even within {span}: its "
        "retrospective is done and Reviewed is final, so the review is never reopened."
    )


def _recurrence_title(title: str) -> str:
    return title if title.lower().startswith("recurrence:") else f"Recurrence: {title}"


def change_severity(
    incident: Incident, new: Severity, *, at: datetime, actor: str, scheme: LabelScheme
) -> tuple[Incident, tuple[Effect, ...]]:
    """Record a severity change; escalation to 1 or 2 marks open stabilization work critical."""
    old = incident.severity
    if new == old:
        return incident, ()
    effects: tuple[Effect, ...] = ()
    if old is None:
        detail = f"Severity {int(new)}"
    else:
        verb = "Escalated" if new < old else "De-escalated"
        detail = f"{verb}: severity {int(old)} → {int(new)}"
    if new in SEVERE and (old is None or old not in SEVERE):
        effects = (
            LabelOpenSubIssues(
                having=scheme.stabilization,
                add=(scheme.critical,),
                remove=scheme.other_priorities(),
            ),
        )
        if old is not None:
            detail += f"; open stabilization issues marked `{scheme.critical}`"
    elif old in SEVERE and new not in SEVERE:
        # People may have planned around the label: leave it, and say so.
        detail += f"; existing `{scheme.critical}` labels left as they are"
    changed = replace(incident, severity=new).noted(
        TimelineEntry(
            at,
            actor,
            EntryKind.SEVERITY,
            detail,
            from_value=str(int(old)) if old else None,
            to_value=str(int(new)),
        )
    )
    return changed, effects


def stabilization_labels(incident: Incident, scheme: LabelScheme) -> tuple[str, ...]:
    """Labels of an issue created to stabilize this incident: critical for severity 1 or 2."""
    if incident.severity in SEVERE:
        return (scheme.stabilization, scheme.critical)
    return (scheme.stabilization,)
