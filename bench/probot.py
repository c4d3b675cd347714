"""Against the peer: our receiver (storing every delivery) and a Probot app (storing nothing)
under wrk, rounds alternating, 3 KB and GitHub's real ~12 KB `issues.labeled` example."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from app.sandbox.github import FakeGitHub
from bench.ack import WrkRun, measure_url, prime
from bench.common import REPO, count_stored
from bench.scale import _admin
from tests.conftest import SECRET, sign
from tests.processes import FakeServer, Service, free_port

PROBOT = Path(__file__).with_name("probot")
EXAMPLES = PROBOT / "node_modules/@octokit/webhooks-examples/api.github.com/index.json"


def ensure_probot() -> str | None:
    """`npm ci` in bench/probot when its modules are missing; the node binary, or None."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        print("node/npm not found: the Probot comparison is skipped.", flush=True)
        return None
    if not (PROBOT / "node_modules/probot").exists():
        print("installing Probot (npm ci in bench/probot) ...", flush=True)
        done = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=PROBOT, check=False
        )
        if done.returncode != 0:
            print("npm ci failed: the Probot comparison is skipped.", flush=True)
            return None
    return node


def real_example() -> dict[str, Any]:
    """GitHub's own `issues.labeled` example (@octokit/webhooks-examples), as an App gets it."""
    events = json.loads(EXAMPLES.read_text())
    issues = next(e for e in events if e["name"] == "issues")
    example = next(x for x in issues["examples"] if x.get("action") == "labeled")
    return {
        **example,
        "installation": {"id": 1, "node_id": "MDIzOkludGVncmF0aW9uSW5zdGFsbGF0aW9uMQ=="},
    }


def small_bodies(fake: FakeGitHub, issues: int = 100, size: int = 3 * 1024) -> list[str]:
    """`issues.labeled` deliveries over ordinary issues, each about `size` bytes: the issue
    text (a bug report, as most are) pads the body."""
    bodies = []
    for _ in range(issues):
        issue, _ = fake.open_issue(REPO, labels=["bug"])
        payload = fake.label(REPO, issue.number, add=["needs-triage"])[0][1]
        payload["issue"]["body"] = ""
        room = max(0, size - len(json.dumps(payload)))
        line = "Steps to reproduce: open the page, wait, click save; the spinner never stops. "
        payload["issue"]["body"] = (line * (room // len(line) + 1))[:room]
        bodies.append(json.dumps(payload))
    return bodies


def large_bodies(fake: FakeGitHub, issues: int = 100) -> list[str]:
    """The real example over `issues` ordinary issues of the fake's repository (its ids and
    names in place of the example's, which keeps its size)."""
    example = real_example()
    repo = fake.repo(REPO)
    bodies = []
    for _ in range(issues):
        issue = fake.add_issue(REPO, labels=["bug"])
        payload = json.loads(json.dumps(example))
        payload["repository"].update(id=repo.id, full_name=REPO, name=REPO.split("/")[1])
        payload["issue"].update(number=issue.number, id=issue.id)
        bodies.append(json.dumps(payload))
    return bodies


def body_file(bodies: list[str], path: Path) -> Path:
    path.write_text("".join(f"{sign(b.encode())}\t{b}\n" for b in bodies))
    return path


class Probot:
    """`probot run ./index.js` on a free port, pinned like the other apps."""

    def __init__(self, node: str, private_key: str, workdir: Path, cpu: int | None) -> None:
        self.node, self.private_key, self.workdir, self.cpu = node, private_key, workdir, cpu
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Probot:
        self.port = free_port()
        env = {
            **os.environ,
            "APP_ID": "1",
            "PRIVATE_KEY": self.private_key,
            "WEBHOOK_SECRET": SECRET,
            "PORT": str(self.port),
            "HOST": "127.0.0.1",
            "LOG_LEVEL": "warn",
            "NODE_ENV": "production",
        }
        command = [self.node, str(PROBOT / "node_modules/probot/bin/probot.js"), "run"]
        command.append(str(PROBOT / "index.js"))
        if self.cpu is not None:
            command = ["taskset", "-c", str(self.cpu), *command]
        self.workdir.mkdir(parents=True, exist_ok=True)
        with (self.workdir / "probot.log").open("ab") as log:
            self.process = subprocess.Popen(
                command, env=env, cwd=PROBOT, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError((self.workdir / "probot.log").read_text()[-2000:])
            try:
                httpx.get(self.url + "/ping", timeout=1)
                return self
            except httpx.HTTPError:
                time.sleep(0.05)
        raise RuntimeError("Probot did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def _measure(url: str, bodies: Path, name: str, seconds: int) -> tuple[WrkRun, str]:
    return measure_url("wrk", name, url, bodies, seconds)


def _ours(
    name: str, database_url: str, github_url: str, private_key: str, workdir: Path, cpu: int | None
) -> Service:
    service = Service(
        name=name,
        database_url=database_url,
        github_url=github_url,
        private_key=private_key,
        workdir=workdir,
        settle_seconds=1.5,
        log_level="WARNING",
    )
    service.cpu = cpu
    return service.start()


def peer_figures(
    node: str, private_key: str, seconds: int, rounds: int, cpu: int | None, postgres: str
) -> dict[str, Any]:
    """Per body size: rounds of Probot, ours on SQLite, ours on PostgreSQL, back to back,
    each app started afresh; the median round's figures and every round's ratios."""
    fake = FakeGitHub()
    sizes = {"3 KB": small_bodies(fake), "~12 KB": large_bodies(fake)}
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp, FakeServer(fake) as server:
        work = Path(tmp)
        for size, bodies in sizes.items():
            path = body_file(bodies, work / f"bodies-{len(results)}.tsv")
            all_rounds = []
            for n in range(rounds):
                round_dir = work / f"{len(results)}-{n}"
                probot = Probot(node, private_key, round_dir / "probot", cpu).start()
                try:
                    peer = _measure(probot.url, path, "probot", seconds)[0]
                finally:
                    probot.stop()
                runs = {"probot": peer}
                for label, url in (
                    ("SQLite", f"sqlite:///{round_dir}/ours.db"),
                    ("PostgreSQL", _fresh_postgres(postgres)),
                ):
                    service = _ours(label, url, server.url, private_key, round_dir / label, cpu)
                    try:
                        asyncio.run(prime(service.url, url, path))
                        run, prefix = _measure(service.url, path, label, seconds)
                        run.stored = asyncio.run(count_stored(url, prefix))
                    finally:
                        service.stop()
                        if url.startswith("postgresql"):
                            asyncio.run(_drop_postgres(postgres, url))
                    runs[label] = run
                all_rounds.append(runs)
            results[size] = {
                "bytes": sum(len(b) for b in bodies) // len(bodies),
                "rounds": all_rounds,
            }
    return {"seconds": seconds, "cpu": cpu, "sizes": results}


def _fresh_postgres(server: str) -> str:
    name = f"incident_flow_peer_{uuid.uuid4().hex[:8]}"
    asyncio.run(_admin(server + "/postgres", f'CREATE DATABASE "{name}"'))
    return f"{server}/{name}"


async def _drop_postgres(server: str, url: str) -> None:
    name = url.rsplit("/", 1)[1]
    await _admin(server + "/postgres", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _median(runs: list[WrkRun]) -> WrkRun:
    return sorted(runs, key=lambda r: r.rps)[len(runs) // 2]


def peer_lines(peer: dict[str, Any]) -> str:
    rows = [
        "| body | Probot | ours, SQLite | ours, PostgreSQL |",
        "|---|---|---|---|",
    ]
    notes = []
    for size, data in peer["sizes"].items():
        rounds = data["rounds"]
        probot = _median([r["probot"] for r in rounds])
        cells = [f"{probot.rps:,.0f} req/s, p99 {probot.p99_ms:.1f} ms"]
        for label in ("SQLite", "PostgreSQL"):
            ours = _median([r[label] for r in rounds])
            ratios = sorted(r[label].rps / r["probot"].rps for r in rounds)
            stored = all(
                r[label].stored is not None and r[label].stored >= r[label].ok for r in rounds
            )
            cells.append(
                f"{ours.rps:,.0f} req/s (**{ratios[len(ratios) // 2]:.2f}×** Probot), "
                f"p99 **{ours.p99_ms:.1f} ms**{'' if stored else ', NOT all stored'}"
            )
            notes.append(
                f"{size}, {label}: ours / Probot per round, lowest first: "
                + ", ".join(f"{x:.2f}" for x in ratios)
            )
        rows.append(f"| {size} ({data['bytes']:,} bytes) | " + " | ".join(cells) + " |")
    return "\n".join([*rows, "", *(f"- {note}" for note in notes)])
