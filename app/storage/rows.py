"""Rows to records: an incident and its timeline as the store and its queries read them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncConnection

from app.domain.lifecycle import Severity, Status
from app.domain.records import Incident, TimelineEntry
from app.storage.db import incidents, timeline


def incident_from_rows(row: Any, entries: Iterable[Any]) -> Incident:
    incident = Incident(
        repo=row["repo"],
        repo_id=row["repo_id"],
        number=row["number"],
        title=row["title"],
        status=Status(row["status"]),
        severity=Severity(row["severity"]) if row["severity"] else None,
        managed=bool(row["managed"]),
        declared_at=row["declared_at"],
        declared_by=row["declared_by"],
        stabilized_at=row["stabilized_at"],
        resolved_at=row["resolved_at"],
        reviewed_at=row["reviewed_at"],
        lead=row["lead"],
        acknowledged_at=row["acknowledged_at"],
        impact_started_at=row["impact_started_at"],
    )
    return replace(
        incident,
        timeline=tuple(
            TimelineEntry(
                at=e["at"],
                actor=e["actor"],
                kind=e["kind"],
                detail=e["detail"],
                from_value=e["from_value"],
                to_value=e["to_value"],
                ref=e["ref"],
            )
            for e in entries
        ),
    )


async def records(
    conn: AsyncConnection, *where: ColumnElement[bool], kinds: Iterable[str] | None = None
) -> list[Incident]:
    """The incidents matching `where`, oldest first, each with its timeline (only the entries
    of `kinds` when given): two queries however many there are (the dashboard reads them all).
    """
    query = select(incidents).where(*where).order_by(incidents.c.declared_at)
    rows = (await conn.execute(query)).mappings().all()
    entries: dict[int, list[Any]] = {row["id"]: [] for row in rows}
    found = select(timeline).order_by(timeline.c.incident_id, timeline.c.position)
    if where:
        found = found.where(timeline.c.incident_id.in_(select(incidents.c.id).where(*where)))
    if kinds is not None:
        found = found.where(timeline.c.kind.in_(sorted(kinds)))
    for entry in (await conn.execute(found)).mappings():
        if entry["incident_id"] in entries:
            entries[entry["incident_id"]].append(entry)
    return [incident_from_rows(row, entries[row["id"]]) for row in rows]
