"""A delivery read and ready to decide: the turn the router hands the responder."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from app.domain.facts import Issue
from app.domain.occurrence import Occurrence, Snapshot


@dataclass(frozen=True)
class Turn:
    """One delivery read: what happened and the state, ready to decide; how to report it."""

    installation_id: int
    event: Occurrence
    snapshot: Snapshot
    prefix: str = ""  # the outcome: prefix + what was applied
    outcome: str | None = None  # or this, whatever was applied
    read: tuple[datetime | None, datetime | None] = (None, None)  # issue updated_at, read at
    comments: tuple[dict[str, Any], ...] | None = None  # listed already: apply lists none

    @property
    def issue(self) -> Issue:
        return self.snapshot.issue


Routed = Turn | str  # a turn to decide, or the outcome of a delivery that needs no decision
