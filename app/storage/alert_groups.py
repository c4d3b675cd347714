"""Alert groups: each group (`groupKey`, hashed) of a repository and the incident it opened."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncEngine

from app.domain.alerts import AlertGroup
from app.storage.db import alert_groups, reading, utcnow


class AlertGroups:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def number(self, repo_id: int, group: str) -> int | None:
        """The group's incident, if it has one (the receiver queues behind its work)."""
        found = await self.load(repo_id, group)
        return found.number if found is not None else None

    async def load(self, repo_id: int, group: str) -> AlertGroup | None:
        query = select(alert_groups).where(
            alert_groups.c.repo_id == repo_id, alert_groups.c.group_hash == group
        )
        async with reading(self.engine) as conn:
            row = (await conn.execute(query)).mappings().first()
        if row is None:
            return None
        return AlertGroup(
            repo_id=row["repo_id"],
            group=row["group_hash"],
            number=row["number"],
            status=row["status"],
            commented_at=row["commented_at"],
        )


def keep_group(dialect: str, group: AlertGroup) -> Any:
    """The statement that keeps what the app knows of an alert group (made or updated)."""
    assert group.opened is None and group.number > 0, "the group's issue has its number"
    values = {
        "number": group.number,
        "status": group.status,
        "commented_at": group.commented_at,
        "updated_at": utcnow(),
    }
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    stmt = insert(alert_groups).values(repo_id=group.repo_id, group_hash=group.group, **values)
    return stmt.on_conflict_do_update(index_elements=["repo_id", "group_hash"], set_=values)
