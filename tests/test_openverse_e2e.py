"""A whole incident under the Openverse preset, by commands, ending in a golden status comment."""

from pathlib import Path

from app.domain.lifecycle import Status
from tests.conftest import REPO, Harness
from tests.test_status_comment import check_golden

PRESET = (Path(__file__).parent.parent / "docs" / "openverse-incidents.yml").read_text()
LABELS = {
    "pending": "🚦 incident: stabilization pending",
    "stabilized": "🚦 incident: stabilized",
    "resolved": "🚦 incident: resolved",
    "reviewed": "🚦 incident: reviewed",
}


async def say(h: Harness, number: int, body: str, actor: str) -> None:
    await h.run(h.fake.comment(REPO, number, body, actor=actor))
    await h.echo()


async def test_an_openverse_incident_from_record_to_review(harness: Harness) -> None:
    h = harness
    repo = h.fake.repo(REPO)
    repo.files[".github/incidents.yml"] = PRESET
    repo.permissions.update({"zack": "triage", "openverse-maintainer-a": "maintain"})
    # Monday 2 November 2026, 09:00 UTC: 10:00 in Berlin, the first runner's week.
    issue = h.fake.add_issue(REPO, title="Search returns no results", user="zack")
    number = issue.number
    await say(h, number, "/incident 1", actor="zack")
    assert h.labels(number) == {"🚨 incident", "🔴 severity: 1", LABELS["pending"]}
    assert issue.assignees == ["openverse-maintainer-a"]

    h.fake.tick(minutes=40)
    await say(h, number, "/stabilize Roll back the search deploy", actor="zack")
    (stabilization,) = [i for i in repo.issues.values() if i.title.startswith("Roll back")]
    assert set(stabilization.labels) == {"🧯 incident: stabilization", "🟥 priority: critical"}

    h.fake.tick(minutes=25)
    await say(h, number, "/stabilized\n/timeline Rolled back to v2.3.1", actor="zack")
    h.fake.tick(hours=20)
    # Resolved waits for the stabilization work: refused while it is open, then done.
    await say(h, number, "/resolved", actor="openverse-maintainer-a")
    assert f"#{stabilization.number} is still open" in h.bot_comments(number)[-1]
    await h.run(h.fake.set_state(REPO, stabilization.number, "closed", reason="completed"))
    await say(h, number, "/resolved", actor="openverse-maintainer-a")
    assert h.labels(number) == {"🚨 incident", "🔴 severity: 1", LABELS["resolved"]}

    (retro,) = [i for i in repo.issues.values() if i.title.startswith("Retrospective")]
    assert retro.assignees == ["openverse-maintainer-a"]
    h.fake.tick(days=2)
    await h.run(h.fake.set_state(REPO, retro.number, "closed", reason="completed"))
    await h.echo()

    incident = await h.record(number)
    assert incident is not None and incident.status is Status.REVIEWED
    assert h.labels(number) == {"🚨 incident", "🔴 severity: 1", LABELS["reviewed"]}
    assert h.fake.issue(REPO, number).state == "closed"
    (status,) = h.fake.status_comments(REPO, number)
    body = status.body.rsplit("\n\n<!--", 1)[0]
    check_golden("e2e-openverse-reviewed.md", body)
