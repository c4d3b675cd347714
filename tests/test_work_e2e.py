"""The critical label holds on stabilization work, end to end through the fake GitHub: put back
with one comment, one priority label per issue, and a bounded number of calls."""

import pytest

from app.github.sources import parent_number
from app.sandbox.github import FakeIssue
from tests.conftest import REPO, Harness

STAB, CRIT = "incident:stabilization", "priority:critical"
HIGH, LOW = "priority:high", "priority:low"
POLICY = f"labels:\n  priorities: [{CRIT}, {HIGH}, 'priority:medium', {LOW}]\n"


@pytest.fixture
async def h(harness: Harness) -> Harness:
    harness.fake.repo(REPO).permissions.update({"alice": "maintain", "kenji": "triage"})
    harness.fake.repo(REPO).files[".github/incidents.yml"] = POLICY
    return harness


async def say(h: Harness, number: int, body: str, actor: str = "alice") -> None:
    await h.run(h.fake.comment(REPO, number, body, actor=actor))
    await h.echo()


async def incident_with_work(h: Harness, severity: int = 1) -> tuple[int, FakeIssue]:
    number = h.fake.add_issue(REPO, title="API errors").number
    await say(h, number, f"/incident {severity}")
    await say(h, number, "/stabilize Roll back the deploy")
    (work,) = [i for i in h.fake.repo(REPO).issues.values() if i.title == "Roll back the deploy"]
    return number, work


async def test_critical_removed_from_open_work_is_put_back_with_one_comment(h: Harness) -> None:
    number, work = await incident_with_work(h)
    assert set(work.labels) == {STAB, CRIT}
    calls = len(h.fake.calls)
    await h.run(h.fake.label(REPO, work.number, remove=[CRIT], actor="kenji"))
    assert set(work.labels) == {STAB, CRIT}
    (comment,) = h.fake.bot_replies(REPO, work.number)
    assert (
        f"incident #{number}, severity 1" in comment and "put `priority:critical` back" in comment
    )
    reads = [c for c in h.fake.calls[calls:] if c.method == "GET" and "/sub_issues" in c.path]
    reads += [c for c in h.fake.calls[calls:] if c.path.endswith(f"/issues/{number}")]
    assert reads == []  # the sub-issue's read names its parent; the record is the app's
    assert len([c for c in h.fake.calls[calls:] if c.is_write]) == 2  # the label, the comment
    writes = len(h.fake.writes())
    await h.echo()
    assert len(h.fake.writes()) == writes
    assert h.bot_comments(number) == []  # nothing said on the incident itself


async def test_another_priority_over_a_critical_that_holds_goes(h: Harness) -> None:
    _, work = await incident_with_work(h, severity=2)
    # One sidebar change: critical off, high on (two deliveries, one correction).
    await h.run(h.fake.label(REPO, work.number, add=[HIGH], remove=[CRIT], actor="kenji"))
    assert set(work.labels) == {STAB, CRIT}
    (comment,) = h.fake.bot_replies(REPO, work.number)
    assert "removed `priority:high`" in comment


async def test_adding_critical_removes_the_other_priorities(h: Harness) -> None:
    _, work = await incident_with_work(h, severity=3)
    assert set(work.labels) == {STAB}  # severity 3: prioritized by hand
    await h.run(h.fake.label(REPO, work.number, add=[LOW], actor="kenji"))
    await h.run(h.fake.label(REPO, work.number, add=[CRIT], actor="kenji"))
    assert set(work.labels) == {STAB, CRIT}
    await h.run(h.fake.label(REPO, work.number, remove=[CRIT], actor="kenji"))
    assert set(work.labels) == {STAB}  # not held below severity 2
    assert h.fake.bot_replies(REPO, work.number) == []


async def test_closed_work_may_lose_its_critical_label(h: Harness) -> None:
    _, work = await incident_with_work(h)
    await h.run(h.fake.set_state(REPO, work.number, "closed", reason="completed"))
    await h.run(h.fake.label(REPO, work.number, remove=[CRIT], actor="kenji"))
    assert set(work.labels) == {STAB}


async def test_a_sub_issue_labelled_stabilization_by_hand_is_work_at_any_status(
    h: Harness,
) -> None:
    number, _ = await incident_with_work(h)
    await say(h, number, "/stabilized")
    later = h.fake.add_issue(REPO, title="Add a circuit breaker", labels=[LOW])
    await h.run(h.fake.hand_add_sub_issue(REPO, number, later.number))
    assert set(later.labels) == {LOW}  # linked while Stabilized: not work by itself
    await h.run(h.fake.label(REPO, later.number, add=[STAB], actor="kenji"))
    assert set(later.labels) == {STAB, CRIT}
    assert h.fake.bot_replies(REPO, later.number) == []  # marked, nothing undone


async def test_escalation_marks_work_critical_and_takes_other_priorities_off(h: Harness) -> None:
    number, work = await incident_with_work(h, severity=3)
    await h.run(h.fake.label(REPO, work.number, add=[HIGH], actor="kenji"))
    await say(h, number, "/severity 1")
    assert set(work.labels) == {STAB, CRIT}


async def test_ordinary_issues_cost_nothing(h: Harness) -> None:
    await incident_with_work(h)
    plain = h.fake.add_issue(REPO, title="Docs", labels=[STAB])  # under no incident
    calls = len(h.fake.calls)
    await h.run(h.fake.label(REPO, plain.number, add=["bug"]))  # not a work label: no read
    assert len(h.fake.calls) == calls
    await h.run(h.fake.label(REPO, plain.number, add=[CRIT, HIGH]))
    assert {CRIT, HIGH} <= set(plain.labels)  # no parent: not an incident's work
    other = h.fake.add_issue(REPO, title="Refactor", labels=["bug"])
    await h.run(h.fake.label(REPO, other.number, add=[HIGH]))
    assert len([c for c in h.fake.calls[calls:] if f"/issues/{other.number}" in c.path]) == 0


def test_the_parent_is_read_from_the_issue_in_the_same_repository() -> None:
    base = "https://api.github.com/repos"
    assert parent_number({"parent_issue_url": f"{base}/Octo/Ops/issues/12"}, REPO) == 12
    assert parent_number({"parent_issue_url": f"{base}/octo/other/issues/12"}, REPO) is None
    assert parent_number({"parent_issue_url": None}, REPO) is None
    assert parent_number({}, REPO) is None
    assert parent_number({"parent_issue_url": f"{base}/octo/ops/issues/{'9' * 40}"}, REPO) is None
