"""What the app last read of each issue, so a delivery a later read covered is skipped."""

from __future__ import annotations

from collections import OrderedDict
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncEngine

from app.storage.db import issue_reads, reading

SECOND = timedelta(seconds=1)


class ReadLog:
    """One sidebar change sends a delivery per label; the first one's read covers the rest.

    GitHub's times have one-second resolution, so a read is only trusted to cover changes
    stamped before it when GitHub's own clock (the response's Date) had moved on by a
    second: any change made after the read then carries a later `updated_at`.
    """

    def __init__(self, size: int = 10_000, *, shared: AsyncEngine | None = None) -> None:
        self.size = size
        self._seen: OrderedDict[str, tuple[datetime, datetime]] = OrderedDict()
        # Several instances on one database: reads are kept there too, so the instance that
        # takes the other half of a change knows of the read another instance made. (One
        # issue's deliveries are processed one at a time, so the row is always current.)
        self.shared = shared

    async def remember(
        self, key: str, updated_at: datetime | None, read_at: datetime | None
    ) -> None:
        """`note`, and in the shared table when there is one."""
        self.note(key, updated_at, read_at)
        if self.shared is None or updated_at is None or read_at is None:
            return
        insert = pg_insert if self.shared.dialect.name == "postgresql" else sqlite_insert
        statement = insert(issue_reads).values(
            issue_key=key, updated_at=updated_at, read_at=read_at
        )
        statement = statement.on_conflict_do_update(
            index_elements=["issue_key"],
            set_={
                "updated_at": statement.excluded.updated_at,
                "read_at": statement.excluded.read_at,
            },
        )
        async with self.shared.begin() as conn:
            await conn.execute(statement)

    async def covered(self, key: str, updated_at: datetime | None) -> bool:
        """`covers`, asking the shared table when this instance has no read of its own."""
        if self.covers(key, updated_at):
            return True
        if self.shared is None or updated_at is None:
            return False
        async with reading(self.shared) as conn:
            row = (
                await conn.execute(
                    select(issue_reads.c.updated_at, issue_reads.c.read_at).where(
                        issue_reads.c.issue_key == key
                    )
                )
            ).first()
        if row is None:
            return False
        self.note(key, row.updated_at, row.read_at)
        return self.covers(key, updated_at)

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
