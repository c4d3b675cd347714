"""The follow-ups kept for the dashboard, on both databases: upserted, pruned, forgotten."""

from datetime import UTC, datetime, timedelta

from app.domain.followups import FollowUp, FollowUps
from app.domain.lifecycle import Status
from app.domain.records import Incident, TimelineEntry
from app.settings import Settings
from app.storage.db import create_schema
from app.storage.engine import make_engine
from app.storage.followups import open_followups
from app.storage.store import IncidentStore, Saved

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def item(number: int, state: str = "open", hours: int = 0) -> FollowUp:
    return FollowUp(number, state, f"Follow-up {number}", T0 + timedelta(hours=hours))


async def test_followups_are_kept_pruned_and_forgotten(database_url: str) -> None:
    settings = Settings(_env_file=None, database_url=database_url)  # type: ignore[call-arg]
    engine = make_engine(settings.async_database_url)
    await create_schema(engine)
    store = IncidentStore(engine)
    record = Incident("octo/ops", 1, 7, Status.STABILIZED, None, T0, "alice").noted(
        TimelineEntry(T0, "alice", "declared", "Recorded")
    )
    first = FollowUps((item(9, hours=2), item(8, hours=1)), complete=False)
    await store.commit([Saved(1, 7, record, followups=first)], installation_id=1)
    await store.commit([Saved(1, 3, followups=FollowUps((item(4),), False))], installation_id=1)
    listed = await open_followups(engine)
    assert [(f.incident_number, f.number) for f in listed] == [(3, 4), (7, 8), (7, 9)]
    # Every follow-up of #7 known: #8 closed, #9 unlinked (gone), #10 new.
    known = FollowUps((item(8, "closed", 1), item(10, hours=3)), complete=True)
    await store.commit([Saved(1, 7, followups=known)], installation_id=1)
    assert [f.number for f in await open_followups(engine)] == [4, 10]
    # A security report: no record of #7 is kept, nor of its follow-ups.
    await store.commit([Saved(1, 7, forget=True)], installation_id=1)
    assert await store.load(1, 7) is None
    assert [f.number for f in await open_followups(engine)] == [4]
    await engine.dispose()
