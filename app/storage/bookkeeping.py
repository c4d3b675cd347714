"""What the app remembers beside each record: status comment, comment times, retros, claims."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import String, and_, cast, delete, literal, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.domain.lead_duty import duty_periods, last_led
from app.domain.records import Extras
from app.storage.db import claims, deliveries, incident_extras, incidents, leases, reading, utcnow
from app.storage.lead_history import lead_history_in


class Bookkeeping:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._insert = pg_insert if engine.dialect.name == "postgresql" else sqlite_insert

    async def extras(self, repo_id: int, number: int) -> Extras:
        async with reading(self.engine) as conn:
            return await extras_in(conn, repo_id, number)

    async def _upsert(self, repo_id: int, number: int, **values: Any) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(upsert_extras(self.engine.dialect.name, repo_id, number, **values))

    async def set_status_comment(self, repo_id: int, number: int, comment_id: int) -> None:
        await self._upsert(repo_id, number, status_comment_id=comment_id)

    async def set_retro(self, repo_id: int, number: int, retro_number: int) -> None:
        await self._upsert(repo_id, number, retro_number=retro_number)

    async def set_due(self, repo_id: int, number: int, due: bool) -> None:
        await self._upsert(repo_id, number, followup_due=due)

    async def due(self) -> list[tuple[int, int, int]]:
        """(repo_id, number, installation_id) of incidents whose follow-up did not finish."""
        key = cast(incidents.c.repo_id, String) + literal("#") + cast(incidents.c.number, String)
        in_flight = select(deliveries.c.seq).where(
            deliveries.c.issue_key == key, deliveries.c.state == "processing"
        )
        query = (
            select(incidents.c.repo_id, incidents.c.number, incidents.c.installation_id)
            .select_from(_with_extras(outer=False))
            .where(
                incident_extras.c.followup_due.is_(True),
                incidents.c.installation_id.is_not(None),
                ~in_flight.exists(),  # the worker has it now: catch up once it is done
            )
        )
        async with reading(self.engine) as conn:
            return [(int(a), int(b), int(c)) for a, b, c in (await conn.execute(query)).all()]

    async def note_human_comment(self, repo_id: int, number: int, at: datetime) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(note_human_comment(self.engine.dialect.name, repo_id, number, at))

    async def incident_for_retro(self, repo_id: int, retro_number: int) -> int | None:
        async with reading(self.engine) as conn:
            return (
                await conn.execute(
                    select(incident_extras.c.number).where(
                        incident_extras.c.repo_id == repo_id,
                        incident_extras.c.retro_number == retro_number,
                    )
                )
            ).scalar()

    async def last_led(self, repo_id: int) -> dict[str, datetime]:
        """When each person last led one of this repo's incidents: the end of their latest
        lead period, so a lead who handed over keeps the credit (LEADING_NOW while leading)."""
        async with reading(self.engine) as conn:
            return await last_led_in(conn, repo_id)

    async def claim(self, key: str) -> bool:
        """True for exactly one caller across instances; the key stays claimed."""
        stmt = (
            self._insert(claims)
            .values(key=key[:250], claimed_at=utcnow())
            .on_conflict_do_nothing(index_elements=["key"])
        )
        async with self.engine.begin() as conn:
            result = await conn.execute(stmt)
        return bool(result.rowcount)

    async def release(self, key: str) -> None:
        """Give a claim back when the work it guarded failed, so it is tried again."""
        async with self.engine.begin() as conn:
            await conn.execute(delete(claims).where(claims.c.key == key[:250]))

    @asynccontextmanager
    async def once(self, key: str) -> AsyncIterator[bool]:
        """Claim `key` for the block (yields whether we won); a failure gives it back."""
        won = await self.claim(key)
        try:
            yield won
        except BaseException:
            if won:
                await self.release(key)
            raise

    async def lease(self, name: str, holder: str, seconds: float, now: datetime) -> bool:
        """Take or renew a named lease; False while another holder's lease runs."""
        until = now + timedelta(seconds=seconds)
        stmt = self._insert(leases).values(name=name, holder=holder, until=until)
        stmt = stmt.on_conflict_do_update(
            index_elements=["name"],
            set_={"holder": holder, "until": until},
            where=or_(leases.c.holder == holder, leases.c.until < now),
        )
        async with self.engine.begin() as conn:
            result = await conn.execute(stmt)
        return bool(result.rowcount)


async def extras_in(conn: AsyncConnection, repo_id: int, number: int) -> Extras:
    """What is kept beside the incident's record, in the caller's transaction."""
    kept = select(incident_extras).where(
        incident_extras.c.repo_id == repo_id, incident_extras.c.number == number
    )
    row = (await conn.execute(kept)).mappings().first()
    if row is None:
        return Extras()
    return Extras(row["status_comment_id"], row["last_human_comment_at"], row["retro_number"])


async def last_led_in(conn: AsyncConnection, repo_id: int) -> dict[str, datetime]:
    """Bookkeeping.last_led, in the caller's transaction."""
    return last_led(duty_periods(await lead_history_in(conn, repo_id=repo_id)))


def _insert_for(dialect: str) -> Any:
    return pg_insert if dialect == "postgresql" else sqlite_insert


def upsert_extras(dialect: str, repo_id: int, number: int, **values: Any) -> Any:
    """The statement keeping `values` beside an incident (a row is made when there is none)."""
    stmt = _insert_for(dialect)(incident_extras).values(
        repo_id=repo_id, number=number, **{"followup_due": False, **values}
    )
    return stmt.on_conflict_do_update(index_elements=["repo_id", "number"], set_=values)


def note_human_comment(dialect: str, repo_id: int, number: int, at: datetime) -> Any:
    """Keep the latest human comment time; deliveries may come late or out of order."""
    stmt = _insert_for(dialect)(incident_extras).values(
        repo_id=repo_id, number=number, last_human_comment_at=at, followup_due=False
    )
    return stmt.on_conflict_do_update(
        index_elements=["repo_id", "number"],
        set_={"last_human_comment_at": at},
        where=or_(
            incident_extras.c.last_human_comment_at.is_(None),
            incident_extras.c.last_human_comment_at < at,
        ),
    )


def _with_extras(*, outer: bool) -> Any:
    """Incidents joined with what we keep beside them (outer: also those with nothing kept)."""
    on = and_(
        incident_extras.c.repo_id == incidents.c.repo_id,
        incident_extras.c.number == incidents.c.number,
    )
    return incidents.join(incident_extras, on, isouter=outer)
