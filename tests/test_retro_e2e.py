"""Retrospectives end to end: opened on Resolved or by /retro, completed → Reviewed."""

from app.domain.lifecycle import Status
from app.sandbox.github import FakeIssue
from tests.conftest import Harness
from tests.test_followup_e2e import REPO, SP, ST, declare, record, say, status_comment, triage

RS, RV = "status:resolved", "status:reviewed"


async def resolve(harness: Harness, number: int) -> None:
    await harness.run(harness.fake.label(REPO, number, add=[ST], remove=[SP]))
    await harness.run(harness.fake.label(REPO, number, add=[RS], remove=[ST]))
    await harness.echo()


def retros(harness: Harness, number: int) -> list[FakeIssue]:
    parent = harness.fake.issue(REPO, number)
    return [i for i in harness.fake.repo(REPO).issues.values() if i.id in parent.sub_issues]


async def test_severe_incident_gets_a_retro_on_resolved(harness: Harness) -> None:
    number = await declare(harness, 1, actor="alice")
    await resolve(harness, number)
    (retro,) = retros(harness, number)
    assert retro.title == f"Retrospective: Search is down (#{number})"
    assert retro.assignees == ["alice"]
    assert retro.parent == harness.fake.issue(REPO, number).id
    for part in ("## Summary", "## Impact", "## Timeline", "## 5 whys", "## Follow-ups"):
        assert part in retro.body
    assert "Stabilized → Resolved" in retro.body  # the timeline, filled in from the record
    assert f"| **Retrospective** | #{retro.number} |" in status_comment(harness, number)
    incident = await record(harness, number)
    assert incident.timeline[-1].detail == f"Retrospective #{retro.number} opened"
    # Echoes and another change do not open a second one.
    await harness.echo()
    await say(harness, number, "/retro", actor="alice")
    assert len(retros(harness, number)) == 1


async def test_minor_incident_gets_one_only_by_command(harness: Harness) -> None:
    triage(harness, "alice")
    number = await declare(harness, 3, actor="alice")
    await resolve(harness, number)
    assert retros(harness, number) == []
    await say(harness, number, "/retro", actor="alice")
    assert len(retros(harness, number)) == 1


async def test_retro_needs_triage(harness: Harness) -> None:
    number = await declare(harness, 3, actor="alice")
    await say(harness, number, "/retro", actor="mallory")
    assert retros(harness, number) == []


async def test_closing_the_retro_as_completed_reviews_and_closes_the_incident(
    harness: Harness,
) -> None:
    number = await declare(harness, 2, actor="alice")
    await resolve(harness, number)
    (retro,) = retros(harness, number)
    closing = harness.fake.set_state(REPO, retro.number, "closed", actor="bob", reason="completed")
    await harness.run(closing)
    incident = await record(harness, number)
    assert incident.status is Status.REVIEWED
    closed_at = harness.fake.issue(REPO, retro.number).updated_at
    assert incident.reviewed_at == closed_at.replace(microsecond=0)  # GitHub's time
    issue = harness.fake.issue(REPO, number)
    assert RV in issue.labels and RS not in issue.labels
    assert (issue.state, issue.state_reason) == ("closed", "completed")
    kinds = [(e.kind, e.actor) for e in incident.timeline[-2:]]
    assert kinds == [("status", "bob"), ("retro", "bob")]
    assert "### Incident status: Reviewed" in status_comment(harness, number)
    # The echoes, and the same delivery again, change nothing.
    writes = len(harness.fake.writes())
    await harness.echo()
    await harness.run(closing)
    assert len(harness.fake.writes()) == writes


async def test_closing_the_retro_as_not_planned_changes_nothing(harness: Harness) -> None:
    number = await declare(harness, 1, actor="alice")
    await resolve(harness, number)
    (retro,) = retros(harness, number)
    writes = len(harness.fake.writes())
    await harness.run(harness.fake.set_state(REPO, retro.number, "closed", reason="not_planned"))
    assert (await record(harness, number)).status is Status.RESOLVED
    assert harness.fake.issue(REPO, number).state == "open"
    assert len(harness.fake.writes()) == writes


async def test_retro_completed_before_resolution_is_explained(harness: Harness) -> None:
    triage(harness, "alice")
    number = await declare(harness, 3, actor="alice")
    await say(harness, number, "/retro", actor="alice")
    (retro,) = retros(harness, number)
    await harness.run(harness.fake.set_state(REPO, retro.number, "closed", reason="completed"))
    assert (await record(harness, number)).status is Status.STABILIZATION_PENDING
    assert harness.fake.issue(REPO, number).state == "open"
    assert (
        "only a Resolved incident can become Reviewed" in harness.fake.bot_replies(REPO, number)[-1]
    )


async def test_retro_not_duplicated_when_the_database_lost_it(harness: Harness) -> None:
    from sqlalchemy import update

    from app.storage.db import incident_extras

    triage(harness, "alice")
    number = await declare(harness, 3, actor="alice")
    await say(harness, number, "/retro", actor="alice")
    async with harness.services.engine.begin() as conn:
        await conn.execute(update(incident_extras).values(retro_number=None))
    await say(harness, number, "/retro", actor="alice")
    assert len(retros(harness, number)) == 1  # found again by the marker in its body


async def test_a_failed_follow_up_is_caught_up(harness: Harness) -> None:
    number = await declare(harness, 1, actor="alice")
    await harness.run(harness.fake.label(REPO, number, add=[ST], remove=[SP]))
    harness.fake.fail(
        "POST", r"/repos/octo/ops/issues$", 409
    )  # transient; the retrospective's creation
    await harness.run(harness.fake.label(REPO, number, add=[RS], remove=[ST]))
    assert retros(harness, number) == []
    assert "Incident status: Stabilized" in status_comment(harness, number)
    catch_up = harness.services.extras["catch_up"]
    assert await catch_up() == [f"{harness.fake.repo(REPO).id}#{number}"]
    await harness.backoff_passes()  # it runs in the worker, behind the failed delivery's retry
    await harness.settle()
    assert len(retros(harness, number)) == 1
    assert "Incident status: Resolved" in status_comment(harness, number)
    assert await catch_up() == []


async def test_retro_deliveries_queue_behind_their_incident(harness: Harness) -> None:
    from app.domain.payloads import Event

    number = await declare(harness, 1, actor="alice")
    await resolve(harness, number)
    (retro,) = retros(harness, number)
    ((_, payload),) = harness.fake.set_state(REPO, retro.number, "closed", reason="completed")
    key = Event.model_validate(payload).issue_key()
    assert key == f"{harness.fake.repo(REPO).id}#{number}"
