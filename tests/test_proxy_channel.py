"""Webhooks through a proxy channel: a fake smee.io channel served over HTTP on the loopback,
followed by the service, whose receiver gets each delivery with its signature intact."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from app.github import proxy_channel
from app.github.proxy_channel import EventStream, delivery_of
from app.storage.db import deliveries
from tests.conftest import REPO, SP, sign
from tests.test_browser import served


def channel_message(event: str, payload: dict[str, Any], *, raw: str | None, **extra: Any) -> str:
    """What smee.io sends for one delivery: the headers (lower-cased), the parsed body and,
    on newer servers, the raw body."""
    body = raw if raw is not None else json.dumps(payload, separators=(",", ":"))
    message: dict[str, Any] = {
        "host": "smee.io",
        "x-github-event": event,
        "x-github-delivery": str(uuid.uuid4()),
        "x-hub-signature-256": sign(body.encode()),
        "user-agent": "GitHub-Hookshot/7a1b2c3",
        "content-type": "application/json",
        "body": payload,
        "query": {},
        "timestamp": 1764500000000,
    }
    if raw is not None:
        message["rawdata"] = raw
    message.update(extra)
    return json.dumps(message)


def pretty(payload: dict[str, Any]) -> str:
    """Bytes as another sender may write them: indented, with `\\/` escapes. Parsing and
    re-serialising them gives other bytes, and so another HMAC."""
    return json.dumps(payload, indent=2).replace("/", "\\/")


class FakeChannel:
    """A smee.io channel: the first connection fails (503), later ones send `ready`, the
    queued messages, then keep-alive comments until the test closes it."""

    def __init__(self, messages: list[str]) -> None:
        self.messages = messages
        self.connections = 0
        self.accepts: list[str] = []
        self.closed = threading.Event()
        self.app = Starlette(routes=[Route("/chan", self.stream)])

    async def stream(self, request: Request) -> Response:
        self.connections += 1
        self.accepts.append(request.headers.get("accept", ""))
        if self.connections == 1:
            return Response("busy", status_code=503)

        async def events() -> AsyncIterator[str]:
            yield "id: 0\nevent: ready\ndata: {}\n\n"
            for number, message in enumerate(self.messages, 1):
                yield f"id: {number}\ndata: {message}\n\n"
            while not self.closed.is_set():
                yield ": keep-alive\n\n"
                await asyncio.sleep(0.02)

        return StreamingResponse(events(), media_type="text/event-stream")


async def stored_ids(harness: Any) -> set[str]:
    async with harness.services.engine.connect() as conn:
        rows = await conn.execute(select(deliveries.c.delivery_id))
        return {row[0] for row in rows}


async def test_deliveries_come_through_the_channel_signed_and_are_processed(
    harness_for: Any, fake: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="app.github.proxy_channel")
    monkeypatch.setattr(proxy_channel, "FIRST_DELAY", 0.01)
    issue, events = fake.open_issue(REPO, labels=["incident", "severity:1"])
    (_, opened) = events[0]
    # The raw body (as GitHub signed it) differs from the parsed body re-serialised.
    raw_message = channel_message("issues", opened, raw=pretty(opened))
    assert json.dumps(opened, separators=(",", ":")) != pretty(opened)
    # An older server without the raw body, GitHub's bytes compact: still verifies.
    _, ping_like = fake.open_issue(REPO, title="Unrelated")
    legacy = channel_message("issues", ping_like[0][1], raw=None)
    forged = channel_message("issues", opened, raw=pretty(opened), **{"x-hub-signature-256": "x"})
    channel = FakeChannel([raw_message, legacy, forged, "not json", "{}"])
    wanted = {json.loads(m)["x-github-delivery"] for m in (raw_message, legacy)}
    with served(channel.app) as url:
        harness = await harness_for(webhook_proxy_url=f"{url}/chan")
        for _ in range(400):  # generous: the follower runs beside this loop
            if wanted <= await stored_ids(harness):
                break
            await asyncio.sleep(0.05)
        channel.closed.set()
    assert await stored_ids(harness) == wanted  # the forged one refused (401), nothing else
    await harness.settle()
    assert SP in harness.labels(issue.number)  # processed: the incident was declared
    assert channel.connections >= 2 and channel.accepts[0] == "text/event-stream"
    reconnects = [r.getMessage() for r in caplog.records if "reconnecting in" in r.getMessage()]
    assert reconnects and "503" in reconnects[0]
    assert not [r for r in caplog.records if url.split("//")[1] + "/chan" in r.getMessage()]


async def test_a_failing_channel_never_stops_the_service(
    harness_for: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Nothing listens on the channel's address: the follower backs off, logs one line per
    attempt, and the service keeps answering."""
    monkeypatch.setattr(proxy_channel, "FIRST_DELAY", 0.01)
    monkeypatch.setattr(proxy_channel, "MAX_DELAY", 0.04)
    harness = await harness_for(webhook_proxy_url="http://127.0.0.1:9/chan")
    for _ in range(400):
        if len([r for r in caplog.records if "reconnecting in" in r.getMessage()]) >= 4:
            break
        await asyncio.sleep(0.02)
    task = next(t for t in harness.services.background if t.get_name() == "webhook-proxy-channel")
    assert not task.done()
    pong = await harness.post("ping", {"zen": "Keep it logically awesome."})
    assert pong.status_code == 200  # the receiver still answers


async def test_backoff_doubles_up_to_its_bound() -> None:
    waits: list[float] = []

    async def sleep(delay: float) -> None:
        waits.append(delay)
        if len(waits) == 9:
            raise asyncio.CancelledError

    async def forward(_: Any) -> int:
        return 202

    with pytest.raises(asyncio.CancelledError):
        await proxy_channel.follow("http://127.0.0.1:9/chan", forward, limit=100, sleep=sleep)
    assert waits == [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0, 60.0]


def test_the_raw_body_wins_over_the_parsed_one() -> None:
    payload = {"action": "opened", "url": "https://example.com/a", "text": "é"}
    raw = pretty(payload)
    delivery = delivery_of(channel_message("issues", payload, raw=raw))
    assert delivery is not None
    assert delivery.body == raw.encode()
    assert delivery.headers["x-hub-signature-256"] == sign(raw.encode())
    assert delivery.headers["x-github-event"] == "issues"
    assert delivery.headers["user-agent"].startswith("GitHub-Hookshot/")
    assert "host" not in delivery.headers and "timestamp" not in delivery.headers
    legacy = delivery_of(channel_message("issues", payload, raw=None))
    assert legacy is not None
    assert legacy.body == json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    for other in ["{}", "[]", "null", "not json", json.dumps({"body": {}})]:
        assert delivery_of(other) is None


def test_event_stream_reads_the_sse_format() -> None:
    stream = EventStream(limit=10)
    lines = [": comment", "event: ready", "data: {}", "", "data: a", "data:b", "id: 3", ""]
    events = [e for e in map(stream.feed, lines) if e is not None]
    assert events == [("ready", "{}"), ("message", "a\nb")]
    oversized = ["data: " + "x" * 8, "data: " + "y" * 8, "", "data: ok", ""]
    assert [e for e in map(stream.feed, oversized) if e is not None] == [("message", "ok")]
