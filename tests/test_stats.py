"""Dashboard numbers and the SVG chart, pure: no service, no mocks."""

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import pytest

from app.domain.lifecycle import Severity, Status
from app.domain.stats import humanize, ordered, percentile, severity_stats, status_since
from app.web.chart import chart_svg
from tests.seed import incident

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
H = timedelta(hours=1)


@pytest.mark.parametrize(
    ("values", "fraction", "expected"),
    [
        ([], 0.5, None),
        ([5.0], 0.9, 5.0),
        ([1.0, 2.0, 3.0, 4.0], 0.5, 2.5),
        ([10.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 100.0], 0.9, 10.0),
    ],
)
def test_percentile(values: list[float], fraction: float, expected: float | None) -> None:
    assert percentile(values, fraction) == expected


def test_open_first_then_severity_then_oldest() -> None:
    a = incident(1, "o/r", 1, "a", Severity.MINOR, NOW - 5 * H, [])
    b = incident(1, "o/r", 2, "b", Severity.CRITICAL, NOW - 1 * H, [])
    c = incident(1, "o/r", 3, "c", Severity.CRITICAL, NOW - 3 * H, [])
    d = incident(
        1,
        "o/r",
        4,
        "d",
        Severity.CRITICAL,
        NOW - 9 * H,
        [(Status.STABILIZED, H), (Status.RESOLVED, 2 * H)],
    )
    e = incident(1, "o/r", 5, "e", None, NOW - 9 * H, [])
    assert [i.number for i in ordered([a, b, c, d, e])] == [3, 2, 1, 5, 4]
    assert [i.number for i in ordered([a, b, c, d, e], "age")] == [4, 5, 1, 3, 2]


def test_status_since_is_the_last_move() -> None:
    record = incident(1, "o/r", 1, "t", Severity.MAJOR, NOW - 5 * H, [(Status.STABILIZED, 2 * H)])
    assert status_since(record) == NOW - 3 * H


def test_severity_stats_over_90_days() -> None:
    records = [
        incident(1, "o/r", 1, "", Severity.CRITICAL, NOW - 10 * H, [(Status.STABILIZED, 1 * H)]),
        incident(
            1,
            "o/r",
            2,
            "",
            Severity.CRITICAL,
            NOW - 20 * H,
            [(Status.STABILIZED, 3 * H), (Status.RESOLVED, 5 * H)],
        ),
        incident(
            1, "o/r", 3, "", Severity.CRITICAL, NOW - 91 * 24 * H, [(Status.STABILIZED, 99 * H)]
        ),  # outside the window
    ]
    sev1, sev2, _ = severity_stats(records, NOW)
    assert sev1.incidents == 2
    assert sev1.to_stabilize.median == 2 * 3600
    assert sev1.to_stabilize.p90 == pytest.approx(2.8 * 3600)
    assert (sev1.to_resolve.count, sev1.to_resolve.median) == (1, 5 * 3600)
    assert sev2.incidents == 0 and sev2.to_resolve.median is None


def test_chart_is_valid_svg_with_a_bar_per_known_value() -> None:
    records = [
        incident(
            1,
            "o/r",
            1,
            "",
            Severity.CRITICAL,
            NOW - 10 * H,
            [(Status.STABILIZED, H), (Status.RESOLVED, 4 * H)],
        ),
    ]
    svg = chart_svg(severity_stats(records, NOW))
    root = ET.fromstring(svg)
    bars = [
        r for r in root.iter("{http://www.w3.org/2000/svg}rect") if r.find("{*}title") is not None
    ]
    assert len(bars) == 4  # median and p90 of both, severity 1 only
    assert "Severity 2 (0): no data" in svg
    assert ET.fromstring(chart_svg(severity_stats([], NOW))) is not None


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (None, "—"),
        (42, "42s"),
        (600, "10m"),
        (3 * 3600 + 120, "3h 2m"),
        (2 * 86400 + 3600, "2d 1h"),
    ],
)
def test_humanize(seconds: float | None, text: str) -> None:
    assert humanize(seconds) == text
