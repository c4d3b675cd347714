"""Credentials recover: a refused token is fetched again once, the JWT survives clock skew."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import httpx
import jwt
import pytest

from app.github.client import GitHubApp, GitHubRefused
from app.sandbox.github import FakeGitHub
from tests.conftest import Harness

REPO = "octo/ops"
SP, ST = "status:stabilization-pending", "status:stabilized"


class Recording(httpx.AsyncBaseTransport):
    """The fake GitHub, keeping the Authorization header of every request it was sent."""

    def __init__(self, fake: FakeGitHub) -> None:
        self.inner = httpx.ASGITransport(app=fake)
        self.authorizations: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.authorizations.append(request.headers.get("authorization", ""))
        return await self.inner.handle_async_request(request)


def refusals(fake: FakeGitHub) -> list[str]:
    return [call.path for call in fake.calls if call.status == 401]


async def test_the_jwt_is_issued_a_minute_in_the_past(fake: FakeGitHub, private_key: str) -> None:
    transport = Recording(fake)
    github = GitHubApp(
        app_id=1, private_key=private_key, base_url="https://api.github.test", transport=transport
    )
    before = datetime.now(UTC).timestamp()
    assert await github.slug() == "incident-flow"
    after = datetime.now(UTC).timestamp()
    (auth,) = transport.authorizations
    claims = jwt.decode(auth.removeprefix("Bearer "), options={"verify_signature": False})
    assert int(before) - 61 <= claims["iat"] <= after - 59
    assert claims["exp"] - claims["iat"] <= 600  # GitHub's limit: ten minutes
    assert claims["iss"] == "1"
    await github.aclose()


@pytest.mark.parametrize(
    "skew",
    [
        pytest.param(-60, id="our-clock-60s-fast"),
        pytest.param(-300, id="our-clock-5min-fast"),
        pytest.param(300, id="our-clock-5min-slow"),
    ],
)
async def test_deliveries_succeed_whatever_our_clock_says(harness: Harness, skew: float) -> None:
    harness.fake.clock_skew = skew
    issue, events = harness.fake.open_issue(REPO, labels=["incident", "severity:2"])
    await harness.run(events)
    await harness.echo()
    await harness.run(harness.fake.label(REPO, issue.number, add=[ST], remove=[SP]))
    assert ST in harness.labels(issue.number)
    counts = await harness.services.inbox.counts()
    assert counts.get("dead", 0) == 0 and counts.get("pending", 0) == 0, counts
    # At most one refusal: the first JWT, before GitHub's Date set our clock right.
    assert len(refusals(harness.fake)) <= 1, refusals(harness.fake)


async def test_an_expired_token_is_fetched_again_and_the_call_retried_once(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    issue, events = harness.fake.open_issue(REPO, labels=["incident", "severity:2"])
    await harness.run(events)
    await harness.echo()
    issued = harness.fake.tokens_issued
    harness.fake.expire_tokens()  # e.g. a clock slow enough to keep using a stale token
    await harness.run(harness.fake.label(REPO, issue.number, add=[ST], remove=[SP]))
    assert ST in harness.labels(issue.number)
    assert harness.fake.tokens_issued == issued + 1
    assert len(refusals(harness.fake)) == 1
    counts = await harness.services.inbox.counts()
    assert counts.get("dead", 0) == 0 and counts.get("pending", 0) == 0, counts
    # The refusal is logged, without the token refused nor the one that replaced it.
    assert any("refused our credentials" in r.getMessage() for r in caplog.records)
    logged = "\n".join(r.getMessage() + (r.exc_text or "") for r in caplog.records)
    assert "ghs_" not in logged and "Bearer" not in logged


async def test_one_401_is_retried_with_a_fresh_token(harness: Harness) -> None:
    issue, _ = harness.fake.open_issue(REPO)
    client = harness.services.github.installation(harness.fake.installation_id)
    await client.get_issue(REPO, issue.number)
    issued = harness.fake.tokens_issued
    harness.fake.fail("GET", rf"/issues/{issue.number}$", 401, body={"message": "Bad credentials"})
    data = await client.get_issue(REPO, issue.number)
    assert data["number"] == issue.number
    assert harness.fake.tokens_issued == issued + 1
    gets = [c for c in harness.fake.calls if c.path.endswith(f"/issues/{issue.number}")]
    assert [c.status for c in gets] == [200, 401, 200]


async def test_a_persistent_401_is_an_error_not_a_loop(harness: Harness) -> None:
    issue, _ = harness.fake.open_issue(REPO)
    client = harness.services.github.installation(harness.fake.installation_id)
    harness.fake.fail("*", ".", 401, times=10**6, body={"message": "Bad credentials"})
    with pytest.raises(GitHubRefused) as refused:
        await client.get_issue(REPO, issue.number)
    assert refused.value.status == 401
    assert len(harness.fake.calls) == 2  # the call, and one retry freshly signed

    # A delivery meeting a revoked App ends with a bounded number of calls.
    before = len(harness.fake.calls)
    await harness.run(harness.fake.label(REPO, issue.number, add=["incident"]))
    await harness.backoff_passes()
    await harness.settle()
    assert len(harness.fake.calls) - before <= 20
