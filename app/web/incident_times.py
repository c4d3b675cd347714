"""Per-severity time to acknowledge, stabilize and resolve as Prometheus gauges."""

from __future__ import annotations

import math
from datetime import datetime

from prometheus_client import CollectorRegistry, Gauge

from app.domain.records import Incident
from app.domain.stats import severity_stats

# (the gauge's word, SeverityStats field), as the dashboard's table has them.
MEASURES = (
    ("acknowledge", "to_acknowledge"),
    ("stabilize", "to_stabilize"),
    ("resolve", "to_resolve"),
)
QUANTILES = (("0.5", "median"), ("0.9", "p90"))


class IncidentTimes:
    """The dashboard's 90-day numbers for a scraper: median and p90 per severity."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.seconds = {
            word: Gauge(
                f"incident_flow_time_to_{word}_seconds",
                f"Time to {word} ({_FROM[word]}), median (quantile 0.5) and p90 (0.9) per "
                "severity, over managed incidents recorded in the last 90 days; NaN: none yet",
                ["severity", "quantile"],
                registry=registry,
            )
            for word, _ in MEASURES
        }
        self.measured = Gauge(
            "incident_flow_incidents_measured",
            "Incidents recorded in the last 90 days with a known time to acknowledge, "
            "stabilize or resolve (measure), per severity",
            ["measure", "severity"],
            registry=registry,
        )

    def update(self, incidents: list[Incident], now: datetime) -> None:
        for stats in severity_stats(incidents, now):
            severity = str(int(stats.severity))
            for word, field in MEASURES:
                spread = getattr(stats, field)
                self.measured.labels(measure=word, severity=severity).set(spread.count)
                for quantile, which in QUANTILES:
                    value = getattr(spread, which)
                    self.seconds[word].labels(severity=severity, quantile=quantile).set(
                        math.nan if value is None else value
                    )


_FROM = {
    "acknowledge": "from the recording to the lead's acknowledgement",
    "stabilize": "from when the impact began, else the recording, to Stabilized",
    "resolve": "from the recording to Resolved",
}
