"""Scale-out: processed deliveries per second with one and with two instances on PostgreSQL."""

from __future__ import annotations

import asyncio
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import create_async_engine

from app.queue.inbox import Envelope
from app.sandbox.github import FakeGitHub
from app.storage.db import deliveries
from bench.common import REPO, open_inbox, wait_drained
from tests.processes import FakeServer, Service, per_issue_order_kept

# Incidents the moves are spread over: each one's first delivery reads it; the rest of its
# backlog is covered by that read, as on a busy day after an outage.
INCIDENTS = 200
STATUSES = ["status:stabilized", "status:under-investigation", "status:resolved"]


async def _admin(server_url: str, statement: str) -> None:
    engine = create_async_engine(
        server_url.replace("postgresql://", "postgresql+asyncpg://", 1),
        isolation_level="AUTOCOMMIT",
    )
    try:
        async with engine.connect() as conn:
            await conn.execute(text(statement))
    finally:
        await engine.dispose()


def workload(fake: FakeGitHub, issues: int, total: int) -> list[tuple[str, dict[str, Any]]]:
    """Label moves by hand over many incidents, in waves, as a busy day would send them."""
    numbers = [
        fake.add_issue(REPO, labels=["incident", "severity:2", "status:stabilization-pending"])
        for _ in range(issues)
    ]
    events: list[tuple[str, dict[str, Any]]] = []
    wave = 0
    while len(events) < total:
        for issue in numbers:
            current = [n for n in issue.labels if n.startswith("status:")]
            target = STATUSES[wave % len(STATUSES)]
            events += fake.label(REPO, issue.number, add=[target], remove=current)
        wave += 1
    return events[:total]


def cpu_times() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    fields = [int(n) for n in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle and iowait
    return sum(fields) - idle, sum(fields)


def envelope(event: str, payload: dict[str, Any]) -> Envelope:
    import json

    return Envelope(
        delivery_id=str(uuid.uuid4()),
        event=event,
        action=payload["action"],
        installation_id=payload["installation"]["id"],
        repo=payload["repository"]["full_name"],
        issue_key=f"{payload['repository']['id']}#{payload['issue']['number']}",
        payload=json.dumps(payload),
    )


async def one_run(
    postgres_server: str, private_key: str, instances: int, total: int, latency: float
) -> dict[str, Any]:
    name = f"incident_flow_bench_{uuid.uuid4().hex[:8]}"
    await _admin(postgres_server + "/postgres", f'CREATE DATABASE "{name}"')
    database_url = f"{postgres_server}/{name}"
    fake = FakeGitHub()
    fake.latency = latency
    try:
        with tempfile.TemporaryDirectory() as tmp, FakeServer(fake) as server:
            services = [
                Service(
                    name=f"instance{i}",
                    database_url=database_url,
                    github_url=server.url,
                    private_key=private_key,
                    workdir=Path(tmp) / f"instance{i}",
                    settle_seconds=0,
                    poll_seconds=0.05,
                )
                for i in range(instances)
            ]
            for service in services:
                service.start()
            try:
                events = server.call(workload, fake, INCIDENTS, total)
                inbox = open_inbox(database_url)
                started, cpu_before = time.monotonic(), cpu_times()
                stored = await asyncio.gather(*(inbox.store(envelope(e, p)) for e, p in events))
                assert all(stored)
                counts = await wait_drained(database_url)
                seconds = time.monotonic() - started
                busy, total = (a - b for a, b in zip(cpu_times(), cpu_before, strict=True))
                async with inbox.engine.connect() as conn:
                    rows = (
                        await conn.execute(
                            select(
                                deliveries.c.issue_key, deliveries.c.seq, deliveries.c.finished_at
                            )
                        )
                    ).all()
                await inbox.engine.dispose()
            finally:
                for service in services:
                    service.stop()
            finished: Counter[str] = Counter()
            outcomes: Counter[str] = Counter()
            share = []
            for service in services:
                finished += service.finished()
                share.append(sum(service.finished().values()))
                outcomes.update(
                    str(r.get("outcome"))
                    for r in service.log_records()
                    if r.get("message") == "processed"
                )
    finally:
        await _admin(
            postgres_server + "/postgres", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'
        )
    return {
        "instances": instances,
        "deliveries": len(events),
        "seconds": seconds,
        "per_second": len(events) / seconds,
        "states": counts,
        "exactly_once": len(finished) == len(events) and set(finished.values()) == {1},
        "per_issue_order": per_issue_order_kept([tuple(r) for r in rows]),
        "share": share,
        "cpu_busy": busy / total if total else float("nan"),
        # Deliveries whose issue was read and acted on, against those an earlier read of the
        # same issue already covered (a backlog of one issue's changes costs one read).
        "read": len(events) - outcomes["covered by an earlier read"],
    }


async def scale_figures(
    postgres_server: str, private_key: str, total: int, latency: float
) -> dict[str, Any]:
    one = await one_run(postgres_server, private_key, 1, total, latency)
    two = await one_run(postgres_server, private_key, 2, total, latency)
    return {
        "latency_ms": latency * 1000,
        "one": one,
        "two": two,
        "ratio": two["per_second"] / one["per_second"],
    }
