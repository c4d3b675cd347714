"""The inbox and worker on SQLite and PostgreSQL: order per issue, exactly-once, crashes."""

import asyncio
import gc
import random
import time
from collections import defaultdict
from datetime import timedelta

import pytest
from pydantic import BaseModel, ValidationError
from sqlalchemy import select, update

from app.github.client import GitHubRefused
from app.queue.inbox import Delivery, Envelope, Inbox
from app.queue.worker import Worker
from app.settings import Settings
from app.storage.db import create_schema, deliveries, utcnow
from app.storage.engine import make_engine


def envelope(n: int, issue: int) -> Envelope:
    return Envelope(
        delivery_id=f"d-{n}",
        event="issues",
        action="labeled",
        installation_id=1,
        repo="octo/ops",
        issue_key=f"7#{issue}",
        payload="{}",
    )


async def open_inbox(database_url: str) -> Inbox:
    engine = make_engine(Settings(_env_file=None, database_url=database_url).async_database_url)  # type: ignore[call-arg]
    await create_schema(engine)
    return Inbox(engine)


async def fill(inbox: Inbox, count: int, issues: int) -> None:
    for n in range(count):
        assert await inbox.store(envelope(n, n % issues))


class Recorder:
    """A handler that records who processed what, and checks one-at-a-time per issue."""

    def __init__(self) -> None:
        self.handled: list[tuple[str, int, str]] = []
        self.active: dict[str, str] = {}
        self.overlaps = 0

    def handler(self, name: str, *, hang_on: set[int] = frozenset()):  # type: ignore[no-untyped-def, assignment]
        async def handle(delivery: Delivery) -> str:
            key = delivery.issue_key or ""
            if key in self.active:
                self.overlaps += 1
            self.active[key] = name
            try:
                await asyncio.sleep(random.uniform(0, 0.004))
                if delivery.seq in hang_on:
                    await asyncio.sleep(3600)  # "killed" here: never finishes
                self.handled.append((key, delivery.seq, name))
            finally:
                self.active.pop(key, None)
            return "ok"

        return handle


async def test_store_is_idempotent_by_delivery_id(database_url: str) -> None:
    inbox = await open_inbox(database_url)
    assert await inbox.store(envelope(1, 1))
    assert not await inbox.store(envelope(1, 1))
    assert await inbox.known(["d-1", "d-2"]) == {"d-1"}
    await inbox.engine.dispose()


async def test_one_at_a_time_per_issue_in_arrival_order(database_url: str) -> None:
    inbox = await open_inbox(database_url)
    await fill(inbox, 60, 6)
    recorder = Recorder()
    worker = Worker(inbox, recorder.handler("a"), concurrency=8, lease_seconds=30)
    await worker.run_until_idle(timeout=30)
    assert recorder.overlaps == 0
    per_issue = defaultdict(list)
    for key, seq, _ in recorder.handled:
        per_issue[key].append(seq)
    assert all(seqs == sorted(seqs) for seqs in per_issue.values())
    assert sorted(seq for _, seq, _ in recorder.handled) == list(range(1, 61))
    assert (await inbox.counts()) == {"done": 60}
    await inbox.engine.dispose()


async def test_two_instances_share_one_inbox_exactly_once(database_url: str) -> None:
    first, second = await open_inbox(database_url), await open_inbox(database_url)
    await fill(first, 200, 20)
    recorder = Recorder()
    workers = [
        Worker(first, recorder.handler("a"), concurrency=6, worker_id="a"),
        Worker(second, recorder.handler("b"), concurrency=6, worker_id="b"),
    ]
    await asyncio.gather(*(w.run_until_idle(timeout=60) for w in workers))
    seqs = [seq for _, seq, _ in recorder.handled]
    assert sorted(seqs) == list(range(1, 201)), "each delivery processed exactly once"
    assert recorder.overlaps == 0
    per_issue = defaultdict(list)
    for key, seq, _ in recorder.handled:
        per_issue[key].append(seq)
    assert all(s == sorted(s) for s in per_issue.values()), "per-issue order kept"
    await first.engine.dispose()
    await second.engine.dispose()


async def test_crash_mid_batch_loses_nothing(database_url: str) -> None:
    inbox, doomed = await open_inbox(database_url), await open_inbox(database_url)
    await fill(inbox, 30, 5)
    recorder = Recorder()
    # The first instance takes a batch and dies inside two deliveries (no finish, no retry).
    crashed = Worker(
        doomed,
        recorder.handler("a", hang_on={3, 4}),
        concurrency=5,
        lease_seconds=0.5,
        worker_id="crashed",
    )
    crashed.start()
    deadline = time.monotonic() + 10
    while len(recorder.handled) < 8 and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    await crashed.stop(drain_seconds=0)  # like SIGKILL: in-flight work is abandoned
    await asyncio.sleep(0.05)
    await doomed.engine.dispose()  # and its connections (and SQLite locks) go with it
    gc.collect()
    async with inbox.engine.connect() as conn:
        done_before = set(
            (await conn.execute(select(deliveries.c.seq).where(deliveries.c.state == "done")))
            .scalars()
            .all()
        )
    await asyncio.sleep(0.6)  # the dead instance's leases run out
    restarted = Worker(inbox, recorder.handler("b"), concurrency=5, worker_id="restarted")
    await restarted.run_until_idle(timeout=30)
    by_b = [seq for _, seq, name in recorder.handled if name == "b"]
    assert {3, 4} <= set(by_b), "the abandoned deliveries are picked up again"
    # Work finished and marked done is never repeated; work cut off between its effects and
    # its "done" may run again, which is why every effect is idempotent.
    assert not (set(by_b) & done_before), "finished work is not repeated"
    assert sorted({seq for _, seq, _ in recorder.handled}) == list(range(1, 31))
    assert (await inbox.counts()) == {"done": 30}
    await inbox.engine.dispose()


async def test_failures_retry_then_die_with_their_error(database_url: str) -> None:
    inbox = await open_inbox(database_url)
    await fill(inbox, 1, 1)

    async def broken(delivery: Delivery) -> str:
        raise RuntimeError("cannot handle this")

    worker = Worker(inbox, broken, max_attempts=3)
    for _ in range(3):
        await worker.run_until_idle()
        from sqlalchemy import update

        from app.storage.db import deliveries, utcnow

        async with inbox.engine.begin() as conn:  # skip the back-off wait
            await conn.execute(update(deliveries).values(available_at=utcnow()))
    assert (await inbox.counts()) == {"dead": 1}
    from sqlalchemy import select

    from app.storage.db import deliveries

    async with inbox.engine.connect() as conn:
        error = (await conn.execute(select(deliveries.c.last_error))).scalar_one()
    assert "cannot handle this" in error
    await inbox.engine.dispose()


async def test_worker_yields_to_a_burst_but_never_stops(tmp_path) -> None:  # type: ignore[no-untyped-def]
    inbox = await open_inbox(f"sqlite:///{tmp_path}/burst.db")
    await fill(inbox, 6, 6)
    recorder = Recorder()
    checks: list[bool] = []

    def always_busy() -> bool:
        checks.append(True)
        return True

    worker = Worker(inbox, recorder.handler("a"), concurrency=3, busy=always_busy)
    worker.start()
    deadline = time.monotonic() + 10
    while len(recorder.handled) < 6 and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    await worker.stop()
    assert len(recorder.handled) == 6  # a burst slows processing; it never starves it
    assert checks, "the worker asked whether the receiver was busy"
    await inbox.close()
    await inbox.engine.dispose()


async def test_claims_take_each_issues_oldest_and_deliveries_of_no_issue(database_url: str) -> None:
    inbox = await open_inbox(database_url)
    await fill(inbox, 30, 3)  # issues 0, 1, 2: ten deliveries each, interleaved
    loose = Envelope("d-loose", "installation", "created", 1, "octo/ops", None, "{}")
    assert await inbox.store(loose)
    first = await inbox.claim("w", 10, 60)
    assert sorted(d.delivery_id for d in first) == ["d-0", "d-1", "d-2", "d-loose"]
    assert await inbox.claim("w", 10, 60) == [], "every busy issue is in flight"
    # Issue 0's delivery fails and waits for its retry: the issue's later ones wait too.
    retry_at = first[0].received_at + timedelta(hours=1)
    await inbox.retry(first[0], "w", "boom", retry_at)
    for delivery in first[1:]:
        await inbox.finish(delivery, "w", "ok")
    second = await inbox.claim("w", 10, 60)
    assert sorted(d.delivery_id for d in second) == ["d-4", "d-5"]
    while batch := second:
        for delivery in batch:
            await inbox.finish(delivery, "w", "ok")
        second = await inbox.claim("w", 10, 60)
    assert await inbox.counts() == {"done": 21, "pending": 10}
    assert await inbox.next_ready_at() == retry_at, "the worker sleeps until the retry"
    await inbox.engine.dispose()


async def test_an_abandoned_claim_is_taken_again_in_its_place(database_url: str) -> None:
    inbox = await open_inbox(database_url)
    await fill(inbox, 4, 1)
    [taken] = await inbox.claim("dead-instance", 5, lease=-1)  # its lease has already run out
    [again] = await inbox.claim("w", 5, 60)
    assert again.seq == taken.seq and again.attempts == 2
    await inbox.engine.dispose()


async def states(inbox: Inbox) -> dict[str, tuple[str, int, int]]:
    """Each delivery's state, attempts and attempts cut off, by delivery id."""
    async with inbox.engine.connect() as conn:
        rows = await conn.execute(
            select(
                deliveries.c.delivery_id,
                deliveries.c.state,
                deliveries.c.attempts,
                deliveries.c.abandoned,
            )
        )
        return {row[0]: (row[1], row[2], row[3]) for row in rows}


def validation_error() -> Exception:
    class Strict(BaseModel):
        n: int

    try:
        Strict.model_validate({"n": "not a number"})
    except ValidationError as exc:
        return exc
    raise AssertionError("validated")


@pytest.mark.parametrize(
    "failure",
    [
        lambda: ValueError("cannot parse this payload"),
        validation_error,
        lambda: GitHubRefused(403, "Resource not accessible by integration"),
        lambda: GitHubRefused(422, "Validation Failed"),
    ],
    ids=["value-error", "validation-error", "github-403", "github-422"],
)
async def test_a_permanent_failure_is_dead_at_once_and_frees_its_issue(
    database_url: str,
    failure,  # type: ignore[no-untyped-def]
) -> None:
    inbox = await open_inbox(database_url)
    await fill(inbox, 3, 1)  # three deliveries of one issue: d-0 is poison
    handled: list[str] = []

    async def handle(delivery: Delivery) -> str:
        if delivery.delivery_id == "d-0":
            raise failure()
        handled.append(delivery.delivery_id)
        return "ok"

    await Worker(inbox, handle, max_attempts=8).run_until_idle()
    found = await states(inbox)
    assert found["d-0"] == ("dead", 1, 0), "dead on its first attempt, no retry schedule"
    assert handled == ["d-1", "d-2"], "the issue's next deliveries were not held"
    await inbox.engine.dispose()


async def test_a_transient_failure_still_retries(database_url: str) -> None:
    inbox = await open_inbox(database_url)
    await fill(inbox, 2, 1)

    async def handle(delivery: Delivery) -> str:
        raise GitHubRefused(401, "Bad credentials")

    await Worker(inbox, handle, max_attempts=8).run_until_idle()
    found = await states(inbox)
    assert found["d-0"][0] == "pending" and found["d-1"] == ("pending", 0, 0)
    await inbox.engine.dispose()


async def restart(inbox: Inbox) -> Inbox:
    """The process dies and comes back: a new engine; claims left behind are given up."""
    url = inbox.engine.url
    await inbox.close()
    await inbox.engine.dispose()
    again = Inbox(make_engine(url.render_as_string(hide_password=False)))
    if not again.is_postgres:
        await again.release_all()  # what a SQLite service does on start
    else:
        async with again.engine.begin() as conn:  # its lease runs out
            await conn.execute(
                update(deliveries)
                .where(deliveries.c.state == "processing")
                .values(lease_until=utcnow() - timedelta(seconds=1))
            )
    return again


async def test_attempts_are_counted_at_claim_and_survive_a_restart(database_url: str) -> None:
    inbox = await open_inbox(database_url)
    await fill(inbox, 1, 1)
    [first] = await inbox.claim("before", 5, 60)
    assert (first.attempts, first.abandoned) == (1, 0)
    inbox = await restart(inbox)  # died mid-attempt: nothing was finished
    assert (await states(inbox))["d-0"][1] == 1, "the attempt was stored when claimed"
    [again] = await inbox.claim("after", 5, 60)
    assert (again.attempts, again.abandoned) == (2, 1)
    await inbox.engine.dispose()


async def test_a_delivery_that_kills_the_process_is_dead_after_max_attempts(
    database_url: str,
) -> None:
    inbox = await open_inbox(database_url)
    await fill(inbox, 2, 1)
    for n in range(3):  # each attempt at d-0 takes the process down with it
        [taken] = await inbox.claim(f"instance-{n}", 5, 60)
        assert taken.delivery_id == "d-0"
        inbox = await restart(inbox)
    handled: list[str] = []

    async def handle(delivery: Delivery) -> str:
        handled.append(delivery.delivery_id)
        return "ok"

    await Worker(inbox, handle, max_attempts=3).run_until_idle()
    found = await states(inbox)
    assert found["d-0"] == ("dead", 4, 3)
    assert handled == ["d-1"], "not run a fourth time; the issue's next one was"
    [letter] = await inbox.dead_letters()
    assert "3 attempts were cut off" in (letter.last_error or "")
    await inbox.engine.dispose()


async def test_a_stale_claim_cannot_finish_a_delivery_claimed_again(database_url: str) -> None:
    inbox = await open_inbox(database_url)
    await fill(inbox, 1, 1)
    [stale] = await inbox.claim("w", 5, lease=-1)  # its lease runs out (or the clock jumped)
    [current] = await inbox.claim("w", 5, 60)  # the same instance takes it again
    await inbox.finish(stale, "w", "ok")  # the first run ends late: fenced off
    assert (await states(inbox))["d-0"][0] == "processing"
    await inbox.finish(current, "w", "ok")
    assert (await states(inbox))["d-0"] == ("done", 2, 1)
    await inbox.engine.dispose()


async def test_a_clock_jump_never_runs_one_delivery_twice_at_once(database_url: str) -> None:
    inbox = await open_inbox(database_url)
    await fill(inbox, 1, 1)
    release = asyncio.Event()
    runs: list[int] = []

    async def handle(delivery: Delivery) -> str:
        runs.append(delivery.seq)
        await release.wait()
        return "ok"

    worker = Worker(inbox, handle, poll_seconds=0.01, lease_seconds=60)
    worker.start()
    for _ in range(500):
        if runs:
            break
        await asyncio.sleep(0.01)
    assert runs == [1]
    # The wall clock jumps an hour ahead: the lease of the delivery in flight looks past.
    async with inbox.engine.begin() as conn:
        await conn.execute(update(deliveries).values(lease_until=utcnow() - timedelta(hours=1)))
    for _ in range(20):  # many claims come and go meanwhile
        worker.notify()
        await asyncio.sleep(0.02)
    assert runs == [1], "the delivery in flight was started again"
    release.set()
    for _ in range(500):
        if (await inbox.counts()) == {"done": 1}:
            break
        await asyncio.sleep(0.01)
    await worker.stop()
    assert (await inbox.counts()) == {"done": 1}
    await inbox.close()
    await inbox.engine.dispose()


async def test_dead_letters_are_listed_and_revived(database_url: str) -> None:
    inbox = await open_inbox(database_url)
    await fill(inbox, 3, 3)
    for delivery in await inbox.claim("w", 5, 60):
        await inbox.bury(delivery, "w", f"boom {delivery.delivery_id}")
    letters = await inbox.dead_letters()
    assert [letter.delivery_id for letter in letters] == ["d-2", "d-1", "d-0"]
    assert letters[0].last_error == "boom d-2" and letters[0].attempts == 1
    assert await inbox.revive(["d-1", "d-unknown"]) == 1
    assert (await states(inbox))["d-1"] == ("pending", 0, 0)
    assert await inbox.revive() == 2
    assert await inbox.revive([]) == 0
    handled: list[str] = []

    async def handle(delivery: Delivery) -> str:
        handled.append(delivery.delivery_id)
        return "ok"

    await Worker(inbox, handle).run_until_idle()
    assert sorted(handled) == ["d-0", "d-1", "d-2"]
    assert await inbox.counts() == {"done": 3}
    await inbox.engine.dispose()
