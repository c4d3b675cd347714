"""The lead history query and the new record fields on both databases."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from app.domain.lead_duty import LEADING_NOW
from app.domain.lifecycle import Severity, Status
from app.domain.records import EntryKind, TimelineEntry
from app.sandbox.github import FakeGitHub
from app.settings import Settings
from app.storage.bookkeeping import Bookkeeping
from app.storage.db import create_schema
from app.storage.engine import make_engine
from app.storage.lead_history import lead_history
from app.storage.store import IncidentStore
from tests.seed import PRIVATE, PUBLIC, incident, seed


async def test_lead_history_and_last_led_on_both_databases(database_url: str) -> None:
    settings = Settings(_env_file=None, database_url=database_url)  # type: ignore[call-arg]
    engine = make_engine(settings.async_database_url)
    await create_schema(engine)
    store = IncidentStore(engine)
    now = datetime.now(UTC).replace(microsecond=0)
    fake = FakeGitHub()
    records = await seed(store, fake, now)
    # Public #6, bob's at first, was handed over to dave after 5 hours, then resolved.
    start = now - timedelta(days=3)
    sixth = incident(
        fake.repo(PUBLIC).id,
        PUBLIC,
        6,
        "Queue stuck",
        Severity.MAJOR,
        start,
        [(Status.STABILIZED, timedelta(hours=1)), (Status.RESOLVED, timedelta(hours=20))],
        lead="dave",
    )
    handed = TimelineEntry(
        start + timedelta(hours=5), "bob", EntryKind.LEAD, "", from_value="bob", to_value="dave"
    )
    sixth = replace(sixth, timeline=(*sixth.timeline[:2], handed, sixth.timeline[2]))
    await store.save(sixth)
    # Withdrawn incidents count for nobody.
    await store.save(replace(records[1], lead="erin", managed=False))
    # The new fields round-trip.
    started = records[0].declared_at - timedelta(minutes=20)
    acknowledged = records[0].declared_at + timedelta(minutes=3)
    first = replace(records[0], impact_started_at=started, acknowledged_at=acknowledged)
    await store.save(first)
    assert await store.load(first.repo_id, first.number) == first

    public_id = fake.repo(PUBLIC).id
    history = await lead_history(engine, repo_id=public_id)
    assert [i.number for i in history] == [5, 4, 3, 6, 1]  # managed ones, oldest first
    kinds = {e.kind for i in history for e in i.timeline}
    assert kinds <= {"declared", "status", "lead"}  # only what lead duty is made of
    assert {i.repo for i in await lead_history(engine)} == {PUBLIC, PRIVATE}

    led = await Bookkeeping(engine).last_led(public_id)
    assert led == {
        "alice": LEADING_NOW,  # #1 is still open
        "bob": start + timedelta(hours=5),  # #6 handed over, and credited (#3 was before)
        "dave": sixth.resolved_at,
        "carol": records[3].resolved_at,
    }
    recent = await store.recent(now - timedelta(days=90))
    assert sorted((i.repo, i.number) for i in recent) == [
        (PUBLIC, 1),
        (PUBLIC, 3),
        (PUBLIC, 4),
        (PUBLIC, 6),
        (PRIVATE, 1),
    ]  # recorded in the window and managed (#2 is withdrawn)
    assert next(i for i in recent if i.number == 1 and i.repo == PUBLIC).acknowledged_at == (
        acknowledged
    )
    await engine.dispose()
