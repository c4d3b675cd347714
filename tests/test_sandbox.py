"""The sandbox through its routes: the real service answering signed deliveries from the fake."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.domain.config_file import parse_config
from app.main import create_app
from app.sandbox.demo import PEOPLE, POLICY, REPO, Action, Refused, parse_action
from app.sandbox.runner import Sandbox
from app.settings import Settings

SP, RS = "status:stabilization-pending", "status:resolved"


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """The service with no App configured (the first `make run`), its database in tmp_path."""
    settings = Settings(_env_file=None, database_url=f"sqlite:///{tmp_path}/real.db")  # type: ignore[call-arg]
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://local") as client:
            client.app = app  # type: ignore[attr-defined]
            yield client


def sandbox_of(client: httpx.AsyncClient) -> Sandbox:
    return client.app.state.sandbox  # type: ignore[attr-defined,no-any-return]


async def act(client: httpx.AsyncClient, **form: Any) -> httpx.Response:
    response = await client.post("/sandbox/act", data={"actor": "maya", **form})
    assert response.status_code == 303, response.text
    return await client.get(response.headers["location"])


async def declared(client: httpx.AsyncClient, actor: str = "maya") -> int:
    await client.get("/sandbox")
    await act(client, action="open", title="Search is down", actor=actor)
    (number,) = sandbox_of(client).fake.repos[REPO].issues
    await act(client, action="comment", number=number, text="/incident 1", actor=actor)
    return number


async def test_declare_revert_stabilize_resolve_through_signed_webhooks(
    site: httpx.AsyncClient,
) -> None:
    page = (await site.get("/sandbox")).text
    assert "Sandbox: try Incident Flow without GitHub" in page and "demo/ops" in page
    fake = sandbox_of(site).fake
    assert {"incident", "severity:1", SP} <= set(fake.repos[REPO].labels)  # synced on install
    number = await declared(site)
    issue = fake.issue(REPO, number)
    assert {"incident", "severity:1", SP} <= set(issue.labels)
    assert len(issue.assignees) == 1  # the lead
    shown = (await site.get(f"/sandbox?issue={number}")).text
    assert "Incident status: Stabilization pending" in shown
    assert f"{issue.assignees[0]}</span>" in shown  # the assignees line

    page = (await act(site, action="label", number=number, text=RS)).text
    assert SP in issue.labels and RS not in issue.labels  # the illegal move is put back
    assert "Stabilization pending" in page and "legal" in page.lower()

    page = (await act(site, action="comment", number=number, text="/stabilize Roll back")).text
    (child,) = [i for i in fake.repos[REPO].issues.values() if i.parent == issue.id]
    assert {"incident:stabilization", "priority:critical"} <= set(child.labels)
    assert f"#{child.number} Roll back" in page

    # Resolved waits for the stabilization work: close it first.
    await act(site, action="comment", number=number, text="/stabilized")
    page = (await act(site, action="comment", number=number, text="/resolved")).text
    assert RS not in issue.labels and f"#{child.number} is still open" in page
    await act(site, action="close", number=child.number)
    await act(site, action="comment", number=number, text="/resolved")
    page = (await act(site, action="close", number=number)).text
    assert RS in issue.labels and issue.state == "closed"
    assert "Incident status: Resolved" in page

    board = await site.get("/sandbox/board/")
    assert board.status_code == 200 and "Search is down" in board.text
    assert "href='/sandbox/board/incidents/demo/ops/1'" in board.text
    assert '<a href="/sandbox">' in board.text  # the way back
    assert "='/incidents/" not in board.text and '="/api/' not in board.text
    one = await site.get("/sandbox/board/incidents/demo/ops/1")
    assert one.status_code == 200 and "Timeline" in one.text
    back = await site.get(f"/sandbox/github/demo/ops/issues/{number}")
    assert back.status_code == 303 and back.headers["location"].startswith("/sandbox?issue=")


async def test_the_outsider_is_refused_and_user_text_is_escaped(site: httpx.AsyncClient) -> None:
    await site.get("/sandbox")
    hostile = "<script>alert(1)</script>"
    await act(site, action="open", title=hostile, text="<img src=x onerror=alert(2)>")
    page = (await act(site, action="comment", number=1, text=f"{hostile}\n/incident 1")).text
    page = (await act(site, action="comment", number=1, text="/incident 1", actor="riley")).text
    assert "<script>alert" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    replies = sandbox_of(site).fake.bot_replies(REPO, 1)
    assert any("triage permission" in r for r in replies)
    assert "triage permission" in page
    assert "<!-- incident-flow" not in page  # the bot's hidden markers are not shown


async def test_policy_playground_renames_a_label_and_reports_an_invalid_file(
    site: httpx.AsyncClient,
) -> None:
    await site.get("/sandbox")
    await act(site, action="policy", text="updates: {sev1: soon}\n")
    await act(site, action="open", title="Disk full", labels="incident, severity:3")
    replies = sandbox_of(site).fake.bot_replies(REPO, 1)
    assert any(".github/incidents.yml:1" in r for r in replies), replies
    policy = "labels:\n  incident: 'ops incident'\n"
    page = (await act(site, action="policy", text=policy)).text
    assert "ops incident" in page
    await act(site, action="open", title="Queue stuck", labels="ops incident, severity:2")
    assert SP in sandbox_of(site).fake.issue(REPO, 2).labels  # recorded under the new name


async def test_the_sandbox_never_writes_the_real_database(
    site: httpx.AsyncClient, tmp_path: Path
) -> None:
    await declared(site)
    folder = sandbox_of(site).folder
    assert (folder / "sandbox.db").exists() and not folder.is_relative_to(tmp_path)
    with sqlite3.connect(tmp_path / "real.db") as real:
        for table in ("incidents", "deliveries"):
            assert real.execute(f"SELECT count(*) FROM {table}").fetchone() == (0,)
    reset = await site.post("/sandbox/reset")
    assert reset.status_code == 303 and not folder.exists()  # start over: a new world
    assert "No issues yet" in (await site.get("/sandbox")).text


async def test_refused_forms_say_why_and_change_nothing(site: httpx.AsyncClient) -> None:
    await site.get("/sandbox")
    for form, reason in [
        ({"actor": "mallory", "action": "open", "title": "x"}, "pick one"),
        ({"actor": "maya", "action": "comment", "number": "7", "text": "hi"}, "no such issue"),
        ({"actor": "maya", "action": "merge"}, "unknown action"),
        ({"actor": "maya", "action": "open", "title": "x" * 300}, "a title of 1 to 256"),
    ]:
        response = await site.post("/sandbox/act", data=form)
        assert response.status_code == 400 and reason in response.text, form
    assert not sandbox_of(site).fake.repos[REPO].issues


async def test_no_sandbox_once_an_app_is_configured(settings_for, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    app = create_app(settings_for(), start_worker=False)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://local") as client:
            for method, path in [
                ("GET", "/sandbox"),
                ("POST", "/sandbox/act"),
                ("POST", "/sandbox/reset"),
                ("GET", "/sandbox/board/"),
                ("GET", "/sandbox/github/demo/ops/issues/1"),
            ]:
                response = await client.request(method, path, data={"actor": "maya"})
                assert response.status_code == 404, path
        assert getattr(app.state, "sandbox", None) is None


def test_parse_action_bounds_every_field() -> None:
    assert parse_action({"actor": "sam", "action": "label", "number": "3", "text": " x "}, {3}) == (
        Action("label", "sam", 3, text="x")
    )
    opened = parse_action(
        {"actor": "sam", "action": "open", "title": " T ", "labels": "a, ,a,b"}, set()
    )
    assert opened.title == "T" and opened.labels == ("a", "b")
    for form in (
        {"actor": "sam", "action": "label", "number": "3", "text": "l" * 51},
        {"actor": "sam", "action": "comment", "number": "3", "text": "  "},
        {"actor": "sam", "action": "close", "number": "99999999"},
        {"actor": "sam", "action": "policy", "text": "x" * 70_000},
    ):
        with pytest.raises(Refused):
            parse_action(form, {3})


async def test_the_set_up_page_offers_the_sandbox(site: httpx.AsyncClient) -> None:
    assert 'href="/sandbox"' in (await site.get("/")).text


def test_the_demo_policy_is_valid() -> None:
    config, errors = parse_config(POLICY)
    assert not errors
    assert config.lead.maintainers == ("maya", "sam", "kenji")
    assert {p.login: p.role for p in PEOPLE}["riley"] == "read"
