"""Deliveries answered inside uvicorn's protocol: HTTP/1.1 as any client speaks it."""

import asyncio
import json
import logging
import uuid

import pytest
from sqlalchemy import func, select

from app.storage.db import deliveries
from tests.conftest import Harness, sign

PAYLOAD = {
    "action": "opened",
    "issue": {"id": 1, "number": 1, "labels": [], "updated_at": "2026-11-02T09:00:00Z"},
    "repository": {"id": 7, "full_name": "octo/ops"},
    "installation": {"id": 100},
    "sender": {"login": "alice", "type": "User"},
}


@pytest.fixture
async def served(harness_for) -> Harness:  # type: ignore[no-untyped-def]
    made: Harness = await harness_for(served=True)
    return made


def delivery(harness: Harness, *, extra: bytes = b"", version: bytes = b"1.1") -> bytes:
    body = json.dumps(PAYLOAD).encode()
    path = harness.services.settings.webhook_path.encode()
    return (
        b"POST " + path + b" HTTP/" + version + b"\r\nHost: app\r\n"
        b"X-GitHub-Event: issues\r\nX-GitHub-Delivery: " + uuid.uuid4().hex.encode() + b"\r\n"
        b"X-Hub-Signature-256: " + sign(body).encode() + b"\r\n"
        b"Content-Type: application/json\r\nContent-Length: "
        + str(len(body)).encode()
        + b"\r\n"
        + extra
        + b"\r\n"
        + body
    )


async def connect(harness: Harness) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    url = harness.client.base_url
    return await asyncio.open_connection(url.host, url.port)


async def response(reader: asyncio.StreamReader) -> tuple[bytes, dict[bytes, bytes], bytes]:
    """One response: its status line, headers (names lower-cased) and body."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    status, *lines = head[:-4].split(b"\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(b":")
        headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get(b"content-length", b"0")))
    return status, headers, body


async def stored(harness: Harness) -> int:
    async with harness.services.engine.connect() as conn:
        return (await conn.execute(select(func.count()).select_from(deliveries))).scalar_one()


async def test_deliveries_on_one_kept_alive_connection(served: Harness) -> None:
    reader, writer = await connect(served)
    for _ in range(3):
        writer.write(delivery(served))
        status, headers, body = await response(reader)
        assert status == b"HTTP/1.1 202 Accepted"
        assert headers[b"content-type"] == b"application/json"
        assert b"date" in headers and b"connection" not in headers
        assert json.loads(body) == {"message": "queued"}
    writer.close()
    assert await stored(served) == 3


async def test_pipelined_requests_are_answered_in_order(served: Harness) -> None:
    """Two deliveries and a health check in one write: three answers, in that order (the
    second delivery waits for the first's answer, and the check for the second's)."""
    reader, writer = await connect(served)
    again = delivery(served)
    health = b"GET /healthz HTTP/1.1\r\nHost: app\r\n\r\n"
    writer.write(delivery(served) + again + again + health)
    answers = [await response(reader) for _ in range(4)]
    writer.close()
    assert [status for status, _, _ in answers[:3]] == [
        b"HTTP/1.1 202 Accepted",
        b"HTTP/1.1 202 Accepted",
        b"HTTP/1.1 200 OK",  # the same delivery again: stored once
    ]
    # (503 overall: the test drives the worker itself, so it reads as stopped)
    assert json.loads(answers[3][2])["database"] == "ok"
    assert await stored(served) == 2


async def test_expect_100_continue(served: Harness) -> None:
    reader, writer = await connect(served)
    request = delivery(served, extra=b"Expect: 100-continue\r\n")
    head, _, body = request.partition(b"\r\n\r\n")
    writer.write(head + b"\r\n\r\n")
    interim = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
    writer.write(body)
    status, _, _ = await response(reader)
    writer.close()
    assert status == b"HTTP/1.1 202 Accepted"


@pytest.mark.parametrize(
    ("extra", "version"), [(b"Connection: close\r\n", b"1.1"), (b"", b"1.0")], ids=["close", "1.0"]
)
async def test_a_client_that_asks_to_close_is_answered_and_closed(
    served: Harness, extra: bytes, version: bytes
) -> None:
    reader, writer = await connect(served)
    writer.write(delivery(served, extra=extra, version=version))
    status, headers, _ = await response(reader)
    assert status == b"HTTP/1.1 202 Accepted"
    assert headers[b"connection"] == b"close"
    assert await asyncio.wait_for(reader.read(), 10) == b""  # closed by the server
    writer.close()


async def test_a_refusal_before_the_body_keeps_the_connection(served: Harness) -> None:
    """A body announced too large is refused at once; the bytes that follow it are read
    and dropped, and the connection serves the next request."""
    served.services.settings.max_body_bytes = 64
    reader, writer = await connect(served)
    big = delivery(served)
    writer.write(big)
    status, _, body = await response(reader)
    assert status == b"HTTP/1.1 413 Request Entity Too Large", body
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: app\r\n\r\n")
    _, _, body = await response(reader)
    writer.close()
    assert json.loads(body)["database"] == "ok"
    assert await stored(served) == 0


async def test_other_paths_and_methods_take_the_asgi_path(served: Harness) -> None:
    path = served.services.settings.webhook_path
    assert (await served.client.get(path)).status_code == 405
    assert (await served.client.get("/healthz")).json()["database"] == "ok"
    body = json.dumps(PAYLOAD).encode()
    headers = {
        "X-GitHub-Event": "issues",
        "X-GitHub-Delivery": "with-a-query",
        "X-Hub-Signature-256": sign(body),
    }
    answer = await served.client.post(path + "?from=github", content=body, headers=headers)
    assert answer.status_code == 202
    assert await stored(served) == 1


async def test_each_answer_is_in_the_access_log(
    served: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="uvicorn.access"):
        reader, writer = await connect(served)
        writer.write(delivery(served))
        await response(reader)
        writer.close()
    lines = [r.getMessage() for r in caplog.records if r.name == "uvicorn.access"]
    path = served.services.settings.webhook_path
    assert any(f'"POST {path} HTTP/1.1" 202' in line for line in lines), lines
