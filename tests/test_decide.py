"""The pure core: label sets and records in, plans and records out. No mocks."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from app.domain.config import DEFAULT_CONFIG as CONFIG
from app.domain.config import RepoConfig
from app.domain.decide import reconcile_labels
from app.domain.facts import Hint, Issue
from app.domain.lifecycle import Severity, Status
from app.domain.plan import (
    AddLabels,
    LabelOpenSubIssues,
    OpenIssue,
    PostComment,
    RemoveLabel,
    SetIssueState,
)
from app.domain.records import Incident

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
SP, ST, UI, RS, RV = (f"status:{s.value}" for s in Status)


def issue(*labels: str) -> Issue:
    return Issue("octo/ops", 7, 1, 101, "Search is down", "open", tuple(labels))


def hint(action: str = "labeled", label: str | None = None, at: datetime = T0) -> Hint:
    return Hint("issues", action, "alice", at, "d-1", label)


def recorded(status: Status = Status.STABILIZATION_PENDING, severity: int | None = 1) -> Incident:
    return Incident(
        repo="octo/ops",
        repo_id=7,
        number=1,
        status=status,
        severity=Severity(severity) if severity else None,
        declared_at=T0 - timedelta(hours=1),
        declared_by="alice",
    )


def test_plain_issue_is_not_an_incident() -> None:
    decision = reconcile_labels(hint(), issue("bug"), None, CONFIG)
    assert decision.incident is None and decision.plan == ()


def test_declaring_adds_stabilization_pending() -> None:
    decision = reconcile_labels(
        hint(label="incident"), issue("incident", "severity:2"), None, CONFIG
    )
    assert decision.plan == (AddLabels((SP,)),)
    assert decision.incident is not None
    assert decision.incident.status is Status.STABILIZATION_PENDING
    assert decision.incident.severity is Severity.MAJOR
    assert decision.incident.timeline[0].kind == "declared"
    assert decision.incident.declared_at == T0


def test_declaring_without_severity_asks_once() -> None:
    decision = reconcile_labels(hint(), issue("incident"), None, CONFIG)
    comments = [e for e in decision.plan if isinstance(e, PostComment)]
    assert len(comments) == 1 and comments[0].key == "needs-severity"
    again = reconcile_labels(hint(), issue("incident", SP), decision.incident, CONFIG)
    assert again.plan == ()


def test_declared_already_stabilized_is_kept() -> None:
    decision = reconcile_labels(hint(), issue("incident", "severity:3", ST), None, CONFIG)
    assert decision.plan == ()
    assert decision.incident is not None and decision.incident.status is Status.STABILIZED
    assert decision.incident.stabilized_at == T0


def test_adopting_an_existing_incident_keeps_its_status() -> None:
    decision = reconcile_labels(hint(), issue("incident", "severity:1", UI), None, CONFIG)
    assert decision.incident is not None and decision.incident.status is Status.UNDER_INVESTIGATION


@pytest.mark.parametrize(
    ("status", "labels", "expected_status", "expected_plan"),
    [
        (Status.STABILIZATION_PENDING, (SP,), Status.STABILIZATION_PENDING, ()),
        (Status.STABILIZATION_PENDING, (SP, ST), Status.STABILIZED, (RemoveLabel(SP),)),
        (Status.STABILIZATION_PENDING, (ST,), Status.STABILIZED, ()),
        (Status.STABILIZED, (UI,), Status.UNDER_INVESTIGATION, ()),
        (Status.STABILIZED, (ST, RS), Status.RESOLVED, (RemoveLabel(ST),)),
        (Status.UNDER_INVESTIGATION, (UI, SP), Status.STABILIZATION_PENDING, (RemoveLabel(UI),)),
        (Status.RESOLVED, (RV,), Status.REVIEWED, (SetIssueState("closed", "completed"),)),
    ],
    ids=["unchanged", "legal-both-labels", "legal-swapped", "st-ui", "st-rs", "ui-sp", "rs-rv"],
)
def test_legal_moves_are_accepted(status, labels, expected_status, expected_plan) -> None:
    decision = reconcile_labels(
        hint(), issue("incident", "severity:1", *labels), recorded(status), CONFIG
    )
    assert decision.incident is not None
    assert decision.incident.status is expected_status
    assert decision.plan == expected_plan


@pytest.mark.parametrize(
    ("status", "labels", "removed", "added"),
    [
        (Status.STABILIZATION_PENDING, (RS,), [RS], [SP]),
        (Status.STABILIZATION_PENDING, (SP, RS), [RS], []),
        (Status.STABILIZED, (RV,), [RV], [ST]),
        (Status.REVIEWED, (ST,), [ST], [RV]),
        (Status.STABILIZATION_PENDING, (SP, ST, UI), [ST, UI], []),
    ],
    ids=["skip-to-resolved", "second-status-illegal", "st-rv", "reviewed-terminal", "two-new"],
)
def test_illegal_moves_are_reverted_with_one_comment(status, labels, removed, added) -> None:
    decision = reconcile_labels(
        hint(), issue("incident", "severity:1", *labels), recorded(status), CONFIG
    )
    assert decision.incident is not None and decision.incident.status is status
    comments = [e for e in decision.plan if isinstance(e, PostComment)]
    assert len(comments) == 1
    assert (status.display in comments[0].body and "Legal next moves" in comments[0].body) or (
        status is Status.REVIEWED
    )
    assert [e.name for e in decision.plan if isinstance(e, RemoveLabel)] == removed
    assert [n for e in decision.plan if isinstance(e, AddLabels) for n in e.names] == added
    assert decision.incident.timeline[-1].kind == "reverted"


def test_removed_status_is_restored_with_a_comment() -> None:
    decision = reconcile_labels(
        hint("unlabeled", ST),
        issue("incident", "severity:1"),
        recorded(Status.STABILIZED),
        CONFIG,
    )
    assert AddLabels((ST,)) in decision.plan
    assert sum(isinstance(e, PostComment) for e in decision.plan) == 1


def test_severity_change_new_label_wins() -> None:
    decision = reconcile_labels(
        hint("labeled", "severity:3"),
        issue("incident", "severity:1", "severity:3", SP),
        recorded(),
        CONFIG,
    )
    assert decision.plan == (RemoveLabel("severity:1"),)
    assert decision.incident is not None and decision.incident.severity is Severity.MINOR
    assert decision.incident.timeline[-1].detail.startswith("De-escalated: severity 1 → 3")
    assert "left as they are" in decision.incident.timeline[-1].detail


def test_escalation_marks_open_stabilization_issues_critical() -> None:
    decision = reconcile_labels(
        hint("labeled", "severity:2"),
        issue("incident", "severity:3", "severity:2", SP),
        recorded(severity=3),
        CONFIG,
    )
    assert LabelOpenSubIssues("incident:stabilization", ("priority:critical",)) in decision.plan
    assert AddLabels(("priority:critical",)) not in decision.plan  # not on the incident itself


def test_severity_removed_is_restored() -> None:
    decision = reconcile_labels(
        hint("unlabeled", "severity:1"), issue("incident", SP), recorded(), CONFIG
    )
    assert decision.plan == (AddLabels(("severity:1",)),)


def test_same_final_labels_same_decision_in_any_order() -> None:
    labels = issue("incident", "severity:1", ST)
    first = reconcile_labels(hint("labeled", ST), labels, recorded(), CONFIG)
    second = reconcile_labels(hint("unlabeled", SP), labels, recorded(), CONFIG)
    assert first.plan == second.plan
    assert first.incident is not None and second.incident is not None
    assert first.incident.status is second.incident.status is Status.STABILIZED


def test_withdrawal_removes_status_and_stops_managing() -> None:
    decision = reconcile_labels(
        hint("unlabeled", "incident"), issue("severity:1", SP), recorded(), CONFIG
    )
    assert decision.plan == (RemoveLabel(SP),)
    assert decision.incident is not None and not decision.incident.managed
    # Unmanaged: label changes are ignored...
    quiet = reconcile_labels(hint(), issue("severity:1", RS), decision.incident, CONFIG)
    assert quiet.plan == ()
    # ...until `incident` comes back, resuming from the record without a complaint.
    resumed = reconcile_labels(
        hint("labeled", "incident"),
        issue("incident", "severity:1"),
        decision.incident,
        CONFIG,
    )
    assert resumed.plan == (AddLabels((SP,)),)
    assert resumed.incident is not None and resumed.incident.managed


def test_renamed_labels_and_case_insensitivity() -> None:
    config = RepoConfig.model_validate({"labels": {"incident": "🚨 incident"}})
    decision = reconcile_labels(hint(), issue("🚨 INCIDENT", "Severity:1"), None, config)
    assert decision.incident is not None and decision.incident.severity is Severity.CRITICAL


def test_resolution_time_is_githubs_event_time() -> None:
    later = T0 + timedelta(days=3)
    decision = reconcile_labels(
        hint(at=later),
        issue("incident", "severity:1", RS),
        recorded(Status.STABILIZED),
        CONFIG,
    )
    assert decision.incident is not None and decision.incident.resolved_at == later


def test_recurrence_within_48_hours_reopens_the_same_incident() -> None:
    resolved = replace(recorded(Status.RESOLVED), resolved_at=T0)
    decision = reconcile_labels(
        hint(at=T0 + timedelta(hours=47)),
        issue("incident", "severity:1", SP),
        resolved,
        CONFIG,
    )
    assert decision.incident is not None
    assert decision.incident.status is Status.STABILIZATION_PENDING
    assert not any(isinstance(e, OpenIssue) for e in decision.plan)


@pytest.mark.parametrize(
    ("status", "hours"), [(Status.RESOLVED, 50), (Status.REVIEWED, 1)], ids=["late", "reviewed"]
)
def test_late_or_reviewed_recurrence_opens_a_new_incident(status: Status, hours: int) -> None:
    old = replace(recorded(status), resolved_at=T0)
    decision = reconcile_labels(
        hint(at=T0 + timedelta(hours=hours)),
        issue("incident", "severity:1", SP),
        old,
        CONFIG,
    )
    assert decision.incident is not None and decision.incident.status is status
    opens = [e for e in decision.plan if isinstance(e, OpenIssue)]
    assert len(opens) == 1
    assert opens[0].labels == ("incident", "severity:1", SP)
    assert "#1" in opens[0].body
    assert opens[0].record is not None and opens[0].record.severity is Severity.CRITICAL
    label = f"status:{status.value}"
    assert RemoveLabel(SP) in decision.plan and AddLabels((label,)) in decision.plan
    assert decision.incident.timeline[-1].kind == "recurred"


# Outsiders report; maintainers declare ------------------------------------------------


def outsider(action: str = "opened") -> Hint:
    return replace(hint(action), actor="rita", declarer_permitted=False)


def test_an_outsiders_incident_is_a_report_in_a_safe_order() -> None:
    labels = ("incident", "severity:1", SP, "bug")
    decision = reconcile_labels(outsider(), issue(*labels), None, CONFIG)
    assert decision.incident is None  # nothing recorded: nothing follows up, chats, reminds
    comment, *labelling = decision.plan
    assert isinstance(comment, PostComment) and comment.look_first and comment.key == "reported"
    assert "Search is down" not in comment.body  # never the user's title
    # The incident label goes last: a failed attempt is retried whole.
    assert labelling == [
        AddLabels(("incident:reported",)),
        RemoveLabel("severity:1"),
        RemoveLabel(SP),
        RemoveLabel("incident"),
    ]


def test_a_report_seen_again_changes_nothing() -> None:
    decision = reconcile_labels(outsider("edited"), issue("incident:reported"), None, CONFIG)
    assert decision.incident is None and decision.plan == ()


def test_the_permission_only_matters_for_an_unrecorded_issue() -> None:
    # A recorded incident is changed by labels, which only triage can apply.
    decision = reconcile_labels(
        outsider("labeled"), issue("incident", "severity:1", SP), recorded(), CONFIG
    )
    assert decision.plan == () and decision.incident == recorded()


def test_declaring_a_reported_issue_credits_the_reporter() -> None:
    opened_at = T0 - timedelta(hours=2)
    reported = replace(
        issue("incident:reported", "incident", "severity:2"), author="rita", created_at=opened_at
    )
    decision = reconcile_labels(hint(label="incident"), reported, None, CONFIG)
    assert decision.incident is not None
    first, second = decision.incident.timeline
    assert (first.kind, first.actor, first.at) == ("reported", "rita", opened_at)
    assert (second.kind, second.actor, second.at) == ("declared", "alice", T0)
    assert decision.plan == (AddLabels((SP,)), RemoveLabel("incident:reported"))
