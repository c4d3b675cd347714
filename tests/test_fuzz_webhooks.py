"""Hostile deliveries: no 5xx, nothing stored without a valid signature, big input refused early."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from app.storage.db import deliveries
from tests.conftest import Harness, sign

FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
EVENTS = st.one_of(
    st.sampled_from(["issues", "issue_comment", "sub_issues", "installation", "ping", "push"]),
    st.text(max_size=80),
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)
anything = st.one_of(json_values, st.text(max_size=300))
# Payloads shaped like GitHub's, with any value where GitHub would put a known type.
github_like = st.fixed_dictionaries(
    {},
    optional={
        "action": anything,
        "issue": st.fixed_dictionaries(
            {}, optional={"id": anything, "number": anything, "labels": anything}
        ),
        "repository": st.fixed_dictionaries({}, optional={"id": anything, "full_name": anything}),
        "installation": st.fixed_dictionaries({}, optional={"id": anything}),
        "sender": st.fixed_dictionaries({}, optional={"login": anything, "type": anything}),
        "comment": st.fixed_dictionaries({}, optional={"id": anything, "body": anything}),
        "label": st.fixed_dictionaries({}, optional={"name": anything}),
    },
)
bodies = st.one_of(
    st.binary(max_size=2000),
    json_values.map(lambda v: json.dumps(v).encode()),
    github_like.map(lambda v: json.dumps(v).encode()),
)
delivery_ids = st.one_of(st.uuids().map(str), st.text(max_size=100))


async def stored(harness: Harness) -> int:
    async with harness.services.engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(deliveries))).scalar_one())


def header_safe(value: str) -> str:
    return value.encode("ascii", "ignore").decode().replace("\r", "").replace("\n", "")


def fuzzed_headers(event: str, delivery_id: str, signature: str) -> dict[str, str]:
    return {
        "X-GitHub-Event": header_safe(event),
        "X-GitHub-Delivery": header_safe(delivery_id),
        "X-Hub-Signature-256": header_safe(signature),
    }


async def post(
    harness: Harness, body: bytes, headers: dict[str, str]
) -> tuple[int, dict[str, Any]]:
    response = await harness.client.post(
        harness.services.settings.webhook_path, content=body, headers=headers
    )
    return response.status_code, response.json() if response.content else {}


@FUZZ
@given(body=bodies, event=EVENTS, delivery_id=delivery_ids, signature=st.text(max_size=80))
async def test_no_valid_signature_nothing_stored(
    harness: Harness, body: bytes, event: str, delivery_id: str, signature: str
) -> None:
    before = await stored(harness)
    headers = fuzzed_headers(event, delivery_id, signature)
    status, _ = await post(harness, body, headers)
    assert status == 401
    wrong_secret = {**headers, "X-Hub-Signature-256": sign(body, "not-the-secret")}
    status, _ = await post(harness, body, wrong_secret)
    assert status == 401
    assert await stored(harness) == before


@pytest.fixture
async def any_harness(harness_for, database_url: str) -> Harness:  # type: ignore[no-untyped-def]
    """A harness on SQLite and on PostgreSQL (which enforces column lengths)."""
    harness: Harness = await harness_for(database_url)
    return harness


@FUZZ
@given(body=bodies, event=EVENTS, delivery_id=delivery_ids)
async def test_signed_junk_never_breaks_the_receiver(
    any_harness: Harness, body: bytes, event: str, delivery_id: str
) -> None:
    harness = any_harness
    before = await stored(harness)
    headers = fuzzed_headers(event, delivery_id, sign(body))
    status, answer = await post(harness, body, headers)
    assert status in (200, 202, 400), (status, answer)
    queued = status == 202 and answer.get("message") == "queued"
    assert await stored(harness) == before + int(queued)


async def test_deeply_nested_signed_body_is_refused(harness: Harness) -> None:
    for body in (b"[" * 200_000 + b"]" * 200_000, b'{"a":' * 50_000 + b"1" + b"}" * 50_000):
        status, _ = await post(
            harness,
            body,
            {
                "X-GitHub-Event": "issues",
                "X-GitHub-Delivery": "deep",
                "X-Hub-Signature-256": sign(body),
            },
        )
        assert status == 400
    assert await stored(harness) == 0


async def test_oversized_fields_are_refused_not_a_database_error(any_harness: Harness) -> None:
    """PostgreSQL enforces the column sizes that SQLite ignores: both answer 400, not 500."""
    long = "x" * 300
    payloads = [
        {
            "action": long,
            "repository": {"id": 1, "full_name": "o/r"},
            "issue": {"id": 1, "number": 1},
        },
        {
            "action": "labeled",
            "repository": {"id": 1, "full_name": long},
            "issue": {"id": 1, "number": 1},
        },
    ]
    for n, payload in enumerate(payloads):
        body = json.dumps(payload).encode()
        status, answer = await post(
            any_harness,
            body,
            {
                "X-GitHub-Event": "issues",
                "X-GitHub-Delivery": f"long-{n}",
                "X-Hub-Signature-256": sign(body),
            },
        )
        assert status == 400, answer
    assert await stored(any_harness) == 0


async def test_declared_huge_body_refused_before_reading(harness: Harness) -> None:
    headers = {
        "X-GitHub-Event": "issues",
        "X-GitHub-Delivery": "huge",
        "X-Hub-Signature-256": "sha256=00",
        "Content-Length": str(30 * 1024 * 1024),
    }
    read: list[int] = []

    async def body():  # type: ignore[no-untyped-def]
        for _ in range(30 * 1024):
            read.append(1)
            yield b"x" * 1024

    response = await harness.client.post(
        harness.services.settings.webhook_path, content=body(), headers=headers
    )
    assert response.status_code == 413
    assert len(read) < 1024, "the body was read although its declared size is too large"
    assert await stored(harness) == 0
