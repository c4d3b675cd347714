"""What the inbox holds, for operators and metrics: depth, lanes, dead letters, revival, pruning."""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from datetime import datetime

from sqlalchemy import delete, func, select, text, update

from app.queue.delivery import LANE_NAMES, DeadLetter
from app.queue.writing import InboxDatabase
from app.storage.db import UNFINISHED, UTCDateTime, deliveries, reading, utcnow, writing


class Backlog(InboxDatabase):
    """Reads over the stored deliveries, and the operator's bulk changes to them."""

    async def known(self, delivery_ids: list[str]) -> set[str]:
        if not delivery_ids:
            return set()
        async with reading(self.engine) as conn:
            rows = await conn.execute(
                select(deliveries.c.delivery_id).where(deliveries.c.delivery_id.in_(delivery_ids))
            )
        return {row[0] for row in rows}

    async def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        """Deliveries given up on, the latest first."""
        async with reading(self.engine) as conn:
            rows = await conn.execute(
                select(
                    deliveries.c.delivery_id,
                    deliveries.c.event,
                    deliveries.c.action,
                    deliveries.c.repo,
                    deliveries.c.issue_key,
                    deliveries.c.attempts,
                    deliveries.c.abandoned,
                    deliveries.c.finished_at,
                    deliveries.c.last_error,
                )
                .where(deliveries.c.state == "dead")
                .order_by(deliveries.c.seq.desc())
                .limit(limit)
            )
        return [DeadLetter(*row) for row in rows]

    async def revive(self, delivery_ids: Collection[str] | None = None) -> int:
        """Put dead deliveries (these, or all) back for a fresh round of attempts; how many."""
        condition = deliveries.c.state == "dead"
        if delivery_ids is not None:
            if not delivery_ids:
                return 0
            condition = condition & deliveries.c.delivery_id.in_(list(delivery_ids))
        async with writing(self.engine, self._write_lock) as conn:
            result = await conn.execute(
                update(deliveries)
                .where(condition)
                .values(
                    state="pending",
                    attempts=0,
                    abandoned=0,
                    available_at=utcnow(),
                    finished_at=None,
                    outcome=None,
                    claimed_by=None,
                    lease_until=None,
                )
            )
        return int(result.rowcount or 0)

    async def prune(self, finished_before: datetime, batch: int = 1000) -> int:
        """Delete deliveries finished (done or dead) before a time, a batch per transaction
        so that stores wait for no more than one batch; how many were deleted."""
        oldest = (
            select(deliveries.c.seq)
            .where(deliveries.c.finished_at < finished_before)
            .order_by(deliveries.c.seq)  # the oldest first: the walk stops after `batch`
            .limit(batch)
        )
        deleted = 0
        while True:
            async with writing(self.engine, self._write_lock) as conn:
                result = await conn.execute(
                    delete(deliveries).where(deliveries.c.seq.in_(oldest.scalar_subquery()))
                )
            count = int(result.rowcount or 0)
            deleted += count
            if count < batch:
                return deleted
            await asyncio.sleep(0)  # let waiting stores in between batches

    async def depth(self) -> tuple[int, datetime | None]:
        """How many deliveries wait, and when the oldest of them arrived."""
        async with reading(self.engine) as conn:
            row = (
                await conn.execute(
                    select(func.count(), func.min(deliveries.c.received_at)).where(
                        deliveries.c.state.in_(("pending", "processing"))
                    )
                )
            ).one()
        return int(row[0]), row[1]

    async def lanes(self) -> dict[int, tuple[int, datetime | None]]:
        """Per lane: how many deliveries wait or are in progress, and when the oldest of
        them arrived (read over the index of unfinished deliveries)."""
        async with reading(self.engine) as conn:
            rows = await conn.execute(
                select(deliveries.c.lane, func.count(), func.min(deliveries.c.received_at))
                .where(text(UNFINISHED))
                .group_by(deliveries.c.lane)
            )
            found = {int(lane): (int(n), oldest) for lane, n, oldest in rows}
        result: dict[int, tuple[int, datetime | None]] = {}
        for lane in LANE_NAMES:
            n, oldest = found.get(lane, (0, None))
            if isinstance(oldest, str):  # SQLite returns an aggregate of a DATETIME as text
                oldest = datetime.fromisoformat(oldest)
            result[lane] = (n, UTCDateTime().process_result_value(oldest, self.engine.dialect))
        return result

    async def counts(self) -> dict[str, int]:
        async with reading(self.engine) as conn:
            rows = await conn.execute(
                select(deliveries.c.state, func.count()).group_by(deliveries.c.state)
            )
        return {state: int(n) for state, n in rows}
