"""Delivery to effect: latency to the corrective call, GitHub calls per event, memory."""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from app.sandbox.github import Call, FakeGitHub
from bench.common import REPO, percentile, rss_mb, wait_drained
from tests.processes import FakeServer, Service, deliver

SP, RS = "status:stabilization-pending", "status:resolved"
Deliveries = list[tuple[str, dict[str, Any]]]


def is_write(call: Call) -> bool:
    return call.is_write


def route(call: Call) -> str:
    """`GET /repos/o/r/issues/12/comments` -> `GET issues/N/comments`: calls grouped by kind."""
    parts = call.path.split("/")
    if len(parts) > 3 and parts[1] == "repos":
        parts = parts[4:]
    return call.method + " " + "/".join("N" if p.isdigit() else p for p in parts)


async def send(client: httpx.AsyncClient, url: str, events: Deliveries) -> None:
    for event, payload in events:
        _, status = await deliver(client, url, event, payload)
        assert status is not None and status < 300, status


class Session:
    """A service process wired to the fake GitHub, with helpers to act and count calls."""

    def __init__(self, server: FakeServer, service: Service, database_url: str) -> None:
        self.server = server
        self.fake = server.fake
        self.service = service
        self.database_url = database_url

    def calls_since(self, mark: int) -> list[Call]:
        return self.server.call(lambda: list(self.fake.calls[mark:]))

    def mark(self) -> int:
        return self.server.call(lambda: len(self.fake.calls))

    async def run(self, client: httpx.AsyncClient, events: Deliveries) -> list[Call]:
        mark = self.mark()
        await send(client, self.service.url, events)
        await wait_drained(self.database_url)
        return self.calls_since(mark)


def start_service(
    server: FakeServer, tmp: Path, database_url: str, private_key: str, **settings: Any
) -> Service:
    """The service as a process, label deliveries handled at once (settle delay apart)."""
    return Service(
        database_url=database_url,
        github_url=server.url,
        private_key=private_key,
        workdir=tmp / "service",
        settle_seconds=0,
        log_level="WARNING",
        **settings,
    ).start()


def declare(fake: FakeGitHub, count: int) -> tuple[list[int], Deliveries]:
    numbers, events = [], []
    for _ in range(count):
        issue, opened = fake.open_issue(REPO, labels=["incident", "severity:2", SP])
        numbers.append(issue.number)
        events += opened
    return numbers, events


async def effect_figures(private_key: str, samples: int) -> dict[str, Any]:
    fake = FakeGitHub()
    fake.repo(REPO).permissions["carol"] = "triage"
    with tempfile.TemporaryDirectory() as tmp, FakeServer(fake) as server:
        database_url = f"sqlite:///{tmp}/flow.db"
        # The fake's issues are dated days ago: every incident would be owed a reminder at
        # once, and the scheduler's comments would be counted as the events' calls.
        service = start_service(
            server, Path(tmp), database_url, private_key, reminder_interval_seconds=3600
        )
        session = Session(server, service, database_url)
        try:
            async with httpx.AsyncClient() as client:
                numbers, opened = server.call(declare, fake, samples)
                await session.run(client, opened)
                server.call(fake.take_echoes)
                latencies: list[float] = []
                per: dict[str, list[list[Call]]] = {
                    "correction, sidebar move": [],
                    "correction, label added": [],
                    "echo": [],
                    "command": [],
                }
                for number in numbers:
                    # An illegal move by hand: GitHub sends `labeled` and `unlabeled`.
                    events = server.call(fake.label, REPO, number, add=[RS], remove=[SP])
                    mark = session.mark()
                    started = time.monotonic()
                    await send(client, service.url, events)
                    await wait_drained(database_url)
                    calls = session.calls_since(mark)
                    first = next(c for c in calls if c.is_write)
                    latencies.append(first.at - started)
                    per["correction, sidebar move"].append(calls)
                    for echo in server.call(fake.take_echoes):
                        per["echo"].append(await session.run(client, [echo]))
                    # The other kind: the wrong status added beside the recorded one.
                    events = server.call(fake.label, REPO, number, add=[RS])
                    per["correction, label added"].append(await session.run(client, events))
                    for echo in server.call(fake.take_echoes):
                        per["echo"].append(await session.run(client, [echo]))
                for number in numbers:
                    events = server.call(fake.comment, REPO, number, "/severity 1", actor="carol")
                    per["command"].append(await session.run(client, events))
                    server.call(fake.take_echoes)
        finally:
            service.stop()
    return {
        "samples": samples,
        "median_ms": percentile(latencies, 50) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
        "calls": {kind: summarise(runs) for kind, runs in per.items()},
    }


def summarise(runs: list[list[Call]]) -> dict[str, Any]:
    """Mean calls and writes per handled event, and which calls they were."""
    count = max(1, len(runs))
    routes: Counter[str] = Counter(route(c) for run in runs for c in run)
    return {
        "events": len(runs),
        "calls": sum(len(run) for run in runs) / count,
        "writes": sum(sum(c.is_write for c in run) for run in runs) / count,
        "by_route": {r: round(n / count, 2) for r, n in routes.most_common()},
    }


async def memory_figures(private_key: str, total: int) -> dict[str, Any]:
    """RSS of the service process before and after `total` deliveries (received and handled)."""
    fake = FakeGitHub()
    with tempfile.TemporaryDirectory() as tmp, FakeServer(fake) as server:
        database_url = f"sqlite:///{tmp}/memory.db"
        service = start_service(server, Path(tmp), database_url, private_key)
        try:
            events = server.call(mixed_traffic, fake, total)
            before = rss_mb(service.pid)
            gate = asyncio.Semaphore(32)
            async with httpx.AsyncClient(limits=httpx.Limits(max_connections=32)) as client:

                async def one(event: str, payload: dict[str, Any]) -> None:
                    async with gate:
                        _, status = await deliver(client, service.url, event, payload)
                        assert status is not None and status < 300, status

                await asyncio.gather(*(one(e, p) for e, p in events))
            counts = await wait_drained(database_url)
            after = rss_mb(service.pid)
        finally:
            service.stop()
    return {"deliveries": len(events), "rss_before_mb": before, "rss_after_mb": after, **counts}


def mixed_traffic(fake: FakeGitHub, total: int) -> Deliveries:
    """Label traffic over 200 issues, one in ten an incident moving through its statuses."""
    cycle = ["status:stabilized", "status:under-investigation", "status:resolved", SP]
    issues = []
    for n in range(200):
        labels = ["incident", "severity:3", SP] if n % 10 == 0 else ["bug"]
        issues.append(fake.add_issue(REPO, labels=labels))
    events: Deliveries = []
    step = 0
    while len(events) < total:
        for issue in issues:
            if issue.number % 10 == 1:  # incidents: the next status, by hand
                current = [n for n in issue.labels if n.startswith("status:")]
                target = cycle[step % len(cycle)]
                events += fake.label(REPO, issue.number, add=[target], remove=current)
            else:
                name = f"area-{step % 7}"
                change = {"add": [name]} if name not in issue.labels else {"remove": [name]}
                events += fake.label(REPO, issue.number, **change)
        step += 1
    return events[:total]
