"""Follow-ups kept for the dashboard: each incident's follow-up issues and their state."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.domain.followups import FollowUps
from app.storage.db import followups, incident_extras, incidents, reading, timeline


@dataclass(frozen=True)
class OpenFollowUp:
    """An open follow-up as the dashboard lists it, under its incident (repo_id, number)."""

    repo_id: int
    incident_number: int
    number: int
    title: str
    opened_at: datetime | None


async def save_followups(
    conn: AsyncConnection, repo_id: int, incident_number: int, known: FollowUps
) -> None:
    """Upsert the follow-ups a decision knew of (each numbered by now); when it knew them
    all, the incident's others are gone (unlinked) and are dropped."""
    numbered = [item for item in known.items if item.number is not None]
    if known.complete:
        await conn.execute(
            delete(followups).where(
                followups.c.repo_id == repo_id,
                followups.c.incident_number == incident_number,
                followups.c.number.not_in([item.number for item in numbered]),
            )
        )
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    for item in numbered:
        values = {
            "incident_number": incident_number,
            "title": item.title,
            "state": item.state,
            "opened_at": item.opened_at,
        }
        statement = insert(followups).values(repo_id=repo_id, number=item.number, **values)
        await conn.execute(
            statement.on_conflict_do_update(index_elements=["repo_id", "number"], set_=values)
        )


async def forget_incident(conn: AsyncConnection, repo_id: int, number: int) -> None:
    """No record of it is kept (a security report): the record, its timeline and extras."""
    mine = select(incidents.c.id).where(
        incidents.c.repo_id == repo_id, incidents.c.number == number
    )
    await conn.execute(delete(timeline).where(timeline.c.incident_id.in_(mine)))
    await conn.execute(
        delete(incidents).where(incidents.c.repo_id == repo_id, incidents.c.number == number)
    )
    await conn.execute(
        delete(incident_extras).where(
            incident_extras.c.repo_id == repo_id, incident_extras.c.number == number
        )
    )
    await conn.execute(
        delete(followups).where(
            followups.c.repo_id == repo_id, followups.c.incident_number == number
        )
    )


async def open_followups(engine: AsyncEngine) -> list[OpenFollowUp]:
    """Every open follow-up, oldest first."""
    query = (
        select(followups)
        .where(followups.c.state == "open")
        .order_by(followups.c.opened_at.asc().nulls_last(), followups.c.repo_id, followups.c.number)
    )
    async with reading(engine) as conn:
        rows = (await conn.execute(query)).mappings().all()
    return [
        OpenFollowUp(
            row["repo_id"], row["incident_number"], row["number"], row["title"], row["opened_at"]
        )
        for row in rows
    ]
