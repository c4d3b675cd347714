"""The lead history: managed incidents with the timeline entries lead duty is derived from."""

from __future__ import annotations

from sqlalchemy import ColumnElement
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.domain.lead_duty import DUTY_KINDS
from app.domain.records import Incident
from app.storage.db import incidents, reading
from app.storage.rows import records


async def lead_history(engine: AsyncEngine, *, repo_id: int | None = None) -> list[Incident]:
    """Every managed incident (of one repo, or all), each with only its lead, status,
    severity and withdrawal entries: the lead choice, the `leads` command."""
    async with reading(engine) as conn:
        return await lead_history_in(conn, repo_id=repo_id)


async def lead_history_in(conn: AsyncConnection, *, repo_id: int | None = None) -> list[Incident]:
    """lead_history, in the caller's transaction."""
    where: list[ColumnElement[bool]] = [incidents.c.managed.is_(True)]
    if repo_id is not None:
        where.append(incidents.c.repo_id == repo_id)
    return await records(conn, *where, kinds=DUTY_KINDS)
