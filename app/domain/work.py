"""Stabilization work: sub-issues linked or labelled as such, and the critical label that holds
on them while they are open under a severity 1 or 2 incident (pure)."""

from __future__ import annotations

from app.domain.config import RepoConfig
from app.domain.facts import Decision, Hint, Issue
from app.domain.labels import LabelScheme
from app.domain.lifecycle import SEVERE, Status
from app.domain.plan import AddLabels, AddSubIssueLabels, Effect, Effects, PostComment, RemoveLabel
from app.domain.records import EntryKind, Incident, TimelineEntry
from app.domain.transitions import stabilization_labels


def link_stabilization_issue(
    hint: Hint, incident: Incident, child: Issue, config: RepoConfig
) -> Decision:
    """A sub-issue linked while Stabilization pending, or one already labelled as stabilization
    work at any status, is stabilization work: label it so (critical for severity 1 or 2)."""
    scheme = config.scheme
    labelled = _has(child.labels, scheme.stabilization)
    pending = incident.status is Status.STABILIZATION_PENDING
    if not incident.managed or not (pending or labelled):
        return Decision(incident)
    wanted = stabilization_labels(incident, scheme)
    missing = tuple(n for n in wanted if not _has(child.labels, n))
    # Adding `critical` takes off the issue's other priority labels: it keeps one.
    others = _other_priorities(child, scheme) if scheme.critical in wanted else ()
    ref = f"sub-issue:{child.number}"
    plan = (AddSubIssueLabels(child.number, missing, others),) if missing or others else ()
    if incident.has_ref(ref):
        return Decision(incident, plan)
    entry = TimelineEntry(
        hint.at,
        hint.actor,
        EntryKind.STABILIZATION,
        f"Stabilization issue #{child.number} linked",
        ref=ref,
    )
    return Decision(incident.noted(entry), plan)


def concerns_work(label: str | None, scheme: LabelScheme) -> bool:
    """Whether a label added to or removed from an issue that is not an incident may change
    stabilization work: the stabilization label and the priority labels (critical included)."""
    return label is not None and (_same(label, scheme.stabilization) or scheme.is_priority(label))


def hold_work(hint: Hint, child: Issue, incident: Incident | None, config: RepoConfig) -> Effects:
    """A label change on a sub-issue of `incident`: its priority labels converge.

    Open stabilization work of a severity 1 or 2 incident keeps `critical`, put back with one
    comment when someone removes it; otherwise the priority just added wins, then `critical`.
    An issue keeps one priority label. Effects are on the child; the record is untouched.
    """
    scheme = config.scheme
    if incident is None or not incident.managed or not _has(child.labels, scheme.stabilization):
        return ()
    present = [label for label in child.labels if scheme.is_priority(label)]
    has_critical = _has(present, scheme.critical)
    added = hint.label if hint.action == "labeled" and hint.label else None
    held = incident.severity in SEVERE and child.state == "open"
    if held:
        keep = scheme.critical
    elif added is not None and scheme.is_priority(added) and _has(present, added):
        keep = next(label for label in present if _same(label, added))
    elif has_critical:
        keep = scheme.critical
    else:
        return ()
    removed = [label for label in present if not _same(label, keep)]
    plan: list[Effect] = [AddLabels((keep,))] if not _has(present, keep) else []
    plan += [RemoveLabel(label) for label in removed]
    # Newly labelled stabilization work is simply marked; undoing a person's change is said.
    restored = held and not has_critical and not _same(added or "", scheme.stabilization)
    overruled = held and added is not None and _has(removed, added)
    if restored or overruled:
        plan.insert(0, _held_comment(hint, incident, scheme, restored, removed))
    return tuple(plan)


def _held_comment(
    hint: Hint, incident: Incident, scheme: LabelScheme, restored: bool, removed: list[str]
) -> PostComment:
    assert incident.severity is not None
    why = (
        f"This issue is open stabilization work for incident #{incident.number}, severity "
        f"{int(incident.severity)}: the policy marks every issue created to stabilize a severity "
        f"1 or 2 incident critical, so `{scheme.critical}` stays while it is open."
    )
    done = [f"I put `{scheme.critical}` back."] if restored else []
    if removed:
        names = ", ".join(f"`{name}`" for name in removed)
        done.append(f"An issue keeps one priority label, so I removed {names}.")
    return PostComment(key=f"critical-held:{hint.delivery_id}", body=" ".join([why, *done]))


def _other_priorities(child: Issue, scheme: LabelScheme) -> tuple[str, ...]:
    return tuple(
        label
        for label in child.labels
        if scheme.is_priority(label) and not _same(label, scheme.critical)
    )


def _has(labels: list[str] | tuple[str, ...], name: str) -> bool:
    return any(_same(label, name) for label in labels)


def _same(a: str, b: str) -> bool:
    return a.casefold() == b.casefold()
