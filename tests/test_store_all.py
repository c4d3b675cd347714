"""IncidentStore.all(): every incident with its whole timeline, read in two queries."""

from datetime import UTC, datetime

from app.sandbox.github import FakeGitHub
from app.settings import Settings
from app.storage.db import create_schema
from app.storage.engine import make_engine
from app.storage.store import IncidentStore
from tests.seed import PUBLIC, seed


async def test_all_matches_load_on_both_databases(database_url: str) -> None:
    settings = Settings(_env_file=None, database_url=database_url)  # type: ignore[call-arg]
    engine = make_engine(settings.async_database_url)
    await create_schema(engine)
    store = IncidentStore(engine)
    await seed(store, FakeGitHub(), datetime.now(UTC))
    everything = await store.all()
    assert len(everything) == 6
    for incident in everything:
        assert incident == await store.load(incident.repo_id, incident.number)
    public = await store.all(repo=PUBLIC)
    assert [i.number for i in public] == [5, 4, 3, 2, 1]  # by declared_at
    assert [len(i.timeline) for i in public] == [3, 5, 3, 2, 1]
    await engine.dispose()
