"""The durable inbox: store each delivery once, claim work per issue in order, finish it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Collection
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Integer, bindparam, case, delete, event, func, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, ProgrammingError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.queue.batching import GroupCommit
from app.storage.db import UNFINISHED, UTCDateTime, deliveries, reading, utcnow

log = logging.getLogger(__name__)

# How long a store waits for the database before the receiver answers 503 (GitHub allows
# 10 s a delivery; one refused now is redelivered, one answered late is lost).
WRITE_WAIT = 2.0
# A failed store keeps /healthz red this long, or until a store succeeds.
FAILURE_REMEMBERED = 60.0

# Lanes (app/service/triage.py sorts deliveries into them at receipt): claims take INCIDENT first.
INCIDENT = 0  # may concern an incident
OTHER = 1  # processed after incident work
# Cannot concern an incident unless its issue is a known incident or has work queued: then
# it is stored for the worker (in INCIDENT or OTHER); else it is stored as done at once.
UNRELATED = 2
LANE_NAMES = {INCIDENT: "incident", OTHER: "other"}
NOT_AN_INCIDENT = "not an incident"


class InboxUnavailable(Exception):
    """The database cannot take the write now (locked, full, unreachable): try again later."""


def _unavailable(exc: BaseException) -> bool:
    """A failure of the database itself, not of one delivery's row."""
    if isinstance(exc, IntegrityError | DataError | ProgrammingError):
        return False
    return isinstance(exc, TimeoutError | OSError | sqlite3.OperationalError | DBAPIError)


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


_LIMITS: dict[str, int] = {
    name: int(getattr(deliveries.c[name].type, "length", 0) or 0)
    for name in ("delivery_id", "event", "action", "repo", "issue_key")
}


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
        return [name for name, limit in _LIMITS.items() if len(getattr(self, name) or "") > limit]


def _incident_keys(rows: list[dict[str, Any]]) -> set[str]:
    """The issue keys whose incident record decides the row's lane (`repo_id#number`)."""
    keys = set()
    for row in rows:
        key = row["issue_key"]
        if row["lane"] != INCIDENT and key:
            repo, _, number = key.partition("#")
            if repo.isdigit() and number.isdigit():
                keys.add(key)
    return keys


def settle_lanes(
    rows: list[dict[str, Any]], unfinished: dict[str, int], known: set[str]
) -> set[str]:
    """Give each new row of a batch its lane, in arrival order; the issues whose unfinished
    rows in the database must move to the incident lane.

    `unfinished`: issue key -> the highest lane of its deliveries not finished yet.
    `known`: issue keys of known incidents and reports. An unrelated delivery is stored as
    done unless its issue is known or has work queued (which it must not overtake: it is
    queued behind it instead). An issue with incident work has all its queued work in the
    incident lane, so nothing of it waits in the other lane ahead of its incident work.
    """
    incident_issues = {
        row["issue_key"]
        for row in rows
        if row["issue_key"] and (row["lane"] == INCIDENT or row["issue_key"] in known)
    }
    queued = set(unfinished)
    for row in rows:
        key = row["issue_key"]
        if row["lane"] == UNRELATED:
            if key not in queued and key not in incident_issues:
                row.update(state="done", outcome=NOT_AN_INCIDENT, finished_at=row["received_at"])
                continue
            row["lane"] = OTHER
        if key in incident_issues:
            row["lane"] = INCIDENT
        if key:
            queued.add(key)
    return {key for key in incident_issues if unfinished.get(key, INCIDENT) != INCIDENT}


class Inbox:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.is_postgres = engine.dialect.name == "postgresql"
        on_disk = not self.is_postgres and (engine.url.database or ":memory:") != ":memory:"
        self._sqlite = SqliteWriter(engine) if on_disk else None
        self._pg = PgWriter(engine) if self.is_postgres else None
        write = self._insert
        if self._sqlite is not None:
            write = self._insert_sqlite
        elif self._pg is not None:
            write = self._insert_pg
        # A database that cannot write fails the whole batch at once, not item by item.
        self._writer = GroupCommit(write, whole_batch=InboxUnavailable)
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
        self._claim_stmt = _claim_statement(engine.dialect.name)
        # SQLite has one writer at a time; queueing this process's inbox writes here is
        # fairer and faster than SQLite's busy handler, which sleeps and polls for the lock.
        self._write_lock = asyncio.Lock() if not self.is_postgres else None

    @asynccontextmanager
    async def _writing(self) -> AsyncIterator[AsyncConnection]:
        if self._write_lock is None:
            async with self.engine.begin() as conn:
                yield conn
            return
        async with self._write_lock, self.engine.begin() as conn:
            yield conn

    async def store(self, envelope: Envelope, *, delay: float = 0.0) -> bool:
        """Store a delivery; False when its id was stored before (a redelivery).

        Returns once the row is committed; concurrent calls share one transaction.
        """
        now = utcnow()
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
            "available_at": now + timedelta(seconds=delay),
            "lane": envelope.lane,
        }
        try:
            stored = await self._writer.submit(values)
        except InboxUnavailable:
            self._failed_at = time.monotonic()
            raise
        self._failed_at = None
        if stored and values["state"] == "done":
            self.settled_at_receipt += 1
        return stored

    async def store_verdict(self, envelope: Envelope, *, delay: float = 0.0) -> str:
        """Store a delivery: "queued" for the worker, "settled" (stored as done, not an
        incident), or "duplicate" (its id was stored before)."""
        before = self.settled_at_receipt
        if not await self.store(envelope, delay=delay):
            return "duplicate"
        return "settled" if self.settled_at_receipt > before else "queued"

    async def _insert(self, rows: list[dict[str, Any]]) -> list[bool]:
        """One INSERT for many deliveries; which of them were new, in order."""
        try:
            async with asyncio.timeout(WRITE_WAIT), self._writing() as conn:
                await self._triage_rows(conn, rows)
                inserted = set((await conn.execute(self._insert_stmt, rows)).scalars())
        except Exception as exc:
            if _unavailable(exc):
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
            if _unavailable(exc):
                raise InboxUnavailable(repr(exc)) from exc
            raise

    async def _triage_rows(self, conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
        """Settle the batch's lanes against the database (SQLite in memory; see SqliteWriter)."""

        async def run(sql: str, params: list[Any]) -> list[Any]:
            return list((await conn.exec_driver_sql(sql, tuple(params))).all())

        unfinished_sql, known_sql = _sqlite_lookups(rows)
        unfinished = _last_lanes(await run(*unfinished_sql)) if unfinished_sql else {}
        known = _known(await run(*known_sql), rows) if known_sql else set()
        for sql, params in _sqlite_promotions(settle_lanes(rows, unfinished, known)):
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

    async def known(self, delivery_ids: list[str]) -> set[str]:
        if not delivery_ids:
            return set()
        async with reading(self.engine) as conn:
            rows = await conn.execute(
                select(deliveries.c.delivery_id).where(deliveries.c.delivery_id.in_(delivery_ids))
            )
        return {row[0] for row in rows}

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
        async with self._writing() as conn:
            rows = (await conn.execute(self._claim_stmt, values)).all()
        return sorted((Delivery(*row) for row in rows), key=lambda d: d.seq)

    async def release_all(self) -> int:
        """Hand every claimed delivery back (start-up of a single-instance SQLite service)."""
        async with self._writing() as conn:
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
        async with self._writing() as conn:
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
        async with self._writing() as conn:
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
        async with self._writing() as conn:
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
            async with self._writing() as conn:
                result = await conn.execute(
                    delete(deliveries).where(deliveries.c.seq.in_(oldest.scalar_subquery()))
                )
            count = int(result.rowcount or 0)
            deleted += count
            if count < batch:
                return deleted
            await asyncio.sleep(0)  # let waiting stores in between batches

    async def next_ready_at(self) -> datetime | None:
        """When the next delivery that could be claimed becomes available (retries wait)."""
        dialect = self.engine.dialect.name
        sql = _HEADS.format(open=_OPEN[dialect]) + _NEXT_READY.format(rows=_HEAD_ROWS[dialect])
        async with reading(self.engine) as conn:
            value = (await conn.execute(text(sql))).scalar()
        if isinstance(value, str):  # SQLite returns an aggregate of a DATETIME as text
            value = datetime.fromisoformat(value)
        return UTCDateTime().process_result_value(value, self.engine.dialect)

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


class SqliteWriter:
    """Stores a batch of deliveries in one step, in the sqlite3 module's C code (SQLite only).

    The whole transaction (look for known ids, insert the new ones, commit) is one call
    instead of a dozen async round trips. It runs on the event loop's own connection, which
    never waits for the database lock: a write in WAL mode with synchronous=NORMAL does no
    fsync and takes a fraction of a millisecond, less than handing it to a thread and back
    (about a fifth of the receiver's throughput). When another connection of this process
    holds the lock (the worker saving an incident, whose commit needs this very loop), the
    batch goes to a writer thread that waits for the lock instead.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self.path = engine.url.database or ""
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="inbox-writer")
        self._conn: sqlite3.Connection | None = None
        self._loop_conn: sqlite3.Connection | None = None
        self._columns = [c.name for c in deliveries.columns if c.name != "seq"]
        # Bind values exactly as SQLAlchemy does, so its queries compare them correctly.
        self._binders = {c.name: c.type.bind_processor(engine.dialect) for c in deliveries.columns}
        names = ", ".join(self._columns)
        marks = ", ".join("?" for _ in self._columns)
        self._insert_sql = f"INSERT INTO deliveries ({names}) VALUES ({marks})"
        self._stop = threading.Event()
        self._checkpointer = threading.Thread(
            target=self._checkpoint_every, args=(1.0,), name="inbox-checkpoint", daemon=True
        )

    def _checkpoint_every(self, seconds: float) -> None:
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            while not self._stop.wait(seconds):
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
        finally:
            conn.close()

    async def insert(self, rows: list[dict[str, Any]]) -> list[bool]:
        if self._loop_conn is None:
            self._loop_conn = self._open(timeout=0)  # busy: fail at once, never block the loop
        try:
            return self._insert(self._loop_conn, rows)
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode not in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
                raise
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._thread, self._insert_waiting, rows)

    def _insert_waiting(self, rows: list[dict[str, Any]]) -> list[bool]:
        return self._insert(self._waiting_conn(), rows)

    def _waiting_conn(self) -> sqlite3.Connection:
        if self._conn is None:
            # Waits for the lock no longer than the receiver can (then the answer is 503).
            self._conn = self._open(timeout=WRITE_WAIT)
        return self._conn

    async def probe(self) -> bool:
        """Take the write lock and let it go: True when that works within WRITE_WAIT."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._thread, self._probe)

    def _probe(self) -> bool:
        conn = self._waiting_conn()
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("ROLLBACK")
        return True

    def _open(self, *, timeout: float) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=timeout, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")  # durable against a killed process
        # Checkpoints (copying the log into the database, with an fsync) happen on a
        # thread of their own, never inside a delivery's commit.
        conn.execute("PRAGMA wal_autocheckpoint=0")
        if self._checkpointer.ident is None:  # started once, by the first connection
            self._checkpointer.start()
        return conn

    def _insert(self, conn: sqlite3.Connection, rows: list[dict[str, Any]]) -> list[bool]:
        ids = [row["delivery_id"] for row in rows]
        conn.execute("BEGIN IMMEDIATE")  # SQLITE_BUSY here has written nothing
        try:
            marks = ", ".join("?" for _ in ids)
            known = {
                found
                for (found,) in conn.execute(
                    f"SELECT delivery_id FROM deliveries WHERE delivery_id IN ({marks})", ids
                )
            }
            new: list[bool] = []
            fresh: list[dict[str, Any]] = []
            for row in rows:
                is_new = row["delivery_id"] not in known
                new.append(is_new)
                if is_new:
                    known.add(row["delivery_id"])  # a repeat inside the batch is a duplicate
                    fresh.append(row)
            self._triage(conn, fresh)
            conn.executemany(
                self._insert_sql,
                [tuple(self._bind(name, row.get(name)) for name in self._columns) for row in fresh],
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return new

    def _triage(self, conn: sqlite3.Connection, rows: list[dict[str, Any]]) -> None:
        """`Inbox._triage_rows` in the writer's own transaction."""
        unfinished_sql, known_sql = _sqlite_lookups(rows)
        unfinished = _last_lanes(conn.execute(*unfinished_sql)) if unfinished_sql else {}
        known = _known(conn.execute(*known_sql), rows) if known_sql else set()
        for promote in _sqlite_promotions(settle_lanes(rows, unfinished, known)):
            conn.execute(*promote)

    def _bind(self, name: str, value: Any) -> Any:
        binder = self._binders[name]
        return binder(value) if binder is not None and value is not None else value

    def close(self) -> None:
        self._stop.set()
        if self._loop_conn is not None:
            self._loop_conn.close()
            self._loop_conn = None

        def shut() -> None:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

        self._thread.submit(shut).result()
        self._thread.shutdown(wait=True)


# Per issue: the lane of its newest unfinished delivery, None when it has none. Lanes only
# ever fall along an issue's queue (0s, then 1s: promotion turns the 1s behind new incident
# work into 0s), so the newest one's lane is the highest, and one index seek finds it.
_LAST_LANE = (
    "SELECT lane FROM deliveries INDEXED BY ix_deliveries_unfinished"
    f" WHERE {UNFINISHED} AND issue_key = k.key ORDER BY seq DESC LIMIT 1"
)
# The other-lane tail of an issue's queue, behind its newest incident-lane delivery.
_PROMOTE = (
    f"UPDATE deliveries SET lane = {INCIDENT} WHERE {UNFINISHED} AND issue_key = ?"
    f" AND lane != {INCIDENT} AND seq > coalesce((SELECT seq FROM deliveries"
    f" INDEXED BY ix_deliveries_unfinished WHERE {UNFINISHED} AND issue_key = ?"
    f" AND lane = {INCIDENT} ORDER BY seq DESC LIMIT 1), 0)"
)


def _sqlite_lookups(
    rows: list[dict[str, Any]],
) -> tuple[tuple[str, list[Any]] | None, tuple[str, list[Any]] | None]:
    """The two queries a batch's lanes are settled with on SQLite: each issue's newest
    unfinished lane, and which of the issues are known incidents."""
    keys = sorted({row["issue_key"] for row in rows if row["issue_key"]})
    if not keys:
        return None, None
    values = ", ".join("(?)" for _ in keys)
    unfinished = (f"WITH k(key) AS (VALUES {values}) SELECT k.key, ({_LAST_LANE}) FROM k", keys)
    asked = _incident_keys(rows)
    if not asked:
        return unfinished, None
    repos = sorted({int(key.partition("#")[0]) for key in asked})
    numbers = sorted({int(key.partition("#")[2]) for key in asked})
    known = (
        "SELECT repo_id, number FROM incidents"
        f" WHERE repo_id IN ({', '.join('?' for _ in repos)})"
        f" AND number IN ({', '.join('?' for _ in numbers)})",
        [*repos, *numbers],
    )
    return unfinished, known


def _last_lanes(found: Any) -> dict[str, int]:
    return {key: int(lane) for key, lane in found if lane is not None}


def _known(found: Any, rows: list[dict[str, Any]]) -> set[str]:
    return {f"{repo}#{number}" for repo, number in found} & _incident_keys(rows)


def _sqlite_promotions(keys: set[str]) -> list[tuple[str, list[Any]]]:
    return [(_PROMOTE, [key, key]) for key in sorted(keys)]


def settle_within(rows: list[dict[str, Any]]) -> list[str]:
    """`settle_lanes` for what a batch says of itself, for a statement that looks up the
    database for each row (PgWriter): an issue with incident work in the batch has all its
    rows there in the incident lane; an unrelated row behind another row of its issue in the
    batch is queued behind it. The issue keys whose queued rows move to the incident lane."""
    incident_issues = {row["issue_key"] for row in rows if row["lane"] == INCIDENT}
    incident_issues.discard(None)
    queued: set[str] = set()
    for row in rows:
        key = row["issue_key"]
        if key in incident_issues:
            row["lane"] = INCIDENT
        elif row["lane"] == UNRELATED and key in queued:
            row["lane"] = OTHER
        if key and row["lane"] != UNRELATED:
            queued.add(key)
    return sorted(incident_issues)


# One round trip stores a batch on PostgreSQL (no BEGIN, no COMMIT: one statement is one
# transaction, and sees one snapshot). The rows come as one array per column; an unrelated
# row is stored as done unless its issue has unfinished work or a record, looked up per row
# over the unfinished-by-issue index and the incidents' key. An issue with incident work
# has the other-lane tail of its queue promoted (see _PROMOTE).
_PG_INSERT = f"""
WITH input AS (
  SELECT * FROM unnest($1::varchar[], $2::varchar[], $3::varchar[], $4::bigint[],
    $5::varchar[], $6::varchar[], $7::text[], $8::timestamp[], $9::timestamp[],
    $10::smallint[], $11::bigint[], $12::int[])
    WITH ORDINALITY AS t(delivery_id, event, action, installation_id, repo, issue_key,
      payload, received_at, available_at, lane, repo_id, number, ord)
), decided AS (
  SELECT t.*,
    t.lane = {UNRELATED} AND NOT EXISTS (
      SELECT 1 FROM deliveries u WHERE u.{UNFINISHED} AND u.issue_key = t.issue_key)
    AS unqueued,
    t.lane <> {INCIDENT} AND EXISTS (
      SELECT 1 FROM incidents n WHERE n.repo_id = t.repo_id AND n.number = t.number)
    AS known
  FROM input t
), promoted AS (
  UPDATE deliveries d SET lane = {INCIDENT}
  FROM (SELECT unnest($13::varchar[]) UNION SELECT issue_key FROM decided WHERE known)
    AS p(key)
  WHERE d.{UNFINISHED} AND d.issue_key = p.key AND d.lane <> {INCIDENT}
    AND d.seq > coalesce((SELECT x.seq FROM deliveries x WHERE x.{UNFINISHED}
      AND x.issue_key = p.key AND x.lane = {INCIDENT} ORDER BY x.seq DESC LIMIT 1), 0)
)
INSERT INTO deliveries (delivery_id, event, action, installation_id, repo, issue_key, payload,
  received_at, state, attempts, abandoned, available_at, outcome, finished_at, lane)
SELECT delivery_id, event, action, installation_id, repo, issue_key, payload, received_at,
  CASE WHEN unqueued AND NOT known THEN 'done' ELSE 'pending' END, 0, 0, available_at,
  CASE WHEN unqueued AND NOT known THEN '{NOT_AN_INCIDENT}' END,
  CASE WHEN unqueued AND NOT known THEN received_at END,
  CASE WHEN known THEN {INCIDENT} WHEN lane = {UNRELATED} AND NOT unqueued THEN {OTHER}
    ELSE lane END
FROM decided ORDER BY ord
ON CONFLICT (delivery_id) DO NOTHING
RETURNING delivery_id, state
"""


class PgWriter:
    """Stores a batch of deliveries in one statement on a connection of its own (PostgreSQL).

    asyncpg prepares the statement once per connection; the connection is taken out of the
    engine's pool for good, so that no checkout, liveness ping or BEGIN/COMMIT round trip
    comes between the receiver and the write. A failed write drops it: the next opens anew.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._conn: Any = None  # asyncpg.Connection
        self._fairy: Any = None
        # Out of the pool, the connection is not closed by `engine.dispose()`: this does.
        event.listen(engine.sync_engine, "engine_disposed", self._disposed)

    def _disposed(self, _engine: Any) -> None:
        conn, self._conn, self._fairy = self._conn, None, None
        if conn is not None:
            conn.terminate()

    @staticmethod
    def unavailable(exc: BaseException) -> bool:
        """A failure of the database or the connection, not of one delivery's row."""
        import asyncpg

        if isinstance(exc, asyncpg.DataError | asyncpg.IntegrityConstraintViolationError):
            return False
        if isinstance(exc, asyncpg.PostgresError | asyncpg.InterfaceError):
            return True
        return _unavailable(exc)

    async def _connection(self) -> Any:
        if self._conn is None or self._conn.is_closed():
            fairy = await self.engine.raw_connection()
            driver = fairy.driver_connection
            fairy.detach()  # ours now: the pool neither reuses nor closes it
            self._fairy = fairy  # held: the connection lives as long as its proxy
            self._conn = driver
        return self._conn

    async def insert(self, rows: list[dict[str, Any]]) -> list[bool]:
        promote = settle_within(rows)
        columns: list[list[Any]] = [[] for _ in range(12)]
        for row in rows:
            repo, _, number = (row["issue_key"] or "").partition("#")
            numbered = repo.isdigit() and number.isdigit() and len(repo) < 19 and len(number) < 10
            values = (
                row["delivery_id"],
                row["event"],
                row["action"],
                row["installation_id"],
                row["repo"],
                row["issue_key"],
                row["payload"],
                _naive(row["received_at"]),
                _naive(row["available_at"]),
                row["lane"],
                int(repo) if numbered else None,
                int(number) if numbered else None,
            )
            for column, value in zip(columns, values, strict=True):
                column.append(value)
        conn = await self._connection()
        try:
            found = await conn.fetch(_PG_INSERT, *columns, promote)
        except BaseException as exc:
            if PgWriter.unavailable(exc) or not isinstance(exc, Exception):
                await self._drop()
            raise
        states = {delivery_id: state for delivery_id, state in found}
        new = []
        for row in rows:
            state = states.pop(row["delivery_id"], None)  # a repeat in the batch: not new
            new.append(state is not None)
            if state == "done":
                row.update(state="done", outcome=NOT_AN_INCIDENT)
        return new

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.terminate()

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.close(timeout=2)


def _naive(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(tzinfo=None)


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
