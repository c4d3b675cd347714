"""The last valid config file of each repo, kept in the database: a restart, or another
instance, still knows which config to keep in force when the newest version is invalid."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncEngine

from app.storage.db import reading, repo_configs, utcnow


class LastGoodConfigs:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._insert = pg_insert if engine.dialect.name == "postgresql" else sqlite_insert

    async def load(self, repo: str) -> tuple[str, str] | None:
        """(version, text) of the repo's last valid file, if it had one."""
        async with reading(self.engine) as conn:
            row = (
                await conn.execute(
                    select(repo_configs.c.version, repo_configs.c.text).where(
                        repo_configs.c.repo == repo.casefold()
                    )
                )
            ).first()
        return (row.version, row.text) if row is not None else None

    async def save(self, repo: str, version: str, text: str) -> None:
        values = {"version": version, "text": text, "saved_at": utcnow()}
        stmt = self._insert(repo_configs).values(repo=repo.casefold(), **values)
        # Written once per new valid version (the cache only parses a changed file).
        stmt = stmt.on_conflict_do_update(
            index_elements=["repo"],
            set_=values,
            where=repo_configs.c.version != version,
        )
        async with self.engine.begin() as conn:
            await conn.execute(stmt)

    async def forget(self, repo: str) -> None:
        """The file is gone: the defaults are the last good config now."""
        async with self.engine.begin() as conn:
            await conn.execute(delete(repo_configs).where(repo_configs.c.repo == repo.casefold()))
