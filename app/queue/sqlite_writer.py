"""SQLite's batch store: one call into the sqlite3 module, or a writer thread that waits."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from app.queue.lanes import known_keys, last_lanes, settle_lanes, sqlite_lookups, sqlite_promotions
from app.queue.writing import WRITE_WAIT
from app.storage.db import UTCDateTime, deliveries


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
        # Timestamps are bound as the text SQLAlchemy stores for SQLite (see `stamp`).
        self._time_at = [
            at
            for at, name in enumerate(self._columns)
            if isinstance(deliveries.c[name].type, UTCDateTime)
        ]
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
            stamps: dict[datetime, str] = {}
            conn.executemany(self._insert_sql, [self._bind(row, stamps) for row in fresh])
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return new

    def _triage(self, conn: sqlite3.Connection, rows: list[dict[str, Any]]) -> None:
        """`Inbox._triage_rows` in the writer's own transaction."""
        unfinished_sql, known_sql = sqlite_lookups(rows)
        unfinished = last_lanes(conn.execute(*unfinished_sql)) if unfinished_sql else {}
        known = known_keys(conn.execute(*known_sql), rows) if known_sql else set()
        for promote in sqlite_promotions(settle_lanes(rows, unfinished, known)):
            conn.execute(*promote)

    def _bind(self, row: dict[str, Any], stamps: dict[datetime, str]) -> list[Any]:
        values = [row.get(name) for name in self._columns]
        # A batch's times are a few instants (received and settled, available after the
        # settle delay; see Inbox._receipt_times): each rendered once per batch.
        for at in self._time_at:
            if (when := values[at]) is not None:
                text = stamps.get(when)
                if text is None:
                    text = stamps[when] = stamp(when)
                values[at] = text
        return values

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


def stamp(value: datetime) -> str:
    """A timestamp as SQLAlchemy binds it for SQLite: naive UTC, always with microseconds
    (its queries compare these strings, so an instant must always read the same)."""
    if value.tzinfo is None:
        raise ValueError("naive datetime given to the database")
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return value.replace(tzinfo=None).isoformat(" ", "microseconds")
