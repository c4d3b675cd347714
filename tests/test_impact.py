"""`/started TIME`: the forms it reads, what it refuses, and time to stabilize from it."""

import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from app.domain.impact import parse_started
from app.domain.lifecycle import Severity, Status
from app.domain.records import Incident
from app.domain.stats import time_to_acknowledge, time_to_resolve, time_to_stabilize

NOW = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-02 08:30", "2026-11-02T08:30"),
        ("2026-11-02T08:30:15Z", "2026-11-02T08:30:15"),
        ("2026-11-02t08:30 utc", "2026-11-02T08:30"),
        ("2026-11-02T09:15+01:00", "2026-11-02T08:15"),
        ("2026-11-02T03:15-0500", "2026-11-02T08:15"),
        ("08:30", "2026-11-02T08:30"),
        ("9:30", "2026-11-02T09:30"),  # the command's own minute is not the future
        ("09:31", "2026-11-01T09:31"),  # later today is the future: yesterday's
        ("23:50 UTC", "2026-11-01T23:50"),
        ("45m ago", "2026-11-02T08:45"),
        ("1h 30m ago", "2026-11-02T08:00"),
        ("-2h", "2026-11-02T07:30"),
        ("  -1.5h  ", "2026-11-02T08:00"),
    ],
)
def test_the_forms(text: str, expected: str) -> None:
    assert parse_started(text, now=NOW) == datetime.fromisoformat(expected).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "yesterday",
        "ago",
        "-",
        "45 ago",
        "45x ago",
        "24:00",
        "08:60",
        "2026-13-01 08:00",
        "2026-02-30 08:00",
        "2026-11-02",
        "2026-11-02 08:30 +25:00",
        "2026-11-02 08:30 CET",
        "08:30 tomorrow",
        "999999999w ago",  # beyond the calendar: refused, never an overflow
        "-0m",
        "@someone 08:30",
    ],
)
def test_what_is_not_a_time(text: str) -> None:
    with pytest.raises(ValueError, match="a time like"):
        parse_started(text, now=NOW)


def test_hostile_arguments_are_read_in_linear_time() -> None:
    texts = ("1" * 190 + " ago", "-" + "1h" * 95 + "x", "2026-11-02 08:30" + " " * 180 + "x")
    for text in texts:
        start = time.perf_counter()
        with pytest.raises(ValueError):
            parse_started(text, now=NOW)
        assert time.perf_counter() - start < 0.05


def test_time_to_stabilize_counts_from_the_impact_acknowledge_and_resolve_from_the_recording() -> (
    None
):
    recorded = NOW
    incident = Incident(
        repo="octo/ops",
        repo_id=1,
        number=1,
        status=Status.RESOLVED,
        severity=Severity.CRITICAL,
        declared_at=recorded,
        declared_by="zed",
        stabilized_at=recorded + timedelta(minutes=30),
        resolved_at=recorded + timedelta(hours=5),
        acknowledged_at=recorded + timedelta(minutes=4),
    )
    assert time_to_stabilize(incident) == timedelta(minutes=30)
    backdated = replace(incident, impact_started_at=recorded - timedelta(hours=1))
    assert time_to_stabilize(backdated) == timedelta(minutes=90)
    assert time_to_resolve(backdated) == timedelta(hours=5)
    assert time_to_acknowledge(backdated) == timedelta(minutes=4)
    assert time_to_acknowledge(replace(incident, acknowledged_at=None)) is None
