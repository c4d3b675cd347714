"""Alembic's entry: migrations run on the connection create_schema hands over (locked), or,
for `alembic -c app/migrations/alembic.ini revision --autogenerate`, on DATABASE_URL."""

from __future__ import annotations

import asyncio
from typing import Any

from alembic import context

from app.settings import Settings
from app.storage.db import metadata
from app.storage.engine import make_engine


def run(connection: Any) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite has little ALTER
    )
    with context.begin_transaction():
        context.run_migrations()


async def from_settings() -> None:
    engine = make_engine(Settings().async_database_url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(run)
    finally:
        await engine.dispose()


given = context.config.attributes.get("connection")
if given is not None:
    run(given)
else:
    asyncio.run(from_settings())
