"""Slash commands end to end: every command, permissions, sub-issues, recurrence, closing."""

from datetime import timedelta

import pytest

from tests.conftest import REPO, RS, RV, SP, ST, UI, Harness

CRITICAL, STAB = "priority:critical", "incident:stabilization"


@pytest.fixture
async def h(harness: Harness) -> Harness:
    repo = harness.fake.repo(REPO)
    repo.permissions.update({"alice": "maintain", "tess": "triage", "rita": "read"})
    return harness


async def say(h: Harness, number: int, body: str, actor: str = "alice") -> None:
    await h.run(h.fake.comment(REPO, number, body, actor=actor))
    await h.echo()


async def new_incident(h: Harness, args: str = "1") -> int:
    issue = h.fake.add_issue(REPO, title="API errors")
    await say(h, issue.number, f"/incident {args}")
    return issue.number


async def test_incident_command_records_labels_and_time(h: Harness) -> None:
    number = await new_incident(h, "2")
    assert h.labels(number) == {"incident", "severity:2", SP}
    incident = await h.record(number)
    assert incident.severity == 2 and incident.status.value == "stabilization-pending"
    comment = h.fake.comments_on(REPO, number)[0]
    assert incident.declared_at == comment.created_at  # GitHub's time, not the worker's


async def test_incident_already_stabilized(h: Harness) -> None:
    number = await new_incident(h, "3 stabilized")
    assert h.labels(number) == {"incident", "severity:3", ST}
    assert (await h.record(number)).stabilized_at is not None


async def test_incident_without_severity_asks_for_it(h: Harness) -> None:
    number = await new_incident(h, "")
    assert h.labels(number) == {"incident", SP}
    assert "no severity yet" in h.bot_comments(number)[0]
    await say(h, number, "/severity 1")
    assert h.labels(number) == {"incident", "severity:1", SP}


async def test_status_commands_walk_the_lifecycle_and_reviewed_closes(h: Harness) -> None:
    # Severity 3: no retrospective is opened, so nothing holds Reviewed.
    number = await new_incident(h, "3")
    for command, label in [("/stabilized", ST), ("/investigating", UI), ("/resolved", RS)]:
        await say(h, number, command)
        assert h.labels(number) == {"incident", "severity:3", label}
    await say(h, number, "/reviewed")
    assert h.labels(number) == {"incident", "severity:3", RV}
    assert h.fake.issue(REPO, number).state == "closed"
    incident = await h.record(number)
    assert [e.kind for e in incident.timeline].count("status") == 4
    assert h.bot_comments(number) == []


async def test_several_commands_in_one_comment_run_in_order(h: Harness) -> None:
    issue = h.fake.add_issue(REPO)
    await say(h, issue.number, "/incident 1\n/stabilized\n> /resolved\n```\n/resolved\n```")
    assert h.labels(issue.number) == {"incident", "severity:1", ST}


async def test_illegal_command_changes_nothing_and_names_legal_moves(h: Harness) -> None:
    number = await new_incident(h)
    await say(h, number, "/resolved")
    assert h.labels(number) == {"incident", "severity:1", SP}
    (reply,) = h.bot_comments(number)
    assert "not a legal move" in reply and "/stabilized" in reply


async def test_unauthorised_user_gets_one_reply_and_nothing_changes(h: Harness) -> None:
    number = await new_incident(h)
    writes = len(h.fake.writes())
    await say(h, number, "/stabilized\n/severity 3", actor="rita")
    assert h.labels(number) == {"incident", "severity:1", SP}
    (reply,) = h.bot_comments(number)  # one reply answers every command of the comment
    assert reply.count("triage permission") == 2
    assert "`/stabilized`" in reply and "`/severity 3`" in reply
    assert len(h.fake.writes()) == writes + 1


async def test_triage_role_may_run_commands(h: Harness) -> None:
    number = await new_incident(h)
    await say(h, number, "/stabilized", actor="tess")
    assert ST in h.labels(number)


async def test_help_is_open_to_all(h: Harness) -> None:
    number = await new_incident(h)
    await say(h, number, "/help", actor="rita")
    (text,) = h.bot_comments(number)
    assert "/stabilize TITLE" in text and "Legal next moves" in text


async def test_bot_comments_never_run_commands(h: Harness) -> None:
    number = await new_incident(h)
    await say(h, number, "/stabilized", actor="dependabot[bot]")
    assert SP in h.labels(number)


async def test_redelivered_or_edited_comment_runs_once(h: Harness) -> None:
    number = await new_incident(h)
    deliveries = h.fake.comment(REPO, number, "/stabilized\n/help")
    ((event, payload),) = deliveries
    await h.send(deliveries)
    await h.settle()
    await h.post(event, payload)  # the same comment again under a new delivery id
    await h.settle()
    edited = dict(payload, action="edited")
    await h.post(event, edited)
    await h.settle()
    incident = await h.record(number)
    assert [e.kind for e in incident.timeline].count("status") == 1
    assert len(h.bot_comments(number)) == 1  # the /help reply, once


async def test_severity_command_escalates_and_marks_stabilization_critical(h: Harness) -> None:
    number = await new_incident(h, "3")
    await say(h, number, "/stabilize Roll back the deploy")
    child = max(h.fake.repos[REPO].issues)
    assert h.labels(child) == {STAB}
    assert h.fake.issue(REPO, child).id in h.fake.issue(REPO, number).sub_issues
    await say(h, number, "/severity 1")
    assert h.labels(number) == {"incident", "severity:1", SP}
    assert h.labels(child) == {STAB, CRITICAL}
    assert CRITICAL not in h.labels(number)  # severity is not priority
    await say(h, number, "/severity 3")  # de-escalation leaves the label alone
    assert h.labels(child) == {STAB, CRITICAL}
    assert "left as they are" in (await h.record(number)).timeline[-1].detail


async def test_stabilize_on_severe_incident_is_critical_and_on_the_timeline(h: Harness) -> None:
    number = await new_incident(h, "2")
    await say(h, number, "/stabilize Scale the API pods")
    child = max(h.fake.repos[REPO].issues)
    assert h.labels(child) == {STAB, CRITICAL}
    assert h.fake.issue(REPO, child).title == "Scale the API pods"
    entry = (await h.record(number)).timeline[-1]
    assert entry.kind == "stabilization" and f"#{child}" in entry.detail


async def test_stabilize_retry_does_not_open_twice(h: Harness) -> None:
    number = await new_incident(h, "1")
    h.fake.fail("POST", r"/sub_issues$", 500, times=10)  # the link fails after the create
    await h.run(h.fake.comment(REPO, number, "/stabilize Fail over the database"))
    h.fake.faults.clear()
    await h.backoff_passes()
    await h.settle()
    opened = [i for i in h.fake.repos[REPO].issues.values() if i.title == "Fail over the database"]
    assert len(opened) == 1
    assert opened[0].id in h.fake.issue(REPO, number).sub_issues


async def test_hand_added_sub_issue_while_pending_is_stabilization_work(h: Harness) -> None:
    number = await new_incident(h, "1")
    child = h.fake.add_issue(REPO, title="Restart the workers")
    await h.run(h.fake.hand_add_sub_issue(REPO, number, child.number))
    assert h.labels(child.number) == {STAB, CRITICAL}
    await say(h, number, "/stabilized")
    later = h.fake.add_issue(REPO, title="Write a runbook")
    await h.run(h.fake.hand_add_sub_issue(REPO, number, later.number))
    assert h.labels(later.number) == set()  # no longer stabilization pending


async def resolve(h: Harness, number: int) -> None:
    for command in ("/stabilized", "/resolved"):
        await say(h, number, command)


async def test_recurrence_within_48_hours_same_issue(h: Harness) -> None:
    number = await new_incident(h)
    await resolve(h, number)
    h.fake.tick(hours=47)
    await say(h, number, "/recurred")
    assert h.labels(number) == {"incident", "severity:1", SP}
    assert len(h.incident_issues()) == 1


async def test_recurrence_after_50_hours_opens_a_new_incident(h: Harness) -> None:
    number = await new_incident(h, "2")
    await resolve(h, number)
    h.fake.tick(hours=50)
    await say(h, number, "/recurred")
    assert h.labels(number) == {"incident", "severity:2", RS}  # the old one stays
    new_number = max(h.fake.repos[REPO].issues)
    assert new_number != number
    assert h.labels(new_number) == {"incident", "severity:2", SP}
    assert f"#{number}" in h.fake.issue(REPO, new_number).body
    assert any(f"#{new_number}" in c for c in h.bot_comments(number))
    new = await h.record(new_number)
    assert new is not None and new.status.value == "stabilization-pending" and new.severity == 2
    assert f"#{new_number}" in (await h.record(number)).timeline[-1].detail


async def test_recurrence_by_label_after_50_hours_reverts_and_opens_new(h: Harness) -> None:
    number = await new_incident(h)
    await resolve(h, number)
    h.fake.tick(hours=50)
    await h.run(h.fake.label(REPO, number, add=[SP], remove=[RS]))
    await h.echo()
    assert h.labels(number) == {"incident", "severity:1", RS}
    assert len(h.incident_issues()) == 2


async def test_recurrence_decided_by_github_time_not_processing_time(h: Harness) -> None:
    number = await new_incident(h)
    await resolve(h, number)
    h.fake.tick(hours=47)
    deliveries = h.fake.comment(REPO, number, "/recurred")
    h.fake.tick(hours=10)  # the delivery is processed long after the comment was made
    await h.run(deliveries)
    assert h.labels(number) == {"incident", "severity:1", SP}
    assert len(h.incident_issues()) == 1


async def test_recurrence_of_reviewed_incident_is_new(h: Harness) -> None:
    number = await new_incident(h, "3")
    await resolve(h, number)
    await say(h, number, "/reviewed")
    h.fake.tick(hours=1)
    await say(h, number, "/recurred")
    assert h.labels(number) == {"incident", "severity:3", RV}
    assert len(h.incident_issues()) == 2


async def test_closing_an_unresolved_incident_is_undone(h: Harness) -> None:
    number = await new_incident(h)
    await h.run(h.fake.set_state(REPO, number, "closed"))
    await h.echo()
    assert h.fake.issue(REPO, number).state == "open"
    (comment,) = h.bot_comments(number)
    assert "Stabilization pending" in comment
    await resolve(h, number)
    await h.run(h.fake.set_state(REPO, number, "closed"))
    assert h.fake.issue(REPO, number).state == "closed"


async def test_commands_on_a_plain_issue_ask_to_record_it(h: Harness) -> None:
    issue = h.fake.add_issue(REPO)
    await say(h, issue.number, "/resolved")
    (reply,) = h.bot_comments(issue.number)
    assert "/incident" in reply
    assert await h.record(issue.number) is None


async def test_bad_arguments_get_usage(h: Harness) -> None:
    number = await new_incident(h)
    await say(h, number, "/severity 7")
    await say(h, number, "/stabilize")
    replies = h.bot_comments(number)
    assert len(replies) == 2 and all("Usage" in r for r in replies)


async def test_withdrawn_incident_resumed_by_command(h: Harness) -> None:
    number = await new_incident(h)
    await h.run(h.fake.label(REPO, number, remove=["incident"]))
    await h.echo()
    await say(h, number, "/incident")
    assert h.labels(number) == {"incident", "severity:1", SP}
    assert (await h.record(number)).managed


def test_hours_helper() -> None:
    assert timedelta(hours=50) > timedelta(hours=48)
