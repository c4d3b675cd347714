"""The webhook receiver: signatures, malformed input, ping, duplicates, ignored events."""

import asyncio
import contextlib
import json
import logging
import sqlite3
import time
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import func, select, text

from app.queue.body_gate import BodyGate
from app.queue.webhooks import serve_delivery
from app.storage.db import deliveries, utcnow
from app.storage.engine import make_engine
from tests.conftest import REPO, Harness

ISSUE = {"id": 1, "number": 1, "labels": [], "updated_at": "2026-11-02T09:00:00Z"}
PAYLOAD = {
    "action": "labeled",
    "issue": ISSUE,
    "repository": {"id": 7, "full_name": "octo/ops"},
    "installation": {"id": 100},
    "sender": {"login": "alice", "type": "User"},
}


@pytest.fixture(params=["asgi", "protocol"])
async def harness(harness_for, request: pytest.FixtureRequest) -> Harness:  # type: ignore[no-untyped-def]
    """Every receiver test twice: straight into the ASGI app, and over a socket through
    uvicorn with the delivery protocol (as deployed)."""
    made: Harness = await harness_for(served=request.param == "protocol")
    return made


async def stored(harness: Harness) -> int:
    async with harness.services.engine.connect() as conn:
        return (await conn.execute(select(func.count()).select_from(deliveries))).scalar_one()


async def test_bad_signature_is_401_and_stores_nothing(harness: Harness) -> None:
    response = await harness.post("issues", PAYLOAD, secret="wrong")
    assert response.status_code == 401
    missing = await harness.post("issues", PAYLOAD, headers={"X-Hub-Signature-256": ""})
    assert missing.status_code == 401
    assert await stored(harness) == 0


async def test_malformed_bodies_and_headers_are_400(harness: Harness) -> None:
    assert (await harness.post("issues", b"{not json")).status_code == 400
    assert (await harness.post("issues", b"[1, 2]")).status_code == 400
    no_event = await harness.post("issues", PAYLOAD, headers={"X-GitHub-Event": ""})
    assert no_event.status_code == 400
    no_id = await harness.post("issues", PAYLOAD, headers={"X-GitHub-Delivery": ""})
    assert no_id.status_code == 400
    deep = b"[" * 100_000 + b"]" * 100_000
    assert (await harness.post("issues", deep)).status_code == 400
    assert await stored(harness) == 0


async def test_huge_body_refused_early(harness: Harness) -> None:
    body = json.dumps({"pad": "x" * (6 * 1024 * 1024)}).encode()
    assert (await harness.post("issues", body)).status_code == 413


async def test_ping_is_200(harness: Harness) -> None:
    response = await harness.post("ping", {"zen": "Keep it logically awesome."})
    assert response.status_code == 200
    assert await stored(harness) == 0


async def test_delivery_stored_once_and_duplicate_answered_2xx(harness: Harness) -> None:
    first = await harness.post("issues", PAYLOAD, delivery_id="abc")
    again = await harness.post("issues", PAYLOAD, delivery_id="abc")
    assert first.status_code == 202
    assert again.status_code == 200
    assert await stored(harness) == 1


async def test_unhandled_events_answered_and_not_stored(harness: Harness) -> None:
    response = await harness.post("star", {"action": "created"})
    assert response.status_code == 202
    assert await stored(harness) == 0


async def test_healthz(harness: Harness) -> None:
    response = await harness.client.get("/healthz")
    # The test harness drives the worker by hand, so it reports as stopped.
    assert response.json()["database"] == "ok"


async def test_json_that_only_the_standard_parser_reads_is_still_stored(harness: Harness) -> None:
    """An escaped lone surrogate (a comment cut inside an emoji) is JSON to Python's parser
    though not to pydantic's: the delivery is stored, not refused as not JSON."""
    issue, _ = harness.fake.open_issue(REPO, labels=["incident", "severity:1"])
    [(event, payload)] = harness.fake.comment(REPO, issue.number, "\ud800", actor="carol")
    response = await harness.post(event, payload)
    assert response.status_code == 202, response.text


async def test_a_lone_surrogate_is_processed_and_never_holds_its_issue(harness: Harness) -> None:
    """The worker reads what the receiver stored: the comment is handled, not retried for
    hours ahead of everything else on its issue."""
    issue, opened = harness.fake.open_issue(REPO, labels=["incident", "severity:1"])
    await harness.run(opened)
    [(event, payload)] = harness.fake.comment(REPO, issue.number, "cut \ud800 /help", actor="bob")
    assert (await harness.post(event, payload)).status_code == 202
    later = harness.fake.label(REPO, issue.number, add=["severity:2"], remove=["severity:1"])
    await harness.run(later)
    counts = await harness.services.inbox.counts()
    assert counts.get("pending", 0) == 0 and counts.get("dead", 0) == 0, counts


async def test_a_delivery_that_fails_for_good_is_a_dead_letter_in_metrics(
    harness: Harness,
) -> None:
    issue, opened = harness.fake.open_issue(REPO, labels=["incident", "severity:1"])
    await harness.run(opened)
    # Stored as it came: a body that fits the receiver's checks and not the worker's.
    broken = {**PAYLOAD, "issue": {**ISSUE, "number": issue.number, "id": "not an id"}}
    async with harness.services.engine.begin() as conn:
        await conn.execute(
            deliveries.insert().values(
                delivery_id="poison",
                event="issues",
                action="labeled",
                issue_key=f"7#{issue.number}",
                payload=json.dumps(broken),
                received_at=utcnow(),
                state="pending",
                attempts=0,
                available_at=utcnow(),
            )
        )
    await harness.settle()
    assert await harness.services.inbox.counts() == {"done": 1, "dead": 1}
    metrics = (await harness.client.get("/metrics")).text
    assert 'incident_flow_inbox_deliveries{state="dead"} 1.0' in metrics
    assert 'incident_flow_deliveries_dead_total{event="issues"} 1.0' in metrics


class SlowBody:
    """A request body that sends a little, then nothing until told to finish."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.finish = asyncio.Event()

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield b'{"action": '
        self.started.set()
        await self.finish.wait()
        yield b'"opened"}'


async def post_slowly(harness: Harness, body: SlowBody) -> httpx.Response:
    headers = {"X-GitHub-Event": "issues", "X-GitHub-Delivery": str(uuid.uuid4())}
    return await harness.client.post(
        harness.services.settings.webhook_path, content=body, headers=headers
    )


async def test_unsigned_slow_bodies_are_not_load(harness: Harness) -> None:
    bodies = [SlowBody() for _ in range(6)]
    posts = [asyncio.create_task(post_slowly(harness, body)) for body in bodies]
    await asyncio.wait_for(asyncio.gather(*(body.started.wait() for body in bodies)), 10)
    receiving = harness.services.receiving
    assert len(receiving.bodies) == 6
    assert not receiving.burst(), "the worker would yield to bodies nobody signed"
    for body in bodies:
        body.finish.set()
    answers = await asyncio.gather(*posts)
    assert {answer.status_code for answer in answers} == {401}
    assert receiving.inflight == 0 and len(receiving.bodies) == 0 and receiving.bodies.held == 0


async def test_a_body_not_complete_in_time_is_dropped(harness: Harness) -> None:
    harness.services.receiving.bodies = BodyGate(seconds=0.2)
    if harness.client.base_url.host == "app":
        answer = await asyncio.wait_for(post_slowly(harness, SlowBody()), 10)
        assert answer.status_code == 408
        assert answer.headers["connection"] == "close"
    else:
        # Over a socket: half a body, then silence; the answer comes and the line closes.
        url = harness.client.base_url
        reader, writer = await asyncio.open_connection(url.host, url.port)
        head = f"POST {harness.services.settings.webhook_path} HTTP/1.1\r\nHost: app\r\n"
        writer.write(head.encode() + b"Content-Length: 100\r\n\r\n" + b'{"action": ')
        reply = await asyncio.wait_for(reader.read(), 10)  # to the end: the server closed
        writer.close()
        assert reply.startswith(b"HTTP/1.1 408 "), reply
        assert b"\r\nconnection: close\r\n" in reply.lower()
    assert len(harness.services.receiving.bodies) == 0
    # The receiver carries on: a delivery after it is stored as usual.
    assert (await harness.post("issues", PAYLOAD)).status_code == 202


async def test_concurrent_unsigned_bodies_are_bounded(harness: Harness) -> None:
    harness.services.receiving.bodies = BodyGate(most=2, most_bytes=64)
    bodies = [SlowBody(), SlowBody()]
    posts = [asyncio.create_task(post_slowly(harness, body)) for body in bodies]
    await asyncio.wait_for(asyncio.gather(*(body.started.wait() for body in bodies)), 10)
    third = await harness.post("issues", PAYLOAD)
    assert third.status_code == 503
    assert third.headers["retry-after"] == "10"
    for body in bodies:
        body.finish.set()
    await asyncio.gather(*posts)
    # Bytes held at once are bounded too: one body over the budget is turned away.
    big = await harness.post("issues", {**PAYLOAD, "pad": "x" * 100})
    assert big.status_code == 503
    harness.services.receiving.bodies = BodyGate()
    assert (await harness.post("issues", PAYLOAD)).status_code == 202


async def test_a_client_gone_mid_body_is_one_quiet_log_line(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    messages = [
        {"type": "http.request", "body": b'{"action": ', "more_body": True},
        {"type": "http.disconnect"},
    ]
    sent: list[dict[str, object]] = []

    async def receive() -> dict[str, object]:
        return messages.pop(0)

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": harness.services.settings.webhook_path,
        "headers": [(b"x-github-event", b"issues")],
    }
    with caplog.at_level(logging.INFO):
        await serve_delivery(scope, receive, send, harness.services)
    assert sent == [], "nobody is left to answer"
    records = [r for r in caplog.records if r.name == "app.queue.webhooks"]
    assert len(records) == 1 and records[0].levelno == logging.INFO
    assert records[0].exc_info is None
    assert len(harness.services.receiving.bodies) == 0


@contextlib.asynccontextmanager
async def database_locked(harness: Harness) -> AsyncIterator[None]:
    """Another process holds the database's write lock (SQLite) or the inbox (PostgreSQL)."""
    engine = harness.services.engine
    if engine.dialect.name == "sqlite":
        conn = sqlite3.connect(engine.url.database or "", isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            conn.execute("ROLLBACK")
            conn.close()
        return
    other = make_engine(engine.url.render_as_string(hide_password=False))
    async with other.begin() as locker:
        await locker.execute(text("LOCK TABLE deliveries IN ACCESS EXCLUSIVE MODE"))
        yield
    await other.dispose()


@pytest.mark.parametrize("served", [False, True], ids=["asgi", "protocol"])
async def test_a_database_that_cannot_write_answers_503_quickly_and_healthz_says_so(
    harness_for,  # type: ignore[no-untyped-def]
    database_url: str,
    served: bool,
) -> None:
    harness: Harness = await harness_for(database_url, served=served)
    assert (await harness.client.get("/healthz")).json()["database"] == "ok"
    async with database_locked(harness):
        started = time.monotonic()
        answers = await asyncio.gather(*(harness.post("issues", PAYLOAD) for _ in range(5)))
        took = time.monotonic() - started
        assert {answer.status_code for answer in answers} == {503}
        assert answers[0].headers["retry-after"] == "60"
        assert took < 8, f"answered after {took:.1f} s (GitHub gives up at 10 s)"
        health = await harness.client.get("/healthz")
        assert health.status_code == 503
        assert health.json()["database"] == "not writable"
    # Once the database writes again, so does the receiver, and the health check recovers.
    assert (await harness.post("issues", PAYLOAD)).status_code == 202
    assert (await harness.client.get("/healthz")).json()["database"] == "ok"
