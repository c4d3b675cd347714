"""What every part of the repo config shares: strict models and durations as people write them."""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, ConfigDict

from app.domain import durations


def parse_duration(value: object) -> timedelta:
    """`7d`, `48h`, `1h30m`, `2w`: a positive duration (app/domain/durations.py)."""
    if isinstance(value, timedelta):
        return value
    if not isinstance(value, str):
        raise ValueError("a duration like 30m, 1h, 48h, 7d or 2w")
    return durations.parse_duration(value)


class Strict(BaseModel):
    # Unknown keys are errors: a typo must not silently fall back to a default.
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
