"""The repo config of on-call duty: how often updates are owed, how soon a lead acknowledges."""

from __future__ import annotations

from datetime import timedelta

from pydantic import field_validator

from app.domain.config_base import Strict, parse_duration
from app.domain.lifecycle import Severity


class Updates(Strict):
    """How often the lead should post an update: per severity while Stabilization pending,
    then `stabilized` until the incident is resolved."""

    sev1: timedelta = timedelta(hours=1)
    sev2: timedelta = timedelta(hours=24)
    sev3: timedelta = timedelta(hours=24)
    stabilized: timedelta = timedelta(hours=24)

    @field_validator("sev1", "sev2", "sev3", "stabilized", mode="before")
    @classmethod
    def _duration(cls, value: object) -> timedelta:
        return parse_duration(value)

    def cadence(self, severity: Severity | None) -> timedelta:
        # An incident without a severity yet is treated as the most severe: the safe side.
        return {Severity.MAJOR: self.sev2, Severity.MINOR: self.sev3}.get(
            severity or Severity.CRITICAL, self.sev1
        )


class AcknowledgeWithin(Strict):
    """How long a lead has to acknowledge before the next candidate is asked; `none`: no limit."""

    sev1: timedelta | None = timedelta(minutes=15)
    sev2: timedelta | None = timedelta(hours=1)
    sev3: timedelta | None = None

    @field_validator("sev1", "sev2", "sev3", mode="before")
    @classmethod
    def _duration(cls, value: object) -> timedelta | None:
        if value is None or (isinstance(value, str) and value.strip().lower() == "none"):
            return None
        return parse_duration(value)

    def of(self, severity: Severity | None) -> timedelta | None:
        # As for updates, an incident without a severity yet counts as the most severe.
        return {Severity.MAJOR: self.sev2, Severity.MINOR: self.sev3}.get(
            severity or Severity.CRITICAL, self.sev1
        )
