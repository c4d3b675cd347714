"""Hostile comments and bodies: linear parsing, and a bounded number of calls and replies."""

from __future__ import annotations

import time
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import app.service.comment_routes
import app.web.metrics
from app.domain.commands import MAX_COMMAND_LINE, parse_commands
from app.domain.issue_form import form_answers
from app.domain.plan import PostComment
from app.github.apply import apply_plan
from tests.conftest import REPO, Harness

# Parsing a 64 KiB line takes microseconds when linear; the old regexes took seconds.
PARSE_BOUND = 0.05
LONG_LINES = [
    "/a b" + " " * 60_000 + "b",
    "/help" + " " * 65_530 + "x",
    "/" + "a" * 65_535,
    "/a\t" + "\t " * 32_000 + "b",
    " " * 65_536,
]


@pytest.fixture
async def h(harness: Harness) -> Harness:
    repo = harness.fake.repo(REPO)
    repo.permissions.update({"alice": "maintain", "tess": "triage", "rita": "read"})
    return harness


async def incident(h: Harness) -> int:
    issue = h.fake.add_issue(REPO, title="API errors")
    await h.run(h.fake.comment(REPO, issue.number, "/incident 2", actor="alice"))
    await h.echo()
    return issue.number


async def comment(h: Harness, number: int, body: str, actor: str) -> tuple[int, list[str]]:
    """Deliver one comment; the calls it cost GitHub, and the bot's new replies."""
    calls, replies = len(h.fake.calls), len(h.bot_comments(number))
    await h.run(h.fake.comment(REPO, number, body, actor=actor))
    spent = len(h.fake.calls) - calls
    await h.echo()  # our own comments come back: they cost nothing more
    return spent, h.bot_comments(number)[replies:]


def listings(h: Harness, since: int) -> int:
    return sum(
        1 for c in h.fake.calls[since:] if c.method == "GET" and c.path.endswith("/comments")
    )


# Linear parsing --------------------------------------------------------------------------


@pytest.mark.parametrize("line", LONG_LINES, ids=range(len(LONG_LINES)))
def test_a_64k_line_parses_in_linear_time(line: str) -> None:
    for body in (line, f"text\n{line}\n/help", "### " + line[1:]):
        started = time.perf_counter()
        parse_commands(body)
        form_answers(body)
        assert time.perf_counter() - started < PARSE_BOUND


def test_form_heading_with_a_long_space_run_parses_fast_and_right() -> None:
    body = "### Severity" + " " * 60_000 + "\n\n2\n\n### a" + " " * 60_000 + "b\n\nno"
    started = time.perf_counter()
    answers = form_answers(body)
    assert time.perf_counter() - started < PARSE_BOUND
    assert answers["severity"] == "2"
    assert answers["a" + " " * 60_000 + "b"] == "no"


def test_a_line_longer_than_the_limit_is_not_a_command() -> None:
    fits = "/timeline " + "x" * (MAX_COMMAND_LINE - len("/timeline "))
    assert [c.name for c in parse_commands(fits)] == ["timeline"]
    assert parse_commands(fits + "x") == []
    assert parse_commands("/severity 1" + " " * 300 + "2") == []


def test_thousands_of_lines_parse_in_linear_time() -> None:
    body = "\n".join(["/help", " " * 500, "> /resolved", "```", "/x", "```"] * 5_000)
    started = time.perf_counter()
    commands = parse_commands(body)
    assert time.perf_counter() - started < 20 * PARSE_BOUND
    assert len(commands) == 5_000


# Bounded replies ---------------------------------------------------------------------------


@pytest.mark.parametrize("lines", [40, 250])
async def test_help_flood_from_a_reader_on_a_plain_issue_is_silent(h: Harness, lines: int) -> None:
    issue = h.fake.add_issue(REPO)
    spent, replies = await comment(h, issue.number, "/help\n" * lines, actor="rita")
    assert replies == []
    assert spent <= 3  # the installation token and one permission answer, at most
    assert not [c for c in h.fake.calls if c.path.endswith(f"/issues/{issue.number}")]


async def test_any_command_from_a_reader_on_a_plain_issue_is_silent(h: Harness) -> None:
    issue = h.fake.add_issue(REPO)
    body = "/incident 1\n/severity 2\n/lead @rita\n/resolved"
    spent, replies = await comment(h, issue.number, body, actor="rita")
    assert replies == [] and spent <= 3
    assert h.fake.comments_on(REPO, issue.number)[-1].user == "rita"
    assert await h.record(issue.number) is None


@pytest.mark.parametrize("lines", [40, 250])
async def test_help_flood_from_triage_on_an_incident_gets_one_reply(h: Harness, lines: int) -> None:
    number = await incident(h)
    before = len(h.fake.calls)
    spent, replies = await comment(h, number, "/help\n" * lines, actor="tess")
    (reply,) = replies
    assert reply.count("| command |") == 1  # the table, once
    assert f"{lines - 10} more commands ignored" in reply
    assert spent <= 8
    assert listings(h, before) == 1


async def test_fifteen_commands_run_ten_and_say_the_rest_were_ignored(h: Harness) -> None:
    number = await incident(h)
    body = "\n".join(f"/timeline step {i}" for i in range(15))
    spent, replies = await comment(h, number, body, actor="alice")
    notes = [e.detail for e in (await h.record(number)).timeline if e.kind == "note"]
    assert notes == [f"step {i}" for i in range(10)]
    (reply,) = replies
    assert "5 more commands ignored" in reply and "at most 10" in reply
    assert spent <= 12


async def test_many_answers_make_one_reply_listed_once(h: Harness) -> None:
    number = await incident(h)
    before = len(h.fake.calls)
    body = "/severity 9\n/stabilize\n/timeline\n/lead a b\n/help\n/resolved"
    _, replies = await comment(h, number, body, actor="alice")
    (reply,) = replies
    for shown in ("`/severity 9`", "`/stabilize`", "`/timeline`", "`/lead a b`", "`/resolved`"):
        assert shown in reply
    assert listings(h, before) == 1


async def test_replies_never_repeat_mentions_links_or_markdown(h: Harness) -> None:
    number = await incident(h)
    hostile = "@someone http://evil.example/x www.evil.example `**bold**` [a](b) <b>"
    body = f"/severity {hostile}\n/lead {hostile}\n/help {hostile}"
    _, replies = await comment(h, number, body, actor="alice")
    _, refused = await comment(h, number, f"/resolved {hostile}", actor="rita")
    for reply in [*replies, *refused]:
        for bad in ("@someone", "http", "evil", "`**", "[a]", "<b>"):
            assert bad not in reply, (bad, reply)
    (reply,) = refused
    assert reply.startswith("@rita") and "`/resolved someone bold ab b`" in reply


async def test_a_long_argument_is_cut_short_in_the_reply(h: Harness) -> None:
    number = await incident(h)
    _, (reply,) = await comment(h, number, "/severity " + "x" * 150, actor="alice")
    assert "x" * 41 not in reply and "x" * 40 + "..." in reply


async def test_help_answered_once_per_issue_per_ten_minutes(h: Harness) -> None:
    number = await incident(h)
    _, first = await comment(h, number, "/help\n/help", actor="rita")
    assert len(first) == 1 and first[0].count("| command |") == 1
    h.fake.tick(minutes=5)
    spent, again = await comment(h, number, "/help", actor="rita")
    assert again == [] and spent <= 4
    h.fake.tick(minutes=6)
    _, later = await comment(h, number, "/help", actor="rita")
    assert len(later) == 1


async def test_a_pasted_help_mark_does_not_silence_help(h: Harness) -> None:
    number = await incident(h)
    await comment(h, number, "<!-- incident-flow:help-given -->", actor="rita")
    _, replies = await comment(h, number, "/help", actor="rita")
    assert len(replies) == 1


async def test_a_redelivered_flood_posts_nothing_more(h: Harness) -> None:
    number = await incident(h)
    deliveries = h.fake.comment(REPO, number, "/help\n/severity 7\n" * 20, actor="tess")
    for _ in range(3):
        await h.send(deliveries)  # GitHub may send the same comment under new delivery ids
        await h.settle()
    assert len(h.bot_comments(number)) == 1


async def test_the_look_first_check_lists_comments_once_per_plan(h: Harness) -> None:
    number = await incident(h)
    client = h.services.github.installation(h.fake.installation_id)  # type: ignore[union-attr]
    plan = tuple(PostComment(key=f"k{i}", body=f"answer {i}", look_first=True) for i in range(5))
    before = len(h.fake.calls)
    await apply_plan(client, REPO, number, plan, retrying=True)
    assert listings(h, before) == 1
    before = len(h.fake.calls)
    await apply_plan(client, REPO, number, plan, retrying=True)  # all found: none posted again
    assert listings(h, before) == 1
    assert sum(1 for c in h.fake.comments_on(REPO, number) if "answer" in c.body) == 5


async def test_metrics_count_commands_from_the_one_parse(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []

    def counting(body: str | None) -> Any:
        calls.append(1)
        return parse_commands(body)

    monkeypatch.setattr(app.service.comment_routes, "parse_commands", counting)
    monkeypatch.setattr(app.web.metrics, "parse_commands", counting, raising=False)
    number = await incident(h)
    calls.clear()
    await h.run(h.fake.comment(REPO, number, "/help\n/severity 3", actor="alice"))
    assert len(calls) == 1
    text = (await h.client.get("/metrics")).text
    assert 'incident_flow_commands_total{name="help",outcome="applied"} 1.0' in text
    assert 'incident_flow_commands_total{name="severity",outcome="applied"} 1.0' in text


# Property: whatever the comment, its cost is bounded ---------------------------------------

HOSTILE = settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
LINES = st.sampled_from(
    [
        "/help",
        "/severity 1",
        "/severity @x http://y",
        "/stabilized",
        "/timeline note",
        "/lead @mallory",
        "/recurred",
        "/incident 3",
        "plain words",
        "> /resolved",
        "```",
    ]
)


@HOSTILE
@given(
    line=LINES,
    repeat=st.integers(min_value=1, max_value=3_000),
    spaces=st.integers(min_value=0, max_value=70_000),
    actor=st.sampled_from(["rita", "tess"]),
    declared=st.booleans(),
)
async def test_any_comment_costs_a_bounded_number_of_calls_and_replies(
    h: Harness, line: str, repeat: int, spaces: int, actor: str, declared: bool
) -> None:
    number = await incident(h) if declared else h.fake.add_issue(REPO).number
    body = "\n".join([line] * repeat) + "\n/a b" + " " * spaces + "b\n" + "\n" * repeat
    started = time.perf_counter()
    spent, replies = await comment(h, number, body, actor=actor)
    assert len(replies) <= 1
    assert spent <= 40
    assert time.perf_counter() - started < 10  # the whole delivery, with its database work
    if actor == "rita" and not declared:
        assert replies == [] and spent <= 3
    for reply in replies:
        assert "http" not in reply and "@x" not in reply and "@mallory" not in reply
        assert len(reply) < 4_000


@HOSTILE
@given(
    spaces=st.integers(min_value=0, max_value=70_000),
    repeat=st.integers(min_value=1, max_value=3_000),
    answer=st.sampled_from(["2", "No", "1 " + "x" * 300, "", "### Severity"]),
)
async def test_any_issue_form_body_costs_a_bounded_number_of_calls(
    h: Harness, spaces: int, repeat: int, answer: str
) -> None:
    issue, events = h.fake.open_issue(REPO, labels=["incident"], actor="alice")
    long_heading = "### a" + " " * spaces + "b"
    issue.body = "\n".join(
        [
            "### Severity" + " " * spaces,
            "",
            answer,
            long_heading,
            *(["### Severity", answer] * repeat),
        ]
    )
    calls = len(h.fake.calls)
    started = time.perf_counter()
    await h.run(events)
    assert time.perf_counter() - started < 10
    assert len(h.fake.calls) - calls <= 25
    assert len(h.bot_comments(issue.number)) <= 1
    await h.echo()
    assert len(h.bot_comments(issue.number)) <= 1


@settings(max_examples=200, deadline=None)
@given(
    parts=st.lists(
        st.one_of(
            st.sampled_from(["/help", "/severity 1", "### Severity", "```", "> /resolved", "\t"]),
            st.integers(min_value=0, max_value=5_000).map(lambda n: " " * n),
            st.text(max_size=20),
        ),
        max_size=50,
    ),
    joiner=st.sampled_from(["\n", "", " ", "\r\n", "\u2028"]),
)
def test_the_parsers_take_any_text_quickly(parts: list[str], joiner: str) -> None:
    body = joiner.join(parts)
    started = time.perf_counter()
    commands = parse_commands(body)
    form_answers(body)
    assert time.perf_counter() - started < PARSE_BOUND
    assert all(len(c.text) <= MAX_COMMAND_LINE for c in commands)
