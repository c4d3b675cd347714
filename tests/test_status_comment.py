"""The status comment and the retrospective template, rendered from records: golden files.

Regenerate after an intended change with `UPDATE_GOLDEN=1 make pytest`, and review the diff.
"""

import os
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from app.domain.config_file import parse_config
from app.domain.durations import format_duration
from app.domain.followup import only_reverted
from app.domain.labels import DEFAULT_LABELS
from app.domain.lifecycle import Severity, Status
from app.domain.records import Incident, TimelineEntry
from app.domain.retrospectives import retrospective_issue
from app.domain.status_comment import MOVE_COMMANDS, render_status

GOLDEN = Path(__file__).parent / "golden"
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


DECLARED = Incident(
    repo="octo/ops",
    repo_id=7,
    number=12,
    status=Status.STABILIZATION_PENDING,
    severity=Severity.CRITICAL,
    declared_at=T0,
    declared_by="carol",
    title="Search is down",
    lead="alice",
    timeline=(
        TimelineEntry(T0, "carol", "declared", "Recorded as Stabilization pending, severity 1"),
        TimelineEntry(
            T0, "incident-flow[bot]", "lead", "Lead: alice (support rotation runner on duty)"
        ),
    ),
)

RESOLVED = (
    DECLARED.moved_to(Status.STABILIZED, at(65))
    .noted(TimelineEntry(at(65), "alice", "status", "Stabilization pending → Stabilized"))
    .noted(TimelineEntry(at(70), "bob", "note", "Rolled back | the deploy\nsecond line"))
    .noted(TimelineEntry(at(80), "alice", "lead", "Lead: alice → bob"))
    .moved_to(Status.RESOLVED, at(26 * 60 + 5))
    .noted(TimelineEntry(at(26 * 60 + 5), "bob", "status", "Stabilized → Resolved"))
)
RESOLVED = replace(RESOLVED, lead="bob")

CASES = {
    "declared": (DECLARED, MOVE_COMMANDS, None),
    "no-severity-no-lead": (
        replace(DECLARED, severity=None, lead=None, timeline=DECLARED.timeline[:1]),
        MOVE_COMMANDS,
        None,
    ),
    "resolved-with-retro": (RESOLVED, MOVE_COMMANDS, 31),
    "labels-only": (RESOLVED, {}, None),
    "reviewed": (
        RESOLVED.moved_to(Status.REVIEWED, at(3 * 24 * 60)).noted(
            TimelineEntry(at(3 * 24 * 60), "bob", "retro", "Retrospective #31 completed")
        ),
        MOVE_COMMANDS,
        31,
    ),
    "withdrawn": (
        replace(DECLARED, managed=False).noted(
            TimelineEntry(at(5), "carol", "withdrawn", "The incident label was removed")
        ),
        MOVE_COMMANDS,
        None,
    ),
}


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.write_text(text + "\n")
    assert path.exists(), f"missing golden file {path}: run with UPDATE_GOLDEN=1"
    assert text + "\n" == path.read_text()


@pytest.mark.parametrize("name", sorted(CASES))
def test_status_comment_golden(name: str) -> None:
    incident, commands, retro = CASES[name]
    text = render_status(incident, DEFAULT_LABELS, commands=commands, retro_number=retro)
    check_golden(f"status-{name}.md", text)


def test_status_comment_uses_the_repos_label_names() -> None:
    scheme = parse_config(
        (Path(__file__).parent.parent / "docs/openverse-incidents.yml").read_text()
    )[0].scheme
    text = render_status(DECLARED, scheme, commands={})
    check_golden("status-openverse-labels.md", text)


def test_rendering_is_deterministic() -> None:
    first = render_status(RESOLVED, DEFAULT_LABELS, commands=MOVE_COMMANDS, retro_number=31)
    assert first == render_status(RESOLVED, DEFAULT_LABELS, commands=MOVE_COMMANDS, retro_number=31)


def test_retrospective_template_golden() -> None:
    effect = retrospective_issue(RESOLVED)
    assert effect.assignees == ("bob",)
    assert effect.key == "retro:12"
    check_golden("retro-resolved.md", f"# {effect.title}\n\n{effect.body}")


@pytest.mark.parametrize(
    ("span", "text"),
    [
        (timedelta(seconds=30), "<1m"),
        (timedelta(minutes=12), "12m"),
        (timedelta(minutes=65), "1h 05m"),
        (timedelta(hours=26, minutes=5), "1d 2h"),
        (timedelta(seconds=-5), "<1m"),
    ],
)
def test_durations(span: timedelta, text: str) -> None:
    assert format_duration(span) == text


def test_only_a_reverted_move_leaves_the_status_comment_for_the_next_edit() -> None:
    reverted = TimelineEntry(at(5), "dave", "reverted", "Reverted Resolved: not a legal move")
    assert only_reverted(DECLARED, DECLARED.noted(reverted))
    assert not only_reverted(None, DECLARED.noted(reverted)), "a first record is always shown"
    assert not only_reverted(DECLARED, DECLARED), "nothing new: shown as it is (catch-ups)"
    moved = DECLARED.moved_to(Status.STABILIZED, at(6)).noted(reverted)
    assert not only_reverted(DECLARED, moved)
    note = TimelineEntry(at(7), "dave", "note", "Rolled back the deploy")
    assert not only_reverted(DECLARED, DECLARED.noted(reverted, note))


def test_mentions_in_notes_never_ping_from_the_status_comment() -> None:
    from app.domain.records import TimelineEntry
    from app.domain.status_comment import describe

    at = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    note = describe(TimelineEntry(at, "alice", "note", "paged @octo/everyone and @bob"))
    assert "@octo" not in note and "@bob" not in note
    assert note.replace("\u2060", "") == "Note: paged @octo/everyone and @bob"
