"""Webhook ack under wrk: the service (storing every delivery) against a bare HMAC app."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx

from app.sandbox.github import FakeGitHub
from bench.common import REPO, count_stored, wait_drained
from tests.conftest import sign
from tests.processes import FakeServer, Service, deliver

LUA = Path(__file__).with_name("deliveries.lua")
CONNECTIONS = 32


@dataclass
class WrkRun:
    name: str
    requests: int
    seconds: float
    non2xx: int
    socket_errors: int
    p50_ms: float
    p99_ms: float
    stored: int | None = None

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    @property
    def ok(self) -> int:
        return self.requests - self.non2xx


def labeled_bodies(fake: FakeGitHub, issues: int = 100) -> str:
    """`issues.labeled` deliveries over ordinary issues, as most label traffic is: one
    "signature<TAB>body" line each, for the Lua script."""
    lines = []
    for _ in range(issues):
        issue, _ = fake.open_issue(REPO, labels=["bug"])
        body = json.dumps(fake.label(REPO, issue.number, add=["needs-triage"])[0][1])
        lines.append(f"{sign(body.encode())}\t{body}")
    return "\n".join(lines) + "\n"


def run_wrk(wrk: str, url: str, body_file: Path, prefix: str, seconds: int) -> dict:
    command = [wrk, "-t2", f"-c{CONNECTIONS}", f"-d{seconds}s", "--latency", "-s", str(LUA)]
    command += [url + "/api/github/webhooks", "--", str(body_file), prefix]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return json.loads([line for line in out.splitlines() if line.startswith("{")][-1])


def measure(
    wrk: str, name: str, service: Service, body_file: Path, seconds: int
) -> tuple[WrkRun, str]:
    return measure_url(wrk, name, service.url, body_file, seconds)


def measure_url(wrk: str, name: str, url: str, body_file: Path, seconds: int) -> tuple[WrkRun, str]:
    """A short warm-up, then one wrk round against `url`: its figures and the ids' prefix."""
    run_wrk(wrk, url, body_file, f"warm-{uuid.uuid4().hex[:8]}", 2)
    prefix = f"{name}-{uuid.uuid4().hex[:8]}"
    data = run_wrk(wrk, url, body_file, prefix, seconds)
    errors = data["connect"] + data["read"] + data["write"] + data["timeout"]
    run = WrkRun(
        name,
        data["requests"],
        data["duration_us"] / 1e6,
        data["non2xx"],
        errors,
        data["p50_us"] / 1000,
        data["p99_us"] / 1000,
    )
    return run, prefix


async def prime(url: str, database_url: str, body_file: Path) -> None:
    """One delivery of the set, handled, before wrk: the repo's config is read by then."""
    body = body_file.read_text().split("\n", 1)[0].split("\t", 1)[1]
    async with httpx.AsyncClient() as client:
        await deliver(client, url, "issues", json.loads(body))
    await wait_drained(database_url, timeout=30)


def app_cpu() -> int | None:
    """The core the apps are pinned to: the last one, when there are two or more and taskset.

    Each app then has the same one core, and wrk the rest of the machine. Unpinned, where
    the scheduler puts an app's threads beside wrk's moved a round's ratio by ±0.15; a
    Python process whose threads sit on different cores also pays for passing the GIL
    between them, which the single-threaded minimal app never does.
    """
    cores = os.cpu_count() or 1
    return cores - 1 if cores >= 2 and shutil.which("taskset") else None


def bench_ack(
    wrk: str,
    private_key: str,
    seconds: int,
    uvicorn_args: tuple[str, ...],
    rounds: int = 3,
    cpu: int | None = None,
) -> dict:
    """`rounds` rounds of minimal, service and receiver-only back to back, each app started
    afresh (on `cpu` when given): the machine is shared and noisy, so each round's ratio
    compares runs made seconds apart, and the median round is the figure."""
    fake = FakeGitHub()
    bodies = labeled_bodies(fake)
    all_rounds = []
    with tempfile.TemporaryDirectory() as tmp, FakeServer(fake) as server:
        workdir = Path(tmp)
        body_file = workdir / "bodies.tsv"
        body_file.write_text(bodies)
        for n in range(rounds):
            all_rounds.append(
                _one_round(
                    wrk, private_key, seconds, uvicorn_args, server.url, workdir / str(n), cpu
                )
            )
    all_rounds.sort(key=lambda r: r["ratio"])
    median = all_rounds[len(all_rounds) // 2]
    return {
        "connections": CONNECTIONS,
        "seconds": seconds,
        "uvicorn": " ".join(uvicorn_args) or "defaults",
        "cpu": cpu,
        **median,
        "rounds": all_rounds,
        "all_2xx_stored": all(r["all_2xx_stored"] for r in all_rounds),
    }


def _one_round(
    wrk: str,
    private_key: str,
    seconds: int,
    uvicorn_args: tuple[str, ...],
    github_url: str,
    workdir: Path,
    cpu: int | None,
) -> dict:
    body_file = workdir.parent / "bodies.tsv"
    runs: list[WrkRun] = []
    minimal = Service(
        name="minimal",
        app="bench.minimal_app:app",
        database_url=f"sqlite:///{workdir}/minimal.db",
        github_url=github_url,
        private_key=private_key,
        workdir=workdir / "minimal",
    )
    minimal.cpu = cpu
    minimal.start(extra_args=uvicorn_args)
    try:
        runs.append(measure(wrk, "minimal", minimal, body_file, seconds)[0])
    finally:
        minimal.stop()
    for name, worker in (("service", True), ("receiver only", False)):
        service = Service(
            name=name.replace(" ", "-"),
            database_url=f"sqlite:///{workdir}/{name.replace(' ', '-')}.db",
            github_url=github_url,
            private_key=private_key,
            workdir=workdir / name.replace(" ", "-"),
            settle_seconds=1.5,
            log_level="WARNING",
        )
        if not worker:
            service.env.pop("APP_ID")  # no App credentials: deliveries stored, not handled
        service.cpu = cpu
        service.start(extra_args=uvicorn_args)
        try:
            if worker:  # a running service has read its repositories' configs
                asyncio.run(prime(service.url, service.env["DATABASE_URL"], body_file))
            run, prefix = measure(wrk, name, service, body_file, seconds)
            run.stored = asyncio.run(count_stored(service.env["DATABASE_URL"], prefix))
            runs.append(run)
        finally:
            service.stop()
    base, ours, receiver = runs
    return {
        "minimal": base,
        "service": ours,
        "receiver": receiver,
        "ratio": ours.rps / base.rps,
        "receiver_ratio": receiver.rps / base.rps,
        "all_2xx_stored": all(r.stored is not None and r.stored >= r.ok for r in runs[1:]),
    }
