"""The database engine: SQLite's pragmas and locking, PostgreSQL's connection options."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from app.storage.libpq import for_asyncpg, warn_dropped


def make_engine(url: str, **kwargs: Any) -> AsyncEngine:
    if url.startswith("sqlite"):
        _ensure_sqlite_dir(url)
        engine = create_async_engine(url, connect_args={"timeout": 30}, **kwargs)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(engine.sync_engine, "begin", _sqlite_begin)
        return engine
    if url.startswith("postgresql+asyncpg"):
        connect = for_asyncpg(url)
        warn_dropped(connect)
        url = connect.url
        kwargs["connect_args"] = {**connect.connect_args, **kwargs.get("connect_args", {})}
    return create_async_engine(url, pool_pre_ping=True, **kwargs)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cursor = dbapi_conn.cursor()
    # WAL lets the webhook writer and the worker proceed together; NORMAL is durable in WAL
    # against process crashes, which is what an answered 202 promises.
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
    except Exception as exc:
        # Instances opening a new file together: one converts it (which SQLite refuses to
        # wait for), and the mode is the file's, so this connection is in WAL once it is.
        if "locked" not in str(exc):
            raise
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
    # We issue BEGIN ourselves (below); the driver's implicit BEGIN would be DEFERRED.
    dbapi_conn.isolation_level = None


def _sqlite_begin(conn: Any) -> None:
    if conn.get_execution_options().get("read_only"):
        conn.exec_driver_sql("BEGIN")  # a reader takes no lock in WAL mode
        return
    # IMMEDIATE takes the write lock up front: a deferred transaction that reads then writes
    # fails at once with "database is locked" when another writer got in between.
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def _ensure_sqlite_dir(url: str) -> None:
    from pathlib import Path

    path = url.split(":///", 1)[-1]
    if path and path != ":memory:" and not path.startswith(":"):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
