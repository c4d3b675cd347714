"""The webhook receiver: signatures, malformed input, ping, duplicates, ignored events."""

import json

from sqlalchemy import func, select

from app.db import deliveries
from tests.conftest import REPO, Harness

ISSUE = {"id": 1, "number": 1, "labels": [], "updated_at": "2026-11-02T09:00:00Z"}
PAYLOAD = {
    "action": "labeled",
    "issue": ISSUE,
    "repository": {"id": 7, "full_name": "octo/ops"},
    "installation": {"id": 100},
    "sender": {"login": "alice", "type": "User"},
}


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
