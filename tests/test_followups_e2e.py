"""Follow-ups end to end through the fake GitHub: `/followup`, the status comment's list,
a retrospective's action items, and the dashboard's open follow-ups."""

from app.sandbox.github import FakeIssue
from app.storage.followups import open_followups
from tests.conftest import Harness
from tests.test_followup_e2e import REPO, declare, record, say, status_comment, triage
from tests.test_retro_e2e import resolve, retros

FOLLOW_UP = "incident:follow-up"


def the_retro(harness: Harness, number: int) -> FakeIssue:
    (retro,) = [i for i in retros(harness, number) if FOLLOW_UP not in i.labels]
    return retro


def follow_ups(harness: Harness, number: int) -> list[FakeIssue]:
    """The incident's sub-issues labelled as follow-ups, oldest first."""
    parent = harness.fake.issue(REPO, number)
    issues = harness.fake.repo(REPO).issues.values()
    return [i for i in issues if i.id in parent.sub_issues and FOLLOW_UP in i.labels]


async def test_followup_opens_a_sub_issue_never_critical(harness: Harness) -> None:
    number = await declare(harness, 1, actor="alice")
    await say(harness, number, "/followup Alert on queue depth", actor="alice")
    (issue,) = follow_ups(harness, number)
    assert issue.title == "Alert on queue depth"
    assert issue.labels == [FOLLOW_UP]  # severity 1, and still never critical
    assert issue.via_app and f"incident #{number}" in issue.body
    incident = await record(harness, number)
    assert incident.timeline[-1].detail == f"Follow-up #{issue.number} opened"
    assert f"#### Follow-ups\n\n- #{issue.number}: open" in status_comment(harness, number)
    assert "queue depth" not in status_comment(harness, number)  # linked by number only
    assert harness.bot_comments(number) == []  # the sub-issue and the status say it all
    # The echoes, and the same comment delivered again, open nothing more.
    await harness.echo()
    (comment,) = [c for c in harness.fake.comments_on(REPO, number) if "/followup" in c.body]
    again = harness.fake.comment_payload(harness.fake.repo(REPO), comment)
    payload = harness.fake.event_payload(
        harness.fake.repo(REPO),
        "alice",
        action="created",
        issue=harness.fake.issue_payload(harness.fake.repo(REPO), harness.fake.issue(REPO, number)),
        comment=again,
    )
    await harness.run([("issue_comment", payload)])
    assert len(follow_ups(harness, number)) == 1


async def test_a_hostile_title_is_bounded_and_never_said_by_the_bot(harness: Harness) -> None:
    number = await declare(harness, 2, actor="alice")
    title = "@everyone \u202eevil\u0000 " + "x" * 160  # a line of 200 is prose, no command
    await say(harness, number, f"/followup {title}", actor="alice")
    (issue,) = follow_ups(harness, number)
    assert issue.title.startswith("@everyone evil x") and len(issue.title) <= 120
    assert "\u202e" not in issue.title and "\u0000" not in issue.title
    for body in [status_comment(harness, number), *harness.bot_comments(number)]:
        assert "@everyone" not in body and "evil" not in body


async def test_followup_needs_triage_and_a_title(harness: Harness) -> None:
    number = await declare(harness, 3, actor="alice")
    await say(harness, number, "/followup", actor="alice")
    assert "usage: `/followup TITLE`" in harness.bot_comments(number)[-1]
    await say(harness, number, "/followup Add an alert", actor="mallory")
    assert "needs triage permission" in harness.bot_comments(number)[-1]
    assert follow_ups(harness, number) == []


async def test_closing_a_follow_up_shows_in_the_status_comment(harness: Harness) -> None:
    number = await declare(harness, 2, actor="alice")
    await say(harness, number, "/followup Add an alert\n/followup Runbook entry", actor="alice")
    first, second = follow_ups(harness, number)
    await harness.run(harness.fake.set_state(REPO, first.number, "closed", actor="bob"))
    text = status_comment(harness, number)
    assert f"- #{first.number}: closed\n- #{second.number}: open" in text
    stored = await open_followups(harness.services.engine)
    assert [(f.incident_number, f.number) for f in stored] == [(number, second.number)]
    await harness.run(harness.fake.set_state(REPO, first.number, "open", actor="bob"))
    assert f"- #{first.number}: open" in status_comment(harness, number)
    assert len(await open_followups(harness.services.engine)) == 2


async def test_a_follow_up_linked_by_hand_is_not_stabilization_work(harness: Harness) -> None:
    number = await declare(harness, 1, actor="alice")  # Stabilization pending
    child = harness.fake.add_issue(REPO, title="Tune the cache", labels=[FOLLOW_UP])
    await harness.run(harness.fake.hand_add_sub_issue(REPO, number, child.number))
    assert harness.fake.issue(REPO, child.number).labels == [FOLLOW_UP]
    assert (await record(harness, number)).timeline[-1].detail == (
        f"Follow-up #{child.number} linked"
    )
    assert f"- #{child.number}: open" in status_comment(harness, number)


RETRO_ITEMS = """

## Follow-ups

- [ ] Add an alert on queue depth
- [x] Restart the workers
- [ ] Add an alert on queue depth
- [ ] #{existing}
- [ ] _a follow-up issue_
> - [ ] quoted, no action
```
- [ ] in a code block, no action
```
* [ ] Write the runbook entry

## Notes

- [ ] not under the follow-ups heading
"""


async def completed_retro(harness: Harness, number: int, items: str) -> FakeIssue:
    await resolve(harness, number)
    retro = the_retro(harness, number)
    retro.body = retro.body.split("## Follow-ups")[0] + items
    await harness.run(harness.fake.set_state(REPO, retro.number, "closed", reason="completed"))
    return retro


async def test_a_completed_retro_turns_its_unchecked_items_into_follow_ups(
    harness: Harness,
) -> None:
    number = await declare(harness, 2, actor="alice")
    await say(harness, number, "/followup Existing one", actor="alice")
    (existing,) = follow_ups(harness, number)
    retro = await completed_retro(harness, number, RETRO_ITEMS.format(existing=existing.number))
    titles = [i.title for i in follow_ups(harness, number)]
    assert titles == ["Existing one", "Add an alert on queue depth", "Write the runbook entry"]
    new = follow_ups(harness, number)[1:]
    assert all(i.labels == [FOLLOW_UP] and f"retrospective #{retro.number}" in i.body for i in new)
    incident = await record(harness, number)
    assert str(incident.status) == "reviewed"
    notes = [e.detail for e in incident.timeline if e.kind == "follow-up"]
    assert notes[1:] == [f"Follow-up #{i.number} opened" for i in new]
    text = status_comment(harness, number)
    assert all(f"- #{i.number}: open" in text for i in follow_ups(harness, number))
    # Reopened and closed again, or the same delivery again: each item opened once.
    await harness.echo()
    await harness.run(harness.fake.set_state(REPO, retro.number, "open"))
    await harness.run(harness.fake.set_state(REPO, retro.number, "closed", reason="completed"))
    assert len(follow_ups(harness, number)) == 3


async def test_the_retro_lists_the_follow_ups_opened_before_it(harness: Harness) -> None:
    number = await declare(harness, 1, actor="alice")
    await say(harness, number, "/followup Existing one", actor="alice")
    (existing,) = follow_ups(harness, number)
    await resolve(harness, number)
    retro = the_retro(harness, number)
    section = retro.body.split("## Follow-ups")[1]
    assert f"Opened so far:\n\n- #{existing.number}: open" in section
    assert "Existing one" not in retro.body


async def test_at_most_twenty_follow_ups_from_one_retro(harness: Harness) -> None:
    triage(harness, "alice")
    number = await declare(harness, 2, actor="alice")
    items = "\n## Follow-ups\n\n" + "".join(f"- [ ] Action {n}\n" for n in range(25))
    retro = await completed_retro(harness, number, items)
    assert len(follow_ups(harness, number)) == 20
    (said,) = harness.bot_comments(number)
    assert f"#{retro.number} lists 25 unchecked action items" in said


async def test_a_retro_closed_too_early_opens_no_follow_ups(harness: Harness) -> None:
    triage(harness, "alice")
    number = await declare(harness, 3, actor="alice")
    await say(harness, number, "/retro", actor="alice")
    retro = the_retro(harness, number)
    retro.body += "\n- [ ] Add an alert"
    await harness.run(harness.fake.set_state(REPO, retro.number, "closed", reason="completed"))
    assert follow_ups(harness, number) == []


async def test_the_dashboard_lists_open_follow_ups_oldest_first(harness: Harness) -> None:
    first = await declare(harness, 2, actor="alice")
    second = await declare(harness, 1, actor="alice")
    await say(harness, second, "/followup Oldest", actor="alice")
    await say(harness, first, "/followup Newer", actor="alice")
    await say(harness, second, "/followup Newest", actor="alice")
    (closed,) = [i for i in follow_ups(harness, second) if i.title == "Newest"]
    await harness.run(harness.fake.set_state(REPO, closed.number, "closed"))
    page = (await harness.client.get("/followups")).text
    assert page.index("Oldest") < page.index("Newer") and "Newest" not in page
    assert f"/incidents/{REPO}/{second}" in page
    data = (await harness.client.get("/api/followups")).json()
    assert [f["title"] for f in data["followups"]] == ["Oldest", "Newer"]
    assert [(i["number"], i["open_followups"]) for i in data["incidents"]] == [
        (second, 1),
        (first, 1),
    ]
    incident_page = (await harness.client.get(f"/incidents/{REPO}/{second}")).text
    assert "Oldest" in incident_page and "Newer" not in incident_page
    index = (await harness.client.get("/")).text
    assert "2 open follow-ups" in index


async def test_the_follow_up_label_is_renamed_by_the_config(harness: Harness) -> None:
    harness.fake.repo(REPO).files[".github/incidents.yml"] = (
        "labels:\n  follow-up: '🔁 follow-up'\n"
    )
    number = await declare(harness, 2, actor="alice")
    await say(harness, number, "/followup Add an alert", actor="alice")
    parent = harness.fake.issue(REPO, number)
    (issue,) = [i for i in harness.fake.repo(REPO).issues.values() if i.id in parent.sub_issues]
    assert issue.labels == ["🔁 follow-up"]
    assert f"- #{issue.number}: open" in status_comment(harness, number)
