"""Commands that must do nothing: quoted, in code, from bots, from users without triage."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import REPO, Harness

HOSTILE = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
COMMANDS = st.sampled_from(
    [
        "/severity 1",
        "/severity 3",
        "/stabilized",
        "/resolved",
        "/recurred",
        "/lead @mallory",
        "/timeline pwned",
        "/incident 1",
        "/stabilize",
        "/retro",
    ]
)
PROSE = st.text(alphabet=st.characters(blacklist_characters="/`~>\r\n"), max_size=30)


def hidden(command: str, how: str) -> str:
    """The command where Markdown shows it as text: quoted, fenced or indented."""
    return {
        "quote": f"> {command}",
        "nested-quote": f"> > {command}",
        "backticks": f"```\n{command}\n```",
        "tildes": f"~~~sh\n{command}\n~~~",
        "indented": f"    {command}",
        "tab": f"\t{command}",
        "inline": f"please run `{command}`",
    }[how]


hidden_comments = st.lists(
    st.one_of(
        PROSE,
        st.builds(
            hidden,
            COMMANDS,
            st.sampled_from(
                ["quote", "nested-quote", "backticks", "tildes", "indented", "tab", "inline"]
            ),
        ),
    ),
    min_size=1,
    max_size=8,
).map("\n".join)


async def declared(harness: Harness) -> int:
    harness.fake.repo(REPO).permissions.update({"alice": "maintain", "rita": "read"})
    issue, events = harness.fake.open_issue(REPO, labels=["incident", "severity:2"])
    await harness.run(events)
    await harness.echo()
    return issue.number


async def snapshot(harness: Harness, number: int):  # type: ignore[no-untyped-def]
    record = await harness.services.store.load(harness.fake.repo(REPO).id, number)
    return sorted(harness.fake.issue(REPO, number).labels), record


@HOSTILE
@given(body=hidden_comments)
async def test_quoted_and_code_commands_have_no_effect(harness: Harness, body: str) -> None:
    number = await declared(harness)
    before, writes = await snapshot(harness, number), len(harness.fake.writes())
    await harness.run(harness.fake.comment(REPO, number, body, actor="alice"))
    await harness.echo()
    assert len(harness.fake.writes()) == writes, body
    assert await snapshot(harness, number) == before


@HOSTILE
@given(commands=st.lists(COMMANDS, min_size=1, max_size=4))
async def test_commands_from_bots_make_no_call_at_all(
    harness: Harness, commands: list[str]
) -> None:
    number = await declared(harness)
    before, calls = await snapshot(harness, number), len(harness.fake.calls)
    for bot in ("dependabot[bot]", "incident-flow[bot]"):
        await harness.run(harness.fake.comment(REPO, number, "\n".join(commands), actor=bot))
    assert len(harness.fake.calls) == calls
    assert await snapshot(harness, number) == before


@HOSTILE
@given(commands=st.lists(COMMANDS, min_size=1, max_size=4))
async def test_commands_without_triage_change_nothing(
    harness: Harness, commands: list[str]
) -> None:
    number = await declared(harness)
    before = await snapshot(harness, number)
    await harness.run(harness.fake.comment(REPO, number, "\n".join(commands), actor="rita"))
    await harness.echo()
    labels, record = await snapshot(harness, number)
    assert labels == before[0]
    assert record is not None and before[1] is not None
    assert (record.status, record.severity, record.lead) == (
        before[1].status,
        before[1].severity,
        before[1].lead,
    )
    assert record.timeline == before[1].timeline


async def test_lead_already_leading_is_not_pinged(harness: Harness) -> None:
    from tests.test_commands_e2e import new_incident, say

    harness.fake.repo(REPO).permissions["alice"] = "maintain"
    number = await new_incident(harness)
    await say(harness, number, "/lead @mallory\n/lead @mallory")
    (reply,) = [c for c in harness.bot_comments(number) if "already leads" in c]
    assert "@mallory" not in reply
