"""The pure core: an event hint, the stored incident and the issue's labels → a plan."""

from __future__ import annotations

from dataclasses import replace

from app.domain.config import RepoConfig
from app.domain.facts import Decision, Hint, Issue
from app.domain.gates import Gates
from app.domain.labels import LabelScheme
from app.domain.lifecycle import CLOSED, INITIAL, MEANINGS, ORDER, Severity, Status, legal_moves
from app.domain.plan import AddLabels, Effect, PostComment, RemoveLabel, SetIssueState
from app.domain.records import EntryKind, Incident, TimelineEntry
from app.domain.reports import credit_report, report
from app.domain.transitions import MoveKind, change_severity, request_move


def explain_status(status: Status, scheme: LabelScheme) -> str:
    """One paragraph naming the status, what it means and the legal next moves."""
    moves = legal_moves(status)
    text = f"The incident is **{status.display}**: {MEANINGS[status]}"
    if moves:
        options = ", ".join(f"{m.display} (`{scheme.status_label(m)}`)" for m in moves)
        text += f" Legal next moves: {options}."
    else:
        text += " This is the final status: no further moves."
    return text


def reconcile_labels(
    hint: Hint,
    issue: Issue,
    incident: Incident | None,
    config: RepoConfig,
    *,
    gates: Gates | None = None,
) -> Decision:
    """Converge an issue's incident labels and the record; the same result in any event order."""
    scheme = config.scheme
    has_incident_label = any(_same(label, scheme.incident) for label in issue.labels)
    if incident is None:
        if not has_incident_label:
            return Decision(None)
        if not hint.declarer_permitted:
            return report(issue, scheme)
        return _adopt(hint, issue, config)
    if not incident.managed:
        if not has_incident_label:
            return Decision(incident)
        incident = incident.noted(TimelineEntry(hint.at, hint.actor, EntryKind.RESUMED))
        incident = replace(incident, managed=True)
        return _reconcile(
            hint, issue, incident, config, restore_quietly=True, changed=True, gates=gates
        )
    if not has_incident_label:
        return _withdraw(hint, issue, incident, scheme)
    return _reconcile(hint, issue, incident, config, gates=gates)


def _adopt(hint: Hint, issue: Issue, config: RepoConfig) -> Decision:
    """First sight of an incident: record it from its labels."""
    scheme = config.scheme
    statuses = scheme.statuses_in(issue.labels)
    hinted = scheme.status_of(hint.label) if hint.label else None
    if hinted in statuses:
        status = hinted
    elif statuses:
        # Several status labels and no hint: the least advanced one is the cautious choice.
        status = min(statuses, key=ORDER.index)
    else:
        status = Status.STABILIZATION_PENDING
    assert status is not None
    severity = _pick_severity(hint, scheme.severities_in(issue.labels), scheme)
    incident = Incident(
        repo=issue.repo,
        repo_id=issue.repo_id,
        number=issue.number,
        title=issue.title,
        status=status,
        severity=severity,
        declared_at=hint.at,
        declared_by=hint.actor,
    )
    if status is not Status.STABILIZATION_PENDING:
        incident = incident.moved_to(status, hint.at)
    incident, credit = credit_report(issue, incident, scheme)
    detail = f"Recorded as {status.display}"
    if severity is not None:
        detail += f", severity {int(severity)}"
    if status not in INITIAL:
        detail += " (adopted from existing labels)"
    incident = incident.noted(
        TimelineEntry(
            hint.at,
            hint.actor,
            EntryKind.DECLARED,
            detail,
            to_value=status.value,
        )
    )
    decision = _reconcile(hint, issue, incident, config, restore_quietly=True, changed=True)
    return Decision(decision.incident, (*decision.plan, *credit))


def _withdraw(hint: Hint, issue: Issue, incident: Incident, scheme: LabelScheme) -> Decision:
    """`incident` removed: a false alarm. Stop managing; keep the record to resume from."""
    plan = tuple(RemoveLabel(label) for label in issue.labels if scheme.status_of(label))
    entry = TimelineEntry(
        hint.at, hint.actor, EntryKind.WITHDRAWN, "The incident label was removed"
    )
    return Decision(replace(incident, managed=False).noted(entry), plan)


def _reconcile(
    hint: Hint,
    issue: Issue,
    incident: Incident,
    config: RepoConfig,
    *,
    restore_quietly: bool = False,
    changed: bool = False,
    gates: Gates | None = None,
) -> Decision:
    plan: list[Effect] = []
    # Ask for a missing severity once, when the incident is first seen or resumed.
    incident, severity_plan = _reconcile_severity(
        hint, issue, incident, config.scheme, restore_quietly
    )
    plan += severity_plan
    incident, status_plan = _reconcile_status(hint, issue, incident, config, restore_quietly, gates)
    plan += status_plan
    return Decision(incident, tuple(plan)) if (plan or changed) else Decision(incident)


def _reconcile_status(
    hint: Hint,
    issue: Issue,
    incident: Incident,
    config: RepoConfig,
    restore_quietly: bool,
    gates: Gates | None,
) -> tuple[Incident, list[Effect]]:
    scheme = config.scheme
    recorded = incident.status
    present: dict[str, Status] = {}
    for label in issue.labels:
        if (status := scheme.status_of(label)) is not None:
            present[label] = status
    others = {s for s in present.values() if s is not recorded}
    recorded_present = recorded in present.values()

    if not others:
        if recorded_present:
            return incident, []
        plan: list[Effect] = [AddLabels((scheme.status_label(recorded),))]
        if not restore_quietly:
            # The comment goes first: a retry finds it by its marker and does not repeat it.
            plan.insert(
                0,
                _revert_comment(
                    hint, scheme, recorded, "An incident always carries one status label."
                ),
            )
            incident = incident.noted(
                TimelineEntry(hint.at, hint.actor, EntryKind.REVERTED, "Status label restored")
            )
        return incident, plan

    if len(others) == 1:
        (target,) = others
        move = request_move(
            incident,
            target,
            at=hint.at,
            actor=hint.actor,
            config=config,
            title=issue.title,
            gates=gates,
        )
        if move.kind is MoveKind.MOVED:
            plan = [RemoveLabel(label) for label, s in present.items() if s is recorded]
            return move.incident, plan + list(move.effects)
        if move.kind is MoveKind.RECURRENCE:
            # The old incident keeps its status; the recurrence continues in a new issue.
            plan = [RemoveLabel(label) for label, s in present.items() if s is not recorded]
            if not recorded_present:
                plan.append(AddLabels((scheme.status_label(recorded),)))
            return move.incident, list(move.effects) + plan
        # Blocked by open work (its reason names it), or not a legal move at all.
        reason = move.reason or f"{recorded.display} → {target.display} is not a legal move."
    else:
        names = ", ".join(f"`{scheme.status_label(s)}`" for s in sorted(others, key=ORDER.index))
        reason = f"An incident has exactly one status; the labels {names} were added together."

    plan = [_revert_comment(hint, scheme, recorded, reason)]
    plan += [RemoveLabel(label) for label, s in present.items() if s is not recorded]
    if not recorded_present:
        plan.append(AddLabels((scheme.status_label(recorded),)))
    attempted = ", ".join(s.display for s in sorted(others, key=ORDER.index))
    incident = incident.noted(
        TimelineEntry(hint.at, hint.actor, EntryKind.REVERTED, f"Reverted {attempted}: {reason}")
    )
    return incident, plan


def _reconcile_severity(
    hint: Hint, issue: Issue, incident: Incident, scheme: LabelScheme, ask_severity: bool
) -> tuple[Incident, list[Effect]]:
    recorded = incident.severity
    present: dict[str, Severity] = {}
    for label in issue.labels:
        if (severity := scheme.severity_of(label)) is not None:
            present[label] = severity
    others = {s for s in present.values() if s != recorded}

    if not others:
        if recorded is None:
            return incident, [_needs_severity_comment(scheme)] if ask_severity else []
        if recorded in present.values():
            return incident, []
        # Severity can change but never vanish: put the recorded one back.
        return incident, [AddLabels((scheme.severity_label(recorded),))]

    winner = _pick_severity(hint, others, scheme)
    assert winner is not None
    plan: list[Effect] = [RemoveLabel(label) for label, s in present.items() if s != winner]
    incident, effects = change_severity(
        incident, winner, at=hint.at, actor=hint.actor, scheme=scheme
    )
    return incident, plan + list(effects)


def _pick_severity(hint: Hint, candidates: set[Severity], scheme: LabelScheme) -> Severity | None:
    """The label just added wins; otherwise the most severe, the safe side."""
    hinted = scheme.severity_of(hint.label) if hint.label and hint.action == "labeled" else None
    if hinted in candidates:
        return hinted
    return min(candidates) if candidates else None


def _revert_comment(hint: Hint, scheme: LabelScheme, status: Status, reason: str) -> PostComment:
    body = (
        f"{reason} I put the status back to `{scheme.status_label(status)}`.\n\n"
        f"{explain_status(status, scheme)}"
    )
    return PostComment(key=f"revert:{hint.delivery_id}", body=body)


def _needs_severity_comment(scheme: LabelScheme) -> PostComment:
    options = ", ".join(f"`{scheme.severity_label(s)}`" for s in Severity)
    return PostComment(
        key="needs-severity",
        look_first=True,  # asked at most once per issue, whatever delivery asks again
        body=(
            "This incident has no severity yet. Add one of "
            f"{options} (1 is the most severe); I will record it as soon as it is there."
        ),
    )


def _same(a: str, b: str) -> bool:
    return a.casefold() == b.casefold()


def reconcile_issue(
    hint: Hint,
    issue: Issue,
    incident: Incident | None,
    config: RepoConfig,
    *,
    gates: Gates | None = None,
) -> Decision:
    """Labels first, then open/closed: an incident is closed only once it is resolved."""
    scheme = config.scheme
    decision = reconcile_labels(hint, issue, incident, config, gates=gates)
    current = decision.incident
    if current is None or not current.managed or issue.state != "closed":
        return decision
    if current.status in CLOSED:
        return decision
    body = (
        f"I reopened this incident: it is still **{current.status.display}**, and an incident "
        f"is closed only once it is Resolved or Reviewed. {explain_status(current.status, scheme)}"
    )
    note = TimelineEntry(
        hint.at, hint.actor, EntryKind.REOPENED, f"Closed while {current.status.display}; reopened"
    )
    plan = (
        *decision.plan,
        PostComment(key=f"reopen:{hint.delivery_id}", body=body),
        SetIssueState("open", "reopened"),
    )
    return Decision(current.noted(note), plan)
