"""Recovery of failed deliveries: the choice (pure), and the service doing it at start-up."""

import asyncio
import time
from datetime import timedelta

import httpx
import pytest

from app.github.client import next_cursor
from app.github.redeliver import parse_since, to_redeliver
from app.sandbox.github import FakeGitHub
from app.service.services import build_services


def attempt(guid: str, did: int, code: int, at: str) -> dict[str, object]:
    return {"id": did, "guid": guid, "status_code": code, "delivered_at": at}


def test_one_attempt_per_guid_that_never_succeeded() -> None:
    log = [
        attempt("a", 1, 502, "2026-11-02T08:00:00Z"),
        attempt("a", 2, 0, "2026-11-02T09:00:00Z"),  # a timeout records no status code
        attempt("b", 3, 500, "2026-11-02T08:00:00Z"),
        attempt("b", 4, 202, "2026-11-02T08:30:00Z"),
        attempt("c", 5, 500, "2026-11-02T07:00:00Z"),
    ]
    assert [d["id"] for d in to_redeliver(log, known={"c"})] == [2]


@pytest.mark.parametrize(
    ("text", "span"),
    [
        ("6h", timedelta(hours=6)),
        ("30m", timedelta(minutes=30)),
        ("2d", timedelta(days=2)),
        ("90s", timedelta(seconds=90)),
        ("1.5", timedelta(hours=1.5)),
    ],
)
def test_parse_since(text: str, span: timedelta) -> None:
    assert parse_since(text) == span


def test_next_cursor() -> None:
    link = (
        '<https://api.github.com/app/hook/deliveries?per_page=100&cursor=v1_123>; rel="next", '
        '<https://api.github.com/app/hook/deliveries?per_page=100>; rel="first"'
    )
    assert next_cursor(link) == "v1_123"
    assert next_cursor("") is None


async def test_the_service_redelivers_at_start_up(settings_for, fake: FakeGitHub) -> None:  # type: ignore[no-untyped-def]
    lost = fake.log_delivery("lost", ok=False)
    services = await build_services(
        settings_for(), github_transport=httpx.ASGITransport(app=fake), start_worker=True
    )
    try:
        assert [t.get_name() for t in services.background] == ["redelivery", "retention"]
        deadline = time.monotonic() + 10
        while not fake.redelivered and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        assert fake.redelivered == [lost["id"]]
    finally:
        await services.close()
    assert all(task.done() for task in services.background)
