"""On-call end to end through the fake GitHub: acknowledgement, escalation, decline, snooze."""

from datetime import timedelta

from tests.conftest import Harness
from tests.test_followup_e2e import CONFIG, REPO, declare, record, say, status_comment, triage
from tests.test_leads import ROTATION
from tests.test_reminders import reminder_comments, tick

# Only runners, so that their hours can leave no one on duty.
RUNNERS_ONLY = """\
lead:
  rotation:
    start: 2026-11-02T00:00:00Z
    runners:
      - {login: alice, timezone: Europe/Berlin, hours: "09:00-17:00"}
      - {login: bob, timezone: America/New_York, hours: "09:00-17:00"}
  maintainers: [alice, bob]
"""


def asks(harness: Harness, number: int) -> list[str]:
    return [b for b in harness.bot_comments(number) if "you now lead this incident" in b]


async def test_a_silent_lead_is_replaced_by_the_next_one_on_duty(harness: Harness) -> None:
    harness.fake.repo(REPO).files[CONFIG] = ROTATION
    # Monday 09:00 UTC: alice, the runner, is on duty in Berlin; bob is asleep in New York.
    number = await declare(harness, 1, actor="zed")
    incident = await record(harness, number)
    assert incident.lead == "alice" and incident.acknowledged_at is None
    assert "| **Lead** | @alice (not acknowledged yet: `/ack`) |" in status_comment(harness, number)

    assert await tick(harness, harness.fake.tick(minutes=14)) == []
    assert len(await tick(harness, harness.fake.tick(minutes=2))) == 1
    incident = await record(harness, number)
    assert incident.lead == "carol"  # a maintainer on duty who has not led yet
    assert harness.fake.issue(REPO, number).assignees == ["carol"]
    (ask,) = asks(harness, number)
    assert ask.startswith("@carol you now lead this incident (alice did not acknowledge within")
    assert "Lead: alice → carol (alice did not acknowledge" in status_comment(harness, number)
    assert await tick(harness, harness.fake.now) == []  # the same tick again: nothing

    # carol answers with a comment: that acknowledges; no one else is asked.
    harness.fake.tick(minutes=5)
    await say(harness, number, "Looking at the search cluster", actor="carol")
    incident = await record(harness, number)
    assert incident.acknowledged_at == harness.fake.now.replace(microsecond=0)
    assert "| **Lead** | @carol |" in status_comment(harness, number)
    assert await tick(harness, harness.fake.tick(minutes=30)) == []
    assert (await record(harness, number)).lead == "carol"


async def test_when_no_one_else_is_free_the_lead_stays_and_it_is_noted_once(
    harness: Harness,
) -> None:
    harness.fake.repo(REPO).files[CONFIG] = RUNNERS_ONLY
    number = await declare(harness, 2, actor="zed")  # alice leads; bob is off duty
    assert (await record(harness, number)).lead == "alice"
    assert len(await tick(harness, harness.fake.tick(hours=1))) == 1
    incident = await record(harness, number)
    assert incident.lead == "alice" and asks(harness, number) == []
    assert incident.timeline[-1].kind == "escalation"
    assert "no one else is available to lead" in status_comment(harness, number)
    assert await tick(harness, harness.fake.tick(minutes=5)) == []  # not tried again


async def test_ack_by_the_lead_and_by_someone_else(harness: Harness) -> None:
    harness.fake.repo(REPO).files[CONFIG] = ROTATION
    number = await declare(harness, 1, actor="zed")
    triage(harness, "bob")
    harness.fake.tick(minutes=3)
    await say(harness, number, "/ack", actor="bob")
    (reply,) = harness.bot_comments(number)
    assert "only the lead acknowledges, and alice leads it" in reply and "@alice" not in reply
    assert (await record(harness, number)).acknowledged_at is None

    harness.fake.tick(minutes=3)
    await say(harness, number, "/ack", actor="alice")
    incident = await record(harness, number)
    assert incident.acknowledged_at == harness.fake.now.replace(microsecond=0)
    assert incident.timeline[-1].kind == "acknowledged"
    assert await tick(harness, harness.fake.tick(minutes=30)) == []  # no escalation


async def test_the_recorder_who_leads_has_acknowledged(harness: Harness) -> None:
    number = await declare(harness, 1, actor="zed")  # no config: the recorder leads
    incident = await record(harness, number)
    assert incident.lead == "zed" and incident.acknowledged_at == incident.declared_at
    assert "| **Lead** | @zed |" in status_comment(harness, number)


async def test_lead_decline_hands_over_and_then_leaves_no_lead(harness: Harness) -> None:
    harness.fake.repo(REPO).files[CONFIG] = RUNNERS_ONLY
    harness.fake.tick(hours=6)  # 15:00 UTC: alice (16:00 Berlin) and bob (10:00 NY) on duty
    number = await declare(harness, 1, actor="zed")
    assert (await record(harness, number)).lead == "alice"
    triage(harness, "alice", "bob")
    await say(harness, number, "/lead decline", actor="alice")
    incident = await record(harness, number)
    assert incident.lead == "bob"
    assert harness.fake.issue(REPO, number).assignees == ["bob"]
    (reply,) = harness.bot_comments(number)
    assert "@bob you now lead this incident (alice declined" in reply

    await say(harness, number, "/lead decline", actor="bob")
    incident = await record(harness, number)
    assert incident.lead is None and harness.fake.issue(REPO, number).assignees == []
    assert "this incident has no lead" in status_comment(harness, number)
    assert "no one else is available to lead" in harness.bot_comments(number)[-1]
    # Left without a lead, it waits for someone to take it; reminders go to the maintainers
    # on duty: at 16:00 UTC alice's day in Berlin is over.
    assert (await record(harness, number)).lead is None
    assert len(await tick(harness, harness.fake.tick(hours=1))) == 1
    (reminder,) = reminder_comments(harness, number)
    assert reminder.startswith("@bob this incident has no lead")


async def test_a_bot_never_leads_and_reminders_wait_for_maintainers_on_duty(
    harness: Harness,
) -> None:
    harness.fake.repo(REPO).files[CONFIG] = RUNNERS_ONLY
    harness.fake.tick(hours=14)  # 23:00 UTC: midnight in Berlin, 18:00 in New York
    issue, events = harness.fake.open_issue(
        REPO, labels=["incident", "severity:1"], actor="monitor[bot]"
    )
    await harness.run(events)
    await harness.echo()
    incident = await record(harness, issue.number)
    assert incident.lead is None and issue.assignees == []
    assert "this incident has no lead" in status_comment(harness, issue.number)
    assert await tick(harness, harness.fake.tick(hours=2)) == []  # no one on duty: it waits
    harness.fake.now = harness.fake.now.replace(hour=8, minute=0) + timedelta(days=1)
    assert len(await tick(harness, harness.fake.now)) == 1  # Tuesday 09:00 in Berlin
    (reminder,) = reminder_comments(harness, issue.number)
    assert reminder.startswith("@alice this incident has no lead")
    assert "monitor[bot]" not in reminder


async def test_snooze_holds_reminders_and_is_on_the_timeline(harness: Harness) -> None:
    number = await declare(harness, 1, actor="alice")
    triage(harness, "bob")
    harness.fake.tick(minutes=30)
    await say(harness, number, "/snooze 3h", actor="bob")
    assert "Reminders snoozed for 3h 00m" in status_comment(harness, number)
    snoozed = harness.fake.now
    assert await tick(harness, snoozed + timedelta(hours=2, minutes=59)) == []
    assert len(await tick(harness, snoozed + timedelta(hours=3))) == 1

    await say(harness, number, "/snooze 25h", actor="bob")
    assert "for 24h at most" in harness.bot_comments(number)[-1]
    await say(harness, number, "/snooze 1h", actor="passer-by")
    assert "needs triage permission" in harness.bot_comments(number)[-1]
    await say(harness, number, "/snooze soon", actor="bob")
    assert "usage: `/snooze DURATION`" in harness.bot_comments(number)[-1]


async def test_the_lead_resets_the_clock_without_triage(harness: Harness) -> None:
    number = await declare(harness, 1, actor="zed")
    triage(harness, "zed")
    await say(harness, number, "/lead @dana", actor="zed")
    assert (await record(harness, number)).lead == "dana"  # dana has read permission only
    harness.fake.tick(minutes=10)
    await say(harness, number, "Restarted the workers", actor="dana")
    spoke = harness.fake.now.replace(microsecond=0)
    incident = await record(harness, number)
    assert (incident.timeline[-1].kind, incident.timeline[-1].actor) == ("acknowledged", "dana")
    assert incident.acknowledged_at == incident.declared_at  # the first lead's, zed's, is kept
    assert "| **Lead** | @dana |" in status_comment(harness, number)
    assert await tick(harness, spoke + timedelta(minutes=59)) == []
    assert len(await tick(harness, spoke + timedelta(minutes=60))) == 1


async def test_reminders_slow_down_once_stabilized(harness: Harness) -> None:
    number = await declare(harness, 1, actor="alice")
    harness.fake.tick(minutes=30)
    await say(harness, number, "/stabilized", actor="alice")
    moved = harness.fake.now
    assert await tick(harness, moved + timedelta(hours=2)) == []
    assert len(await tick(harness, moved + timedelta(hours=24))) == 1
    (reminder,) = reminder_comments(harness, number)
    assert "every 1d 0h once it is stabilized, until it is resolved" in reminder
