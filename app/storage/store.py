"""The incident store: load and save the app's record of each incident and its timeline."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.domain.alerts import AlertGroup
from app.domain.followups import FollowUps
from app.domain.lifecycle import CLOSED
from app.domain.records import Extras, Incident
from app.storage.alert_groups import keep_group
from app.storage.bookkeeping import extras_in, last_led_in, note_human_comment, upsert_extras
from app.storage.db import incident_extras, incidents, reading, timeline, utcnow
from app.storage.followups import forget_incident, save_followups
from app.storage.rows import incident_from_rows, records


@dataclass(frozen=True)
class Saved:
    """One issue's part of a delivery's outcome: its record and what is kept beside it."""

    repo_id: int
    number: int
    incident: Incident | None = None
    status_comment_id: int | None = None
    retro_number: int | None = None
    human_comment_at: datetime | None = None
    due: bool | None = None  # False: the plan is finished (app/service/catch_up.py)
    followups: FollowUps | None = None  # the incident's follow-ups as the decision knew them
    forget: bool = False  # keep no record of it (a security report), first

    def extras(self) -> dict[str, object]:
        return {
            "status_comment_id": self.status_comment_id,
            "retro_number": self.retro_number,
            "followup_due": self.due,
        }


@dataclass(frozen=True)
class Kept:
    """An incident's record as stored, its bookkeeping, and (read only when asked) when each
    person last led one of the repo's incidents: what the lead choice reads beside it."""

    incident: Incident | None
    extras: Extras
    last_led: dict[str, datetime] | None = None


@dataclass(frozen=True)
class Tracked:
    """An unresolved incident as the on-call scheduler needs it (app/service/reminders.py)."""

    incident: Incident
    installation_id: int
    last_update_at: datetime | None  # the last comment by its lead or a triage+ user


class IncidentStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def load(self, repo_id: int, number: int) -> Incident | None:
        async with reading(self.engine) as conn:
            return await load_in(conn, repo_id, number)

    async def load_kept(
        self, repo_id: int, number: int, needs_lead: Callable[[Incident | None], bool]
    ) -> Kept:
        """Record, bookkeeping and, when `needs_lead(record)`, when each person last led one of
        the repo's incidents: one read transaction where they were two or three."""
        async with reading(self.engine) as conn:
            incident = await load_in(conn, repo_id, number)
            extras = await extras_in(conn, repo_id, number)
            led = await last_led_in(conn, repo_id) if needs_lead(incident) else None
        return Kept(incident, extras, led)

    async def save(self, incident: Incident, *, installation_id: int | None = None) -> None:
        """Upsert the incident and append the timeline entries not stored yet."""
        async with self.engine.begin() as conn:
            await _save(conn, incident, installation_id)

    async def commit(
        self,
        saves: Iterable[Saved],
        *,
        installation_id: int | None,
        groups: Iterable[AlertGroup] = (),
    ) -> None:
        """One delivery's outcome in one transaction: records, timelines, bookkeeping, and
        the alert group it concerns."""
        dialect = self.engine.dialect.name
        async with self.engine.begin() as conn:
            for group in groups:
                await conn.execute(keep_group(dialect, group))
            for saved in saves:
                if saved.forget:
                    await forget_incident(conn, saved.repo_id, saved.number)
                if saved.followups is not None:
                    await save_followups(conn, saved.repo_id, saved.number, saved.followups)
                if saved.incident is not None:
                    await _save(conn, saved.incident, installation_id)
                kept = {k: v for k, v in saved.extras().items() if v is not None}
                if kept:
                    await conn.execute(upsert_extras(dialect, saved.repo_id, saved.number, **kept))
                if saved.human_comment_at is not None:
                    at = saved.human_comment_at
                    await conn.execute(note_human_comment(dialect, saved.repo_id, saved.number, at))

    async def all(self, *, repo: str | None = None) -> list[Incident]:
        async with reading(self.engine) as conn:
            return await records(conn, *([incidents.c.repo == repo] if repo is not None else []))

    async def recent(self, since: datetime) -> list[Incident]:
        """Managed incidents recorded since `since`, without their timelines (the metrics)."""
        query = select(incidents).where(
            incidents.c.managed.is_(True), incidents.c.declared_at >= since
        )
        async with reading(self.engine) as conn:
            return [incident_from_rows(row, ()) for row in (await conn.execute(query)).mappings()]

    async def unresolved(self) -> list[Tracked]:
        """Managed incidents not yet Resolved or Reviewed, with timelines and last update."""
        open_ = and_(
            incidents.c.managed.is_(True),
            incidents.c.status.not_in([s.value for s in CLOSED]),
            incidents.c.installation_id.is_not(None),
        )
        kept = and_(
            incident_extras.c.repo_id == incidents.c.repo_id,
            incident_extras.c.number == incidents.c.number,
        )
        query = (
            select(incidents, incident_extras.c.last_human_comment_at)
            .select_from(incidents.outerjoin(incident_extras, kept))
            .where(open_)
            .order_by(incidents.c.repo_id, incidents.c.number)
        )
        async with reading(self.engine) as conn:
            rows = (await conn.execute(query)).mappings().all()
            entries: dict[int, list[Any]] = {row["id"]: [] for row in rows}
            found = (
                select(timeline)
                .where(timeline.c.incident_id.in_(select(incidents.c.id).where(open_)))
                .order_by(timeline.c.incident_id, timeline.c.position)
            )
            for entry in (await conn.execute(found)).mappings():
                if entry["incident_id"] in entries:
                    entries[entry["incident_id"]].append(entry)
        return [
            Tracked(
                incident_from_rows(row, entries[row["id"]]),
                int(row["installation_id"]),
                row["last_human_comment_at"],
            )
            for row in rows
        ]


async def load_in(conn: AsyncConnection, repo_id: int, number: int) -> Incident | None:
    """The incident's record and timeline, in the caller's transaction."""
    found = select(incidents).where(incidents.c.repo_id == repo_id, incidents.c.number == number)
    row = (await conn.execute(found)).mappings().first()
    return await _with_timeline(conn, row) if row is not None else None


async def _with_timeline(conn: AsyncConnection, row: Any) -> Incident:
    entries = (
        await conn.execute(
            select(timeline)
            .where(timeline.c.incident_id == row["id"])
            .order_by(timeline.c.position)
        )
    ).mappings()
    return incident_from_rows(row, entries)


async def _save(conn: AsyncConnection, incident: Incident, installation_id: int | None) -> None:
    """Upsert the incident and append the timeline entries not stored yet."""
    values: dict[str, Any] = {
        "repo": incident.repo,
        "title": incident.title,
        "status": incident.status.value,
        "severity": int(incident.severity) if incident.severity else None,
        "managed": incident.managed,
        "declared_at": incident.declared_at,
        "declared_by": incident.declared_by,
        "stabilized_at": incident.stabilized_at,
        "resolved_at": incident.resolved_at,
        "reviewed_at": incident.reviewed_at,
        "lead": incident.lead,
        "acknowledged_at": incident.acknowledged_at,
        "impact_started_at": incident.impact_started_at,
        "updated_at": utcnow(),
    }
    if installation_id is not None:
        values["installation_id"] = installation_id
    incident_id = (
        await conn.execute(
            select(incidents.c.id).where(
                incidents.c.repo_id == incident.repo_id,
                incidents.c.number == incident.number,
            )
        )
    ).scalar()
    if incident_id is None:
        incident_id = (
            await conn.execute(
                insert(incidents)
                .values(repo_id=incident.repo_id, number=incident.number, **values)
                .returning(incidents.c.id)
            )
        ).scalar_one()
        stored = 0
    else:
        await conn.execute(update(incidents).where(incidents.c.id == incident_id).values(**values))
        stored = (
            await conn.execute(select(func.count()).where(timeline.c.incident_id == incident_id))
        ).scalar_one()
    new_entries = incident.timeline[stored:]
    if new_entries:
        await conn.execute(
            insert(timeline),
            [
                {
                    "incident_id": incident_id,
                    "position": stored + offset,
                    "at": entry.at,
                    "actor": entry.actor,
                    "kind": entry.kind,
                    "detail": entry.detail,
                    "from_value": entry.from_value,
                    "to_value": entry.to_value,
                    "ref": entry.ref,
                }
                for offset, entry in enumerate(new_entries)
            ],
        )
