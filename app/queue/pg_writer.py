"""PostgreSQL's batch store: one prepared statement on a connection of the receiver's own."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from app.queue.delivery import INCIDENT, NOT_AN_INCIDENT, OTHER, UNRELATED
from app.queue.lanes import SETTLED_BODY, settle_within
from app.queue.writing import database_unavailable
from app.storage.db import UNFINISHED

WITHHELD = "withheld"  # not stored yet: sent again with its body (see _PG_INSERT)

# One round trip stores a batch on PostgreSQL (no BEGIN, no COMMIT: one statement is one
# transaction, and sees one snapshot). The rows come as one array per column; an unrelated
# row is stored as done unless its issue has unfinished work or a record, looked up per row
# over the unfinished-by-issue index and the incidents' key (scalar subqueries: as EXISTS,
# the planner may hash every incident, or every unfinished delivery, for each batch). An
# issue with incident work has the other-lane tail of its queue promoted (see _PROMOTE).
#
# An unrelated row comes without its body (NULL): most are settled, and the body would be
# sent, parsed and dropped. When one is not settled after all, its issue is WITHHELD: none
# of the batch's rows of that issue is stored, and the writer sends them again with their
# bodies, in their order, in a second statement that decides them anew.
_PG_INSERT = f"""
WITH input AS (
  SELECT * FROM unnest($1::varchar[], $2::varchar[], $3::varchar[], $4::bigint[],
    $5::varchar[], $6::varchar[], $7::text[], $8::timestamp[], $9::timestamp[],
    $10::smallint[], $11::bigint[], $12::int[])
    WITH ORDINALITY AS t(delivery_id, event, action, installation_id, repo, issue_key,
      payload, received_at, available_at, lane, repo_id, number, ord)
), decided AS (
  SELECT t.*,
    t.lane = {UNRELATED} AND (SELECT true FROM deliveries u
      WHERE u.{UNFINISHED} AND u.issue_key = t.issue_key LIMIT 1) IS NULL
    AS unqueued,
    t.lane <> {INCIDENT} AND (SELECT true FROM incidents n
      WHERE n.repo_id = t.repo_id AND n.number = t.number LIMIT 1) IS NOT NULL
    AS known
  FROM input t
), withheld AS (
  SELECT DISTINCT issue_key FROM decided WHERE payload IS NULL AND NOT (unqueued AND NOT known)
), promoted AS (
  UPDATE deliveries d SET lane = {INCIDENT}
  FROM (SELECT unnest($13::varchar[]) UNION SELECT issue_key FROM decided WHERE known)
    AS p(key)
  WHERE d.{UNFINISHED} AND d.issue_key = p.key AND d.lane <> {INCIDENT}
    AND d.seq > coalesce((SELECT x.seq FROM deliveries x WHERE x.{UNFINISHED}
      AND x.issue_key = p.key AND x.lane = {INCIDENT} ORDER BY x.seq DESC LIMIT 1), 0)
), stored AS (
INSERT INTO deliveries (delivery_id, event, action, installation_id, repo, issue_key, payload,
  received_at, state, attempts, abandoned, available_at, outcome, finished_at, lane)
SELECT delivery_id, event, action, installation_id, repo, issue_key,
  CASE WHEN unqueued AND NOT known THEN '{SETTLED_BODY}' ELSE payload END, received_at,
  CASE WHEN unqueued AND NOT known THEN 'done' ELSE 'pending' END, 0, 0, available_at,
  CASE WHEN unqueued AND NOT known THEN '{NOT_AN_INCIDENT}' END,
  CASE WHEN unqueued AND NOT known THEN received_at END,
  CASE WHEN known THEN {INCIDENT} WHEN lane = {UNRELATED} AND NOT unqueued THEN {OTHER}
    ELSE lane END
FROM decided WHERE issue_key IS NULL OR issue_key NOT IN (SELECT issue_key FROM withheld)
ORDER BY ord
ON CONFLICT (delivery_id) DO NOTHING
RETURNING delivery_id, state
)
SELECT delivery_id, state FROM stored
UNION ALL
SELECT delivery_id, '{WITHHELD}' FROM decided WHERE issue_key IN (SELECT issue_key FROM withheld)
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
        return database_unavailable(exc)

    async def _connection(self) -> Any:
        if self._conn is None or self._conn.is_closed():
            fairy = await self.engine.raw_connection()
            driver = fairy.driver_connection
            fairy.detach()  # ours now: the pool neither reuses nor closes it
            self._fairy = fairy  # held: the connection lives as long as its proxy
            self._conn = driver
        return self._conn

    async def insert(self, rows: list[dict[str, Any]]) -> list[bool]:
        """Store a batch; which rows were new, in order. Should a second statement (see
        _PG_INSERT) fail, the first one's rows stay stored and the batch fails: a
        redelivery of them is a duplicate, of the others new (nothing lost, nothing twice)."""
        promote = settle_within(rows)
        found = await self._store(rows, promote, withhold=True)
        states = dict(found)
        held = [row for row in rows if states.get(row["delivery_id"]) == WITHHELD]
        if held:
            # Issues with work after all: their rows again, with their bodies (rare: a
            # flood's label traffic is on issues without any).
            keys = {row["issue_key"] for row in held}
            for row in held:
                states.pop(row["delivery_id"], None)  # a repeat in the batch: once
            found = await self._store(held, [key for key in promote if key in keys])
            states.update(found)
        new = []
        for row in rows:
            state = states.pop(row["delivery_id"], None)  # a repeat in the batch: not new
            new.append(state is not None)
            if state == "done":
                row.update(state="done", outcome=NOT_AN_INCIDENT, payload=SETTLED_BODY)
        return new

    async def _store(
        self, rows: list[dict[str, Any]], promote: list[str], withhold: bool = False
    ) -> list[Any]:
        """One statement for the rows; with `withhold`, unrelated rows go without a body."""
        columns: list[list[Any]] = [[] for _ in range(12)]
        seen: dict[datetime, datetime] = {}
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
                None if withhold and row["lane"] == UNRELATED else row["payload"],
                _naive(row["received_at"], seen),
                _naive(row["available_at"], seen),
                row["lane"],
                int(repo) if numbered else None,
                int(number) if numbered else None,
            )
            for column, value in zip(columns, values, strict=True):
                column.append(value)
        conn = await self._connection()
        try:
            return list(await conn.fetch(_PG_INSERT, *columns, promote))
        except BaseException as exc:
            if PgWriter.unavailable(exc) or not isinstance(exc, Exception):
                await self._drop()
            raise

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.terminate()

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.close(timeout=2)


def _naive(value: datetime, seen: dict[datetime, datetime]) -> datetime:
    """UTC without its zone, as the columns hold it; a batch's times are a few instants
    (Inbox._receipt_times), each converted once."""
    naive = seen.get(value)
    if naive is None:
        naive = seen[value] = value.astimezone(UTC).replace(tzinfo=None)
    return naive
