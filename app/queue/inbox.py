"""The durable inbox: store each delivery once, claim work per issue in order, finish it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.queue.backlog import Backlog
from app.queue.batching import GroupCommit
from app.queue.claims import Claims
from app.queue.delivery import (
    INCIDENT,
    LANE_NAMES,
    NOT_AN_INCIDENT,
    OTHER,
    UNRELATED,
    DeadLetter,
    Delivery,
)
from app.queue.lanes import known_keys, last_lanes, settle_lanes, sqlite_lookups, sqlite_promotions
from app.queue.pg_writer import PgWriter
from app.queue.sqlite_writer import SqliteWriter
from app.queue.writing import WRITE_WAIT, InboxUnavailable, database_unavailable
from app.storage.db import deliveries, reading, utcnow, writing

# The inbox's names, where the app and its tests import them from.
__all__ = [
    "INCIDENT",
    "LANE_NAMES",
    "NOT_AN_INCIDENT",
    "OTHER",
    "UNRELATED",
    "DeadLetter",
    "Delivery",
    "Envelope",
    "Inbox",
    "InboxUnavailable",
]

log = logging.getLogger(__name__)

# A stored delivery's verdict.
QUEUED, SETTLED, DUPLICATE = "queued", "settled", "duplicate"

# A failed store keeps /healthz red this long, or until a store succeeds.
FAILURE_REMEMBERED = 60.0


_LIMITS: dict[str, int] = {
    name: int(getattr(deliveries.c[name].type, "length", 0) or 0)
    for name in ("delivery_id", "event", "action", "repo", "issue_key")
}
_SHORTEST_LIMIT = min(_LIMITS.values())


@dataclass(frozen=True)
class Envelope:
    """What the receiver stores for one delivery."""

    delivery_id: str
    event: str
    action: str | None
    installation_id: int | None
    repo: str | None
    issue_key: str | None
    payload: str
    lane: int = INCIDENT

    def oversized(self) -> list[str]:
        """Fields longer than their column: GitHub never sends them, PostgreSQL refuses them."""
        # Every delivery passes: one comparison of the longest field first, the names after.
        longest = max(
            len(self.delivery_id),
            len(self.event),
            len(self.action or ""),
            len(self.repo or ""),
            len(self.issue_key or ""),
        )
        if longest <= _SHORTEST_LIMIT:
            return []
        return [name for name, limit in _LIMITS.items() if len(getattr(self, name) or "") > limit]


class Inbox(Claims, Backlog):
    """The durable inbox: the receiver stores into it, the worker claims from it."""

    def __init__(self, engine: AsyncEngine) -> None:
        super().__init__(engine)
        on_disk = not self.is_postgres and (engine.url.database or ":memory:") != ":memory:"
        self._sqlite = SqliteWriter(engine) if on_disk else None
        self._pg = PgWriter(engine) if self.is_postgres else None
        write = self._insert
        if self._sqlite is not None:
            write = self._insert_sqlite
        elif self._pg is not None:
            write = self._insert_pg
        self._write = write
        # A database that cannot write fails the whole batch at once, not item by item.
        self._writer: GroupCommit[dict[str, Any], str] = GroupCommit(
            self._verdicts, whole_batch=InboxUnavailable
        )
        self._turn = -1.0  # the loop's time of the last receipt, and its instants
        self._now = utcnow()
        self._later: dict[float, datetime] = {}
        self._failed_at: float | None = None  # the last store the database refused
        self.settled_at_receipt = 0  # deliveries stored as done: unrelated to any incident
        insert = pg_insert if self.is_postgres else sqlite_insert
        # Built once and run with many parameter sets: SQLAlchemy caches its compiled form
        # (a statement with the rows inlined was compiled anew for every batch, ~5 ms each).
        self._insert_stmt = (
            insert(deliveries)
            .on_conflict_do_nothing(index_elements=["delivery_id"])
            .returning(deliveries.c.delivery_id)
        )

    async def store(self, envelope: Envelope, *, delay: float = 0.0) -> bool:
        """Store a delivery; False when its id was stored before (a redelivery).

        Returns once the row is committed; concurrent calls share one transaction.
        """
        return await self.store_soon(envelope, delay=delay) != DUPLICATE

    async def store_verdict(self, envelope: Envelope, *, delay: float = 0.0) -> str:
        """Store a delivery: "queued" for the worker, "settled" (stored as done, not an
        incident), or "duplicate" (its id was stored before)."""
        return await self.store_soon(envelope, delay=delay)

    def store_soon(self, envelope: Envelope, *, delay: float = 0.0) -> asyncio.Future[str]:
        """`store_verdict` as a future, set once the delivery's batch is committed (or with
        InboxUnavailable when the database cannot take it)."""
        now, available = self._receipt_times(delay)
        values: dict[str, Any] = {
            "delivery_id": envelope.delivery_id,
            "event": envelope.event,
            "action": envelope.action,
            "installation_id": envelope.installation_id,
            "repo": envelope.repo,
            "issue_key": envelope.issue_key,
            "payload": envelope.payload,
            "received_at": now,
            "state": "pending",
            "attempts": 0,
            "abandoned": 0,
            "available_at": available,
            "lane": envelope.lane,
        }
        return self._writer.enqueue(values)

    def _receipt_times(self, delay: float) -> tuple[datetime, datetime]:
        """When a delivery was received, and when it is ready. Deliveries received in one
        turn of the event loop share one instant (uvloop reads the clock once a turn), so
        a batch's times are one object each and are rendered once."""
        turn = asyncio.get_running_loop().time()
        if turn != self._turn:
            self._turn, self._now, self._later = turn, utcnow(), {}
        now = self._now
        if not delay:
            return now, now
        later = self._later.get(delay)
        if later is None:
            later = self._later[delay] = now + timedelta(seconds=delay)
        return now, later

    async def _verdicts(self, rows: list[dict[str, Any]]) -> list[str]:
        """Write a batch; each row's verdict (see `store_verdict`)."""
        try:
            new = await self._write(rows)
        except InboxUnavailable:
            self._failed_at = time.monotonic()
            raise
        self._failed_at = None
        verdicts = []
        for row, is_new in zip(rows, new, strict=True):
            if not is_new:
                verdicts.append(DUPLICATE)
            elif row["state"] == "done":
                self.settled_at_receipt += 1
                verdicts.append(SETTLED)
            else:
                verdicts.append(QUEUED)
        return verdicts

    async def _insert(self, rows: list[dict[str, Any]]) -> list[bool]:
        """One INSERT for many deliveries; which of them were new, in order."""
        try:
            async with asyncio.timeout(WRITE_WAIT), writing(self.engine, self._write_lock) as conn:
                await self._triage_rows(conn, rows)
                inserted = set((await conn.execute(self._insert_stmt, rows)).scalars())
        except Exception as exc:
            if database_unavailable(exc):
                raise InboxUnavailable(repr(exc)) from exc
            raise
        seen: set[str] = set()
        new = []
        for row in rows:
            delivery_id = row["delivery_id"]
            new.append(delivery_id in inserted and delivery_id not in seen)
            seen.add(delivery_id)
        return new

    async def _insert_sqlite(self, rows: list[dict[str, Any]]) -> list[bool]:
        assert self._sqlite is not None
        try:
            # The lock may be held by a worker's write that waits on a database locked by
            # another process: the store gives up with it after WRITE_WAIT.
            async with asyncio.timeout(WRITE_WAIT), self._write_lock or contextlib.nullcontext():
                return await self._sqlite.insert(rows)
        except Exception as exc:
            if database_unavailable(exc):
                raise InboxUnavailable(repr(exc)) from exc
            raise

    async def _triage_rows(self, conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
        """Settle the batch's lanes against the database (SQLite in memory; see SqliteWriter)."""

        async def run(sql: str, params: list[Any]) -> list[Any]:
            return list((await conn.exec_driver_sql(sql, tuple(params))).all())

        unfinished_sql, known_sql = sqlite_lookups(rows)
        unfinished = last_lanes(await run(*unfinished_sql)) if unfinished_sql else {}
        known = known_keys(await run(*known_sql), rows) if known_sql else set()
        for sql, params in sqlite_promotions(settle_lanes(rows, unfinished, known)):
            await conn.exec_driver_sql(sql, tuple(params))

    async def writable(self) -> bool:
        """Whether the database takes writes now: no store refused lately, and the write
        lock (SQLite) or a primary server (PostgreSQL) answers within WRITE_WAIT."""
        failed = self._failed_at
        if failed is not None and time.monotonic() - failed < FAILURE_REMEMBERED:
            return False
        try:
            if self._sqlite is not None:
                return await self._sqlite.probe()
            async with asyncio.timeout(WRITE_WAIT), reading(self.engine) as conn:
                sql = "SELECT NOT pg_is_in_recovery()" if self.is_postgres else "SELECT 1"
                return bool((await conn.execute(text(sql))).scalar())
        except Exception as exc:
            log.warning("the database cannot take writes: %r", exc)
            return False

    async def close(self) -> None:
        if self._sqlite is not None:
            self._sqlite.close()
        if self._pg is not None:
            await self._pg.close()

    async def _insert_pg(self, rows: list[dict[str, Any]]) -> list[bool]:
        assert self._pg is not None
        try:
            async with asyncio.timeout(WRITE_WAIT):
                return await self._pg.insert(rows)
        except Exception as exc:
            if PgWriter.unavailable(exc):
                raise InboxUnavailable(repr(exc)) from exc
            raise
