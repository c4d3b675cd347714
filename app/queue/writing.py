"""How the inbox reaches its database: the write wait, one writer at a time, and outages."""

from __future__ import annotations

import asyncio
import sqlite3

from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, ProgrammingError
from sqlalchemy.ext.asyncio import AsyncEngine

# How long a store waits for the database before the receiver answers 503 (GitHub allows
# 10 s a delivery; one refused now is redelivered, one answered late is lost).
WRITE_WAIT = 2.0


class InboxUnavailable(Exception):
    """The database cannot take the write now (locked, full, unreachable): try again later."""


def database_unavailable(exc: BaseException) -> bool:
    """A failure of the database itself, not of one delivery's row."""
    if isinstance(exc, IntegrityError | DataError | ProgrammingError):
        return False
    return isinstance(exc, TimeoutError | OSError | sqlite3.OperationalError | DBAPIError)


class InboxDatabase:
    """The inbox's engine, and the queue its writes take on SQLite (`writing(engine, queue)`)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.is_postgres = engine.dialect.name == "postgresql"
        # SQLite has one writer at a time; queueing this process's inbox writes here is
        # fairer and faster than SQLite's busy handler, which sleeps and polls for the lock.
        self._write_lock = asyncio.Lock() if not self.is_postgres else None
