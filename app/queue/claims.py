"""Claiming work: each issue's oldest unfinished delivery, in lane and turn, and settling it."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Integer, bindparam, case, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine

from app.queue.delivery import Delivery
from app.queue.writing import InboxDatabase
from app.storage.db import UNFINISHED, UTCDateTime, deliveries, reading, utcnow, writing


class Claims(InboxDatabase):
    """The worker's side of the inbox: claim, renew, finish, retry, bury, and when to look."""

    def __init__(self, engine: AsyncEngine) -> None:
        super().__init__(engine)
        self._claim_stmt = _claim_statement(engine.dialect.name)

    async def claim(
        self, worker_id: str, limit: int, lease: float, *, running: Collection[int] = ()
    ) -> list[Delivery]:
        """Claim up to `limit` ready deliveries: only the oldest unfinished one of each issue.

        Ready: pending work whose time has come, and claims whose lease ran out (abandoned
        by an instance that died), oldest first. `running` are the claimant's own deliveries
        in progress: never taken again, even when a clock jump makes their lease look past.
        """
        now = utcnow()
        values = {
            "now": now,
            "limit": limit,
            "worker": worker_id,
            "lease_until": now + timedelta(seconds=lease),
            "running": list(running),
        }
        async with writing(self.engine, self._write_lock) as conn:
            rows = (await conn.execute(self._claim_stmt, values)).all()
        return sorted((Delivery(*row) for row in rows), key=lambda d: d.seq)

    async def release_all(self) -> int:
        """Hand every claimed delivery back (start-up of a single-instance SQLite service)."""
        async with writing(self.engine, self._write_lock) as conn:
            result = await conn.execute(
                update(deliveries)
                .where(deliveries.c.state == "processing")
                .values(
                    state="pending",
                    lease_until=None,
                    claimed_by=None,
                    abandoned=deliveries.c.abandoned + 1,
                )
            )
        return int(result.rowcount or 0)

    async def renew(self, worker_id: str, seqs: list[int], lease: float) -> None:
        if not seqs:
            return
        async with writing(self.engine, self._write_lock) as conn:
            await conn.execute(
                update(deliveries)
                .where(deliveries.c.seq.in_(seqs), deliveries.c.claimed_by == worker_id)
                .values(lease_until=utcnow() + timedelta(seconds=lease))
            )

    async def finish(self, delivery: Delivery, worker_id: str, outcome: str) -> None:
        await self._settle(
            delivery,
            worker_id,
            state="done",
            outcome=outcome[:200],
            finished_at=utcnow(),
            lease_until=None,
        )

    async def retry(self, delivery: Delivery, worker_id: str, error: str, at: datetime) -> None:
        """Put a delivery back for another attempt at `at`."""
        await self._settle(
            delivery,
            worker_id,
            state="pending",
            available_at=at,
            last_error=error[:4000],
            lease_until=None,
        )

    async def bury(self, delivery: Delivery, worker_id: str, error: str) -> None:
        """Keep a delivery that failed for good as dead, with its error."""
        await self._settle(
            delivery,
            worker_id,
            state="dead",
            last_error=error[:4000],
            finished_at=utcnow(),
            lease_until=None,
            outcome="dead",
        )

    async def _settle(self, delivery: Delivery, worker_id: str, **values: Any) -> None:
        # Fenced by the claim: a worker whose claim was taken over (its lease ran out, and
        # the delivery was claimed again, attempts and all) changes nothing.
        async with writing(self.engine, self._write_lock) as conn:
            await conn.execute(
                update(deliveries)
                .where(
                    deliveries.c.seq == delivery.seq,
                    deliveries.c.claimed_by == worker_id,
                    deliveries.c.attempts == delivery.attempts,
                    deliveries.c.state == "processing",
                )
                .values(**values)
            )

    async def next_ready_at(self) -> datetime | None:
        """When the next delivery that could be claimed becomes available (retries wait)."""
        dialect = self.engine.dialect.name
        sql = _HEADS.format(open=_OPEN[dialect]) + _NEXT_READY.format(rows=_HEAD_ROWS[dialect])
        async with reading(self.engine) as conn:
            value = (await conn.execute(text(sql))).scalar()
        if isinstance(value, str):  # SQLite returns an aggregate of a DATETIME as text
            value = datetime.fromisoformat(value)
        return UTCDateTime().process_result_value(value, self.engine.dialect)


# The oldest unfinished delivery of each issue, plus the deliveries that belong to none: a
# walk over the unfinished-by-issue index, two index seeks per issue with work, so its cost
# follows the number of busy issues, not the backlog. (Scanning pending rows for ones with
# nothing earlier still open read the whole backlog whenever every issue with work was
# already in flight: 33 ms a claim at 6,000 pending.) Unfinished is `finished_at IS NULL`,
# written as in the partial index's own WHERE, which is how SQLite sees the index applies;
# the state tests of the outer query don't match it, so PostgreSQL fetches the heads by key.
# Statistics on a queue table are always stale, so SQLite is also told the index by name
# and the join order (CROSS JOIN).
_HEADS = """
WITH RECURSIVE busy(issue_key) AS (
  SELECT (SELECT issue_key FROM {open} AND issue_key IS NOT NULL ORDER BY issue_key, seq LIMIT 1)
  UNION ALL
  SELECT (SELECT issue_key FROM {open} AND issue_key > busy.issue_key
          ORDER BY issue_key, seq LIMIT 1)
  FROM busy WHERE busy.issue_key IS NOT NULL
), heads(seq) AS (
  SELECT (SELECT seq FROM {open} AND issue_key = busy.issue_key ORDER BY issue_key, seq LIMIT 1)
  FROM busy WHERE busy.issue_key IS NOT NULL
  UNION ALL
  SELECT seq FROM {open} AND issue_key IS NULL
)
"""
_OPEN = {
    "postgresql": f"deliveries WHERE {UNFINISHED}",
    "sqlite": f"deliveries INDEXED BY ix_deliveries_unfinished WHERE {UNFINISHED}",
}
# The heads' own rows, fetched by key.
_HEAD_ROWS = {
    "postgresql": "FROM deliveries WHERE seq = ANY(ARRAY(SELECT seq FROM heads)) AND",
    "sqlite": "FROM heads CROSS JOIN deliveries ON deliveries.seq = heads.seq WHERE",
}
# The incident lane first; within a lane, installations take turns (each one's oldest ready
# issue, then each one's second...), so one noisy installation cannot starve another.
_RANKED_HEADS = (
    "SELECT seq FROM (SELECT deliveries.seq AS seq, deliveries.lane AS lane,"
    " deliveries.available_at AS available_at, row_number() OVER (PARTITION BY"
    " deliveries.lane, deliveries.installation_id ORDER BY deliveries.available_at,"
    " deliveries.seq) AS turn {rows} {ready}) AS ranked"
    " ORDER BY lane, turn, available_at, seq LIMIT :limit"
)
# PostgreSQL locks no rows of a query with a window: the chosen rows are locked after, the
# ready test again beside the lock so that a row claimed meanwhile is seen as it is now.
_READY_HEADS = {
    "postgresql": "SELECT deliveries.seq FROM deliveries WHERE deliveries.seq IN ("
    + _RANKED_HEADS
    + ") AND {ready} FOR UPDATE SKIP LOCKED",
    "sqlite": _RANKED_HEADS,
}
_NEXT_READY = "SELECT min(deliveries.available_at) {rows} deliveries.state = 'pending'"
_READY = (
    "(deliveries.state = 'pending' AND deliveries.available_at <= :now"
    " OR deliveries.state = 'processing' AND deliveries.lease_until < :now)"
    " AND deliveries.seq NOT IN :running"
)


def _claim_statement(dialect: str) -> Any:
    """Mark up to :limit ready issue heads as claimed by :worker until :lease_until.

    On PostgreSQL each instance skips rows another is claiming: every delivery goes to one.
    """
    sql = _HEADS.format(open=_OPEN[dialect]) + _READY_HEADS[dialect].format(
        rows=_HEAD_ROWS[dialect], ready=_READY
    )
    ready = (
        text(sql)
        .bindparams(
            bindparam("now", type_=UTCDateTime()),
            bindparam("limit", type_=Integer()),
            bindparam("running", expanding=True, type_=Integer()),
        )
        .columns(deliveries.c.seq)
        .subquery("ready")
    )
    return (
        update(deliveries)
        .where(deliveries.c.seq.in_(select(ready.c.seq)))
        .values(
            state="processing",
            claimed_by=bindparam("worker"),
            lease_until=bindparam("lease_until", type_=UTCDateTime()),
            attempts=deliveries.c.attempts + 1,
            # Claimed while still processing: the attempt before was cut off.
            abandoned=deliveries.c.abandoned
            + case((deliveries.c.state == "processing", 1), else_=0),
        )
        .returning(
            deliveries.c.seq,
            deliveries.c.delivery_id,
            deliveries.c.event,
            deliveries.c.action,
            deliveries.c.installation_id,
            deliveries.c.issue_key,
            deliveries.c.payload,
            deliveries.c.received_at,
            deliveries.c.attempts,
            deliveries.c.abandoned,
            deliveries.c.lane,
        )
    )
