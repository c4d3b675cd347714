"""On-call duty as tables: cadence, snoozes, working hours, acknowledgement and escalation."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from app.domain.cadence import cadence, recipients, reminder_due
from app.domain.config import DEFAULT_CONFIG, RepoConfig
from app.domain.config_file import parse_config
from app.domain.escalation import acknowledge, escalation_due, hand_over, lead_period
from app.domain.lifecycle import Severity, Status
from app.domain.plan import Assign, PostComment
from app.domain.records import EntryKind, Incident, TimelineEntry
from app.domain.timers import due, on_tick
from tests.test_leads import ROTATION

# Monday 2 November 2026, 09:00 UTC: 10:00 in Berlin (alice's week), 04:00 in New York.
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
TEAM = parse_config(ROTATION)[0]
BOT = "incident-flow[bot]"


def minutes(n: float) -> datetime:
    return T0 + timedelta(minutes=n)


def chosen(lead: str, *, by: str = BOT, at: datetime = T0) -> TimelineEntry:
    return TimelineEntry(at, by, EntryKind.LEAD, f"Lead: {lead}", to_value=lead)


def incident(
    severity: int | None = 1,
    status: Status = Status.STABILIZATION_PENDING,
    lead: str | None = "alice",
    *entries: TimelineEntry,
) -> Incident:
    timeline = (chosen(lead),) if lead else ()
    return Incident(
        repo="octo/ops",
        repo_id=1,
        number=5,
        status=status,
        severity=Severity(severity) if severity else None,
        declared_at=T0,
        declared_by="zed",
        lead=lead,
        timeline=timeline + entries,
    )


def config(text: str) -> RepoConfig:
    parsed, errors = parse_config(text)
    assert errors == ()
    return parsed


# Cadence ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("severity", "status", "expected"),
    [
        (1, Status.STABILIZATION_PENDING, timedelta(hours=1)),
        (2, Status.STABILIZATION_PENDING, timedelta(hours=24)),
        (None, Status.STABILIZATION_PENDING, timedelta(hours=1)),  # no severity: the safe side
        (1, Status.STABILIZED, timedelta(hours=24)),
        (1, Status.UNDER_INVESTIGATION, timedelta(hours=24)),
        (1, Status.RESOLVED, None),
        (1, Status.REVIEWED, None),
    ],
)
def test_the_cadence_follows_the_status(
    severity: int | None, status: Status, expected: timedelta | None
) -> None:
    assert cadence(incident(severity, status), DEFAULT_CONFIG) == expected


def test_the_stabilized_cadence_is_configured() -> None:
    slower = config("updates: {stabilized: 3d}\n")
    assert cadence(incident(1, Status.STABILIZED), slower) == timedelta(days=3)


def test_a_move_or_severity_change_starts_the_count_again() -> None:
    moved = TimelineEntry(minutes(50), "bob", EntryKind.STATUS, "x", to_value="stabilized")
    stable = incident(1, Status.STABILIZED, "alice", moved)
    # One hour after the recording a Sev 1 would be owed one; stabilized, a day after the move.
    assert reminder_due(stable, None, DEFAULT_CONFIG, minutes(61)) is None
    assert reminder_due(stable, None, DEFAULT_CONFIG, minutes(50 + 24 * 60)) is not None
    body = reminder_due(stable, None, DEFAULT_CONFIG, minutes(50 + 24 * 60))
    assert body is not None and "once it is stabilized, until it is resolved" in body.body


def test_a_snooze_holds_reminders_until_it_ends() -> None:
    until = minutes(180)
    snooze = TimelineEntry(minutes(10), "bob", EntryKind.SNOOZED, "z", to_value=until.isoformat())
    held = incident(1, Status.STABILIZATION_PENDING, "alice", snooze)
    assert reminder_due(held, None, DEFAULT_CONFIG, minutes(179)) is None
    owed = reminder_due(held, None, DEFAULT_CONFIG, minutes(180))
    assert owed is not None and owed.key == f"reminder:{int(T0.timestamp())}:3"


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (T0, ("alice",)),  # 10:00 in Berlin
        (T0 + timedelta(hours=8), None),  # 18:00 in Berlin: waits until she is back
        (T0 + timedelta(days=5), None),  # a Saturday
    ],
)
def test_a_reminder_waits_for_the_lead_to_be_on_duty(
    at: datetime, expected: tuple[str, ...] | None
) -> None:
    assert recipients(incident(), TEAM.lead, at) == expected


def test_a_reminder_due_off_duty_comes_once_when_the_lead_is_back() -> None:
    evening = incident()
    assert reminder_due(evening, minutes(400), TEAM, minutes(400 + 120)) is None  # 18:00 Berlin
    morning = T0 + timedelta(days=1)  # Tuesday 10:00 in Berlin
    owed = reminder_due(evening, minutes(400), TEAM, morning)
    assert owed is not None and owed.body.startswith("@alice ")
    assert owed.key.endswith(f":{(morning - minutes(400)) // timedelta(hours=1)}")


def test_without_a_lead_reminders_go_to_the_maintainers_on_duty() -> None:
    leaderless = incident(1, Status.STABILIZATION_PENDING, None)
    # 09:00 UTC: alice (runner, Berlin) is on duty, bob (New York) is not, carol and dave
    # have no hours listed, so they count as on duty.
    assert recipients(leaderless, TEAM.lead, T0) == ("alice", "carol", "dave")
    owed = reminder_due(leaderless, None, TEAM, minutes(61))
    assert owed is not None and owed.body.startswith("@alice @carol @dave this incident has no")
    # No one configured: no one is named, and the comment still asks for a lead.
    bare = reminder_due(leaderless, None, DEFAULT_CONFIG, minutes(61))
    assert bare is not None and bare.body.startswith("This incident has no lead")


# Acknowledgement ----------------------------------------------------------------------


def test_the_lead_acknowledges_once_and_the_first_time_is_kept() -> None:
    waiting = incident()
    period = lead_period(waiting)
    assert period is not None and not period.acknowledged
    assert acknowledge(waiting, "bob", minutes(3)) == waiting  # not the lead
    acked = acknowledge(waiting, "Alice", minutes(5))
    assert acked.acknowledged_at == minutes(5)
    assert [e.kind for e in acked.timeline] == [EntryKind.LEAD, EntryKind.ACKNOWLEDGED]
    assert acknowledge(acked, "alice", minutes(9)) == acked  # once


def test_taking_the_lead_yourself_is_acknowledging_it() -> None:
    took = incident(1, Status.STABILIZATION_PENDING, None, chosen("bob", by="bob", at=minutes(2)))
    took = replace(took, lead="bob")
    period = lead_period(took)
    assert period is not None and period.acknowledged


@pytest.mark.parametrize(
    ("severity", "at", "overdue"),
    [
        (1, 14, False),
        (1, 15, True),  # 15 minutes for severity 1
        (2, 59, False),
        (2, 60, True),  # an hour for severity 2
        (3, 60 * 24 * 7, False),  # none for severity 3
    ],
)
def test_the_time_to_acknowledge_per_severity(severity: int, at: int, overdue: bool) -> None:
    assert (escalation_due(incident(severity), DEFAULT_CONFIG, minutes(at)) is not None) is overdue


def test_an_escalated_severity_gives_the_lead_its_time_from_then() -> None:
    raised = TimelineEntry(minutes(300), "bob", EntryKind.SEVERITY, "3 → 1", to_value="1")
    was_minor = incident(1, Status.STABILIZATION_PENDING, "alice", raised)
    assert escalation_due(was_minor, DEFAULT_CONFIG, minutes(314)) is None
    assert escalation_due(was_minor, DEFAULT_CONFIG, minutes(315)) == minutes(315)


def test_no_escalation_once_resolved_or_acknowledged() -> None:
    assert escalation_due(incident(1, Status.RESOLVED), DEFAULT_CONFIG, minutes(60)) is None
    acked = acknowledge(incident(), "alice", minutes(1))
    assert escalation_due(acked, DEFAULT_CONFIG, minutes(60)) is None


# Escalation ---------------------------------------------------------------------------


def test_the_next_candidate_skips_everyone_asked_and_anyone_off_duty() -> None:
    silent = incident()
    decision = on_tick(silent, None, TEAM, {}, at=minutes(16), bot=BOT)
    after = decision.incident
    assert after is not None and after.lead == "carol"  # bob is off duty (04:16 in New York)
    assign, ask = decision.plan
    assert assign == Assign(add=("carol",), remove=("alice",))
    assert isinstance(ask, PostComment) and ask.body.startswith("@carol you now lead")
    assert "alice did not acknowledge within 15m" in ask.body
    entry = after.timeline[-1]
    assert (entry.kind, entry.actor, entry.from_value, entry.to_value) == (
        EntryKind.LEAD,
        BOT,
        "alice",
        "carol",
    )
    # carol is silent too: dave next, then no one else; the lead stays and it is noted once.
    step = on_tick(after, None, TEAM, {}, at=minutes(32), bot=BOT).incident
    assert step is not None and step.lead == "dave"
    last = on_tick(step, None, TEAM, {}, at=minutes(48), bot=BOT)
    assert last.incident is not None and last.incident.lead == "dave" and last.plan == ()
    assert last.incident.timeline[-1].kind == EntryKind.ESCALATION
    assert not (due(last.incident, None, TEAM, minutes(60)) or "").startswith("escalate")
    assert escalation_due(last.incident, TEAM, minutes(600)) is None


def test_the_rotation_runner_on_duty_comes_first() -> None:
    # carol leads and says nothing; alice, the runner, is on duty and was never asked.
    silent = incident(1, Status.STABILIZATION_PENDING, "carol")
    after = on_tick(silent, None, TEAM, {}, at=minutes(20), bot=BOT).incident
    assert after is not None and after.lead == "alice"


def test_a_decline_with_no_one_left_leaves_no_lead() -> None:
    alone = config("lead: {maintainers: [alice]}\n")
    after, effects = hand_over(
        incident(),
        alone,
        {},
        at=minutes(3),
        actor="alice",
        why="alice declined",
        keep_if_alone=False,
    )
    assert after.lead is None and effects == (Assign(remove=("alice",)),)
    assert after.timeline[-1].from_value == "alice" and after.timeline[-1].to_value is None


def test_due_names_the_escalation_before_a_reminder() -> None:
    silent = incident()
    assert due(silent, None, DEFAULT_CONFIG, minutes(14)) is None
    assert due(silent, None, DEFAULT_CONFIG, minutes(61)).startswith("escalate:alice:")  # type: ignore[union-attr]
    acked = acknowledge(silent, "alice", minutes(1))
    assert due(acked, None, DEFAULT_CONFIG, minutes(61)) == f"reminder:{int(T0.timestamp())}:1"
