"""The core of follow-ups and security reports: parsing, titles, once-only, and the decision."""

import time
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from app.domain import followup_commands  # noqa: F401  (registers /followup)
from app.domain.config import LoadedConfig, RepoConfig
from app.domain.config_file import parse_config
from app.domain.decision import decide
from app.domain.facts import Hint, Issue
from app.domain.followup import History
from app.domain.followups import (
    MAX_FROM_RETRO,
    MAX_TITLE,
    action_items,
    clean_title,
    from_retrospective,
    parent_marker,
)
from app.domain.labels import DEFAULT_LABELS
from app.domain.lifecycle import Status
from app.domain.occurrence import Kind, Occurrence, Snapshot
from app.domain.payloads import FOLLOW_UP_MARKER, Event
from app.domain.plan import KeepStatusComment, OpenIssue, PostComment, RemoveLabel
from app.domain.records import Extras, Incident
from app.domain.security import applies, is_security_report, keep_private

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
HINT = Hint("issues", "closed", "bob", T0, "d-1")


def incident(status: Status = Status.REVIEWED) -> Incident:
    return Incident("octo/ops", 1, 7, status, None, T0, "alice", title="Search is down")


def issue(*labels: str, body: str = "", number: int = 7) -> Issue:
    return Issue("octo/ops", 1, number, 70 + number, "Search is down", "open", labels, body=body)


# Action items ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("## Follow-ups\n\n- [ ] Add an alert\n- [x] Done\n", ["Add an alert"]),
        ("## Follow ups\n* [ ] Star item\n+ [ ] Plus item\n", ["Star item", "Plus item"]),
        ("### FOLLOWUPS\n- [ ] Any level, any case\n", ["Any level, any case"]),
        ("## Follow-ups\n- [ ] _a follow-up issue_\n- [ ] #12\n- [ ] #12 linked\n", []),
        ("## Follow-ups\n- [ ] Same\n- [ ]   same  \n- [ ] SAME\n", ["Same"]),
        ("## Follow-ups\n```\n- [ ] code\n```\n> - [ ] quote\n    - [ ] nested\n", ["nested"]),
        ("- [ ] before the heading\n## Follow-ups\n## Other\n- [ ] after\n", []),
        ("## Follow-ups\n#12 is not a heading\n- [ ] still inside\n", ["still inside"]),
        ("## Follow-ups\n- [ ]\n- [ ]    \n", []),
        ("", []),
    ],
    ids=range(10),
)
def test_action_items(body: str, expected: list[str]) -> None:
    assert action_items(body) == expected


def test_action_items_parse_in_linear_time() -> None:
    body = "## Follow-ups\n" + "- [ ] " + "x" * 65_000 + "\n" + "#" * 65_000
    many = "## Follow-ups\n" + "".join(f"- [ ] item {n}\n" for n in range(5_000))
    started = time.perf_counter()
    assert len(action_items(body)) == 1
    assert len(action_items(many)) == 5_000
    assert time.perf_counter() - started < 0.5


def test_titles_are_cleaned_and_bounded() -> None:
    assert clean_title("  Add\tan\u202e alert\u0000\u200b on  it \n") == "Add an alert on it"
    long = clean_title("y" * 10_000)
    assert len(long) == MAX_TITLE and long.endswith("…")
    assert clean_title("\u0000\u202e  ") == ""


def test_the_follow_up_marker_has_one_format() -> None:
    found = FOLLOW_UP_MARKER.search(f"text\n\n{parent_marker(12)}")
    assert found is not None and found.group(1) == "12"
    body = f"A follow-up\n\n{parent_marker(7)}"
    event = Event.model_validate(
        {"repository": {"id": 1, "full_name": "octo/ops"}, "issue": {"id": 90, "number": 9}}
    )
    assert event.issue_key() == "1#9"
    assert (
        event.model_copy(
            update={"issue": event.issue.model_copy(update={"body": body})}  # type: ignore[union-attr]
        ).issue_key()
        == "1#7"
    )


def test_retro_items_open_once_each_and_at_most_twenty() -> None:
    body = "## Follow-ups\n" + "".join(f"- [ ] Action {n}\n" for n in range(25))
    noted, plan = from_retrospective(HINT, incident(), body, 12, DEFAULT_LABELS)
    opened = [e for e in plan if isinstance(e, OpenIssue)]
    assert len(opened) == MAX_FROM_RETRO
    assert all(e.labels == ("incident:follow-up",) and e.sub_issue_of == 7 for e in opened)
    assert all(parent_marker(7) in e.body for e in opened)
    (said,) = [e for e in plan if isinstance(e, PostComment)]
    assert "lists 25 unchecked action items" in said.body
    again, replan = from_retrospective(HINT, noted, body, 12, DEFAULT_LABELS)
    assert again == noted and not any(isinstance(e, OpenIssue) for e in replan)


# Deciding ----------------------------------------------------------------------------------


def snapshot(record: Incident | None, subject: Issue, **more: object) -> Snapshot:
    return Snapshot(subject, record, LoadedConfig(), History(), **more)  # type: ignore[arg-type]


def test_a_closed_follow_up_rebuilds_the_status_comment_with_its_state() -> None:
    record = incident(Status.STABILIZED)
    listed = (
        replace(issue("incident:follow-up", number=9), state="closed"),
        issue("incident:follow-up", number=8),
        issue("incident:stabilization", number=10),
    )
    plan = decide(
        Occurrence(Kind.FOLLOW_UP_CHANGED, HINT), snapshot(record, issue(), sub_issues=listed)
    )
    (status,) = plan.effects
    assert isinstance(status, KeepStatusComment)
    assert "#### Follow-ups\n\n- #8: open\n- #9: closed\n" in status.text
    assert plan.followups is not None and plan.followups.complete
    assert [f.number for f in plan.followups.items] == [8, 9]


def test_followup_without_sub_issues_read_is_known_but_not_complete() -> None:
    from app.domain.commands import parse_commands

    record = incident(Status.STABILIZED)
    hint = Hint("issue_comment", "created", "alice", T0, "d-2")
    event = Occurrence(Kind.COMMENT, hint, tuple(parse_commands("/followup Add it")), 55)
    plan = decide(event, snapshot(record, issue("incident", "status:stabilized")))
    (opened,) = [e for e in plan.effects if isinstance(e, OpenIssue)]
    assert opened.title == "Add it" and opened.labels == ("incident:follow-up",)
    assert plan.followups is not None and not plan.followups.complete
    (status,) = [e for e in plan.effects if isinstance(e, KeepStatusComment)]
    assert f"- \u27e6opened:{opened.key}\u27e7: open" in status.text


# Security reports --------------------------------------------------------------------------

FORM = "### Severity\n\n2\n\n### Is this a security vulnerability?\n\nYes: report it privately\n"


def test_what_makes_a_security_report() -> None:
    assert is_security_report(issue("security"), DEFAULT_LABELS)
    assert is_security_report(issue(body=FORM), DEFAULT_LABELS)
    assert not is_security_report(issue(body=FORM.replace("Yes", "No")), DEFAULT_LABELS)
    assert not applies(issue("security"), None, DEFAULT_LABELS)  # not incident work
    assert applies(issue("security", "incident"), None, DEFAULT_LABELS)
    assert applies(issue("Security", "incident:reported"), None, DEFAULT_LABELS)
    assert applies(issue("security"), incident(), DEFAULT_LABELS)
    renamed = parse_config("labels: {security: '🔒 vulnerability'}\n")[0].scheme
    assert is_security_report(issue("🔒 Vulnerability"), renamed)
    assert not is_security_report(issue("security"), renamed)


def test_a_security_report_keeps_no_record_and_takes_the_labels_off_last() -> None:
    subject = issue("incident", "severity:1", "status:stabilized", "security")
    plan = decide(
        Occurrence(Kind.ISSUE, Hint("issues", "labeled", "alice", T0, "d-3", "security")),
        snapshot(incident(Status.STABILIZED), subject),
    )
    assert plan.record is None and plan.forget and plan.notices == ()
    assert isinstance(plan.effects[0], PostComment) and plan.effects[0].look_first
    removed = [e.name for e in plan.effects if isinstance(e, RemoveLabel)]
    assert removed == ["severity:1", "status:stabilized", "incident"]


def test_the_private_copy_is_opened_once_with_a_link_back_only() -> None:
    config = RepoConfig(security={"private_repo": "octo/private"})  # type: ignore[arg-type]
    subject = replace(issue("incident", "security"), body=FORM + "\nsecret details")
    decision = keep_private(HINT, subject, None, config, copied=False)
    (copy,) = [e for e in decision.plan if isinstance(e, OpenIssue)]
    assert copy.repo == "octo/private" and copy.sub_issue_of is None
    assert copy.body == "Opened from a security report in a public repository: " + (
        "https://github.com/octo/ops/issues/7"
    )
    assert copy.record is not None and copy.record.severity == 2
    assert set(copy.labels) == {"incident", "status:stabilization-pending", "severity:2"}
    again = keep_private(HINT, subject, None, config, copied=True)
    assert not any(isinstance(e, OpenIssue) for e in again.plan)


def test_the_private_repo_is_checked_in_the_config() -> None:
    _, errors = parse_config("security:\n  private_repo: not a repo\n")
    assert [e.key for e in errors] == ["security.private_repo"]
    parsed, errors = parse_config("security: {private_repo: octo/ops-private}\n")
    assert errors == () and parsed.security.private_repo == "octo/ops-private"


def test_an_incident_become_a_security_report_blanks_its_status_comment() -> None:
    # The decision reads the status comment from the extras it is given (no record kept).
    record = incident(Status.STABILIZED)
    shot = replace(snapshot(record, issue("incident", "security")), history=History(Extras(41)))
    plan = decide(Occurrence(Kind.ISSUE, HINT), shot)
    (status,) = [e for e in plan.effects if isinstance(e, KeepStatusComment)]
    assert status.comment_id == 41 and "Not recorded here" in status.text
