"""`/recurrence-of #N` end to end: the 48-hour rule applied to #N at the comment's time."""

from __future__ import annotations

import pytest

from tests.conftest import REPO, RS, RV, SP, Harness


@pytest.fixture
async def h(harness: Harness) -> Harness:
    harness.fake.repo(REPO).permissions.update({"alice": "maintain", "rita": "read"})
    return harness


async def say(h: Harness, number: int, body: str, actor: str = "alice") -> None:
    await h.run(h.fake.comment(REPO, number, body, actor=actor))
    await h.echo()


async def resolved_incident(h: Harness, severity: str = "2") -> int:
    issue = h.fake.add_issue(REPO, title="Search is down")
    await say(h, issue.number, f"/incident {severity}")
    await say(h, issue.number, "/stabilized")
    await say(h, issue.number, "/resolved")
    return issue.number


def report(h: Harness) -> int:
    """A new, plain issue: someone saw the outage again."""
    return h.fake.add_issue(REPO, title="Search broken again", user="rita").number


async def test_within_48_hours_the_incident_returns_and_the_report_is_a_duplicate(
    h: Harness,
) -> None:
    old = await resolved_incident(h)
    await h.run(h.fake.set_state(REPO, old, "closed"))  # a resolved incident may be closed
    h.fake.tick(hours=47)
    new = report(h)
    await say(h, new, f"/recurrence-of #{old}")
    assert h.labels(old) == {"incident", "severity:2", SP}
    assert h.fake.issue(REPO, old).state == "open"
    issue = h.fake.issue(REPO, new)
    assert issue.state == "closed" and issue.state_reason == "duplicate"
    assert any(f"#{new}" in c for c in h.bot_comments(old))  # linked both ways
    (answer,) = h.bot_comments(new)
    assert f"#{old}" in answer and "duplicate" in answer
    incident = await h.record(old)
    assert incident is not None and incident.status.value == "stabilization-pending"
    assert [e.kind for e in incident.timeline][-2:] == ["status", "recurred"]
    assert await h.record(new) is None  # a duplicate is not an incident
    # The status comment of #old says it is pending again.
    (status,) = h.fake.status_comments(REPO, old)
    assert "Stabilization pending" in status.body.splitlines()[0]


async def test_beyond_48_hours_the_report_becomes_a_new_incident(h: Harness) -> None:
    old = await resolved_incident(h, "2")
    h.fake.tick(hours=50)
    new = report(h)
    await say(h, new, f"/recurrence-of {old}")
    assert h.labels(old) == {"incident", "severity:2", RS}  # stays as it is
    assert h.labels(new) == {"incident", "severity:2", SP}
    assert h.fake.issue(REPO, new).state == "open"
    assert any(f"#{new}" in c and "new incident" in c for c in h.bot_comments(old))
    assert any(f"#{old}" in c for c in h.bot_comments(new))
    record = await h.record(new)
    assert record is not None and record.severity == 2 and record.status.value == SP[7:]
    assert f"#{new}" in (await h.record(old)).timeline[-1].detail
    assert len(h.fake.status_comments(REPO, new)) == 1


async def test_a_reviewed_incident_recurs_as_new_with_the_severity_given(h: Harness) -> None:
    old = await resolved_incident(h, "3")
    await say(h, old, "/reviewed")
    h.fake.tick(hours=1)
    new = report(h)
    await say(h, new, f"/recurrence-of #{old} 1")
    assert h.labels(old) == {"incident", "severity:3", RV}
    assert h.labels(new) == {"incident", "severity:1", SP}


async def test_an_incident_declared_already_is_folded_back_and_withdrawn(h: Harness) -> None:
    old = await resolved_incident(h)
    h.fake.tick(hours=2)
    new = report(h)
    await say(h, new, "/incident 2")
    await say(h, new, f"/recurrence-of #{old}")
    assert h.labels(old) == {"incident", "severity:2", SP}
    assert "incident" not in h.labels(new)
    record = await h.record(new)
    assert record is not None and not record.managed


async def test_a_redelivered_comment_changes_nothing_more(h: Harness) -> None:
    old = await resolved_incident(h)
    h.fake.tick(hours=1)
    new = report(h)
    deliveries = h.fake.comment(REPO, new, f"/recurrence-of #{old}")
    await h.run(deliveries)
    await h.echo()
    before = await h.record(old)
    comments = len(h.fake.comments_on(REPO, old)) + len(h.fake.comments_on(REPO, new))
    await h.run(deliveries)  # the same comment again, under a new delivery id
    assert await h.record(old) == before
    assert len(h.fake.comments_on(REPO, old)) + len(h.fake.comments_on(REPO, new)) == comments


@pytest.mark.parametrize(
    ("args", "answer"),
    [("#99", "not an incident"), ("", "Usage"), ("#1 7", "Usage"), ("#{new}", "itself")],
)
async def test_what_cannot_be_a_recurrence_is_answered(h: Harness, args: str, answer: str) -> None:
    old = await resolved_incident(h)
    new = report(h)
    await say(h, new, f"/recurrence-of {args.format(new=new)}".strip())
    (reply,) = h.bot_comments(new)
    assert answer in reply
    assert h.labels(old) == {"incident", "severity:2", RS}
    assert h.fake.issue(REPO, new).state == "open"


async def test_below_triage_nothing_happens(h: Harness) -> None:
    old = await resolved_incident(h)
    new = report(h)
    await say(h, new, f"/recurrence-of #{old}", actor="rita")
    assert h.labels(old) == {"incident", "severity:2", RS}
    assert h.bot_comments(new) == []  # not an incident: a stranger gets no reply
