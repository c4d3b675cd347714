"""Chat messages sent in the background: in order per incident, bounded, never retried.

A delivery never waits for chat and never fails for it: each message is a task of its own,
each call has a total time limit, a failure is logged (by its kind only: URLs and tokens are
secrets) and counted, and nothing is retried. A destination that answers 429 is left alone
until its Retry-After has passed, so a rate-limited chat is not hammered.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
from dotenv import dotenv_values
from prometheus_client import CollectorRegistry, Counter

from app.settings import Settings

log = logging.getLogger(__name__)

MAX_PENDING = 500  # messages in flight at once; beyond, new ones are dropped (and counted)
MAX_HOLD = 300.0  # longest Retry-After honoured, in seconds


class Environment:
    """The variables a repo config names: the process's environment, then `.env` (read once,
    at the first look), as the settings are read. `process=False`: none of them."""

    def __init__(self, env_file: Path | None = Path(".env"), *, process: bool = True) -> None:
        self.env_file = env_file
        self.process = process
        self._file: dict[str, str | None] | None = None

    def get(self, name: str) -> str | None:
        if not self.process:
            return None
        value = os.environ.get(name)
        if value:
            return value
        if self._file is None:
            try:
                found = self.env_file is not None and self.env_file.is_file()
                self._file = dotenv_values(self.env_file) if found else {}
            except (OSError, UnicodeDecodeError):
                self._file = {}
        return self._file.get(name) or None


def environment_for(settings: Settings) -> Environment:
    """The sandbox's settings read nothing of the machine: nor do its repo configs."""
    return Environment() if settings.reads_environment else Environment(None, process=False)


class Sender:
    """Posts JSON for the chat channels; one connection pool, one counter, one drain."""

    def __init__(
        self,
        *,
        timeout: float = 10.0,
        registry: CollectorRegistry | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        max_pending: int = MAX_PENDING,
    ) -> None:
        self.timeout = timeout
        self.transport = transport
        self.max_pending = max_pending
        self.messages = Counter(
            "incident_flow_chat_messages_total",
            "Chat calls by channel and outcome (sent, refused, failed, rate-limited, held, "
            "unset, dropped)",
            ["channel", "outcome"],
            registry=registry if registry is not None else CollectorRegistry(),
        )
        self._client: httpx.AsyncClient | None = None
        self._pending: set[asyncio.Task[None]] = set()
        self._tails: dict[str, asyncio.Task[None]] = {}  # the last job queued per incident
        self._held: dict[str, float] = {}  # destination: monotonic time its 429 runs out

    def count(self, channel: str, outcome: str) -> None:
        self.messages.labels(channel=channel, outcome=outcome).inc()

    def submit(self, key: str, channel: str, job: Callable[[], Awaitable[None]]) -> None:
        """Run `job` in the background, after the jobs already submitted under `key` (one
        incident on one channel: a thread's first message is kept before its replies)."""
        if len(self._pending) >= self.max_pending:
            log.warning("%s message dropped: %d already in flight", channel, len(self._pending))
            self.count(channel, "dropped")
            return
        task = asyncio.create_task(self._run(self._tails.get(key), channel, job))
        self._tails[key] = task
        self._pending.add(task)
        task.add_done_callback(lambda done: self._done(key, done))

    def _done(self, key: str, task: asyncio.Task[None]) -> None:
        self._pending.discard(task)
        if self._tails.get(key) is task:
            del self._tails[key]

    async def _run(
        self, after: asyncio.Task[None] | None, channel: str, job: Callable[[], Awaitable[None]]
    ) -> None:
        if after is not None:
            await asyncio.wait({after})  # its outcome is its own: logged and counted there
        try:
            await job()
        except Exception as exc:
            log.warning("%s message not delivered: %s", channel, type(exc).__name__)
            self.count(channel, "failed")

    async def post(
        self,
        channel: str,
        url: str,
        body: dict[str, Any],
        *,
        hold: str,
        headers: dict[str, str] | None = None,
    ) -> dict[str, Any] | None:
        """POST `body`; the answer's JSON object ({} for a plain "ok"), or None when the
        destination refused it, failed, was too slow or is held after a 429 (counted)."""
        held_until = self._held.get(hold)
        if held_until is not None:
            if time.monotonic() < held_until:
                self.count(channel, "held")
                return None
            del self._held[hold]
        if self._client is None:
            self._client = httpx.AsyncClient(transport=self.transport, follow_redirects=False)
        try:
            async with asyncio.timeout(self.timeout):
                response = await self._client.post(
                    url, json=body, headers=headers, timeout=self.timeout
                )
        except Exception as exc:
            # httpx's errors may carry the URL, a secret: the kind of failure is enough.
            log.warning("%s message not delivered: %s", channel, type(exc).__name__)
            self.count(channel, "failed")
            return None
        if response.status_code == 429:
            wait = _seconds(response.headers.get("retry-after"))
            self._held[hold] = time.monotonic() + wait
            log.warning("%s is rate limited: nothing sent there for %.0f s", channel, wait)
            self.count(channel, "rate-limited")
            return None
        if response.status_code >= 300:
            log.warning("%s answered %s: %s", channel, response.status_code, response.text[:200])
            self.count(channel, "refused")
            return None
        try:
            answer = response.json()
        except ValueError:
            return {}  # Slack's webhooks answer a plain "ok"
        return answer if isinstance(answer, dict) else {}

    async def drain(self, timeout: float = 5.0) -> None:
        """Wait for messages in flight (shutdown and tests); stragglers are cancelled."""
        if self._pending:
            _, late = await asyncio.wait(set(self._pending), timeout=timeout)
            for task in late:
                task.cancel()
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()


def named(env: Environment, sender: Sender, channel: str, name: str) -> str | None:
    """The value of the variable a repo config names; unset, that is logged and counted."""
    value = env.get(name)
    if value is None:
        # The name is safe to log: the config allows capitals, digits and _ only.
        log.warning("%s: %s, named in a repo config, is not set", channel, name)
        sender.count(channel, "unset")
    return value


def _seconds(value: str | None) -> float:
    try:
        return min(MAX_HOLD, max(1.0, float(value or 30)))
    except ValueError:
        return 30.0
