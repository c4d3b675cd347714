"""The dashboard and its API: ordering, per-incident pages, and who sees private incidents."""

from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.conftest import Harness
from tests.seed import PRIVATE, PUBLIC, SECRET_TITLE, seed

CLIENT = {"github_client_id": "Iv1.test", "github_client_secret": "s3cret"}


@pytest.fixture
async def board(harness_for) -> Harness:  # type: ignore[no-untyped-def]
    harness = await harness_for(**CLIENT)
    await seed(harness.services.store, harness.fake, datetime.now(UTC))
    return harness


async def sign_in(harness: Harness, login: str) -> None:
    start = await harness.client.get("/auth/login")
    assert start.status_code == 302
    target = urlsplit(start.headers["location"])
    assert f"{target.scheme}://{target.netloc}{target.path}" == (
        "https://github.test/login/oauth/authorize"
    )
    query = parse_qs(target.query)
    assert query["client_id"] == ["Iv1.test"]
    assert query["redirect_uri"] == ["http://app/auth/callback"]
    code = harness.fake.oauth_code(login)
    done = await harness.client.get(
        "/auth/callback", params={"code": code, "state": query["state"][0]}
    )
    assert done.status_code == 303


async def test_signed_out_sees_only_public_incidents(board: Harness) -> None:
    page = (await board.client.get("/")).text
    assert "Search is down" in page
    assert SECRET_TITLE not in page
    data = (await board.client.get("/api/incidents")).json()
    assert {i["repo"] for i in data["incidents"]} == {PUBLIC}
    assert data["viewer"] is None
    assert (await board.client.get(f"/incidents/{PRIVATE}/1")).status_code == 404
    assert (await board.client.get(f"/api/incidents/{PRIVATE}/1")).status_code == 404
    assert SECRET_TITLE not in (await board.client.get("/chart.svg")).text


async def test_open_first_by_severity_then_age(board: Harness) -> None:
    data = (await board.client.get("/api/incidents")).json()
    order = [(i["number"], i["open"]) for i in data["incidents"]]
    # Open first (severity 1 before 3), then the closed ones: severity, then oldest first.
    assert order == [(1, True), (2, True), (5, False), (4, False), (3, False)]
    first = data["incidents"][0]
    assert (first["status"], first["severity"], first["lead"]) == (
        "stabilization-pending",
        1,
        "alice",
    )
    assert first["url"] == "https://github.test/octo/ops/issues/1"
    assert 7100 < first["time_in_status_seconds"] < 7300
    by_age = (await board.client.get("/api/incidents", params={"sort": "age"})).json()
    assert [i["number"] for i in by_age["incidents"]] == [5, 4, 3, 2, 1]


async def test_stats_over_90_days(board: Harness) -> None:
    stats = (await board.client.get("/api/incidents")).json()["stats_90_days"]
    sev1 = stats[0]
    assert sev1["severity"] == 1
    assert sev1["incidents"] == 2  # the 200-day-old one is outside the window
    assert sev1["time_to_stabilize"]["median_seconds"] == 1800
    assert sev1["time_to_resolve"] == {
        "count": 1,
        "median_seconds": 108000.0,
        "p90_seconds": 108000.0,
    }
    page = (await board.client.get("/")).text
    assert "<svg" in page and "Severity 1 (2)" in page


async def test_incident_page_has_timeline_and_durations(board: Harness) -> None:
    page = (await board.client.get(f"/incidents/{PUBLIC}/4")).text
    assert "Login loop" in page
    assert "Under investigation → Resolved" in page
    assert "Time to stabilize</th><td>30m" in page
    assert "Time to resolve</th><td>1d 6h" in page
    data = (await board.client.get(f"/api/incidents/{PUBLIC}/4")).json()
    assert [e["kind"] for e in data["timeline"]] == ["declared"] + ["status"] * 4


async def test_reader_of_the_private_repo_sees_it_after_sign_in(board: Harness) -> None:
    await sign_in(board, "carol")
    page = (await board.client.get("/")).text
    assert SECRET_TITLE in page
    assert "signed in as <b>carol</b>" in page
    data = (await board.client.get("/api/incidents")).json()
    assert data["viewer"] == "carol"
    assert {i["repo"] for i in data["incidents"]} == {PUBLIC, PRIVATE}
    assert (await board.client.get(f"/incidents/{PRIVATE}/1")).status_code == 200
    await board.client.post("/auth/logout")
    assert SECRET_TITLE not in (await board.client.get("/")).text


async def test_signed_in_non_reader_still_does_not_see_it(board: Harness) -> None:
    await sign_in(board, "dave")
    assert SECRET_TITLE not in (await board.client.get("/")).text
    assert (await board.client.get(f"/api/incidents/{PRIVATE}/1")).status_code == 404


async def test_forged_or_replayed_sign_in_is_refused(board: Harness) -> None:
    code = board.fake.oauth_code("carol")
    answer = await board.client.get("/auth/callback", params={"code": code, "state": "forged"})
    assert answer.status_code == 400
    assert SECRET_TITLE not in (await board.client.get("/")).text


async def test_a_tampered_session_cookie_is_ignored(board: Harness) -> None:
    await sign_in(board, "carol")
    cookie = board.client.cookies["incident_flow_session"]
    board.client.cookies.clear()
    board.client.cookies.set("incident_flow_session", cookie[:-2] + "xx")
    assert SECRET_TITLE not in (await board.client.get("/")).text


async def test_visibility_unknown_counts_as_private(board: Harness) -> None:
    board.fake.fail("GET", r"^/repos/octo/ops$", 502, times=10)
    page = (await board.client.get("/")).text
    assert "Search is down" not in page


async def test_an_expired_github_token_signs_the_viewer_out(board: Harness) -> None:
    await sign_in(board, "carol")
    board.fake.user_tokens.clear()  # GitHub's user tokens expire; the fake now refuses it
    page = (await board.client.get("/")).text
    assert SECRET_TITLE not in page
    assert "Sign in with GitHub" in page
    assert (await board.client.get("/api/incidents")).json()["viewer"] is None


async def test_no_sign_in_link_without_an_oauth_client(harness_for) -> None:  # type: ignore[no-untyped-def]
    harness = await harness_for()
    await seed(harness.services.store, harness.fake, datetime.now(UTC))
    page = (await harness.client.get("/")).text
    assert "Search is down" in page and "Sign in with GitHub" not in page
    assert (await harness.client.get("/auth/login")).status_code == 503


async def test_session_cookie_never_holds_the_viewer_token_in_clear(board: Harness) -> None:
    import base64
    import json

    await sign_in(board, "carol")
    (token,) = [t for t, login in board.fake.user_tokens.items() if login == "carol"]
    cookie = board.client.cookies["incident_flow_session"]
    data = json.loads(base64.b64decode(cookie.split(".")[0] + "=="))
    assert data["viewer"]["login"] == "carol"
    assert token not in json.dumps(data)


async def test_sign_out_is_a_post_not_a_link(board: Harness) -> None:
    await sign_in(board, "carol")
    page = (await board.client.get("/")).text
    assert '<form class=signout method=post action="/auth/logout">' in page
    assert 'href="/auth/logout"' not in page
    # A GET (a link, an <img> on another site) shows the form and signs nobody out.
    shown = await board.client.get("/auth/logout")
    assert shown.status_code == 200 and "method=post" in shown.text
    assert "set-cookie" not in shown.headers
    assert SECRET_TITLE in (await board.client.get("/")).text
    done = await board.client.post("/auth/logout")
    assert (done.status_code, done.headers["location"]) == (303, "/")
    assert SECRET_TITLE not in (await board.client.get("/")).text
    assert "Sign in with GitHub" in (await board.client.get("/")).text


def session_cookie(response: httpx.Response) -> str:
    (cookie,) = [c for c in response.headers.get_list("set-cookie") if "incident_flow_session" in c]
    return cookie.lower()


async def test_session_cookie_is_secure_over_https(board: Harness) -> None:
    plain = await board.client.get("http://app/auth/login")
    assert "secure" not in session_cookie(plain).split("; ")
    https = await board.client.get("https://app/auth/login")
    assert "secure" in session_cookie(https).split("; ")
    assert "httponly" in session_cookie(https).split("; ")


async def test_session_cookie_is_secure_behind_a_tls_proxy(settings_for) -> None:  # type: ignore[no-untyped-def]
    """The platform's proxy terminates TLS; uvicorn trusts its X-Forwarded-Proto."""
    from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

    from app.main import create_app
    from app.sandbox.github import FakeGitHub

    app = create_app(
        settings_for(**CLIENT),
        github_transport=httpx.ASGITransport(app=FakeGitHub()),
        start_worker=False,
    )
    proxied = ProxyHeadersMiddleware(app, trusted_hosts="*")
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=proxied), base_url="http://app"
        ) as client,
    ):
        forwarded = await client.get("/auth/login", headers={"X-Forwarded-Proto": "https"})
        direct = await client.get("/auth/login")
    assert "secure" in session_cookie(forwarded).split("; ")
    assert "secure" not in session_cookie(direct).split("; ")


async def test_https_public_url_makes_the_cookie_secure_everywhere(harness_for) -> None:  # type: ignore[no-untyped-def]
    harness = await harness_for(public_url="https://incidents.example.org", **CLIENT)
    answer = await harness.client.get("http://app/auth/login")
    assert "secure" in session_cookie(answer).split("; ")
