"""Update reminders with a controlled clock: cadence, once per period, leases, Resolved.

The scheduler's `tick` queues what is due; the worker (`settle`) decides it again and posts.
"""

from datetime import UTC, datetime, timedelta

import pytest

from app.domain.cadence import reminder_due
from app.domain.config import DEFAULT_CONFIG
from app.domain.lifecycle import Severity, Status
from app.domain.records import Incident
from app.service.reminders import ReminderScheduler
from app.settings import Settings
from app.storage.bookkeeping import Bookkeeping
from app.storage.db import create_schema
from app.storage.engine import make_engine
from tests.conftest import Harness
from tests.test_followup_e2e import REPO, SP, ST, declare, record

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def incident(severity: int = 1, status: Status = Status.STABILIZATION_PENDING) -> Incident:
    return Incident(
        repo=REPO,
        repo_id=1,
        number=5,
        status=status,
        severity=Severity(severity),
        declared_at=T0,
        declared_by="zed",
        lead="alice",
    )


@pytest.mark.parametrize(
    ("minutes", "last_update", "key"),
    [
        (59, None, None),
        (60, None, f"reminder:{int(T0.timestamp())}:1"),
        (119, None, f"reminder:{int(T0.timestamp())}:1"),  # the same period: the same key
        (120, None, f"reminder:{int(T0.timestamp())}:2"),
        (150, 100, None),  # an update at 100 minutes
        (160, 100, f"reminder:{int((T0 + timedelta(minutes=100)).timestamp())}:1"),
        (30, -10, None),  # an update before the recording counts from the recording
    ],
)
def test_reminder_due(minutes: int, last_update: int | None, key: str | None) -> None:
    last = T0 + timedelta(minutes=last_update) if last_update is not None else None
    reminder = reminder_due(incident(), last, DEFAULT_CONFIG, T0 + timedelta(minutes=minutes))
    assert (reminder.key if reminder else None) == key
    if reminder:
        assert reminder.body.startswith("@alice ")
        assert "every 1h 00m for a severity 1 incident while it is disrupting" in reminder.body


def reminders_for(harness: Harness) -> ReminderScheduler:
    scheduler: ReminderScheduler = harness.services.extras["reminders"]
    return scheduler


def reminder_comments(harness: Harness, number: int) -> list[str]:
    return [b for b in harness.fake.bot_replies(REPO, number) if "no one has posted an update" in b]


async def tick(harness: Harness, at: datetime) -> list[str]:
    """One scheduler tick at `at`, and the worker's decisions on what it queued."""
    queued = await reminders_for(harness).tick(at)
    await harness.settle()
    return queued


async def test_lead_mentioned_once_per_overdue_period(harness: Harness) -> None:
    number = await declare(harness, 1, actor="alice")
    declared = (await record(harness, number)).declared_at
    assert await tick(harness, declared + timedelta(minutes=59)) == []
    assert len(await tick(harness, declared + timedelta(minutes=61))) == 1
    assert await tick(harness, declared + timedelta(minutes=90)) == []  # reminded this period
    assert len(await tick(harness, declared + timedelta(minutes=121))) == 1
    comments = reminder_comments(harness, number)
    assert len(comments) == 2 and comments[0].startswith("@alice ")


async def test_a_triage_comment_resets_the_clock_and_others_do_not(harness: Harness) -> None:
    number = await declare(harness, 1, actor="alice")
    harness.fake.repo(REPO).permissions["bob"] = "triage"
    harness.fake.tick(minutes=50)
    await harness.run(harness.fake.comment(REPO, number, "Rolled back; watching", actor="bob"))
    commented = harness.fake.now.replace(microsecond=0)
    # A drive-by comment (read permission) and a bot's do not count as updates.
    await harness.run(harness.fake.comment(REPO, number, "any news?", actor="passer-by"))
    await harness.run(harness.fake.comment(REPO, number, "beep", actor="ci[bot]"))
    assert await tick(harness, commented + timedelta(minutes=59)) == []
    assert len(await tick(harness, commented + timedelta(minutes=60))) == 1


async def test_cadence_from_config_and_severity(harness: Harness) -> None:
    harness.fake.repo(REPO).files[".github/incidents.yml"] = "updates: {sev2: 3h}\n"
    number = await declare(harness, 2, actor="alice")
    declared = (await record(harness, number)).declared_at
    assert await tick(harness, declared + timedelta(hours=2, minutes=59)) == []
    assert len(await tick(harness, declared + timedelta(hours=3))) == 1
    assert "every 3h 00m for a severity 2" in reminder_comments(harness, number)[0]


async def test_reminders_stop_at_resolved(harness: Harness) -> None:
    number = await declare(harness, 3, actor="alice")
    await harness.run(harness.fake.label(REPO, number, add=[ST], remove=[SP]))
    await harness.run(harness.fake.label(REPO, number, add=["status:resolved"], remove=[ST]))
    declared = (await record(harness, number)).declared_at
    assert await tick(harness, declared + timedelta(days=3)) == []


async def test_only_one_instance_sends_each_reminder(harness: Harness) -> None:
    number = await declare(harness, 1, actor="alice")
    declared = (await record(harness, number)).declared_at
    first = reminders_for(harness)
    second = ReminderScheduler(
        first.github, first.books, first.store, first.configs, first.inbox, holder="other"
    )
    now = declared + timedelta(minutes=61)
    assert len(await first.tick(now)) == 1
    assert await second.tick(now) == []  # the first instance holds the lease
    assert first.holding and not second.holding  # so only the first runs the other jobs
    # Even once the lease has run out, the queued key stops a second copy of the reminder.
    assert await second.tick(now + timedelta(minutes=10)) == []
    await harness.settle()
    assert len(reminder_comments(harness, number)) == 1


async def test_a_failed_post_is_tried_again(harness: Harness) -> None:
    number = await declare(harness, 1, actor="alice")
    declared = (await record(harness, number)).declared_at
    harness.fake.fail("POST", rf"/issues/{number}/comments$", 502, times=4)
    assert len(await tick(harness, declared + timedelta(minutes=61))) == 1
    assert reminder_comments(harness, number) == []  # the worker retries the tick
    await harness.backoff_passes()
    await harness.settle()
    assert len(reminder_comments(harness, number)) == 1


async def test_lease_and_claims(database_url: str) -> None:
    engine = make_engine(Settings(database_url=database_url).async_database_url)
    await create_schema(engine)
    books = Bookkeeping(engine)
    try:
        assert await books.lease("job", "a", 60, T0)
        assert not await books.lease("job", "b", 60, T0 + timedelta(seconds=30))
        assert await books.lease("job", "a", 60, T0 + timedelta(seconds=30))  # renewed
        assert await books.lease("job", "b", 60, T0 + timedelta(seconds=91))  # expired
        assert await books.claim("k") and not await books.claim("k")
        await books.release("k")
        assert await books.claim("k")
        await books.note_human_comment(1, 2, T0 + timedelta(minutes=5))
        await books.note_human_comment(1, 2, T0)  # a late delivery of an older comment
        assert (await books.extras(1, 2)).last_human_comment_at == T0 + timedelta(minutes=5)
        await books.set_status_comment(1, 2, 99)
        await books.set_retro(1, 2, 7)
        extras = await books.extras(1, 2)
        assert (extras.status_comment_id, extras.retro_number) == (99, 7)
        assert await books.incident_for_retro(1, 7) == 2
        assert await books.incident_for_retro(1, 2) is None
    finally:
        await engine.dispose()


async def test_follow_up_not_caught_up_while_the_worker_holds_the_incident(
    database_url: str,
) -> None:
    from sqlalchemy import insert

    from app.storage.db import deliveries, incidents, utcnow

    engine = make_engine(Settings(database_url=database_url).async_database_url)
    await create_schema(engine)
    books = Bookkeeping(engine)
    try:
        now = utcnow()
        async with engine.begin() as conn:
            await conn.execute(
                insert(incidents).values(
                    repo="octo/ops",
                    repo_id=7,
                    number=3,
                    title="",
                    status="stabilized",
                    managed=True,
                    declared_at=now,
                    declared_by="zed",
                    installation_id=100,
                    updated_at=now,
                )
            )
        await books.set_due(7, 3, True)
        assert await books.due() == [(7, 3, 100)]
        async with engine.begin() as conn:
            await conn.execute(
                insert(deliveries).values(
                    delivery_id="d1",
                    event="issues",
                    issue_key="7#3",
                    payload="{}",
                    received_at=now,
                    state="processing",
                    attempts=1,
                    available_at=now,
                )
            )
        assert await books.due() == []
    finally:
        await engine.dispose()
