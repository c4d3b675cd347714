"""What this instance last read of each issue, so a delivery a later read covered is skipped."""

from __future__ import annotations

from collections import OrderedDict
from datetime import datetime, timedelta

SECOND = timedelta(seconds=1)


class ReadLog:
    """One sidebar change sends a delivery per label; the first one's read covers the rest.

    GitHub's times have one-second resolution, so a read is only trusted to cover changes
    stamped before it when GitHub's own clock (the response's Date) had moved on by a
    second: any change made after the read then carries a later `updated_at`.
    """

    def __init__(self, size: int = 10_000) -> None:
        self.size = size
        self._seen: OrderedDict[str, tuple[datetime, datetime]] = OrderedDict()

    def note(self, key: str, updated_at: datetime | None, read_at: datetime | None) -> None:
        """Record a read whose plan was carried out: the issue was in step from then on."""
        if updated_at is None or read_at is None:
            return
        self._seen[key] = (updated_at, read_at)
        self._seen.move_to_end(key)
        while len(self._seen) > self.size:
            self._seen.popitem(last=False)

    def covers(self, key: str, updated_at: datetime | None) -> bool:
        seen = self._seen.get(key)
        if seen is None or updated_at is None:
            return False
        seen_updated, read_at = seen
        return updated_at <= seen_updated and read_at - seen_updated >= SECOND
