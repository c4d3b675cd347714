"""Lead duty, pure: periods from the timeline, the load per window, the lead choice's history."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from app.domain.lead_duty import (
    LEADING_NOW,
    LeadPeriod,
    duty_periods,
    last_led,
    lead_duty,
    lead_periods,
)
from app.domain.leads import pick_lead
from app.domain.lifecycle import Severity, Status
from app.domain.records import EntryKind, Incident, TimelineEntry
from tests.test_leads import TEAM

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
H = timedelta(hours=1)
SP, ST, RS, RV = (
    s.value
    for s in (Status.STABILIZATION_PENDING, Status.STABILIZED, Status.RESOLVED, Status.REVIEWED)
)


def entry(hours: float, kind: str, to: str | None = None, old: str | None = None) -> TimelineEntry:
    return TimelineEntry(T0 + hours * H, "zed", kind, "", from_value=old, to_value=to)


def record(*entries: TimelineEntry, status: Status | None = None, **fields: object) -> Incident:
    """An incident recorded at T0 in Stabilization pending (severity 1) and then `entries`."""
    incident = Incident(
        repo="octo/ops",
        repo_id=1,
        number=1,
        status=Status.STABILIZATION_PENDING,
        severity=Severity.CRITICAL,
        declared_at=T0,
        declared_by="zed",
        timeline=(entry(0, EntryKind.DECLARED, SP), *entries),
    )
    # The record's present state, as the decision left it with these entries.
    last_status = [e.to_value for e in incident.timeline if e.kind in ("declared", "status")][-1]
    leads = [e.to_value for e in entries if e.kind == EntryKind.LEAD]
    changes: dict[str, object] = {"status": status or Status(last_status)}
    if leads:
        changes["lead"] = leads[-1]
    severities = [e.to_value for e in entries if e.kind == EntryKind.SEVERITY]
    if severities:
        changes["severity"] = Severity(int(severities[-1] or 0))
    return replace(incident, **{**changes, **fields})  # type: ignore[arg-type]


def spans(incident: Incident) -> list[tuple[str, int | None, float, float | None]]:
    """(who, severity, from, until) in hours after T0."""
    return [
        (
            p.login,
            int(p.severity) if p.severity else None,
            (p.start - T0) / H,
            (p.end - T0) / H if p.end else None,
        )
        for p in lead_periods(incident)
    ]


@pytest.mark.parametrize(
    ("incident", "expected"),
    [
        pytest.param(
            record(entry(0, "lead", "carol"), entry(3, "status", RS, SP)),
            [("carol", 1, 0, 3)],
            id="chosen-at-recording-led-to-resolved",
        ),
        pytest.param(
            record(
                entry(0, "lead", "carol"),
                entry(1, "lead", "dave", "carol"),
                entry(3, "status", ST, SP),
                entry(5, "status", RS, ST),
            ),
            [("carol", 1, 0, 1), ("dave", 1, 1, 5)],
            id="hand-over-credits-both",
        ),
        pytest.param(
            record(
                entry(0, "lead", "carol"),
                entry(2, "severity", "2", "1"),
                entry(4, "status", ST, SP),
                entry(6, "status", RS, ST),
            ),
            [("carol", 1, 0, 2), ("carol", 2, 2, 6)],
            id="severity-change-splits",
        ),
        pytest.param(
            record(
                entry(0, "lead", "carol"),
                entry(2, "status", ST, SP),
                entry(3, "status", RS, ST),
                entry(10, "status", SP, RS),
                entry(11, "status", ST, SP),
                entry(12, "status", RS, ST),
                entry(20, "status", RV, RS),
            ),
            [("carol", 1, 0, 3), ("carol", 1, 10, 12)],
            id="reopened-counts-again-review-does-not",
        ),
        pytest.param(
            record(
                entry(0, "lead", "carol"),
                entry(1, "withdrawn"),
                entry(4, "resumed"),
                entry(5, "status", ST, SP),
                entry(6, "status", RS, ST),
            ),
            [("carol", 1, 0, 1), ("carol", 1, 4, 6)],
            id="withdrawn-time-is-no-duty",
        ),
        pytest.param(
            record(entry(2, "status", RS, SP), lead="alice"),
            [("alice", 1, 0, 2)],
            id="lead-recorded-before-lead-entries-leads-from-the-recording",
        ),
        pytest.param(
            record(entry(1, "lead", "dave", "alice"), entry(2, "status", RS, SP)),
            [("alice", 1, 0, 1), ("dave", 1, 1, 2)],
            id="first-lead-entry-names-who-led-before",
        ),
        pytest.param(
            replace(
                record(entry(0, "lead", "carol"), status=Status.RESOLVED),
                timeline=(entry(0, "declared", RS), entry(0, "lead", "carol")),
            ),
            [],
            id="recorded-already-resolved-is-no-duty",
        ),
        pytest.param(
            record(
                entry(0, "lead", "carol"),
                entry(2, "lead", "dave", "carol"),
                entry(1.5, "status", RS, SP),
            ),
            [("carol", 1, 0, 2)],
            id="a-time-out-of-order-never-runs-backwards",
        ),
        pytest.param(
            record(entry(0, "lead", "carol"), entry(1, "lead", "dave", "carol")),
            [("carol", 1, 0, 1), ("dave", 1, 1, None)],
            id="still-leading",
        ),
        pytest.param(
            record(
                entry(0, "lead", "carol"),
                entry(0, "lead", "dave", "carol"),
                entry(1, "status", RS, SP),
            ),
            [("dave", 1, 0, 1)],
            id="no-time-no-period",
        ),
        pytest.param(
            record(
                entry(0, "lead", "carol"),
                entry(1, "lead", None, "carol"),
                entry(2, "lead", "dave"),
                entry(3, "status", RS, SP),
            ),
            [("carol", 1, 0, 1), ("dave", 1, 2, 3)],
            id="an-incident-without-a-lead-counts-for-nobody",
        ),
    ],
)
def test_lead_periods(incident: Incident, expected: list[tuple[object, ...]]) -> None:
    assert spans(incident) == expected


def test_a_withdrawn_incident_counts_for_nobody() -> None:
    withdrawn = record(entry(0, "lead", "carol"), entry(1, "withdrawn"), managed=False)
    assert spans(withdrawn) == [("carol", 1, 0, 1)]
    assert duty_periods([withdrawn]) == []


def period(login: str, severity: int | None, start: float, end: float | None, number: int = 1):  # type: ignore[no-untyped-def]
    return LeadPeriod(
        login,
        "octo/ops",
        number,
        Severity(severity) if severity else None,
        T0 + start * H,
        T0 + end * H if end is not None else None,
    )


def test_duty_per_window_counts_hours_by_severity_and_incidents_once() -> None:
    now = T0 + 100 * H
    periods = [
        period("carol", 2, 0, 2),  # incident 1 at severity 2, then escalated
        period("carol", 1, 2, 3),
        period("Dave", 3, 10, 20, number=2),
        period("dave", None, 30, None, number=3),  # still leading: counts up to now
        period("erin", 1, -30 * 24, -29 * 24, number=4),  # ended 30 days + 4 h before now
    ]
    duty = {d.login: d for d in lead_duty(periods, now=now, days=30)}
    assert set(duty) == {"carol", "dave"}  # erin's is outside; Dave's spelling: the latest
    carol = duty["carol"]
    assert (carol.total.incidents, carol.total.hours) == (1, 3)
    assert carol.by_severity[Severity.CRITICAL].incidents == 1  # counted under its worst
    assert carol.by_severity[Severity.MAJOR].incidents == 0
    assert carol.by_severity[Severity.MAJOR].hours == 2
    dave = duty["dave"]
    assert (dave.total.incidents, dave.total.hours) == (2, 10 + 70)
    assert dave.by_severity[None].hours == 70
    assert [d.login for d in lead_duty(periods, now=now, days=30)] == ["dave", "carol"]
    # A period that began before the window counts from the window's start.
    year = {d.login: d for d in lead_duty(periods, now=now, days=365)}
    assert year["erin"].total.hours == 24
    since = -30 * 24 + 100  # the window's start, in hours after T0
    clipped = lead_duty([period("erin", 1, since - 4, since + 10)], now=now, days=30)
    assert clipped[0].total.hours == 10


def test_last_led_credits_a_hand_over_and_the_ongoing_lead_is_the_most_recent() -> None:
    periods = [period("Carol", 1, 0, 1), period("dave", 1, 1, 5), period("erin", 2, 3, None, 2)]
    assert last_led(periods) == {
        "carol": T0 + H,
        "dave": T0 + 5 * H,
        "erin": LEADING_NOW,
    }


def test_the_lead_choice_reads_the_same_history() -> None:
    """Off duty for the rotation (07:00 UTC), carol, who handed over, is not "never led"."""
    first = record(
        entry(0, "lead", "carol"), entry(1, "lead", "dave", "carol"), entry(2, "status", RS, SP)
    )
    history = last_led(duty_periods([first]))
    at = datetime(2026, 11, 2, 7, 0, tzinfo=UTC)
    team = TEAM.model_copy(update={"maintainers": ("carol", "dave", "erin")})
    assert pick_lead(at=at, recorder="zed", config=team, last_led=history).login == "erin"
    history = last_led(duty_periods([first, record(entry(0, "lead", "erin"), number=2)]))
    # erin leads now (the most recent), dave led until 11:00: carol led least recently.
    assert pick_lead(at=at, recorder="zed", config=team, last_led=history).login == "carol"
