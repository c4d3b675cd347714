"""End to end through the fake GitHub: repo config, the lead, the status comment, commands."""

import logging
from typing import Any

import pytest

from app.domain.records import Incident
from app.sandbox.github import BOT_LOGIN
from tests.conftest import Harness
from tests.test_leads import ROTATION

REPO = "octo/ops"
CONFIG = ".github/incidents.yml"
SP, ST, RS = "status:stabilization-pending", "status:stabilized", "status:resolved"


async def declare(harness: Harness, severity: int = 1, *, actor: str = "zed") -> int:
    # Only a maintainer declares by opening an issue labelled `incident`.
    harness.fake.repo(REPO).permissions.setdefault(actor, "triage")
    issue, events = harness.fake.open_issue(
        REPO, labels=["incident", f"severity:{severity}"], actor=actor
    )
    await harness.run(events)
    await harness.echo()
    return issue.number


async def record(harness: Harness, number: int) -> Incident:
    incident = await harness.services.store.load(harness.fake.repo(REPO).id, number)
    assert incident is not None
    return incident


async def say(harness: Harness, number: int, body: str, actor: str = "alice") -> None:
    await harness.run(harness.fake.comment(REPO, number, body, actor=actor))
    await harness.echo()


def status_comment(harness: Harness, number: int) -> str:
    (comment,) = harness.fake.status_comments(REPO, number)
    return comment.body


def triage(harness: Harness, *logins: str) -> None:
    for login in logins:
        harness.fake.repo(REPO).permissions[login] = "triage"


def content_calls(harness: Harness) -> list[int]:
    return [c.status for c in harness.fake.calls if c.path.endswith("/contents/" + CONFIG)]


# The lead ----------------------------------------------------------------------------


async def test_without_config_the_recorder_leads_and_is_assigned(harness: Harness) -> None:
    number = await declare(harness, actor="zed")
    assert (await record(harness, number)).lead == "zed"
    assert harness.fake.issue(REPO, number).assignees == ["zed"]
    assert "| **Lead** | @zed |" in status_comment(harness, number)


async def test_the_rotation_runner_on_duty_leads(harness: Harness) -> None:
    harness.fake.repo(REPO).files[CONFIG] = ROTATION
    # The fake's clock: Monday 2 November 2026, 09:00 UTC, 10:00 in Berlin.
    number = await declare(harness, actor="zed")
    incident = await record(harness, number)
    assert incident.lead == "alice"
    assert harness.fake.issue(REPO, number).assignees == ["alice"]
    lead_entry = next(e for e in incident.timeline if e.kind == "lead")
    assert lead_entry.at == incident.declared_at  # GitHub's time of the recording
    assert "support rotation runner on duty" in lead_entry.detail


async def test_off_hours_the_least_recent_maintainer_leads_from_history(harness: Harness) -> None:
    harness.fake.repo(REPO).files[CONFIG] = ROTATION
    harness.fake.tick(hours=14)  # 23:00 UTC: midnight in Berlin, 18:00 in New York
    leads = [(await record(harness, await declare(harness))).lead for _ in range(3)]
    assert leads == ["carol", "dave", "carol"]


async def test_lead_command_hands_over_and_is_on_the_timeline(harness: Harness) -> None:
    triage(harness, "alice", "carol")
    number = await declare(harness, actor="alice")
    await say(harness, number, "/lead @bob", actor="alice")
    incident = await record(harness, number)
    assert incident.lead == "bob"
    assert harness.fake.issue(REPO, number).assignees == ["bob"]
    assert incident.timeline[-1].kind == "lead" and incident.timeline[-1].detail == (
        "Lead: alice → bob"
    )
    await say(harness, number, "/lead", actor="carol")
    assert (await record(harness, number)).lead == "carol"
    assert harness.fake.issue(REPO, number).assignees == ["carol"]
    assert "| **Lead** | @carol |" in status_comment(harness, number)


async def test_lead_command_needs_triage_and_a_login(harness: Harness) -> None:
    triage(harness, "alice")
    number = await declare(harness, actor="alice")
    await say(harness, number, "/lead @mallory", actor="mallory")
    await say(harness, number, "/lead two people", actor="alice")
    assert (await record(harness, number)).lead == "alice"
    replies = harness.fake.bot_replies(REPO, number)
    assert "needs triage permission" in replies[0]
    assert "usage: `/lead @user`" in replies[1]


# The status comment --------------------------------------------------------------------


async def test_one_status_comment_edited_in_place(harness: Harness) -> None:
    triage(harness, "alice")
    number = await declare(harness, actor="alice")
    (first,) = harness.fake.status_comments(REPO, number)
    await harness.run(harness.fake.label(REPO, number, add=[ST], remove=[SP]))
    await say(harness, number, "/timeline Rolled back the deploy", actor="alice")
    (comment,) = harness.fake.status_comments(REPO, number)
    assert comment.id == first.id
    assert "### Incident status: Stabilized" in comment.body
    assert "Note: Rolled back the deploy" in comment.body
    assert "| **Time to stabilize** | " in comment.body
    assert (await record(harness, number)).timeline[-1].kind == "note"


async def test_timeline_without_text_gets_usage(harness: Harness) -> None:
    triage(harness, "alice")
    number = await declare(harness, actor="alice")
    await say(harness, number, "/timeline", actor="alice")
    assert "usage: `/timeline" in harness.fake.bot_replies(REPO, number)[-1]


@pytest.mark.parametrize("how", ["edited", "deleted"])
async def test_hand_edited_or_deleted_status_comment_is_rebuilt(harness: Harness, how: str) -> None:
    number = await declare(harness, actor="alice")
    (comment,) = harness.fake.status_comments(REPO, number)
    original = comment.body
    body = None if how == "deleted" else "I rewrote this"
    await harness.run(harness.fake.edit_comment(REPO, comment.id, body, actor="mallory"))
    (rebuilt,) = harness.fake.status_comments(REPO, number)
    assert rebuilt.body == original
    assert (rebuilt.id == comment.id) == (how == "edited")


async def test_status_comment_found_again_when_the_database_forgot_it(harness: Harness) -> None:
    from sqlalchemy import delete

    from app.storage.db import incident_extras

    number = await declare(harness, actor="alice")
    async with harness.services.engine.begin() as conn:
        await conn.execute(delete(incident_extras))
    await harness.run(harness.fake.label(REPO, number, add=[ST], remove=[SP]))
    (comment,) = harness.fake.status_comments(REPO, number)
    assert "Incident status: Stabilized" in comment.body


# The repo config -------------------------------------------------------------------------


async def test_renamed_labels_from_the_config(harness: Harness) -> None:
    harness.fake.repo(REPO).files[CONFIG] = (
        "labels:\n  incident: '🚨 incident'\n  stabilization-pending: '🚦 pending'\n"
    )
    issue, events = harness.fake.open_issue(REPO, labels=["🚨 incident", "severity:2"])
    await harness.run(events)
    assert "🚦 pending" in harness.fake.issue(REPO, issue.number).labels


async def test_config_cached_then_checked_with_its_etag(harness_for: Any) -> None:
    harness: Harness = await harness_for(config_ttl_seconds=0)
    harness.fake.repo(REPO).files[CONFIG] = ROTATION
    await declare(harness)
    await declare(harness)
    statuses = content_calls(harness)
    # One look per decision: the first reads the file, the next asks with its ETag.
    assert statuses == [200, 304]


async def test_config_read_once_within_its_lifetime(harness: Harness) -> None:
    harness.fake.repo(REPO).files[CONFIG] = ROTATION
    await declare(harness)
    await declare(harness)
    assert content_calls(harness) == [200]


async def test_a_push_touching_the_config_makes_it_read_again(harness: Harness) -> None:
    await declare(harness)
    assert content_calls(harness) == [404]
    await harness.run(harness.fake.push_file(REPO, "README.md", "hello"))
    await declare(harness)
    assert content_calls(harness) == [404]  # an unrelated push changes nothing
    await harness.run(harness.fake.push_file(REPO, CONFIG, "labels:\n  incident: 'ops incident'\n"))
    issue, events = harness.fake.open_issue(REPO, labels=["ops incident", "severity:2"])
    await harness.run(events)
    assert content_calls(harness) == [404, 200]
    assert (await record(harness, issue.number)).severity == 2


async def test_invalid_config_is_said_once_per_version(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    harness.fake.repo(REPO).files[CONFIG] = ROTATION.replace("America/New_York", "Mars/Base")
    with caplog.at_level(logging.WARNING):
        first = await declare(harness)
        second = await declare(harness)
    reports = [b for b in harness.fake.bot_replies(REPO, first) if "is invalid" in b]
    assert len(reports) == 1
    assert ".github/incidents.yml:10: `lead.rotation.runners[1].timezone`" in reports[0]
    assert not [b for b in harness.fake.bot_replies(REPO, second) if "is invalid" in b]
    assert any("Mars/Base" in r.getMessage() for r in caplog.records)
    # The defaults apply meanwhile: no config means the recorder leads.
    assert (await record(harness, first)).lead == "zed"
    # A new broken version is reported again, on the next incident touched.
    await harness.run(harness.fake.push_file(REPO, CONFIG, "updates: {sev1: soon}\n"))
    third = await declare(harness)
    (report,) = [b for b in harness.fake.bot_replies(REPO, third) if "is invalid" in b]
    assert "`updates.sev1`" in report


async def test_own_assignment_echoes_change_nothing(harness: Harness) -> None:
    number = await declare(harness)
    assert harness.fake.issue(REPO, number).assignees == ["zed"]
    writes = len(harness.fake.writes())
    assert await harness.echo() == 0
    await harness.run(harness.fake.label(REPO, number, add=["bug"]))
    assert len(harness.fake.writes()) == writes
    assert any(c.user == BOT_LOGIN for c in harness.fake.comments_on(REPO, number))


async def test_recurrence_window_from_the_config(harness: Harness) -> None:
    harness.fake.repo(REPO).files[CONFIG] = "recurrence_window: 2h\n"
    triage(harness, "alice")
    number = await declare(harness, 3, actor="alice")
    for command in ("/stabilized", "/resolved"):
        await say(harness, number, command, actor="alice")
    harness.fake.tick(hours=3)  # within 48 hours, but past this repo's 2
    await say(harness, number, "/recurred", actor="alice")
    assert (await record(harness, number)).status.value == "resolved"
    assert len(harness.incident_issues()) == 2  # a new incident


async def test_a_move_costs_one_comment_edit_and_no_config_read(harness: Harness) -> None:
    number = await declare(harness)
    start = len(harness.fake.calls)
    await harness.run(harness.fake.label(REPO, number, add=[ST], remove=[SP]))
    calls = [(c.method, c.path) for c in harness.fake.calls[start:]]
    writes = [c for c in calls if c[0] != "GET"]
    assert writes == [("PATCH", f"/repos/{REPO}/issues/comments/{status_comment_id(harness)}")]
    assert not [c for c in calls if "/contents/" in c[1]]


def status_comment_id(harness: Harness) -> int:
    (comment,) = harness.fake.status_comments(REPO, 1)
    return comment.id


async def test_config_unreadable_means_defaults_and_outages_use_the_cache(
    harness_for: Any,
) -> None:
    harness: Harness = await harness_for(config_ttl_seconds=0)
    harness.fake.fail("GET", r"/contents/", 403, times=1)  # no contents permission
    number = await declare(harness, actor="zed")
    assert (await record(harness, number)).lead == "zed"
    harness.fake.repo(REPO).files[CONFIG] = "labels:\n  incident: 'ops incident'\n"
    await declare(harness)  # read now: the renamed label applies
    harness.fake.fail("GET", r"/contents/", 503, times=100)
    issue, events = harness.fake.open_issue(REPO, labels=["ops incident", "severity:2"])
    await harness.run(events)
    assert (await record(harness, issue.number)).severity == 2  # the cached config held
    harness.fake.faults.clear()


async def test_a_failed_assignment_is_caught_up(harness: Harness) -> None:
    harness.fake.fail("POST", r"/assignees$", 409)  # transient: a 422 would be dead at once
    number = await declare(harness, actor="zed")
    assert harness.fake.issue(REPO, number).assignees == []
    await harness.services.extras["catch_up"]()
    await harness.backoff_passes()
    await harness.settle()
    assert harness.fake.issue(REPO, number).assignees == ["zed"]
    assert (await record(harness, number)).lead == "zed"
