"""Group commit: concurrent stores share a write, each answered after its own commit."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

from app.queue.batching import GroupCommit
from app.queue.inbox import Envelope, Inbox
from tests.test_inbox import envelope, open_inbox


async def test_concurrent_items_share_writes_and_keep_their_results() -> None:
    writes: list[list[int]] = []

    async def write(items: list[int]) -> list[int]:
        writes.append(items)
        await asyncio.sleep(0.01)
        return [n * 10 for n in items]

    group: GroupCommit[int, int] = GroupCommit(write)
    results = await asyncio.gather(*(group.submit(n) for n in range(50)))
    assert results == [n * 10 for n in range(50)]
    assert len(writes) < 50, "concurrent items were written one by one"
    assert sorted(n for batch in writes for n in batch) == list(range(50))


async def test_one_bad_item_fails_alone() -> None:
    async def write(items: list[int]) -> list[int]:
        if 13 in items:
            raise ValueError("bad item")
        return items

    group: GroupCommit[int, int] = GroupCommit(write)
    outcomes = await asyncio.gather(*(group.submit(n) for n in range(20)), return_exceptions=True)
    assert isinstance(outcomes[13], ValueError)
    assert [o for i, o in enumerate(outcomes) if i != 13] == [n for n in range(20) if n != 13]


async def test_the_same_delivery_twice_in_one_batch_is_stored_once(database_url: str) -> None:
    inbox: Inbox = await open_inbox(database_url)
    # The first store is written alone; the five copies then go together in the next write.
    copies: list[Envelope] = [envelope(2, 1)] + [envelope(1, 1)] * 5
    stored = await asyncio.gather(*(inbox.store(e) for e in copies))
    assert stored == [True, True, False, False, False, False]
    assert await inbox.counts() == {"pending": 2}
    await inbox.engine.dispose()


@pytest.mark.parametrize("count", [1, 300])
async def test_a_burst_is_stored_completely(database_url: str, count: int) -> None:
    inbox: Inbox = await open_inbox(database_url)
    stored = await asyncio.gather(*(inbox.store(envelope(n, n % 7)) for n in range(count)))
    assert all(stored)
    assert await inbox.counts() == {"pending": count}
    await inbox.engine.dispose()


async def test_a_locked_sqlite_database_makes_the_store_wait_off_the_loop(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Another connection holding the write lock: the store waits on the writer thread while
    the event loop keeps answering, and completes once the lock is released."""
    inbox = await open_inbox(f"sqlite:///{tmp_path}/inbox.db")
    assert await inbox.store(envelope(0, 0))  # the loop's own connection, lock free
    holder = sqlite3.connect(f"{tmp_path}/inbox.db", isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    store = asyncio.create_task(inbox.store(envelope(1, 1)))
    ticks = 0
    for _ in range(20):  # 0.2 s of a loop that is not blocked
        await asyncio.sleep(0.01)
        ticks += 1
    assert not store.done(), "stored while another connection held the lock"
    holder.execute("COMMIT")
    holder.close()
    assert await asyncio.wait_for(store, 10)
    assert ticks == 20
    assert await inbox.known(["d-0", "d-1"]) == {"d-0", "d-1"}
    await inbox.close()
    await inbox.engine.dispose()
