"""A delivery as the inbox keeps it: its lane, the claim handed to the worker, the dead letter."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cached_property

from app.domain.payloads import Event, read_event

# Lanes (app/service/triage.py sorts deliveries into them at receipt): claims take INCIDENT first.
INCIDENT = 0  # may concern an incident
OTHER = 1  # processed after incident work
# Cannot concern an incident unless its issue is a known incident or has work queued: then
# it is stored for the worker (in INCIDENT or OTHER); else it is stored as done at once.
UNRELATED = 2
LANE_NAMES = {INCIDENT: "incident", OTHER: "other"}
NOT_AN_INCIDENT = "not an incident"


@dataclass(frozen=True)
class Delivery:
    seq: int
    delivery_id: str
    event: str
    action: str | None
    installation_id: int | None
    issue_key: str | None
    payload: str
    received_at: datetime
    # This attempt's number, counted when claimed; it is also the claim's fencing token.
    attempts: int
    abandoned: int = 0
    lane: int = 0  # INCIDENT

    @cached_property
    def parsed(self) -> Event:
        """The payload's event, parsed once for the worker's log lines and the handler alike
        (a payload that does not parse raises, each time it is asked)."""
        return read_event(self.payload)


@dataclass(frozen=True)
class DeadLetter:
    """A delivery given up on, as the operator's listing shows it."""

    delivery_id: str
    event: str
    action: str | None
    repo: str | None
    issue_key: str | None
    attempts: int
    abandoned: int
    finished_at: datetime | None
    last_error: str | None
