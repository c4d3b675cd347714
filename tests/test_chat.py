"""The global Slack webhook: which changes are worth a message (pure), and posting never
blocks nor fails an incident (respx). Per-repository chat: tests/test_chat_repos.py."""

import asyncio
import json
import logging
from dataclasses import replace
from datetime import UTC, datetime

import httpx
import pytest
import respx

from app.domain.chat import heard, slack_change
from app.domain.chat_config import Chat
from app.domain.lifecycle import Severity, Status
from app.domain.records import Incident
from app.logs import configure
from app.service.chat import slack_payload
from app.service.chat_post import Sender
from tests.conftest import Harness

HOOK = "https://hooks.slack.test/services/T0/B0/XYZ"
URL = "https://github.com/octo/ops/issues/7"
BASE = Incident(
    repo="octo/ops",
    repo_id=1,
    number=7,
    title="Search is down",
    status=Status.STABILIZATION_PENDING,
    severity=Severity.CRITICAL,
    declared_at=datetime(2026, 11, 2, 9, tzinfo=UTC),
    declared_by="alice",
    lead="bob",
)


def message_for(before: Incident | None, after: Incident, url: str) -> str | None:
    """The message the global webhook gets for one change, or None (the default `chat`)."""
    said = heard(Chat(), before, after)
    return slack_change(after, said.what, url) if said is not None else None


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        pytest.param(None, BASE, "Sev 1 incident recorded", id="recorded"),
        pytest.param(None, replace(BASE, severity=Severity.MINOR), None, id="sev3-quiet"),
        pytest.param(
            BASE,
            replace(BASE, status=Status.STABILIZED),
            "now Stabilized (was Stabilization pending)",
            id="status",
        ),
        pytest.param(
            replace(BASE, status=Status.STABILIZED),
            replace(BASE, status=Status.RESOLVED),
            ":white_check_mark: *Sev 1 incident resolved*",
            id="resolved",
        ),
        pytest.param(
            BASE,
            replace(BASE, severity=Severity.MINOR),
            "Sev 3 incident de-escalated from Sev 1 to Sev 3",
            id="de-escalated-out-of-loud",
        ),
        pytest.param(
            replace(BASE, severity=None),
            BASE,
            "escalated from no severity to Sev 1",
            id="severity-set",
        ),
        pytest.param(BASE, replace(BASE, lead="carol"), None, id="lead-only"),
        pytest.param(BASE, replace(BASE, managed=False), "withdrawn", id="withdrawn"),
    ],
)
def test_message_for(before: Incident | None, after: Incident, expected: str | None) -> None:
    text = message_for(before, after, URL)
    if expected is None:
        assert text is None
    else:
        assert text is not None and expected in text
        assert f"<{URL}|octo/ops#7 Search is down>" in text
        assert "Lead: " in text


@pytest.fixture
async def chatty(harness_for) -> Harness:  # type: ignore[no-untyped-def]
    return await harness_for(slack_webhook_url=HOOK, github_url="https://github.com")


async def drain(harness: Harness) -> None:
    await harness.services.extras["chat"].drain()


@respx.mock(assert_all_called=False)
async def test_sev1_lifecycle_is_posted(chatty: Harness, respx_mock: respx.MockRouter) -> None:
    route = respx_mock.post(HOOK).mock(return_value=httpx.Response(200, text="ok"))
    issue, events = chatty.fake.open_issue("octo/ops", labels=["incident", "severity:1"])
    await chatty.run(events)
    await chatty.echo()
    await chatty.run(
        chatty.fake.label(
            "octo/ops",
            issue.number,
            add=["status:stabilized"],
            remove=["status:stabilization-pending"],
        )
    )
    _minor, events = chatty.fake.open_issue("octo/ops", labels=["incident", "severity:3"])
    await chatty.run(events)
    await drain(chatty)
    texts = [json.loads(call.request.content)["text"] for call in route.calls]
    assert len(texts) == 2
    assert "Sev 1 incident recorded" in texts[0]
    assert f"<https://github.com/octo/ops/issues/{issue.number}|" in texts[0]
    assert "now Stabilized" in texts[1]


@pytest.mark.parametrize(
    "failure",
    [httpx.Response(500, text="no"), httpx.ConnectError("down"), httpx.ReadTimeout("slow")],
    ids=["500", "connect-error", "timeout"],
)
async def test_slack_failures_never_block_the_incident(chatty: Harness, failure: object) -> None:
    with respx.mock(assert_all_called=False) as mock:
        route = mock.post(HOOK)
        if isinstance(failure, httpx.Response):
            route.mock(return_value=failure)
        else:
            route.mock(side_effect=failure)
        issue, events = chatty.fake.open_issue("octo/ops", labels=["incident", "severity:2"])
        await chatty.run(events)
        await drain(chatty)
        assert route.called
    assert "status:stabilization-pending" in issue.labels
    record = await chatty.services.store.load(chatty.fake.repo("octo/ops").id, issue.number)
    assert record is not None and record.severity == 2
    assert (await chatty.services.inbox.counts()) == {"done": 1}


async def test_a_slow_slack_does_not_hold_the_worker(chatty: Harness) -> None:
    started, release = asyncio.Event(), asyncio.Event()

    async def slow(request: httpx.Request) -> httpx.Response:
        started.set()
        await release.wait()
        return httpx.Response(200)

    with respx.mock(assert_all_called=False) as mock:
        route = mock.post(HOOK).mock(side_effect=slow)
        _issue, events = chatty.fake.open_issue("octo/ops", labels=["incident", "severity:1"])
        await chatty.run(events)  # returns although Slack has not answered
        assert (await chatty.services.inbox.counts()) == {"done": 1}
        await asyncio.wait_for(started.wait(), 5)  # the post is under way, waiting for Slack
        assert len(chatty.services.extras["chat"]._pending) == 1
        release.set()
        await drain(chatty)
        assert route.called


async def test_no_webhook_no_chat(harness: Harness) -> None:
    with respx.mock(assert_all_called=False) as mock:
        anything = mock.route().mock(return_value=httpx.Response(200))
        _issue, events = harness.fake.open_issue("octo/ops", labels=["incident", "severity:1"])
        await harness.run(events)
        await drain(harness)
    assert not anything.called


def post(sender: Sender, text: str) -> object:
    return sender.post("slack", HOOK, slack_payload(text), hold="SLACK_WEBHOOK_URL")


def test_notifier_posts_json_text() -> None:
    async def go() -> object:
        sender = Sender()
        with respx.mock() as mock:
            route = mock.post(HOOK).mock(return_value=httpx.Response(200, text="ok"))
            answer = await post(sender, "hello")
            body = json.loads(route.calls[0].request.content)
            assert body == {"text": "hello", "unfurl_links": False, "unfurl_media": False}
        await sender.drain()
        return answer

    assert asyncio.run(go()) == {}  # Slack's plain "ok": delivered


async def test_the_message_names_the_lead_chosen_for_the_new_incident(chatty: Harness) -> None:
    from tests.test_leads import ROTATION

    chatty.fake.repo("octo/ops").files[".github/incidents.yml"] = ROTATION
    with respx.mock(assert_all_called=False) as mock:
        route = mock.post(HOOK).mock(return_value=httpx.Response(200))
        issue, events = chatty.fake.open_issue("octo/ops", labels=["incident", "severity:1"])
        await chatty.run(events)
        await drain(chatty)
    record = await chatty.services.store.load(chatty.fake.repo("octo/ops").id, issue.number)
    assert record is not None and record.lead is not None
    (call,) = route.calls
    assert f"Lead: {record.lead}" in json.loads(call.request.content)["text"]


@pytest.mark.parametrize(
    ("title", "shown"),
    [
        ("<!channel> search is down", "&lt;!channel&gt; search is down"),
        (
            "<!here|here> & <@U123> <https://evil.example|click>",
            "&lt;!here|here&gt; &amp; &lt;@U123&gt; &lt;https://evil.example|click&gt;",
        ),
        ("a > b &amp; c\n<!everyone>", "a &gt; b &amp;amp; c &lt;!everyone&gt;"),
    ],
    ids=["channel", "mentions-and-link", "entities-and-newline"],
)
def test_titles_reach_slack_as_words_not_markup(title: str, shown: str) -> None:
    text = message_for(None, replace(BASE, title=title, lead="<!channel>"), URL)
    assert text is not None
    assert f"<{URL}|octo/ops#7 {shown}>" in text
    # Our link is the only control sequence: no ping, mention or link from the title.
    assert text.count("<") == 1 and text.count(">") == 1
    assert text.count("\n") == 1  # the title stays on its line
    assert "Lead: &lt;!channel&gt;" in text


async def test_the_webhook_url_never_reaches_a_log_line(caplog: pytest.LogCaptureFixture) -> None:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    configure("DEBUG", "json")  # as the service runs, at its most talkative
    root.addHandler(caplog.handler)
    try:
        sender = Sender()
        with respx.mock() as mock:
            route = mock.post(HOOK)
            route.mock(return_value=httpx.Response(200, text="ok"))
            assert await post(sender, "delivered") is not None
            route.mock(return_value=httpx.Response(404, text="no_service"))
            assert await post(sender, "refused") is None
            route.mock(side_effect=httpx.ConnectError(f"cannot reach {HOOK}"))
            assert await post(sender, "unreachable") is None
        await sender.drain()
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
    lines = [record.getMessage() + (record.exc_text or "") for record in caplog.records]
    for record in caplog.records:
        if record.exc_info:
            lines.append(logging.Formatter().formatException(record.exc_info))
    assert not [line for line in lines if "XYZ" in line]
    assert any("not delivered: ConnectError" in line for line in lines), lines
    assert any("slack answered 404" in line for line in lines), lines
