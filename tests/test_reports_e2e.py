"""Outsiders report, maintainers declare: an outsider opening an incident pages no one."""

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
import respx

from app.domain.records import Incident
from tests.conftest import REPO, SP, ST, Harness
from tests.test_issue_form import BODY

HOOK = "https://hooks.slack.test/services/T0/B0/XYZ"
REPORTED = "incident:reported"
# A hostile title: the bot's comment must not carry any of it.
TITLE = "@everyone <!channel> see https://evil.example"
FORM_LABELS = ["incident", "severity:1"]  # as the shipped form plus a severity, as a form may


@pytest.fixture(autouse=True)
def slack() -> Iterator[respx.Route]:
    """The chat webhook, answered locally: every message the app posts is counted."""
    with respx.mock(assert_all_called=False) as mock:
        yield mock.post(HOOK).mock(return_value=httpx.Response(200, text="ok"))


@pytest.fixture
async def chatty(harness_for) -> Harness:  # type: ignore[no-untyped-def]
    harness: Harness = await harness_for(slack_webhook_url=HOOK, github_url="https://github.com")
    harness.fake.repo(REPO).permissions.update(
        {"rita": "read", "tess": "triage", "alice": "maintain"}
    )
    return harness


def permission_calls(harness: Harness) -> list[str]:
    return [c.path for c in harness.fake.calls if c.path.endswith("/permission")]


async def load(harness: Harness, number: int) -> Incident | None:
    return await harness.services.store.load(harness.fake.repo(REPO).id, number)


async def report(harness: Harness, actor: str = "rita") -> tuple[int, list[Any]]:
    """Open an issue from the form as `actor`; GitHub also sends the form labels' `labeled`."""
    issue, opened = harness.fake.open_issue(REPO, labels=FORM_LABELS, actor=actor, title=TITLE)
    issue.body = BODY
    opened[0][1]["issue"]["body"] = BODY
    # The labels a form applies arrive as `labeled` deliveries from the opener too.
    labeled = harness.fake.label(REPO, issue.number, add=FORM_LABELS, actor=actor, advance=False)
    deliveries = opened + labeled
    await harness.run(deliveries)
    await harness.echo()
    return issue.number, deliveries


async def test_an_outsiders_form_issue_is_a_report_that_pages_no_one(
    chatty: Harness, slack: respx.Route
) -> None:
    number, deliveries = await report(chatty)
    await chatty.services.extras["chat"].drain()
    assert slack.calls.call_count == 0  # no chat message

    issue = chatty.fake.issue(REPO, number)
    assert set(issue.labels) == {REPORTED}
    assert issue.assignees == []  # no lead
    assert await load(chatty, number) is None  # no record, so no follow-up
    assert chatty.fake.status_comments(REPO, number) == []
    (comment,) = chatty.bot_comments(number)
    assert "`/incident 1`" in comment and f"`{REPORTED}`" in comment
    for user_text in ("@everyone", "<!channel>", "evil", "Search returns 500"):
        assert user_text not in comment
    assert len(permission_calls(chatty)) == 1  # asked once, then cached
    reminders = chatty.services.extras["reminders"]
    assert await reminders.store.unresolved() == []
    assert await reminders.tick(chatty.fake.now + timedelta(days=3)) == []

    # Redelivered (stale payloads still carry `incident`) or edited: still a report, still
    # one comment, and the severity the form asked for is not added.
    writes = len(chatty.fake.writes())
    repo = chatty.fake.repo(REPO)
    edited = chatty.fake.event_payload(
        repo, "rita", action="edited", issue=deliveries[0][1]["issue"]
    )
    await chatty.run([*deliveries, ("issues", edited)])
    await chatty.echo()
    assert set(issue.labels) == {REPORTED}
    assert len(chatty.bot_comments(number)) == 1
    assert chatty.fake.writes()[writes:] == []
    assert await load(chatty, number) is None


async def test_a_maintainer_declares_a_report_and_the_timeline_names_the_reporter(
    chatty: Harness, slack: respx.Route
) -> None:
    number, _ = await report(chatty)
    opened_at = chatty.fake.issue(REPO, number).created_at
    await chatty.run(chatty.fake.comment(REPO, number, "/incident 2", actor="alice"))
    await chatty.echo()
    await chatty.services.extras["chat"].drain()
    assert slack.calls.call_count == 1  # now it is an incident: the team hears of it

    assert set(chatty.fake.issue(REPO, number).labels) == {"incident", "severity:2", SP}
    incident = await load(chatty, number)
    assert incident is not None and incident.managed
    assert incident.severity == 2
    assert incident.declared_by == "alice" and incident.lead == "alice"
    first, second = incident.timeline[:2]
    assert (first.kind, first.actor, first.at) == ("reported", "rita", opened_at)
    assert (second.kind, second.actor) == ("declared", "alice")
    assert len(chatty.fake.status_comments(REPO, number)) == 1
    (status,) = chatty.fake.status_comments(REPO, number)
    assert "Reported as an incident" in status.body


async def test_an_outsiders_incident_command_declares_nothing(chatty: Harness) -> None:
    number, _ = await report(chatty)
    await chatty.run(chatty.fake.comment(REPO, number, "/incident 1", actor="rita"))
    await chatty.echo()
    assert set(chatty.fake.issue(REPO, number).labels) == {REPORTED}
    assert await load(chatty, number) is None


async def test_a_maintainer_adding_the_label_by_hand_declares_a_report(chatty: Harness) -> None:
    number, _ = await report(chatty)
    asked = len(permission_calls(chatty))
    await chatty.run(chatty.fake.label(REPO, number, add=["incident", "severity:3"], actor="tess"))
    await chatty.echo()
    # Labelling someone else's issue takes triage: GitHub is not asked again.
    assert len(permission_calls(chatty)) == asked
    # The form's answers count now: it said "already stable".
    assert set(chatty.fake.issue(REPO, number).labels) == {"incident", "severity:3", ST}
    incident = await load(chatty, number)
    assert incident is not None and incident.severity == 3
    assert [e.kind for e in incident.timeline[:2]] == ["reported", "declared"]
    assert incident.timeline[0].actor == "rita"


async def test_opened_by_triage_is_an_incident_as_before(chatty: Harness) -> None:
    number, _ = await report(chatty, actor="tess")
    assert set(chatty.fake.issue(REPO, number).labels) == {"incident", "severity:1", ST}
    incident = await load(chatty, number)
    assert incident is not None and incident.declared_by == "tess"
    assert [e.kind for e in incident.timeline][:1] == ["declared"]
    assert chatty.bot_comments(number) == []
    assert len(chatty.fake.status_comments(REPO, number)) == 1


async def test_another_app_declares_without_a_permission_call(chatty: Harness) -> None:
    issue, events = chatty.fake.open_issue(REPO, labels=FORM_LABELS, actor="alerts[bot]")
    await chatty.run(events)
    await chatty.echo()
    incident = await load(chatty, issue.number)
    assert incident is not None and incident.declared_by == "alerts[bot]"
    assert set(issue.labels) == {"incident", "severity:1", SP}
    assert permission_calls(chatty) == []


async def test_renamed_reported_label_from_the_config(chatty: Harness) -> None:
    chatty.fake.repo(REPO).files[".github/incidents.yml"] = (
        "labels:\n  incident: '🚨 incident'\n  reported: '📣 reported'\n"
    )
    issue, events = chatty.fake.open_issue(REPO, labels=["🚨 incident"], actor="rita")
    await chatty.run(events)
    await chatty.echo()
    assert set(issue.labels) == {"📣 reported"}
    (comment,) = chatty.bot_comments(issue.number)
    assert "`📣 reported`" in comment


def test_reported_label_is_synced() -> None:
    from app.domain.config_file import parse_config
    from app.domain.labels import DEFAULT_LABELS

    assert REPORTED in {spec.name for spec in DEFAULT_LABELS.specs()}
    config, errors = parse_config("labels:\n  reported: 'needs triage'\n")
    assert errors == () and config.scheme.reported == "needs triage"
    assert "needs triage" in {spec.name for spec in config.scheme.specs()}


async def test_help_says_outsiders_report(chatty: Harness) -> None:
    issue, events = chatty.fake.open_issue(REPO, labels=["incident", "severity:2"])
    await chatty.run(events)
    await chatty.echo()
    await chatty.run(chatty.fake.comment(REPO, issue.number, "/help", actor="alice"))
    (reply,) = chatty.bot_comments(issue.number)
    assert f"`{REPORTED}`" in reply and "/incident N" in reply
