"""The dashboard's per-severity section: time to acknowledge, stabilize and resolve."""

from __future__ import annotations

from typing import Any

from app.domain.stats import SeverityStats, Spread, humanize
from app.web.chart import chart_svg

# (heading, SeverityStats field): the table's pairs of median and p90 columns.
MEASURES = (
    ("Acknowledge", "to_acknowledge"),
    ("Stabilize", "to_stabilize"),
    ("Resolve", "to_resolve"),
)


def stats_json(stats: list[SeverityStats]) -> list[dict[str, Any]]:
    def spread(s: Spread) -> dict[str, Any]:
        return {"count": s.count, "median_seconds": s.median, "p90_seconds": s.p90}

    return [
        {
            "severity": int(s.severity),
            "incidents": s.incidents,
            **{f"time_{field}": spread(getattr(s, field)) for _, field in MEASURES},
        }
        for s in stats
    ]


def stats_section(stats: list[SeverityStats]) -> str:
    """The chart and the table of median and p90 per severity, last 90 days."""
    heads = "".join(f"<th>{name}, median</th><th>p90</th>" for name, _ in MEASURES)
    rows = "".join(
        f"<tr><td><span class='sev sev{int(s.severity)}'>Sev {int(s.severity)}</span></td>"
        f"<td>{s.incidents}</td>"
        + "".join(
            f"<td>{humanize(getattr(s, field).median)}</td><td>{humanize(getattr(s, field).p90)}"
            "</td>"
            for _, field in MEASURES
        )
        + "</tr>"
        for s in stats
    )
    return (
        "<section><h2>Time to acknowledge, stabilize and resolve, last 90 days</h2>"
        f"{chart_svg(stats)}"
        f"<table><thead><tr><th>Severity</th><th>Incidents</th>{heads}</tr></thead>"
        f"<tbody>{rows}</tbody></table>"
        "<p class=muted>Acknowledge and resolve count from the recording; stabilize from "
        "when the impact began (<code>/started</code>), else from the recording.</p></section>"
    )
