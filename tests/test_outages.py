"""GitHub down, then back; rate limits honoured without hammering, then converged."""

from __future__ import annotations

import asyncio
import re
import time
from datetime import timedelta

import pytest
from sqlalchemy import select

from app.storage.db import deliveries, utcnow
from tests.conftest import Harness

REPO = "octo/ops"
SP, ST, RS = "status:stabilization-pending", "status:stabilized", "status:resolved"
MARKER = re.compile(r"<!-- incident-flow:(.+?) -->")


async def declare(harness: Harness, count: int) -> list[int]:
    numbers = []
    for _ in range(count):
        issue, events = harness.fake.open_issue(REPO, labels=["incident", "severity:2"])
        await harness.run(events)
        await harness.echo()
        numbers.append(issue.number)
    return numbers


def assert_converged(harness: Harness, numbers: list[int], status: str) -> None:
    for number in numbers:
        labels = harness.fake.issue(REPO, number).labels
        assert [n for n in labels if n.startswith("status:")] == [status], labels
        keys = [
            key
            for comment in harness.fake.comments_on(REPO, number)
            for key in MARKER.findall(comment.body)
        ]
        assert len(keys) == len(set(keys)), f"a comment was posted twice on #{number}"


async def test_github_down_then_back_drains_the_backlog_without_duplicates(
    harness_for,  # type: ignore[no-untyped-def]
) -> None:
    harness: Harness = await harness_for()
    numbers = await declare(harness, 6)
    harness.fake.fail("*", ".", 503, times=10**6)  # every call, the token included
    events = []
    for number in numbers[:3]:  # illegal: reverted with a comment
        events += harness.fake.label(REPO, number, add=[RS], remove=[SP])
    for number in numbers[3:]:  # legal
        events += harness.fake.label(REPO, number, add=[ST], remove=[SP])
    await harness.send(events)
    for _ in range(3):  # the outage lasts several rounds of back-off
        await harness.settle()
        counts = await harness.services.inbox.counts()
        assert counts.get("dead", 0) == 0, "a transient error never buries a delivery"
        assert counts.get("pending") == len(events)
        await harness.backoff_passes()
    calls_during_outage = len(harness.fake.calls)

    harness.fake.heal()
    # The first comments after recovery are posted, but GitHub's answer is lost (502).
    harness.fake.fail("POST", r"/comments$", 502, times=3, after=True)
    await harness.settle()
    counts = await harness.services.inbox.counts()
    assert counts.get("dead", 0) == 0 and counts.get("pending", 0) == 0, counts
    assert_converged(harness, numbers[:3], SP)
    assert_converged(harness, numbers[3:], ST)
    for number in numbers[:3]:
        keys = [k for c in harness.fake.comments_on(REPO, number) for k in MARKER.findall(c.body)]
        assert sum(k.startswith("revert:") for k in keys) == 1, keys
    assert len(harness.fake.calls) > calls_during_outage


async def test_short_rate_limit_is_waited_out_in_place(harness_for) -> None:  # type: ignore[no-untyped-def]
    harness: Harness = await harness_for(max_inline_wait_seconds=5)
    (number,) = await declare(harness, 1)
    harness.fake.fail("GET", rf"/issues/{number}$", 403, headers={"retry-after": "1"})
    await harness.run(harness.fake.label(REPO, number, add=[ST], remove=[SP]))
    gets = [c for c in harness.fake.calls if c.method == "GET" and c.path.endswith(f"/{number}")]
    limited = next(i for i, c in enumerate(gets) if c.status == 403)
    assert gets[limited + 1].at - gets[limited].at >= 1.0, "retried before retry-after"
    assert_converged(harness, [number], ST)


def primary_limit() -> dict[str, str]:
    return {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(time.time()) + 1)}


@pytest.mark.parametrize(
    "headers",
    [lambda: {"retry-after": "2"}, primary_limit],
    ids=["secondary-retry-after", "primary-remaining-0"],
)
async def test_long_rate_limit_defers_everything_without_hammering(
    harness_for,  # type: ignore[no-untyped-def]
    headers,  # type: ignore[no-untyped-def]
) -> None:
    harness: Harness = await harness_for(worker_concurrency=1)
    numbers = await declare(harness, 5)
    harness.fake.fail("GET", r"/issues/\d+$", 403, headers=headers())
    events = []
    for number in numbers:
        events += harness.fake.label(REPO, number, add=[ST], remove=[SP])
    await harness.send(events)
    before = utcnow()
    calls = len(harness.fake.calls)
    await harness.settle()
    # One call met the limit; every other delivery of the installation waited without a call.
    assert len(harness.fake.calls) == calls + 1
    assert harness.fake.calls[-1].status == 403
    async with harness.services.engine.connect() as conn:
        ready = (
            await conn.execute(
                select(deliveries.c.available_at).where(
                    deliveries.c.state == "pending", deliveries.c.attempts > 0
                )
            )
        ).scalars()
        waits = [at - before for at in ready]
    assert len(waits) == len(numbers), "each issue's first delivery tried once, then deferred"
    assert min(waits) >= timedelta(seconds=0.9), "a delivery was scheduled inside the limit"
    await asyncio.sleep(max(waits).total_seconds())
    await harness.settle()
    assert (await harness.services.inbox.counts()) == {"done": len(harness.delivered)}
    assert_converged(harness, numbers, ST)
