"""Real processes for fault tests and the benchmark: the service under uvicorn, the fake GitHub.

The fake GitHub runs in a thread of the test process (so a test can read its state and
act as a human in it), served by uvicorn on a free port. The service runs as a separate
process, started the way it is deployed, so that SIGKILL is a real crash.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx
import uvicorn

from app.queue.delivery_protocol import IMPORT_PATH as DELIVERY_PROTOCOL
from app.sandbox.github import FakeGitHub
from tests.conftest import SECRET, sign

ROOT = Path(__file__).resolve().parent.parent
T = TypeVar("T")


def free_port() -> int:
    """A port nothing listens on right now (bound to 0, then released for the child)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class FakeServer:
    """The one fake GitHub, served over HTTP from a thread with its own event loop."""

    def __init__(self, fake: FakeGitHub) -> None:
        self.fake = fake
        self.port = free_port()
        config = uvicorn.Config(
            fake, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off"
        )
        config.access_log = False
        self.server = uvicorn.Server(config)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._serve, daemon=True, name="fake-github")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self.server.serve())

    def __enter__(self) -> FakeServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the fake GitHub did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run `fn` on the fake's own loop: its state is only touched from one thread."""

        async def run() -> T:
            return fn(*args, **kwargs)

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(timeout=10)


class Service:
    """The service as a real process: `uvicorn app.main:app`, configured by environment."""

    def __init__(
        self,
        *,
        database_url: str,
        github_url: str,
        private_key: str,
        workdir: Path,
        name: str = "service",
        app: str = "app.main:app",
        **settings: Any,
    ) -> None:
        self.app = app
        self.name = name
        self.workdir = workdir
        self.log_path = workdir / f"{name}.log"
        self.env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "APP_ID": "1",
            "PRIVATE_KEY": private_key,
            "WEBHOOK_SECRET": SECRET,
            "GITHUB_API_URL": github_url,
            "DATABASE_URL": database_url,
            "SETTLE_SECONDS": "0",
            "POLL_SECONDS": "0.1",
            "LOG_LEVEL": "INFO",
            "LOG_FORMAT": "json",
        }
        self.env.update({key.upper(): str(value) for key, value in settings.items()})
        self.process: subprocess.Popen[bytes] | None = None
        self.port = 0
        # A CPU to run on (with taskset), for benchmarks that compare apps on one core.
        self.cpu: int | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self, *, extra_args: tuple[str, ...] = ()) -> Service:
        self.port = free_port()
        self.workdir.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        command = [sys.executable, "-m", "uvicorn", self.app, "--host", "127.0.0.1"]
        if self.app == "app.main:app":
            command += ["--http", DELIVERY_PROTOCOL]  # as deployed (the Dockerfile, `serve`)
        if self.cpu is not None:
            command = ["taskset", "-c", str(self.cpu), *command]
        self.process = subprocess.Popen(
            [*command, "--port", str(self.port), "--no-access-log", *extra_args],
            env=self.env,
            cwd=self.workdir,  # no stray .env, and a relative SQLite path lands here
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        self._wait_ready()
        return self

    def _wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited: {self.log_path.read_text()[-2000:]}")
            try:
                answer = httpx.get(self.url + "/healthz", timeout=1)
                if answer.status_code < 500:
                    return
                last = f"{answer.status_code} {answer.text}"
            except httpx.HTTPError as exc:
                last = repr(exc)
            time.sleep(0.05)
        raise RuntimeError(f"{self.name} did not become ready: {last}")

    def kill(self) -> None:
        """SIGKILL: no shutdown hook runs, in-flight work is cut off wherever it is."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()

    def log_records(self) -> list[dict[str, Any]]:
        records = []
        if self.log_path.exists():
            for line in self.log_path.read_text().splitlines():
                if line.startswith("{"):
                    try:
                        records.append(json.loads(line))
                    except ValueError:
                        continue  # a line cut off by SIGKILL
        return records

    def finished(self) -> Counter[str]:
        """How often each delivery was finished (processed to an outcome, not a retry)."""
        return Counter(
            r["delivery_id"]
            for r in self.log_records()
            if r.get("message") == "processed" and not str(r.get("outcome")).startswith("retry")
        )


async def deliver(
    client: httpx.AsyncClient,
    url: str,
    event: str,
    payload: dict[str, Any],
    *,
    delivery_id: str | None = None,
) -> tuple[str, int | None]:
    """POST one signed delivery as GitHub does; the status, or None when the call failed."""
    body = json.dumps(payload).encode()
    delivery_id = delivery_id or str(uuid.uuid4())
    headers = {
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery_id,
        "X-Hub-Signature-256": sign(body),
        "Content-Type": "application/json",
        "User-Agent": "GitHub-Hookshot/test",
    }
    try:
        response = await client.post(
            url + "/api/github/webhooks", content=body, headers=headers, timeout=10
        )
    except httpx.HTTPError:
        return delivery_id, None
    return delivery_id, response.status_code


def per_issue_order_kept(rows: list[tuple[str, int, Any]]) -> bool:
    """Within each issue, deliveries finished in the order they arrived."""
    by_issue: dict[str, list[tuple[int, Any]]] = defaultdict(list)
    for key, seq, finished_at in rows:
        by_issue[key].append((seq, finished_at))
    return all(
        [f for _, f in sorted(items)] == sorted(f for _, f in items) for items in by_issue.values()
    )
