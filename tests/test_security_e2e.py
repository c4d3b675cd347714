"""Security reports end to end through the fake GitHub: never recorded in public, pointed to
private reporting, and opened in `security.private_repo` when one is configured."""

import pytest

from app.domain.lifecycle import Status
from app.domain.records import Incident
from app.sandbox.github import FakeIssue
from tests.conftest import REPO, SP, Harness
from tests.test_followup_e2e import CONFIG, declare, say
from tests.test_issue_form import BODY

PRIVATE = "octo/ops-private"
ADVISORY = f"https://github.com/{REPO}/security/advisories/new"
SECURITY_BODY = BODY + "\n### Is this a security vulnerability?\n\nYes: report it privately\n"


async def public_record(harness: Harness, number: int) -> Incident | None:
    return await harness.services.store.load(harness.fake.repo(REPO).id, number)


def private_setup(harness: Harness) -> None:
    harness.fake.repo(PRIVATE, private=True)
    harness.fake.repo(REPO).files[CONFIG] = f"security:\n  private_repo: {PRIVATE}\n"


def private_issues(harness: Harness) -> list[FakeIssue]:
    return list(harness.fake.repo(PRIVATE).issues.values())


async def open_labelled(harness: Harness, labels: list[str], actor: str = "alice") -> int:
    issue, events = harness.fake.open_issue(REPO, labels=labels, actor=actor)
    await harness.run(events)
    await harness.echo()
    return issue.number


async def open_from_form(harness: Harness, actor: str) -> int:
    """The form's issue: its labels and the answer that it is a security vulnerability."""
    issue, opened = harness.fake.open_issue(REPO, labels=["incident"], actor=actor)
    issue.body = SECURITY_BODY
    opened[0][1]["issue"]["body"] = SECURITY_BODY
    await harness.run(opened)
    await harness.echo()
    return issue.number


def assert_kept_out(harness: Harness, number: int) -> None:
    labels = set(harness.fake.issue(REPO, number).labels)
    assert not labels & {"incident", "incident:reported", SP, "severity:1", "severity:2"}
    (reply,) = harness.bot_comments(number)
    assert ADVISORY in reply and "not recorded as a public incident" in reply
    assert harness.fake.status_comments(REPO, number) == []


async def test_a_security_labelled_incident_is_never_recorded_in_public(
    harness: Harness,
) -> None:
    number = await open_labelled(harness, ["incident", "severity:1", "security"])
    assert await public_record(harness, number) is None
    assert_kept_out(harness, number)
    assert "security" in harness.fake.issue(REPO, number).labels
    # Adding `incident` again is kept out again, without a second reply.
    await harness.run(harness.fake.label(REPO, number, add=["incident"]))
    await harness.echo()
    assert_kept_out(harness, number)


@pytest.mark.parametrize("actor", ["alice", "rita"])  # a maintainer, an outsider
async def test_the_forms_security_answer_keeps_it_private(harness: Harness, actor: str) -> None:
    number = await open_from_form(harness, actor)
    assert await public_record(harness, number) is None
    assert_kept_out(harness, number)


async def test_an_incident_marked_security_later_loses_its_public_record(
    harness: Harness,
) -> None:
    number = await declare(harness, 2, actor="alice")
    await say(harness, number, "/timeline Details of the hole", actor="alice")
    await harness.run(harness.fake.label(REPO, number, add=["security"]))
    await harness.echo()
    assert await public_record(harness, number) is None
    (status,) = harness.fake.status_comments(REPO, number)
    assert "Details of the hole" not in status.body and "Not recorded here" in status.body
    assert "incident" not in harness.fake.issue(REPO, number).labels
    assert ADVISORY in harness.bot_comments(number)[-1]
    dashboard = (await harness.client.get("/api/incidents")).json()
    assert dashboard["incidents"] == []


async def test_incident_command_on_a_security_report_refuses(harness: Harness) -> None:
    issue = harness.fake.add_issue(REPO, labels=["security"])
    await say(harness, issue.number, "/incident 1", actor="alice")
    assert await public_record(harness, issue.number) is None
    (reply,) = harness.bot_comments(issue.number)
    assert reply.startswith("@alice `/incident 1`: this looks like a security report")
    assert ADVISORY in reply
    assert harness.fake.issue(REPO, issue.number).labels == ["security"]


async def test_a_report_given_the_security_label_is_kept_private(harness: Harness) -> None:
    number = await open_labelled(harness, ["incident", "severity:1"], actor="rita")
    assert "incident:reported" in harness.fake.issue(REPO, number).labels
    await harness.run(harness.fake.label(REPO, number, add=["security"]))
    await harness.echo()
    assert "incident:reported" not in harness.fake.issue(REPO, number).labels
    assert ADVISORY in harness.bot_comments(number)[-1]


async def test_with_a_private_repo_the_incident_is_opened_there(harness: Harness) -> None:
    private_setup(harness)
    number = await open_labelled(harness, ["incident", "severity:1", "security"])
    (copy,) = private_issues(harness)
    assert copy.title == "Search is down"
    assert copy.body.startswith(
        f"Opened from a security report in a public repository: "
        f"https://github.com/{REPO}/issues/{number}"
    )
    assert set(copy.labels) == {"incident", SP, "severity:1"}
    private_id = harness.fake.repo(PRIVATE).id
    incident = await harness.services.store.load(private_id, copy.number)
    assert incident is not None and incident.repo == PRIVATE
    assert incident.status is Status.STABILIZATION_PENDING and incident.severity == 1
    assert incident.lead == "alice" and copy.assignees == ["alice"]
    assert len(harness.fake.status_comments(PRIVATE, copy.number)) == 1
    # Nothing public: no record, and the public reply names no private detail.
    assert await public_record(harness, number) is None
    assert_kept_out(harness, number)
    assert "tracked in the private repository" in harness.bot_comments(number)[0]
    # Kept out again later: the private incident is not opened twice.
    await harness.run(harness.fake.label(REPO, number, add=["incident"]))
    await harness.echo()
    assert len(private_issues(harness)) == 1
    # And it is an incident there: a command on it works.
    await harness.run(harness.fake.comment(PRIVATE, copy.number, "/stabilized"))
    assert (await harness.services.store.load(private_id, copy.number)).status is Status.STABILIZED
    (status,) = harness.fake.status_comments(PRIVATE, copy.number)  # edited, the one kept
    assert "### Incident status: Stabilized" in status.body


async def test_an_outsiders_report_stays_a_report_in_the_private_repo(harness: Harness) -> None:
    private_setup(harness)
    number = await open_from_form(harness, "rita")
    (copy,) = private_issues(harness)
    assert copy.labels == ["incident:reported"]
    assert await harness.services.store.load(harness.fake.repo(PRIVATE).id, copy.number) is None
    assert_kept_out(harness, number)


async def test_an_unreachable_private_repo_is_said_and_nothing_is_public(
    harness: Harness,
) -> None:
    private_setup(harness)
    # The App is not installed there: GitHub answers as for a repository that does not exist.
    harness.fake.fail("GET", f"^/repos/{PRIVATE}", status=404, times=10)
    number = await open_labelled(harness, ["incident", "severity:2", "security"])
    assert_kept_out(harness, number)
    assert "could not be read" in harness.bot_comments(number)[0]
    assert await public_record(harness, number) is None
    assert private_issues(harness) == []
