"""Prometheus metrics: deliveries, inbox, latency, transitions, commands and GitHub calls."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime

import httpx
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from app.domain.chat import Heard
from app.domain.commands import Command
from app.domain.records import EntryKind, Incident
from app.queue.inbox import LANE_NAMES, Delivery, Inbox
from app.web.incident_times import IncidentTimes

# Path shapes, most specific first: ids and names become placeholders so series stay few.
_ROUTE_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^/repos/[^/]+/[^/]+"), "/repos/{owner}/{repo}"),
    (re.compile(r"/contents/.*$"), "/contents/{path}"),
    (re.compile(r"/collaborators/[^/]+/permission$"), "/collaborators/{user}/permission"),
    (re.compile(r"/labels/[^/]+$"), "/labels/{name}"),
    (re.compile(r"/app-manifests/[^/]+/"), "/app-manifests/{code}/"),
    (re.compile(r"/\d+(?=/|$)"), "/{id}"),
)


def route_of(path: str, base_path: str = "") -> str:
    """A call's route template, e.g. `/repos/{owner}/{repo}/issues/{id}/labels`."""
    if base_path and path.startswith(base_path):
        path = path[len(base_path) :] or "/"
    for pattern, template in _ROUTE_RULES:
        path = pattern.sub(template, path)
    return path


class CommandsSeen:
    """Each comment delivery's parsed command names, until the metrics take them."""

    def __init__(self, bound: int = 1024) -> None:
        self.bound = bound  # should an outcome never come
        self._seen: dict[int, tuple[str, ...]] = {}

    def note(self, delivery: Delivery, commands: list[Command]) -> None:
        if not commands:
            return
        while len(self._seen) >= self.bound:
            del self._seen[next(iter(self._seen))]
        self._seen[delivery.seq] = tuple(c.name for c in commands)

    def pop(self, delivery: Delivery) -> tuple[str, ...]:
        """The registered commands this delivery's comment held (once; for the metrics)."""
        return self._seen.pop(delivery.seq, ())


class Metrics:
    """One registry per service instance (tests build many; the global one would clash)."""

    def __init__(
        self,
        api_base_path: str = "",
        *,
        commands_of: Callable[[Delivery], tuple[str, ...]] | None = None,
    ) -> None:
        self.api_base_path = api_base_path.rstrip("/")
        # A delivery's commands as the router parsed them: a comment is parsed once.
        self.commands_of = commands_of or (lambda _delivery: ())
        r = self.registry = CollectorRegistry()
        self._received_by: dict[tuple[str, bool], Counter] = {}
        self.received = Counter(
            "incident_flow_deliveries_received_total",
            "Webhook deliveries accepted, by event; duplicate=true for redeliveries already held",
            ["event", "duplicate"],
            registry=r,
        )
        self.processed = Counter(
            "incident_flow_deliveries_processed_total",
            "Deliveries processed to the end",
            ["event"],
            registry=r,
        )
        self.failed = Counter(
            "incident_flow_deliveries_failed_total",
            "Delivery attempts that failed and were put back for a retry",
            ["event"],
            registry=r,
        )
        self.dead = Counter(
            "incident_flow_deliveries_dead_total",
            "Deliveries given up after their last attempt",
            ["event"],
            registry=r,
        )
        self.latency = Histogram(
            "incident_flow_processing_seconds",
            "Time to process one delivery attempt",
            ["event"],
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 240),
            registry=r,
        )
        self.inbox_depth = Gauge(
            "incident_flow_inbox_depth", "Deliveries waiting or in progress", registry=r
        )
        self.inbox_oldest = Gauge(
            "incident_flow_inbox_oldest_age_seconds",
            "Age of the oldest delivery waiting (0 when none)",
            registry=r,
        )
        self.inbox_state = Gauge(
            "incident_flow_inbox_deliveries",
            "Deliveries held in the inbox, by state",
            ["state"],
            registry=r,
        )
        self.lane_depth = Gauge(
            "incident_flow_inbox_lane_depth",
            "Deliveries waiting or in progress, by lane (incident work is claimed first)",
            ["lane"],
            registry=r,
        )
        self.lane_oldest = Gauge(
            "incident_flow_inbox_lane_oldest_age_seconds",
            "Age of the oldest delivery waiting or in progress, by lane (0 when none)",
            ["lane"],
            registry=r,
        )
        self.finished = Counter(
            "incident_flow_deliveries_finished_total",
            "Deliveries finished (done or dead): by the worker, or at receipt when they "
            "cannot concern an incident; rate() gives deliveries finished per second",
            ["by"],
            registry=r,
        )
        self.finished_rate = Gauge(
            "incident_flow_deliveries_finished_per_second",
            "Deliveries finished per second since the scrape before",
            registry=r,
        )
        self._finished_by_worker = self.finished.labels(by="worker")
        self._finished_at_receipt = self.finished.labels(by="receipt")
        self._worker_finished = 0
        self._settled_seen = 0  # the inbox's count of deliveries settled at receipt, as read
        self._rate_from: tuple[float, float] | None = None  # (time, finished) last scrape
        self.transitions = Counter(
            "incident_flow_transitions_total",
            "Recorded status moves (from=none: an incident recorded)",
            ["from_status", "to_status"],
            registry=r,
        )
        self.reverts = Counter(
            "incident_flow_reverts_total", "Illegal label changes put back", registry=r
        )
        self.commands = Counter(
            "incident_flow_commands_total",
            "Slash commands seen in new comments, by name and the delivery's outcome",
            ["name", "outcome"],
            registry=r,
        )
        self.github_calls = Counter(
            "incident_flow_github_calls_total",
            "Calls to GitHub's API, by route and status",
            ["method", "route", "status"],
            registry=r,
        )
        # Per-severity time to acknowledge, stabilize and resolve, read at each scrape.
        self.incident_times = IncidentTimes(r)
        self.rate_limit_remaining = Gauge(
            "incident_flow_github_rate_limit_remaining",
            "x-ratelimit-remaining of the latest GitHub answer",
            registry=r,
        )

    # ---- hooks the service wires in ------------------------------------------------------

    def delivery_received(self, event: str, stored: bool) -> None:
        # The labelled child is looked up once per (event, duplicate): this runs per delivery.
        key = (event, stored)
        counter = self._received_by.get(key)
        if counter is None:
            counter = self.received.labels(event=event, duplicate=str(not stored).lower())
            self._received_by[key] = counter
        counter.inc()

    def delivery_done(self, delivery: Delivery, outcome: str, duration: float) -> None:
        """The worker's `on_outcome`: one call per processing attempt."""
        self.latency.labels(event=delivery.event).observe(duration)
        if outcome == "dead":
            self.dead.labels(event=delivery.event).inc()
            self._finished_by_worker.inc()
            self._worker_finished += 1
        elif outcome.startswith("retry"):
            self.failed.labels(event=delivery.event).inc()
        else:
            self.processed.labels(event=delivery.event).inc()
            self._finished_by_worker.inc()
            self._worker_finished += 1
        if delivery.event == "issue_comment":
            for name in self.commands_of(delivery):
                self.commands.labels(name=name, outcome=command_outcome(outcome)).inc()

    def github_response(self, response: httpx.Response) -> None:
        """GitHubApp's `on_response`: count the call and keep the rate limit left."""
        request = response.request
        route = route_of(request.url.path, self.api_base_path)
        self.github_calls.labels(
            method=request.method, route=route, status=str(response.status_code)
        ).inc()
        remaining = response.headers.get("x-ratelimit-remaining")
        if remaining is not None and remaining.isdigit():
            self.rate_limit_remaining.set(int(remaining))

    async def incident_changed(
        self, before: Incident | None, after: Incident, heard: Heard | None = None
    ) -> None:
        """A notifier: count the status moves and reverts just recorded."""
        start = len(before.timeline) if before is not None else 0
        for entry in after.timeline[start:]:
            if entry.kind == EntryKind.DECLARED:
                self.transitions.labels(
                    from_status="none", to_status=entry.to_value or after.status.value
                ).inc()
            elif entry.kind == EntryKind.STATUS:
                self.transitions.labels(
                    from_status=entry.from_value or "none", to_status=entry.to_value or "none"
                ).inc()
            elif entry.kind == EntryKind.REVERTED:
                self.reverts.inc()

    async def drain(self) -> None:
        return None

    async def render(self, inbox: Inbox) -> bytes:
        """The exposition text, with the inbox gauges read fresh from the database."""
        depth, oldest = await inbox.depth()
        self.inbox_depth.set(depth)
        age = (datetime.now(UTC) - oldest).total_seconds() if oldest is not None else 0.0
        self.inbox_oldest.set(max(0.0, age))
        counts = await inbox.counts()
        for state in ("pending", "processing", "done", "dead"):
            self.inbox_state.labels(state=state).set(counts.get(state, 0))
        now = datetime.now(UTC)
        for lane, (waiting, since) in (await inbox.lanes()).items():
            self.lane_depth.labels(lane=LANE_NAMES[lane]).set(waiting)
            age = (now - since).total_seconds() if since is not None else 0.0
            self.lane_oldest.labels(lane=LANE_NAMES[lane]).set(max(0.0, age))
        self._finished_at_receipt.inc(max(0, inbox.settled_at_receipt - self._settled_seen))
        self._settled_seen = inbox.settled_at_receipt
        self._rate(now.timestamp())
        return bytes(generate_latest(self.registry))

    def _rate(self, at: float) -> None:
        total = self._worker_finished + self._settled_seen
        if self._rate_from is not None and at > self._rate_from[0]:
            self.finished_rate.set((total - self._rate_from[1]) / (at - self._rate_from[0]))
        self._rate_from = (at, total)


def command_outcome(outcome: str) -> str:
    if outcome == "dead":
        return "dead"
    if outcome.startswith("retry"):
        return "failed"
    if outcome.startswith("ignored"):
        return "ignored"
    return "no change" if outcome.endswith("no change") else "applied"
