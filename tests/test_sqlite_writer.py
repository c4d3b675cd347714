"""The SQLite batch writer binds timestamps exactly as SQLAlchemy does (its queries compare)."""

import re
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from app.queue.sqlite_writer import stamp
from app.storage.db import deliveries
from app.storage.engine import make_engine
from tests.test_inbox import envelope, open_inbox


@pytest.mark.parametrize(
    "when",
    [
        datetime(2026, 11, 30, 20, 45, 14, 920626, tzinfo=UTC),
        datetime(2026, 11, 30, 20, 45, 14, tzinfo=UTC),  # no microseconds: still six digits
        datetime(1, 1, 1, tzinfo=UTC),
        datetime(2020, 5, 5, 1, 2, 3, 7, tzinfo=timezone(timedelta(hours=5))),
    ],
)
async def test_stamp_is_sqlalchemys_text(tmp_path, when: datetime) -> None:  # type: ignore[no-untyped-def]
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path}/x.db")
    try:
        column = deliveries.c.received_at.type
        bind = column.dialect_impl(engine.dialect).bind_processor(engine.dialect)
        assert bind is not None
        assert stamp(when) == bind(when)
    finally:
        await engine.dispose()


def test_stamp_refuses_naive_time() -> None:
    with pytest.raises(ValueError):
        stamp(datetime(2026, 1, 1))


async def test_the_writer_stores_the_text_sqlalchemy_queries_compare(tmp_path) -> None:  # type: ignore[no-untyped-def]
    inbox = await open_inbox(f"sqlite:///{tmp_path}/inbox.db")
    try:
        assert inbox._sqlite is not None  # the on-disk writer, not SQLAlchemy's insert
        await inbox.store(envelope(1, 1), delay=1.5)
        async with inbox.engine.connect() as conn:
            raw = (await conn.exec_driver_sql(STORED)).one()
            typed = (await conn.execute(select(deliveries.c.received_at))).scalar_one()
        assert raw[0] == stamp(typed)
        assert raw[1] == stamp(typed + timedelta(seconds=1.5))
        await inbox.store(envelope(2, 2))  # no delay: one instant, one text
        async with inbox.engine.connect() as conn:
            found = (await conn.exec_driver_sql(STORED + " WHERE delivery_id = 'd-2'")).one()
        assert found[0] == found[1]
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}", found[0])
    finally:
        await inbox.close()
        await inbox.engine.dispose()


STORED = "SELECT received_at, available_at FROM deliveries"
