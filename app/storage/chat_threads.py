"""Each incident's chat thread per destination: the message its updates are posted under."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncEngine

from app.storage.db import chat_threads, reading, utcnow


@dataclass(frozen=True)
class Thread:
    channel: str  # the channel's id, as Slack answered it
    ts: str  # the first message's timestamp: its replies' `thread_ts`


class ChatThreads:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._insert = pg_insert if engine.dialect.name == "postgresql" else sqlite_insert

    async def find(self, repo_id: int, number: int, destination: str) -> Thread | None:
        async with reading(self.engine) as conn:
            row = (
                await conn.execute(
                    select(chat_threads.c.channel, chat_threads.c.ts).where(
                        chat_threads.c.repo_id == repo_id,
                        chat_threads.c.number == number,
                        chat_threads.c.destination == destination[:200],
                    )
                )
            ).first()
        return Thread(row.channel, row.ts) if row is not None else None

    async def keep(self, repo_id: int, number: int, destination: str, thread: Thread) -> Thread:
        """Keep `thread` unless the incident has one there already: the first kept wins, and is
        returned (another instance may have begun the thread a moment before)."""
        stmt = (
            self._insert(chat_threads)
            .values(
                repo_id=repo_id,
                number=number,
                destination=destination[:200],
                channel=thread.channel[:100],
                ts=thread.ts[:64],
                created_at=utcnow(),
            )
            .on_conflict_do_nothing()
        )
        async with self.engine.begin() as conn:
            await conn.execute(stmt)
        kept = await self.find(repo_id, number, destination)
        return kept if kept is not None else thread
