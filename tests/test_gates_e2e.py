"""Resolved and Reviewed mean what they say, end to end through the fake GitHub: open
stabilization work holds Resolved, an open retrospective holds Reviewed, at a bounded cost."""

import pytest

from app.domain.lifecycle import Status
from app.sandbox.github import FakeIssue
from tests.conftest import REPO, RS, RV, SP, ST, Harness

STAB = "incident:stabilization"


@pytest.fixture
async def h(harness: Harness) -> Harness:
    harness.fake.repo(REPO).permissions.update({"alice": "maintain", "rita": "read"})
    return harness


async def say(h: Harness, number: int, body: str, actor: str = "alice") -> None:
    await h.run(h.fake.comment(REPO, number, body, actor=actor))
    await h.echo()


async def stabilized_with_work(h: Harness, severity: int = 1) -> tuple[int, FakeIssue]:
    """A stabilized incident with one open stabilization issue, opened by `/stabilize`."""
    number = h.fake.add_issue(REPO, title="API errors").number
    await say(h, number, f"/incident {severity}")
    await say(h, number, "/stabilize Roll back the deploy\n/stabilized")
    (work,) = [i for i in h.fake.repo(REPO).issues.values() if i.title == "Roll back the deploy"]
    return number, work


def sub_issue_reads(h: Harness, since: int = 0) -> int:
    return sum(
        1 for c in h.fake.calls[since:] if c.method == "GET" and c.path.endswith("/sub_issues")
    )


def retro_of(h: Harness, number: int) -> FakeIssue:
    (retro,) = [i for i in h.fake.repo(REPO).issues.values() if i.title.startswith("Retrospective")]
    return retro


async def test_resolved_by_command_waits_for_open_stabilization_work(h: Harness) -> None:
    number, work = await stabilized_with_work(h)
    calls = len(h.fake.calls)
    await say(h, number, "/resolved")
    assert h.labels(number) == {"incident", "severity:1", ST}
    assert (await h.record(number)).status is Status.STABILIZED  # type: ignore[union-attr]
    (reply,) = h.bot_comments(number)
    assert f"#{work.number} is still open" in reply and "Nothing changed" in reply
    assert "Roll back" not in reply  # named by number only, never by its title
    assert sub_issue_reads(h, calls) == 1  # one list of sub-issues, no more

    await h.run(h.fake.set_state(REPO, work.number, "closed", reason="completed"))
    await say(h, number, "/resolved")
    assert h.labels(number) == {"incident", "severity:1", RS}
    assert (await h.record(number)).status is Status.RESOLVED  # type: ignore[union-attr]


async def test_a_label_move_to_resolved_is_put_back_with_one_comment(h: Harness) -> None:
    number, work = await stabilized_with_work(h)
    await h.run(h.fake.label(REPO, number, add=[RS], remove=[ST]))
    assert h.labels(number) == {"incident", "severity:1", ST}
    (comment,) = h.bot_comments(number)
    assert f"#{work.number} is still open" in comment and f"back to `{ST}`" in comment
    writes = len(h.fake.writes())
    assert await h.echo() > 0
    assert len(h.fake.writes()) == writes  # its own echoes change nothing
    assert len(h.bot_comments(number)) == 1
    incident = await h.record(number)
    assert incident is not None and incident.timeline[-1].kind == "reverted"


async def test_work_labelled_by_hand_holds_resolved_too(h: Harness) -> None:
    number = h.fake.add_issue(REPO, title="API errors").number
    await say(h, number, "/incident 3 stabilized")
    other = h.fake.add_issue(REPO, title="Add a cache", labels=[STAB])
    await h.run(h.fake.hand_add_sub_issue(REPO, number, other.number))
    await h.echo()
    unrelated = h.fake.add_issue(REPO, title="Docs")
    await h.run(h.fake.hand_add_sub_issue(REPO, number, unrelated.number))
    await say(h, number, "/resolved")
    (reply,) = h.bot_comments(number)
    assert f"#{other.number} is still open" in reply and f"#{unrelated.number}" not in reply


async def test_reviewed_waits_for_the_retrospective_and_closing_it_still_reviews(
    h: Harness,
) -> None:
    number, work = await stabilized_with_work(h, severity=2)
    await h.run(h.fake.set_state(REPO, work.number, "closed", reason="completed"))
    await say(h, number, "/resolved")
    retro = retro_of(h, number)
    await say(h, number, "/reviewed")
    assert h.labels(number) == {"incident", "severity:2", RS}
    assert f"retrospective #{retro.number} is still open" in h.bot_comments(number)[-1]
    # The label says the same, put back.
    await h.run(h.fake.label(REPO, number, add=[RV], remove=[RS]))
    assert h.labels(number) == {"incident", "severity:2", RS}
    assert f"#{retro.number} is still open" in h.bot_comments(number)[-1]
    await h.echo()
    # The status comment says what holds it.
    (status,) = h.fake.status_comments(REPO, number)
    assert f"closing #{retro.number} as completed (`/reviewed` and the label" in status.body

    await h.run(h.fake.set_state(REPO, retro.number, "closed", reason="completed"))
    incident = await h.record(number)
    assert incident is not None and incident.status is Status.REVIEWED
    assert h.fake.issue(REPO, number).state == "closed"


async def test_a_retrospective_closed_as_not_planned_holds_nothing(h: Harness) -> None:
    number, work = await stabilized_with_work(h)
    await h.run(h.fake.set_state(REPO, work.number, "closed", reason="completed"))
    await say(h, number, "/resolved")
    retro = retro_of(h, number)
    await h.run(h.fake.set_state(REPO, retro.number, "closed", reason="not_planned"))
    await say(h, number, "/reviewed")
    assert h.labels(number) == {"incident", "severity:1", RV}


async def test_a_retrospective_unlinked_by_hand_still_holds_reviewed(h: Harness) -> None:
    number, work = await stabilized_with_work(h)
    await h.run(h.fake.set_state(REPO, work.number, "closed", reason="completed"))
    await say(h, number, "/resolved")
    retro = retro_of(h, number)
    h.fake.issue(REPO, number).sub_issues.remove(retro.id)
    await say(h, number, "/reviewed")
    assert h.labels(number) == {"incident", "severity:1", RS}
    assert f"#{retro.number} is still open" in h.bot_comments(number)[-1]


async def test_resolved_and_reviewed_in_one_comment_wait_for_the_retrospective(
    h: Harness,
) -> None:
    number = h.fake.add_issue(REPO, title="API errors").number
    await say(h, number, "/incident 1 stabilized")
    await say(h, number, "/resolved\n/reviewed")
    assert h.labels(number) == {"incident", "severity:1", RS}
    retro = retro_of(h, number)
    assert retro.state == "open"
    assert "retrospective this comment opens" in h.bot_comments(number)[-1]


async def test_without_a_retrospective_an_incident_is_reviewed_directly(h: Harness) -> None:
    number = h.fake.add_issue(REPO, title="Typo on the home page").number
    await say(h, number, "/incident 3 stabilized")
    await say(h, number, "/resolved")
    await h.run(h.fake.label(REPO, number, add=[RV], remove=[RS]))
    assert h.labels(number) == {"incident", "severity:3", RV}
    assert h.fake.issue(REPO, number).state == "closed"


async def test_sub_issues_are_read_only_for_a_move_they_may_hold(h: Harness) -> None:
    number, _ = await stabilized_with_work(h)
    calls = len(h.fake.calls)
    await h.run(h.fake.label(REPO, number, add=[SP], remove=[ST]))  # legal, never held
    await h.echo()
    await say(h, number, "/stabilized\n/help\n/timeline rolled back")
    await h.run(h.fake.label(REPO, number, add=[RV]))  # illegal from Stabilized: no read
    await h.echo()
    await say(h, number, "/resolved", actor="rita")  # below triage: refused without reading
    assert sub_issue_reads(h, calls) == 0
