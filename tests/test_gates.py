"""The gates, pure: open stabilization work holds Resolved, an open retrospective holds Reviewed.
No mocks: snapshots in, plans out."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from app.domain import builtin_commands  # noqa: F401  (registers the commands)
from app.domain.commands import parse_commands
from app.domain.config import DEFAULT_CONFIG as CONFIG
from app.domain.config import LoadedConfig
from app.domain.decide import reconcile_labels
from app.domain.decision import decide
from app.domain.facts import Hint, Issue
from app.domain.followup import History
from app.domain.gates import (
    Gates,
    read_gates,
    refusal,
    wanted_for_commands,
    wanted_for_labels,
)
from app.domain.labels import DEFAULT_LABELS
from app.domain.lifecycle import Severity, Status
from app.domain.occurrence import Kind, Occurrence, Snapshot
from app.domain.plan import AddLabels, OpenIssue, PostComment, RemoveLabel
from app.domain.records import Extras, Incident
from app.domain.retrospectives import retro_completed
from app.domain.status_comment import MOVE_COMMANDS, render_status

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
SP, ST, UI, RS, RV = (f"status:{s.value}" for s in Status)
STAB = "incident:stabilization"


def issue(*labels: str, number: int = 1, state: str = "open") -> Issue:
    return Issue("octo/ops", 7, number, 100 + number, "Search is down", state, tuple(labels))


def hint(action: str = "labeled", label: str | None = None) -> Hint:
    return Hint("issues", action, "alice", T0, "d-1", label)


def recorded(status: Status = Status.STABILIZED, severity: int = 1) -> Incident:
    return Incident(
        repo="octo/ops",
        repo_id=7,
        number=1,
        status=status,
        severity=Severity(severity),
        declared_at=T0 - timedelta(hours=1),
        declared_by="alice",
        lead="alice",
    )


def comments(plan: tuple[object, ...]) -> list[str]:
    return [e.body for e in plan if isinstance(e, PostComment)]


# ---- reading -------------------------------------------------------------------------------


def test_open_stabilization_sub_issues_and_the_retrospective_are_read() -> None:
    children = [
        issue(STAB, number=5),
        issue("Incident:Stabilization", number=3),  # GitHub's labels ignore case
        issue(STAB, number=6, state="closed"),
        issue("bug", number=7),  # another sub-issue: not stabilization work
        issue(number=9),  # the retrospective, open
    ]
    gates = read_gates(children, DEFAULT_LABELS, retro_number=9)
    assert gates == Gates((3, 5), retrospective=9, had_retro=True)
    closed = read_gates([issue(number=9, state="closed")], DEFAULT_LABELS, 9)
    assert closed == Gates((), None, had_retro=True)
    assert read_gates([], DEFAULT_LABELS, None) == Gates()


@pytest.mark.parametrize(
    ("status", "labels", "retro", "wanted"),
    [
        (Status.STABILIZED, (ST, RS), None, True),  # a legal move to Resolved
        (Status.UNDER_INVESTIGATION, (RS,), None, True),
        (Status.STABILIZATION_PENDING, (SP, RS), None, False),  # illegal: refused without
        (Status.RESOLVED, (RS, RV), None, False),  # no retrospective: nothing can hold it
        (Status.RESOLVED, (RS, RV), 9, True),
        (Status.STABILIZED, (ST, UI), 9, False),  # not toward Resolved or Reviewed
        (Status.RESOLVED, (RS,), 9, False),  # no move
    ],
    ids=["st-rs", "ui-rs", "sp-rs", "rs-rv-no-retro", "rs-rv", "st-ui", "none"],
)
def test_the_sub_issues_are_read_only_for_a_move_a_gate_may_hold(
    status: Status, labels: tuple[str, ...], retro: int | None, wanted: bool
) -> None:
    assert wanted_for_labels(recorded(status), labels, DEFAULT_LABELS, retro) is wanted


def test_commands_read_them_for_resolved_and_reviewed_only() -> None:
    incident = recorded(Status.STABILIZATION_PENDING)
    assert wanted_for_commands(incident, ["stabilized", "resolved"])
    assert wanted_for_commands(incident, ["reviewed"])
    assert not wanted_for_commands(incident, ["stabilized", "help"])
    assert not wanted_for_commands(None, ["resolved"])
    assert not wanted_for_commands(replace(incident, managed=False), ["resolved"])


def test_a_refusal_names_issues_by_number_and_stays_short() -> None:
    incident = recorded()
    assert refusal(incident, Status.RESOLVED, None, DEFAULT_LABELS) is None
    assert refusal(incident, Status.RESOLVED, Gates(), DEFAULT_LABELS) is None
    one = refusal(incident, Status.RESOLVED, Gates((5,)), DEFAULT_LABELS)
    assert one is not None and "#5 is still open" in one and STAB in one
    many = refusal(incident, Status.RESOLVED, Gates(tuple(range(1, 31))), DEFAULT_LABELS)
    assert many is not None and "#10 and 20 more are still open" in many and "#11" not in many
    held = refusal(recorded(Status.RESOLVED), Status.REVIEWED, Gates((), 9), DEFAULT_LABELS)
    assert held is not None and "retrospective #9 is still open" in held


# ---- deciding --------------------------------------------------------------------------------


def test_a_label_move_to_resolved_is_put_back_while_work_is_open() -> None:
    decision = reconcile_labels(
        hint(label=RS), issue("incident", "severity:1", RS), recorded(), CONFIG, gates=Gates((5,))
    )
    (body,) = comments(decision.plan)
    assert "#5 is still open" in body and f"I put the status back to `{ST}`" in body
    assert AddLabels((ST,)) in decision.plan and RemoveLabel(RS) in decision.plan
    assert decision.incident is not None and decision.incident.status is Status.STABILIZED
    assert decision.incident.timeline[-1].kind == "reverted"
    free = reconcile_labels(
        hint(label=RS), issue("incident", "severity:1", RS), recorded(), CONFIG, gates=Gates()
    )
    assert free.incident is not None and free.incident.status is Status.RESOLVED


def run(
    body: str, incident: Incident, labels: tuple[str, ...], gates: Gates | None, retro: int | None
) -> tuple[Incident | None, tuple[object, ...]]:
    """One comment decided whole: the record after, and the plan's effects."""
    event = Occurrence(
        Kind.COMMENT, hint("created"), commands=tuple(parse_commands(body)), comment_id=77
    )
    snapshot = Snapshot(
        issue(*labels),
        incident,
        LoadedConfig(),
        History(extras=Extras(status_comment_id=1, retro_number=retro)),
        gates=gates,
    )
    plan = decide(event, snapshot)
    return plan.record, plan.effects


def test_resolved_by_command_waits_for_the_work_and_says_so() -> None:
    after, effects = run(
        "/resolved", recorded(), ("incident", "severity:1", ST), Gates((5, 8)), None
    )
    assert after is not None and after.status is Status.STABILIZED
    (reply,) = comments(effects)
    assert "#5, #8 are still open" in reply and "Nothing changed" in reply
    assert not [e for e in effects if isinstance(e, AddLabels)]


def test_reviewed_by_command_waits_for_the_retrospective() -> None:
    incident = recorded(Status.RESOLVED)
    labels = ("incident", "severity:1", RS)
    after, effects = run("/reviewed", incident, labels, Gates((), 9, had_retro=True), 9)
    assert after is not None and after.status is Status.RESOLVED
    assert "retrospective #9 is still open" in comments(effects)[0]
    # Closed (as not planned, say): nothing holds it any more.
    after, _ = run("/reviewed", incident, labels, Gates(had_retro=True), 9)
    assert after is not None and after.status is Status.REVIEWED


def test_resolved_then_reviewed_in_one_comment_waits_for_the_retrospective_it_opens() -> None:
    after, effects = run(
        "/resolved\n/reviewed", recorded(), ("incident", "severity:1", ST), Gates(), None
    )
    assert after is not None and after.status is Status.RESOLVED
    assert any(isinstance(e, OpenIssue) and e.key == "retro:1" for e in effects)
    assert "retrospective this comment opens" in comments(effects)[0]
    # Severity 3 gets no retrospective: it may be reviewed at once.
    minor = recorded(severity=3)
    after, _ = run("/resolved\n/reviewed", minor, ("incident", "severity:3", ST), Gates(), None)
    assert after is not None and after.status is Status.REVIEWED


def test_closing_the_retrospective_as_completed_still_reviews() -> None:
    decision = retro_completed(
        hint("closed"), issue("incident", "severity:1", RS), recorded(Status.RESOLVED), CONFIG, 9
    )
    assert decision.incident is not None and decision.incident.status is Status.REVIEWED


# ---- saying what holds a move -------------------------------------------------------------


def test_next_moves_say_what_holds_resolved_and_reviewed() -> None:
    stabilized = render_status(recorded(), DEFAULT_LABELS, commands=MOVE_COMMANDS)
    assert (
        "- Resolved: `/resolved` or the label `status:resolved`, once every stabilization "
        "issue (`incident:stabilization`) is closed"
    ) in stabilized
    resolved = render_status(
        recorded(Status.RESOLVED), DEFAULT_LABELS, commands=MOVE_COMMANDS, retro_number=9
    )
    assert "- Reviewed: closing #9 as completed (`/reviewed` and the label" in resolved
    direct = render_status(recorded(Status.RESOLVED), DEFAULT_LABELS, commands=MOVE_COMMANDS)
    assert "- Reviewed: `/reviewed` or the label `status:reviewed`\n" in direct


def test_help_says_what_holds_a_move_and_the_reviewed_recurrence_choice() -> None:
    _, effects = run("/help", recorded(), ("incident", "severity:1", ST), None, None)
    (text,) = comments(effects)
    assert "Resolved waits until every stabilization sub-issue" in text
    assert "may be reviewed directly" in text
    assert "A Reviewed incident that recurs opens a new incident even within 48 hours" in text
