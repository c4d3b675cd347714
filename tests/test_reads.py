"""The read log: which deliveries a later read of the issue already covered."""

from datetime import UTC, datetime, timedelta

import httpx

from app.github.client import response_time
from app.settings import Settings
from app.storage.db import create_schema
from app.storage.engine import make_engine
from app.storage.reads import ReadLog
from tests.conftest import REPO, RS, SP, Harness

T = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def test_covers_only_changes_stamped_before_a_later_read() -> None:
    reads = ReadLog()
    reads.note("7#1", T, T + timedelta(seconds=2))
    assert reads.covers("7#1", T)  # the other half of the change that was read
    assert reads.covers("7#1", T - timedelta(seconds=5))
    assert not reads.covers("7#1", T + timedelta(seconds=1))  # made after the read
    assert not reads.covers("7#2", T)


def test_a_read_in_the_same_second_as_the_change_covers_nothing() -> None:
    reads = ReadLog()
    reads.note("7#1", T, T)  # a later change could carry the same second
    assert not reads.covers("7#1", T)


def test_the_log_is_bounded() -> None:
    reads = ReadLog(size=2)
    for n in range(3):
        reads.note(f"7#{n}", T, T + timedelta(seconds=2))
    assert not reads.covers("7#0", T) and reads.covers("7#2", T)


def test_response_time_reads_githubs_date_header() -> None:
    response = httpx.Response(200, headers=[("date", "Mon, 02 Nov 2026 09:00:03 GMT")])
    assert response_time(response) == T + timedelta(seconds=3)
    assert response_time(httpx.Response(200)) is None
    assert response_time(httpx.Response(200, headers=[("date", "soon")])) is None


async def test_a_sidebar_change_is_read_once(harness: Harness) -> None:
    issue, events = harness.fake.open_issue(REPO, labels=["incident", "severity:1"])
    await harness.run(events)
    await harness.echo()
    before = len(harness.fake.calls)
    await harness.run(harness.fake.label(REPO, issue.number, add=[RS], remove=[SP]))
    reads = [
        c
        for c in harness.fake.calls[before:]
        if c.method == "GET" and c.path.endswith(f"/issues/{issue.number}")
    ]
    assert len(reads) == 1
    assert harness.labels(issue.number) == {"incident", "severity:1", SP}
    assert len(harness.bot_comments(issue.number)) == 1
    # A later change is read again.
    await harness.run(harness.fake.label(REPO, issue.number, add=[RS]))
    assert harness.labels(issue.number) == {"incident", "severity:1", SP}
    assert len(harness.bot_comments(issue.number)) == 2


async def test_instances_sharing_a_database_share_their_reads(database_url: str) -> None:
    engine = make_engine(Settings(_env_file=None, database_url=database_url).async_database_url)  # type: ignore[call-arg]
    await create_schema(engine)
    first, second = ReadLog(shared=engine), ReadLog(shared=engine)
    assert not await second.covered("7#1", T)
    await first.remember("7#1", T, T + timedelta(seconds=2))
    assert await second.covered("7#1", T), "the other instance's read covers the other half"
    assert not await second.covered("7#1", T + timedelta(seconds=1))  # made after the read
    await second.remember("7#1", T + timedelta(seconds=5), T + timedelta(seconds=9))
    assert await ReadLog(shared=engine).covered("7#1", T + timedelta(seconds=4))
    assert not await ReadLog().covered("7#1", T), "unshared: this instance's reads only"
    await engine.dispose()
