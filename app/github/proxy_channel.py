"""Webhooks through a proxy channel (smee.io, as Probot does): follow the channel's
server-sent events and hand each delivery, headers intact, to this service's own receiver."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx

log = logging.getLogger(__name__)

# Headers that make a delivery what it is: event, delivery id, signatures, GitHub's agent.
FORWARDED = ("x-github-", "x-hub-signature")
# Where channel servers keep the body byte for byte (smee.io's server since probot/smee.io#55
# sends `rawdata`); the parsed `body` re-serialised can differ and then fail the HMAC.
RAW_KEYS = ("rawdata", "rawBody", "rawbody")
FIRST_DELAY = 1.0  # seconds before the first reconnect; doubled each time, up to MAX_DELAY
MAX_DELAY = 60.0
# smee.io pings every 30 s: a connection silent for longer than this is dead.
READ_TIMEOUT = 90.0
clock = time.monotonic  # seam for tests


@dataclass(frozen=True)
class Delivery:
    """One webhook delivery as GitHub sent it to the channel."""

    headers: dict[str, str]
    body: bytes

    @property
    def delivery_id(self) -> str:
        return self.headers.get("x-github-delivery", "?")


def delivery_of(data: str) -> Delivery | None:
    """A channel message's `data` as a delivery, or None for anything else (`ready`, pings,
    messages without a GitHub event). Prefers the raw body over the re-serialised one."""
    try:
        message = json.loads(data)
    except (ValueError, RecursionError):
        return None
    if not isinstance(message, dict):
        return None
    headers = {
        key.lower(): value
        for key, value in message.items()
        if isinstance(key, str) and isinstance(value, str) and key.lower().startswith(FORWARDED)
    }
    if not headers.get("x-github-event"):
        return None
    raw = next((message[k] for k in RAW_KEYS if isinstance(message.get(k), str)), None)
    if raw:
        body = raw.encode()
    elif "body" in message:
        # What the reference client sends (JSON.stringify): verifies only when GitHub's
        # bytes happened to be this compact form.
        body = json.dumps(message["body"], ensure_ascii=False, separators=(",", ":")).encode()
    else:
        return None
    agent = message.get("user-agent")
    if isinstance(agent, str):
        headers["user-agent"] = agent
    headers["content-type"] = "application/json"
    return Delivery(headers, body)


@dataclass
class EventStream:
    """Server-sent events, one line at a time (the `text/event-stream` format): linear,
    and an event whose data grows past `limit` characters is dropped whole."""

    limit: int
    kind: str = ""
    data: list[str] = field(default_factory=list)
    size: int = 0
    oversized: bool = False

    def feed(self, line: str) -> tuple[str, str] | None:
        """The event a blank line completes, as (type, data); None otherwise."""
        if line == "":
            event = None
            if self.data and not self.oversized:
                event = (self.kind or "message", "\n".join(self.data))
            self.kind, self.data, self.size, self.oversized = "", [], 0, False
            return event
        if line.startswith(":"):
            return None  # a comment: keep-alive
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            self.kind = value
        elif name == "data" and not self.oversized:
            self.size += len(value) + 1
            if self.size > self.limit:
                self.oversized, self.data = True, []
            else:
                self.data.append(value)
        return None


Forward = Callable[[Delivery], Awaitable[int]]


def channel_name(url: str) -> str:
    """The channel as logs name it: its host only (whoever knows the URL reads the payloads)."""
    return urlsplit(url).netloc or "?"


async def listen(http: httpx.AsyncClient, url: str, forward: Forward, limit: int) -> int:
    """One connection to the channel until it ends; returns how many deliveries it brought."""
    brought = 0
    stream = EventStream(limit)
    headers = {"Accept": "text/event-stream", "Cache-Control": "no-cache"}
    async with http.stream("GET", url, headers=headers) as response:
        if response.status_code != 200:
            raise ConnectionError(f"the channel answered {response.status_code}")
        async for line in response.aiter_lines():
            event = stream.feed(line)
            if event is None or event[0] != "message":
                continue
            delivery = delivery_of(event[1])
            if delivery is None:
                continue
            brought += 1
            try:
                status = await forward(delivery)
            except Exception:
                log.exception("proxy channel delivery %s not handed over", delivery.delivery_id)
                continue
            log.info("proxy channel delivery %s: %d", delivery.delivery_id, status)
    return brought


async def follow(
    url: str,
    forward: Forward,
    *,
    limit: int,
    transport: httpx.AsyncBaseTransport | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> None:
    """Follow the channel for as long as the service runs: reconnect with a doubling,
    bounded back-off, one log line per reconnect; nothing here ends the service."""
    where = channel_name(url)
    log.info("following the webhook proxy channel on %s", where)
    delay = FIRST_DELAY
    timeout = httpx.Timeout(15.0, read=READ_TIMEOUT)
    async with httpx.AsyncClient(timeout=timeout, transport=transport) as http:
        while True:
            started = clock()
            try:
                brought = await listen(http, url, forward, limit)
                reason = "the channel closed the connection"
            except Exception as exc:  # never crash the service: log and come back
                brought = 0
                reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            if brought or clock() - started > MAX_DELAY:
                delay = FIRST_DELAY  # it worked for a while: start the back-off afresh
            log.warning(
                "webhook proxy channel on %s: %s; reconnecting in %.0f s", where, reason, delay
            )
            await sleep(delay)
            delay = min(delay * 2, MAX_DELAY)


def start(app: Any, url: str, webhook_path: str, limit: int) -> asyncio.Task[None]:
    """Follow the channel in the background, forwarding to `app`'s own receiver in-process."""

    async def run() -> None:
        local = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, client=("127.0.0.1", 0)),
            base_url="http://127.0.0.1",
            timeout=30.0,
        )
        async with local:

            async def forward(delivery: Delivery) -> int:
                response = await local.post(
                    webhook_path, content=delivery.body, headers=delivery.headers
                )
                return response.status_code

            await follow(url, forward, limit=limit)

    return asyncio.create_task(run(), name="webhook-proxy-channel")
