"""Flood: unrelated label traffic under wrk, and the time to an incident's first effect."""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select

from app.queue.inbox import UNRELATED, Envelope
from app.sandbox.github import FakeGitHub
from app.storage.db import create_schema, deliveries
from bench.ack import CONNECTIONS, LUA, app_cpu, labeled_bodies
from bench.common import REPO, open_inbox, wait_drained
from bench.scale import _admin
from tests.processes import FakeServer, Service, deliver

# Longest wait for an incident's first effect: the run stops by itself whatever happens.
EFFECT_TIMEOUT = 60.0


def _declared(fake: FakeGitHub, number: int) -> bool:
    """The first effect of a declaration: a status label and a lead on the issue."""
    issue = fake.issue(REPO, number)
    return any(name.startswith("status:") for name in issue.labels) and bool(issue.assignees)


async def _declare(server: FakeServer, url: str, client: httpx.AsyncClient) -> float | None:
    """Open a Sev 1 incident, deliver it, and time its first effect (None: not in time)."""
    issue, events = server.call(
        server.fake.open_issue, REPO, labels=["incident", "severity:1"], title="Checkout down"
    )
    started = time.monotonic()
    for event, payload in events:
        _, status = await deliver(client, url, event, payload)
        assert status in (200, 202), status
    while time.monotonic() - started < EFFECT_TIMEOUT:
        if server.call(_declared, server.fake, issue.number):
            return time.monotonic() - started
        await asyncio.sleep(0.02)
    return None


async def _counts(database_url: str, prefix: str) -> dict[str, int]:
    inbox = open_inbox(database_url)
    try:
        async with inbox.engine.connect() as conn:
            rows = await conn.execute(
                select(deliveries.c.state, deliveries.c.lane, func.count())
                .where(deliveries.c.delivery_id.like(prefix + "%"))
                .group_by(deliveries.c.state, deliveries.c.lane)
            )
            counts: dict[str, int] = {}
            for state, lane, n in rows:
                key = "settled" if state == "done" and lane == 2 else state
                counts[key] = counts.get(key, 0) + int(n)
            return counts
    finally:
        await inbox.engine.dispose()


async def decided_rate(database_url: str, total: int = 20_000) -> float:
    """Unrelated deliveries decided and stored per second by the inbox alone (no HTTP):
    512 stores at a time, as many concurrent requests would submit them."""
    inbox = open_inbox(database_url)
    await create_schema(inbox.engine)
    try:
        started = time.monotonic()
        for start in range(0, total, 512):
            verdicts = await asyncio.gather(
                *(
                    inbox.store_verdict(
                        Envelope(
                            f"rate-{n}",
                            "issues",
                            "labeled",
                            1,
                            REPO,
                            f"7#{n % 100}",
                            "{}",
                            UNRELATED,
                        )
                    )
                    for n in range(start, min(total, start + 512))
                )
            )
            assert set(verdicts) == {"settled"}, set(verdicts)
        return total / (time.monotonic() - started)
    finally:
        await inbox.close()
        await inbox.engine.dispose()


async def one_flood(
    wrk: str, private_key: str, database: str, database_url: str, seconds: int
) -> dict[str, Any]:
    fake = FakeGitHub()
    bodies = labeled_bodies(fake)
    with tempfile.TemporaryDirectory() as tmp, FakeServer(fake) as server:
        workdir = Path(tmp)
        body_file = workdir / "bodies.tsv"
        body_file.write_text(bodies)
        service = Service(
            name=f"flood-{database}",
            database_url=database_url,
            github_url=server.url,
            private_key=private_key,
            workdir=workdir / "service",
            settle_seconds=1.5,
            log_level="WARNING",
        )
        service.cpu = app_cpu()  # one core, as in the ack section; wrk and the rest elsewhere
        service.start()
        try:
            async with httpx.AsyncClient() as client:
                # A running service has read its repositories' configs: one ordinary
                # delivery first, so that the flood finds this repo's label names known.
                first = json.loads(bodies.split("\n", 1)[0].split("\t", 1)[1])
                await deliver(client, service.url, "issues", first)
                await wait_drained(database_url, timeout=30)
                prefix = f"flood-{uuid.uuid4().hex[:8]}"
                command = [wrk, "-t2", f"-c{CONNECTIONS}", f"-d{seconds}s", "--latency"]
                command += ["-s", str(LUA), service.url + "/api/github/webhooks"]
                command += ["--", str(body_file), prefix]
                flood = await asyncio.create_subprocess_exec(
                    *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL
                )
                await asyncio.sleep(2)
                during = await _declare(server, service.url, client)
                out, _ = await asyncio.wait_for(flood.communicate(), seconds + 30)
                after = await _declare(server, service.url, client)
            wrk_data = json.loads([ln for ln in out.decode().splitlines() if ln[:1] == "{"][-1])
            counts = await _counts(database_url, prefix)
            drained = await wait_drained(database_url, timeout=60)
        finally:
            service.stop()
        decided = await decided_rate(database_url)
    wall = wrk_data["duration_us"] / 1e6
    return {
        "database": database,
        "requests": wrk_data["requests"],
        "seconds": wall,
        "per_second": wrk_data["requests"] / wall,
        "non2xx": wrk_data["non2xx"],
        "p99_ms": wrk_data["p99_us"] / 1000,
        "settled": counts.get("settled", 0),
        "queued": sum(n for state, n in counts.items() if state != "settled"),
        "during_s": during,
        "after_s": after,
        "states": drained,
        "decided_per_second": decided,
    }


async def flood_figures(
    wrk: str, private_key: str, sqlite_dir: Path, postgres_server: str, seconds: int
) -> list[dict[str, Any]]:
    results = [
        await one_flood(wrk, private_key, "SQLite", f"sqlite:///{sqlite_dir}/flood.db", seconds)
    ]
    name = f"incident_flow_flood_{uuid.uuid4().hex[:8]}"
    await _admin(postgres_server + "/postgres", f'CREATE DATABASE "{name}"')
    try:
        url = f"{postgres_server}/{name}"
        results.append(await one_flood(wrk, private_key, "PostgreSQL", url, seconds))
    finally:
        await _admin(
            postgres_server + "/postgres", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'
        )
    return results


def flood_lines(runs: list[dict[str, Any]]) -> str:
    def secs(value: float | None) -> str:
        return f"{value:.2f} s" if value is not None else f"not within {EFFECT_TIMEOUT:.0f} s"

    rows = [
        "| database | unrelated deliveries | seconds | acknowledged/s | p99 | non-2xx "
        "| settled at receipt | queued | incident during: first effect | incident right "
        "after | inbox alone: decided/s |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for run in runs:
        rows.append(
            f"| {run['database']} | {run['requests']:,} | {run['seconds']:.1f} "
            f"| {run['per_second']:,.0f} | {run['p99_ms']:.1f} ms | {run['non2xx']} "
            f"| {run['settled']:,} | {run['queued']} | **{secs(run['during_s'])}** "
            f"| **{secs(run['after_s'])}** | {run['decided_per_second']:,.0f} |"
        )
    return "\n".join(rows)
