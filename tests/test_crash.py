"""Real service processes killed mid-burst: nothing answered 2xx is lost, nothing runs twice."""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.domain.lifecycle import Status
from app.queue.inbox import Inbox
from app.sandbox.github import FakeGitHub
from app.settings import Settings
from app.storage.db import deliveries
from app.storage.engine import make_engine
from app.storage.store import IncidentStore
from tests.processes import FakeServer, Service, deliver, per_issue_order_kept

REPO = "octo/ops"
STATUS = {s: f"status:{s.value}" for s in Status}
# The moves humans try, round after round; some are legal from where the issue is, some not.
TARGETS = [
    Status.STABILIZED,
    Status.RESOLVED,
    Status.STABILIZATION_PENDING,
    Status.UNDER_INVESTIGATION,
    Status.STABILIZED,
    Status.UNDER_INVESTIGATION,
    Status.RESOLVED,
]
MARKER = re.compile(r"<!-- incident-flow:(.+?) -->")

Deliveries = list[tuple[str, dict[str, Any]]]


def declare_issues(fake: FakeGitHub, count: int) -> list[int]:
    labels = ["incident", "severity:2", STATUS[Status.STABILIZATION_PENDING]]
    return [fake.add_issue(REPO, labels=list(labels)).number for _ in range(count)]


def human_round(fake: FakeGitHub, numbers: list[int], target: Status) -> Deliveries:
    """Everyone moves their incident's status label by hand (run on the fake's thread)."""
    events: Deliveries = []
    for number in numbers:
        issue = fake.issue(REPO, number)
        current = [name for name in issue.labels if name.startswith("status:")]
        events += fake.label(REPO, number, add=[STATUS[target]], remove=current)
    return events


async def send_all(
    client: httpx.AsyncClient,
    urls: list[str],
    events: Deliveries,
    answers: dict[str, int | None],
    ids: list[str] | None = None,
) -> list[tuple[str, str, dict[str, Any]]]:
    """Send deliveries as GitHub does, several at a time; returns the ones that failed."""
    gate = asyncio.Semaphore(16)
    failed: list[tuple[str, str, dict[str, Any]]] = []

    async def one(index: int, event: str, payload: dict[str, Any]) -> None:
        async with gate:
            delivery_id, status = await deliver(
                client,
                urls[index % len(urls)],
                event,
                payload,
                delivery_id=ids[index] if ids else None,
            )
            answers[delivery_id] = status
            if status is None:
                failed.append((delivery_id, event, payload))

    await asyncio.gather(*(one(i, e, p) for i, (e, p) in enumerate(events)))
    return failed


async def drained(inbox: Inbox, timeout: float = 120.0) -> dict[str, int]:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        counts = await inbox.counts()
        if not counts.get("pending") and not counts.get("processing"):
            return counts
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"the inbox did not drain: {counts}")
        await asyncio.sleep(0.2)


async def check_outcome(
    database_url: str,
    fake_server: FakeServer,
    services: list[Service],
    answers: dict[str, int | None],
    numbers: list[int],
) -> Inbox:
    settings = Settings(_env_file=None, database_url=database_url)  # type: ignore[call-arg]
    engine = make_engine(settings.async_database_url)
    inbox = Inbox(engine)
    counts = await drained(inbox)
    assert "dead" not in counts, counts
    accepted = {d for d, status in answers.items() if status is not None and status < 300}
    async with engine.connect() as conn:
        rows = (await conn.execute(select(deliveries.c.delivery_id, deliveries.c.state))).all()
    state = dict(rows)
    assert accepted <= set(state), "every delivery answered 2xx was stored"
    assert {state[d] for d in accepted} == {"done"}, "every delivery answered 2xx was processed"
    finished: Counter[str] = Counter()
    for service in services:
        finished += service.finished()
    twice = [d for d, n in finished.items() if n > 1]
    assert not twice, f"deliveries finished twice: {twice[:5]}"

    fake = fake_server.fake
    store = IncidentStore(engine)
    repo_id = fake.repo(REPO).id
    for number in numbers:
        labels, comments = fake_server.call(
            lambda n=number: (
                list(fake.issue(REPO, n).labels),
                [c.body for c in fake.comments_on(REPO, n)],
            )
        )
        statuses = [name for name in labels if name.startswith("status:")]
        incident = await store.load(repo_id, number)
        assert incident is not None
        assert statuses == [STATUS[incident.status]], (number, labels, incident.status)
        keys = [m for body in comments for m in MARKER.findall(body)]
        assert len(keys) == len(set(keys)), f"a comment was posted twice on #{number}: {keys}"
    return inbox


async def until(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def burst_with_kills(
    database_url: str,
    private_key: str,
    workdir: Path,
    *,
    issues: int,
    targets: list[Status],
    kill_rounds: set[int],
) -> int:
    """Rounds of hand-made label moves sent to one service, SIGKILLed in `kill_rounds`."""
    fake = FakeGitHub()
    numbers = declare_issues(fake, issues)
    with FakeServer(fake) as server:
        service = Service(
            database_url=database_url,
            github_url=server.url,
            private_key=private_key,
            workdir=workdir,
            lease_seconds=2,
        ).start()
        answers: dict[str, int | None] = {}
        failed: list[tuple[str, str, dict[str, Any]]] = []
        try:
            async with httpx.AsyncClient() as client:
                for round_no, target in enumerate(targets):
                    events = server.call(human_round, fake, numbers, target)
                    if round_no not in kill_rounds:
                        await send_all(client, [service.url], events, answers)
                        continue
                    # Kill the process halfway through this round, with a backlog in flight.
                    half = len(events) // 2
                    await send_all(client, [service.url], events[:half], answers)
                    service.kill()
                    failed += await send_all(client, [service.url], events[half:], answers)
                    await asyncio.to_thread(service.start)
                assert failed, "the killed service refused nothing"
                # GitHub keeps failed deliveries; an operator redelivers them, with their ids.
                await send_all(
                    client,
                    [service.url],
                    [(event, payload) for _, event, payload in failed],
                    answers,
                    ids=[delivery_id for delivery_id, _, _ in failed],
                )
            inbox = await check_outcome(database_url, server, [service], answers, numbers)
            await inbox.engine.dispose()
        finally:
            service.stop()
    return len(answers)


async def test_sigkill_during_a_burst_loses_nothing_and_repeats_nothing(
    database_url: str, private_key: str, tmp_path: Path
) -> None:
    sent = await burst_with_kills(
        database_url, private_key, tmp_path / "run", issues=30, targets=TARGETS, kill_rounds={3}
    )
    assert sent >= 400


@pytest.mark.soak
async def test_soak_repeated_sigkills(database_url: str, private_key: str, tmp_path: Path) -> None:
    sent = await burst_with_kills(
        database_url,
        private_key,
        tmp_path / "run",
        issues=60,
        targets=TARGETS * 3,
        kill_rounds={2, 6, 11, 17},
    )
    assert sent >= 2400


async def test_two_instances_one_killed_the_other_finishes(
    postgres_url: str | None, private_key: str, tmp_path: Path
) -> None:
    if postgres_url is None:
        pytest.skip("PostgreSQL not reachable (allowed outside CI only)")
    from tests.conftest import reset_postgres

    await reset_postgres(postgres_url)
    fake = FakeGitHub()
    numbers = declare_issues(fake, 24)
    with FakeServer(fake) as server:
        common: dict[str, Any] = {
            "database_url": postgres_url,
            "github_url": server.url,
            "private_key": private_key,
            "lease_seconds": 2,
        }
        first = Service(name="first", workdir=tmp_path / "first", **common).start()
        second = Service(name="second", workdir=tmp_path / "second", **common).start()
        answers: dict[str, int | None] = {}
        try:
            async with httpx.AsyncClient() as client:
                for round_no, target in enumerate(TARGETS[:5]):
                    events = server.call(human_round, fake, numbers, target)
                    urls = [first.url, second.url] if round_no < 2 else [second.url]
                    if round_no == 2:
                        await until(lambda: bool(first.finished()))
                        first.kill()  # mid-stream: its claims are left to expire
                    await send_all(client, urls, events, answers)
            inbox = await check_outcome(postgres_url, server, [first, second], answers, numbers)
            async with inbox.engine.connect() as conn:
                rows = (
                    await conn.execute(
                        select(deliveries.c.issue_key, deliveries.c.seq, deliveries.c.finished_at)
                    )
                ).all()
            assert per_issue_order_kept([tuple(r) for r in rows])
            assert first.finished() and second.finished(), "both instances did work"
            await inbox.engine.dispose()
        finally:
            first.stop()
            second.stop()


async def attempt_in_flight(engine: AsyncEngine, delivery_id: str, attempt: int) -> None:
    """Wait until the service works on its `attempt`th attempt at a delivery."""

    async def row() -> tuple[str, int] | None:
        async with engine.connect() as conn:
            found = await conn.execute(
                select(deliveries.c.state, deliveries.c.attempts).where(
                    deliveries.c.delivery_id == delivery_id
                )
            )
            return found.one_or_none()  # type: ignore[return-value]

    for _ in range(600):
        if await row() == ("processing", attempt):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"attempt {attempt} at {delivery_id} never started: {await row()}")


async def test_a_delivery_that_kills_the_process_is_dead_after_max_attempts(
    database_url: str, private_key: str, tmp_path: Path
) -> None:
    fake = FakeGitHub()
    [number] = declare_issues(fake, 1)
    with FakeServer(fake) as server:
        service = Service(
            database_url=database_url,
            github_url=server.url,
            private_key=private_key,
            workdir=tmp_path / "run",
            lease_seconds=1,
            max_attempts=2,
        ).start()
        engine = make_engine(
            Settings(_env_file=None, database_url=database_url).async_database_url  # type: ignore[call-arg]
        )
        try:
            # Every GitHub call hangs: each attempt is cut off by the kill, as if it crashed us.
            server.call(setattr, fake, "latency", 10.0)
            events = server.call(human_round, fake, [number], Status.STABILIZED)
            ids = [f"kill-{n}" for n in range(len(events))]
            answers: dict[str, int | None] = {}
            async with httpx.AsyncClient() as client:
                # One after the other: sent together, either may arrive first, and the
                # issue's first delivery is the one expected to be cut off.
                for one, delivery_id in zip(events, ids, strict=True):
                    await send_all(client, [service.url], [one], answers, ids=[delivery_id])
            assert set(answers.values()) == {202}
            for attempt in (1, 2):
                await attempt_in_flight(engine, ids[0], attempt)
                service.kill()
                await asyncio.to_thread(service.start)
            server.call(setattr, fake, "latency", 0.0)
            inbox = Inbox(engine)
            await drained(inbox, timeout=60)
            async with engine.connect() as conn:
                rows = await conn.execute(
                    select(
                        deliveries.c.delivery_id,
                        deliveries.c.state,
                        deliveries.c.attempts,
                        deliveries.c.abandoned,
                    )
                )
                found = {row[0]: tuple(row[1:]) for row in rows}
            assert found[ids[0]] == ("dead", 3, 2), "given up on, never run a third time"
            assert all(found[i][0] == "done" for i in ids[1:]), "the issue's next ones ran"
        finally:
            service.stop()
            await engine.dispose()
