"""Stabilization work, pure: the critical label holds, an issue keeps one priority label, and
an issue labelled as stabilization work by hand is such work at any status."""

from datetime import UTC, datetime, timedelta

import pytest

from app.domain.config import DEFAULT_CONFIG, RepoConfig
from app.domain.config_file import parse_config
from app.domain.facts import Hint, Issue
from app.domain.lifecycle import Severity, Status
from app.domain.plan import (
    AddLabels,
    AddSubIssueLabels,
    LabelOpenSubIssues,
    PostComment,
    RemoveLabel,
)
from app.domain.records import Incident
from app.domain.transitions import change_severity
from app.domain.work import concerns_work, hold_work, link_stabilization_issue

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
STAB, CRIT = "incident:stabilization", "priority:critical"
HIGH, LOW = "priority:high", "priority:low"
CONFIG = RepoConfig.model_validate({"labels": {"priorities": [CRIT, HIGH, "priority:medium", LOW]}})


def child(*labels: str, state: str = "open") -> Issue:
    return Issue("octo/ops", 7, 5, 105, "Roll back", state, tuple(labels))


def hint(action: str, label: str | None) -> Hint:
    return Hint("issues", action, "kenji", T0, "d-9", label)


def incident(severity: int = 1, status: Status = Status.STABILIZED) -> Incident:
    return Incident(
        repo="octo/ops",
        repo_id=7,
        number=1,
        status=status,
        severity=Severity(severity),
        declared_at=T0 - timedelta(hours=1),
        declared_by="alice",
    )


def test_removing_critical_from_open_work_of_a_severe_incident_puts_it_back_with_a_comment() -> (
    None
):
    plan = hold_work(hint("unlabeled", CRIT), child(STAB), incident(2), CONFIG)
    assert plan[1:] == (AddLabels((CRIT,)),)
    assert isinstance(plan[0], PostComment) and plan[0].key == "critical-held:d-9"
    assert (
        "incident #1, severity 2" in plan[0].body
        and "I put `priority:critical` back" in plan[0].body
    )


def test_critical_removed_and_another_priority_added_at_once_is_one_comment() -> None:
    plan = hold_work(hint("labeled", HIGH), child(STAB, HIGH), incident(1), CONFIG)
    comments = [e for e in plan if isinstance(e, PostComment)]
    assert len(comments) == 1 and "removed `priority:high`" in comments[0].body
    assert AddLabels((CRIT,)) in plan and RemoveLabel(HIGH) in plan


def test_another_priority_added_over_a_critical_that_holds_goes() -> None:
    plan = hold_work(hint("labeled", LOW), child(STAB, CRIT, LOW), incident(1), CONFIG)
    assert RemoveLabel(LOW) in plan and not any(isinstance(e, AddLabels) for e in plan)
    assert any(isinstance(e, PostComment) for e in plan)


def test_adding_critical_removes_the_other_priorities_silently() -> None:
    plan = hold_work(hint("labeled", CRIT), child(STAB, CRIT, HIGH), incident(3), CONFIG)
    assert plan == (RemoveLabel(HIGH),)


def test_below_severity_2_the_priority_just_added_wins() -> None:
    plan = hold_work(hint("labeled", HIGH), child(STAB, CRIT, HIGH), incident(3), CONFIG)
    assert plan == (RemoveLabel(CRIT),)
    assert hold_work(hint("unlabeled", CRIT), child(STAB), incident(3), CONFIG) == ()


def test_newly_labelled_stabilization_work_is_marked_critical_without_a_word() -> None:
    plan = hold_work(hint("labeled", STAB), child(STAB, HIGH), incident(1), CONFIG)
    assert plan == (AddLabels((CRIT,)), RemoveLabel(HIGH))


@pytest.mark.parametrize(
    ("issue", "record"),
    [
        (child(STAB, state="closed"), incident(1)),  # closed work: the label may go
        (child(HIGH), incident(1)),  # not stabilization work
        (child(STAB), None),  # not under an incident
    ],
    ids=["closed", "not-work", "no-incident"],
)
def test_nothing_holds_outside_open_stabilization_work(
    issue: Issue, record: Incident | None
) -> None:
    assert hold_work(hint("unlabeled", CRIT), issue, record, CONFIG) == ()


def test_only_work_and_priority_labels_are_worth_reading_an_issue() -> None:
    scheme = CONFIG.scheme
    assert concerns_work(STAB, scheme) and concerns_work("Priority:Critical", scheme)
    assert concerns_work(LOW, scheme)
    assert not concerns_work("bug", scheme) and not concerns_work(None, scheme)
    assert not concerns_work(LOW, DEFAULT_CONFIG.scheme)  # no family configured


def test_a_sub_issue_labelled_stabilization_is_work_at_any_status() -> None:
    linked = link_stabilization_issue(
        hint("sub_issue_added", None), incident(1), child(STAB, LOW), CONFIG
    )
    assert linked.plan == (AddSubIssueLabels(5, (CRIT,), (LOW,)),)
    assert linked.incident is not None and linked.incident.timeline[-1].kind == "stabilization"
    plain = link_stabilization_issue(hint("sub_issue_added", None), incident(1), child(), CONFIG)
    assert plain.plan == () and plain.incident == incident(
        1
    )  # Stabilized: not work unless labelled
    pending = incident(1, Status.STABILIZATION_PENDING)
    linked = link_stabilization_issue(hint("sub_issue_added", None), pending, child(HIGH), CONFIG)
    assert linked.plan == (AddSubIssueLabels(5, (STAB, CRIT), (HIGH,)),)


def test_escalation_marks_work_critical_and_takes_the_other_priorities_off() -> None:
    _, effects = change_severity(
        incident(3), Severity.MAJOR, at=T0, actor="alice", scheme=CONFIG.scheme
    )
    assert effects == (LabelOpenSubIssues(STAB, (CRIT,), (HIGH, "priority:medium", LOW)),)


def test_the_priority_family_is_checked_like_every_label() -> None:
    config, errors = parse_config("labels:\n  priorities: [p1, p2]\n")
    assert not errors and config.scheme.priorities == ("p1", "p2")
    # `critical` itself may be listed: it belongs to the family.
    _, errors = parse_config(f"labels:\n  priorities: ['{CRIT}', '{HIGH}']\n")
    assert errors == ()
    _, errors = parse_config("labels:\n  incident: inc\n  priorities:\n    - p1\n    - INC\n")
    ((error),) = errors
    assert (error.line, error.key) == (
        5,
        "labels.priorities[1]",
    ) and "labels.incident" in error.reason
    _, errors = parse_config("labels:\n  priorities: [p1, P1]\n")
    assert errors and errors[0].key == "labels.priorities[1]"
    _, errors = parse_config("labels:\n  priorities: [p1, '']\n")
    assert errors and "cannot be empty" in errors[0].reason
