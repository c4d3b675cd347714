"""Chat per repository, end to end through the fake GitHub's `.github/incidents.yml`: a Slack
bot's thread per incident (respx for Slack's Web API), a Slack webhook and a generic JSON
webhook named by environment variables, the severities heard, and config errors."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from app.domain.chat_config import Chat
from app.domain.config_file import parse_config
from app.domain.lifecycle import Severity
from app.logs import configure
from app.service.chat_post import Environment, environment_for
from app.settings import Settings
from app.storage.chat_threads import ChatThreads, Thread
from app.storage.db import create_schema
from app.storage.engine import make_engine
from tests.conftest import REPO, SP, ST, Harness

API = "https://slack.com/api"
TOKEN = "xoxb-1-2-secret"
GLOBAL = "https://hooks.slack.test/services/T0/B0/GLOBAL"
REPO_HOOK = "https://hooks.slack.test/services/T1/B1/REPO"
BRIDGE = "https://bridge.example.test/hooks/ops?key=BRIDGESECRET"
CONFIG = ".github/incidents.yml"
BOT_CONFIG = "chat:\n  slack_token: CHAT_OPS_BOT\n  channel: '#incidents'\n"


@pytest.fixture(autouse=True)
def variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHAT_OPS_BOT", TOKEN)
    monkeypatch.setenv("CHAT_OPS_SLACK", REPO_HOOK)
    monkeypatch.setenv("CHAT_OPS_BRIDGE", BRIDGE)


@pytest.fixture
async def chatty(harness_for) -> Harness:  # type: ignore[no-untyped-def]
    harness: Harness = await harness_for(slack_webhook_url=GLOBAL, github_url="https://github.com")
    return harness


class Slack:
    """Slack's Web API and the webhooks, answered locally; each thread gets its own ts."""

    def __init__(self, mock: respx.MockRouter) -> None:
        self.posted = mock.post(f"{API}/chat.postMessage").mock(side_effect=self._post)
        self.updated = mock.post(f"{API}/chat.update").mock(side_effect=self._ok)
        self.deleted = mock.post(f"{API}/chat.delete").mock(side_effect=self._ok)
        self.hooks = {
            url: mock.post(url).mock(return_value=httpx.Response(200, text="ok"))
            for url in (GLOBAL, REPO_HOOK, BRIDGE)
        }
        self.seq = 0

    def _post(self, request: httpx.Request) -> httpx.Response:
        assert request.headers["authorization"] == f"Bearer {TOKEN}"
        self.seq += 1
        return httpx.Response(200, json={"ok": True, "channel": "C0INC", "ts": f"17.{self.seq}"})

    def _ok(self, request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"ok": True})

    def bodies(self, route: respx.Route) -> list[dict[str, Any]]:
        return [json.loads(call.request.content) for call in route.calls]

    def hook_texts(self, url: str) -> list[str]:
        return [body["text"] for body in self.bodies(self.hooks[url])]


@pytest.fixture
def slack() -> Iterator[Slack]:
    with respx.mock(assert_all_called=False) as mock:
        yield Slack(mock)


async def declare(harness: Harness, severity: int = 1, title: str = "Search is down") -> int:
    issue, events = harness.fake.open_issue(
        REPO, labels=["incident", f"severity:{severity}"], title=title
    )
    await harness.run(events)
    await harness.echo()
    await harness.services.extras["chat"].drain()
    return issue.number


async def move(harness: Harness, number: int, add: str, remove: str) -> None:
    await harness.run(harness.fake.label(REPO, number, add=[add], remove=[remove]))
    await harness.echo()
    await harness.services.extras["chat"].drain()


def counted(harness: Harness, channel: str, outcome: str) -> float:
    value = harness.services.metrics.registry.get_sample_value(
        "incident_flow_chat_messages_total", {"channel": channel, "outcome": outcome}
    )
    return value or 0.0


async def test_a_bot_keeps_one_thread_per_incident(chatty: Harness, slack: Slack) -> None:
    chatty.fake.repo(REPO).files[CONFIG] = BOT_CONFIG
    number = await declare(chatty, title="<!channel> search & <@U1> down")
    (first,) = slack.bodies(slack.posted)
    assert first["channel"] == "#incidents" and "thread_ts" not in first
    assert first["unfurl_links"] is False and first["unfurl_media"] is False
    url = f"https://github.com/{REPO}/issues/{number}"
    assert (
        f"<{url}|{REPO}#{number} &lt;!channel&gt; search &amp; &lt;@U1&gt; down>" in (first["text"])
    )
    assert first["text"].count("<") == 1  # our link is the message's only markup
    assert "Status: *Stabilization pending*" in first["text"]
    threads = ChatThreads(chatty.services.engine)
    where = "slack:CHAT_OPS_BOT:#incidents"
    repo_id = chatty.fake.repo(REPO).id
    assert await threads.find(repo_id, number, where) == Thread("C0INC", "17.1")

    await move(chatty, number, ST, SP)
    (update,) = slack.bodies(slack.updated)
    assert update["channel"] == "C0INC" and update["ts"] == "17.1"
    assert "Status: *Stabilized*" in update["text"]
    reply = slack.bodies(slack.posted)[1]
    assert reply["channel"] == "C0INC" and reply["thread_ts"] == "17.1"
    assert "now Stabilized (was Stabilization pending)" in reply["text"]

    await chatty.run(chatty.fake.comment(REPO, number, "/resolved"))
    await chatty.services.extras["chat"].drain()
    assert slack.bodies(slack.updated)[-1]["text"].startswith(":white_check_mark:")
    assert "incident resolved" in slack.bodies(slack.posted)[-1]["text"]
    assert {b.get("thread_ts") for b in slack.bodies(slack.posted)[1:]} == {"17.1"}

    other = await declare(chatty, severity=2)
    assert await threads.find(repo_id, other, where) == Thread("C0INC", "17.4")
    assert "thread_ts" not in slack.bodies(slack.posted)[-1]  # its own thread
    # The repository names its own chat: the global webhook hears nothing of it.
    assert not slack.hooks[GLOBAL].called
    assert counted(chatty, "slack_bot", "sent") == 6  # 2 first messages, 2 replies, 2 edits


async def say(harness: Harness, number: int, body: str) -> None:
    await harness.run(harness.fake.comment(REPO, number, body))
    await harness.echo()
    await harness.services.extras["chat"].drain()


async def test_a_recurrence_after_the_window_begins_a_new_thread(
    chatty: Harness, slack: Slack
) -> None:
    chatty.fake.repo(REPO).files[CONFIG] = BOT_CONFIG
    number = await declare(chatty)
    for command in ("/stabilized", "/resolved"):
        await say(chatty, number, command)
    chatty.fake.tick(hours=50)
    await say(chatty, number, "/recurred")
    new = max(chatty.fake.repos[REPO].issues)
    assert new != number
    last = slack.bodies(slack.posted)[-1]
    assert "thread_ts" not in last  # the new incident's own first message
    assert f"{REPO}#{new} " in last["text"]
    threads = ChatThreads(chatty.services.engine)
    found = await threads.find(chatty.fake.repo(REPO).id, new, "slack:CHAT_OPS_BOT:#incidents")
    assert found is not None and found.ts == f"17.{slack.seq}"


async def test_threads_are_kept_once(database_url: str) -> None:
    engine = make_engine(Settings(_env_file=None, database_url=database_url).async_database_url)  # type: ignore[call-arg]
    try:
        await create_schema(engine)
        threads = ChatThreads(engine)
        assert await threads.keep(1, 7, "slack:X:C1", Thread("C1", "1.0")) == Thread("C1", "1.0")
        assert await threads.keep(1, 7, "slack:X:C1", Thread("C1", "2.0")) == Thread("C1", "1.0")
        assert await threads.find(1, 7, "slack:X:C2") is None
        assert await threads.find(1, 8, "slack:X:C1") is None
    finally:
        await engine.dispose()


async def test_a_change_waits_for_its_thread_to_begin(chatty: Harness) -> None:
    """Two changes in quick succession: the second is posted in the thread the first begins,
    even while Slack is still answering the first."""
    chatty.fake.repo(REPO).files[CONFIG] = BOT_CONFIG
    release = asyncio.Event()
    seq = 0

    async def post(request: httpx.Request) -> httpx.Response:
        nonlocal seq
        seq += 1
        if seq == 1:
            await release.wait()
        return httpx.Response(200, json={"ok": True, "channel": "C0INC", "ts": f"9.{seq}"})

    with respx.mock(assert_all_called=False) as mock:
        posted = mock.post(f"{API}/chat.postMessage").mock(side_effect=post)
        mock.post(f"{API}/chat.update").mock(return_value=httpx.Response(200, json={"ok": True}))
        issue, events = chatty.fake.open_issue(REPO, labels=["incident", "severity:1"])
        await chatty.run(events)
        await chatty.echo()
        await chatty.run(chatty.fake.label(REPO, issue.number, add=[ST], remove=[SP]))
        release.set()
        await chatty.services.extras["chat"].drain()
    bodies = [json.loads(call.request.content) for call in posted.calls]
    assert [b.get("thread_ts") for b in bodies] == [None, "9.1"]


async def test_slack_refusing_the_bot_fails_nothing(chatty: Harness) -> None:
    chatty.fake.repo(REPO).files[CONFIG] = BOT_CONFIG
    refused = httpx.Response(200, json={"ok": False, "error": "channel_not_found"})
    with respx.mock(assert_all_called=False) as mock:
        posted = mock.post(f"{API}/chat.postMessage").mock(return_value=refused)
        number = await declare(chatty)
        assert posted.call_count == 1
    threads = ChatThreads(chatty.services.engine)
    where = "slack:CHAT_OPS_BOT:#incidents"
    assert await threads.find(chatty.fake.repo(REPO).id, number, where) is None
    assert set(await chatty.services.inbox.counts()) == {"done"}
    assert SP in chatty.labels(number)
    assert counted(chatty, "slack_bot", "refused") == 1


async def test_another_instances_thread_wins(chatty: Harness, slack: Slack) -> None:
    """Two instances began a thread at once: the one kept second deletes its message and
    posts the change in the kept thread."""
    from app.domain.chat import heard
    from app.service.slack_threads import SlackThreads

    number = await declare(chatty)
    record = await chatty.record(number)
    assert record is not None
    threads = ChatThreads(chatty.services.engine)
    where = "slack:CHAT_OPS_BOT:C9"
    theirs = Thread("C0INC", "1.0")

    class Racing(ChatThreads):
        raced = False

        async def find(self, repo_id: int, number: int, destination: str) -> Thread | None:
            if self.raced:
                return await super().find(repo_id, number, destination)
            self.raced = True  # the other instance keeps its thread just after this look
            await threads.keep(repo_id, number, destination, theirs)
            return None

    said = heard(Chat(), None, record)
    assert said is not None
    sender = chatty.services.extras["chat"]
    racing = SlackThreads(sender, Racing(chatty.services.engine))
    await racing.announce(TOKEN, "C9", where, record, said, "https://example.test/1")
    assert slack.bodies(slack.deleted) == [{"channel": "C0INC", "ts": "17.1"}]
    assert slack.bodies(slack.posted)[-1]["thread_ts"] == "1.0"
    assert await threads.find(record.repo_id, number, where) == theirs


async def test_a_slack_webhook_named_by_the_repo(chatty: Harness, slack: Slack) -> None:
    chatty.fake.repo(REPO).files[CONFIG] = "chat: {slack: CHAT_OPS_SLACK}\n"
    await declare(chatty)
    (text,) = slack.hook_texts(REPO_HOOK)
    assert "Sev 1 incident recorded" in text
    assert not slack.hooks[GLOBAL].called and not slack.posted.called


async def test_a_json_webhook_for_bridges(chatty: Harness, slack: Slack) -> None:
    chatty.fake.repo(REPO).files[CONFIG] = "chat:\n  webhook: CHAT_OPS_BRIDGE\n"
    number = await declare(chatty, title="@everyone <@123> [click](https://evil.test) *now*")
    await move(chatty, number, ST, SP)
    first, second = slack.bodies(slack.hooks[BRIDGE])
    url = f"https://github.com/{REPO}/issues/{number}"
    assert first["changes"] == ["recorded"]
    assert first["incident"] == {
        "repository": REPO,
        "number": number,
        "url": url,
        "title": "@everyone <@123> [click](https://evil.test) *now*",  # data, as written
        "severity": 1,
        "status": "stabilization-pending",
        "status_name": "Stabilization pending",
        "lead": "alice",
        "managed": True,
    }
    head = first["text"].splitlines()[0]
    assert head == (
        f"Sev 1 incident recorded: {REPO}#{number} @\u2060everyone \\<@\u2060123\\> "
        "\\[click\\](https://evil.test) \\*now\\*"
    )
    assert first["text"].endswith(f"\n{url}")
    assert second["changes"] == ["now Stabilized (was Stabilization pending)"]
    assert not slack.hooks[GLOBAL].called


async def test_the_severities_heard_are_the_repos(chatty: Harness, slack: Slack) -> None:
    chatty.fake.repo(REPO).files[CONFIG] = "chat: {webhook: CHAT_OPS_BRIDGE, severities: [3]}\n"
    await declare(chatty, severity=1)
    assert not slack.hooks[BRIDGE].called
    await declare(chatty, severity=3)
    assert [b["incident"]["severity"] for b in slack.bodies(slack.hooks[BRIDGE])] == [3]


async def test_the_global_webhook_stays_the_default(chatty: Harness, slack: Slack) -> None:
    await declare(chatty, severity=3)
    assert not slack.hooks[GLOBAL].called  # Sev 1 and 2 by default
    chatty.fake.repo(REPO).files[CONFIG] = "chat: {severities: [1, 2, 3]}\n"
    chatty.services.extras["configs"].invalidate(REPO)
    await declare(chatty, severity=3)
    (text,) = slack.hook_texts(GLOBAL)
    assert "Sev 3 incident recorded" in text


async def test_an_unset_variable_is_logged_and_counted(
    chatty: Harness, slack: Slack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CHAT_OPS_BOT")
    chatty.fake.repo(REPO).files[CONFIG] = BOT_CONFIG
    number = await declare(chatty)
    assert not slack.posted.called and not slack.hooks[GLOBAL].called
    assert SP in chatty.labels(number)
    assert counted(chatty, "slack_bot", "unset") == 1


async def test_a_rate_limited_webhook_is_left_alone(chatty: Harness) -> None:
    chatty.fake.repo(REPO).files[CONFIG] = "chat: {slack: CHAT_OPS_SLACK}\n"
    limited = httpx.Response(429, headers={"retry-after": "60"})
    with respx.mock(assert_all_called=False) as mock:
        hook = mock.post(REPO_HOOK).mock(return_value=limited)
        number = await declare(chatty)
        await move(chatty, number, ST, SP)
        assert hook.call_count == 1  # the second message waits out nothing: it is dropped
    assert counted(chatty, "slack", "rate-limited") == 1
    assert counted(chatty, "slack", "held") == 1


async def test_a_url_in_the_config_is_an_error_naming_its_line(
    chatty: Harness, slack: Slack
) -> None:
    chatty.fake.repo(REPO).files[CONFIG] = (
        "recurrence_window: 48h\nchat:\n  slack: https://hooks.slack.com/services/T/B/SECRET\n"
    )
    number = await declare(chatty)
    (report,) = [b for b in chatty.bot_comments(number) if "is invalid" in b]
    assert ".github/incidents.yml:3: `chat.slack`: names the environment variable" in report
    assert "SECRET" not in report and "hooks.slack.com" not in report
    # The defaults stay in force meanwhile: the global webhook announces it.
    assert len(slack.hook_texts(GLOBAL)) == 1


@pytest.mark.parametrize(
    ("text", "line", "key", "reason"),
    [
        pytest.param(
            "chat:\n  webhook: https://bridge.test/x\n",
            2,
            "chat.webhook",
            "never the URL itself",
            id="url",
        ),
        pytest.param(
            "chat:\n  channel: C1\n  slack_token: xoxb-123\n",
            3,
            "chat.slack_token",
            "never the token itself",
            id="token",
        ),
        pytest.param(
            "chat: {slack: PRIVATE_KEY}\n", 1, "chat.slack", "starting with CHAT_", id="prefix"
        ),
        pytest.param(
            "labels: {}\nchat:\n  slack: CHAT_A\n  slack_token: CHAT_B\n  channel: C1\n",
            3,
            "chat",
            "both name Slack",
            id="two-slacks",
        ),
        pytest.param("chat:\n  slack_token: CHAT_B\n", 2, "chat", "go together", id="no-channel"),
        pytest.param(
            "chat:\n  channel: '<!here>'\n  slack_token: CHAT_B\n",
            2,
            "chat.channel",
            "a Slack channel",
            id="channel",
        ),
        pytest.param("chat:\n  severities: [4]\n", 2, "chat.severities[0]", "", id="severity"),
    ],
)
def test_chat_config_errors(text: str, line: int, key: str, reason: str) -> None:
    _config, errors = parse_config(text)
    (error,) = errors
    assert (error.line, error.key) == (line, key)
    assert reason in error.reason
    assert "xoxb" not in error.reason and "bridge.test" not in error.reason


def test_chat_config_defaults() -> None:
    chat = parse_config("")[0].chat
    assert chat == Chat() and chat.severities == (Severity.CRITICAL, Severity.MAJOR)
    assert not chat.own
    config, errors = parse_config(BOT_CONFIG)
    assert errors == () and config.chat.own and config.chat.channel == "#incidents"


def test_variables_come_from_the_environment_then_the_env_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("CHAT_FROM_FILE=https://file.test/x\nCHAT_BOTH=file\n")
    monkeypatch.setenv("CHAT_BOTH", "environment")
    env = Environment(env_file)
    assert env.get("CHAT_FROM_FILE") == "https://file.test/x"
    assert env.get("CHAT_BOTH") == "environment"
    assert env.get("CHAT_NONE") is None
    assert Environment(tmp_path / "missing").get("CHAT_FROM_FILE") is None


async def test_no_token_or_url_reaches_a_log_line(
    chatty: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    chatty.fake.repo(REPO).files[CONFIG] = BOT_CONFIG.replace(
        "chat:\n", "chat:\n  webhook: CHAT_OPS_BRIDGE\n"
    )
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    configure("DEBUG", "json")  # as the service runs, at its most talkative
    root.addHandler(caplog.handler)
    try:
        with respx.mock(assert_all_called=False) as mock:
            mock.post(f"{API}/chat.postMessage").mock(
                side_effect=httpx.ConnectError(f"Bearer {TOKEN} refused")
            )
            mock.post(BRIDGE).mock(side_effect=httpx.ConnectError(f"cannot reach {BRIDGE}"))
            number = await declare(chatty)
            await move(chatty, number, ST, SP)
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
    lines = [record.getMessage() for record in caplog.records]
    assert any("slack_bot message not delivered: ConnectError" in line for line in lines)
    assert any("webhook message not delivered: ConnectError" in line for line in lines)
    assert not [line for line in lines if "secret" in line or "BRIDGESECRET" in line]
    assert counted(chatty, "webhook", "failed") == 2


def test_the_sandbox_reads_no_chat_variable(tmp_path: Path) -> None:
    from app.sandbox.runner import sandbox_settings

    assert environment_for(sandbox_settings(tmp_path)).get("CHAT_OPS_BOT") is None
    assert Environment().get("CHAT_OPS_BOT") == TOKEN  # the service's own settings do
