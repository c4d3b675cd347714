"""The database: the schema (inbox, incidents, timeline), transactions and UTC timestamps."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine


class UTCDateTime(TypeDecorator[datetime]):
    """Stores naive UTC, returns aware UTC: SQLite keeps no zone, PostgreSQL needs one rule."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return value.replace(tzinfo=UTC) if value is not None else None


metadata = MetaData()

# Every delivery GitHub sent us, keyed by X-GitHub-Delivery; the worker drains it.
deliveries = Table(
    "deliveries",
    metadata,
    Column(
        "seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("delivery_id", String(64), nullable=False, unique=True),
    Column("event", String(64), nullable=False),
    Column("action", String(64)),
    Column("installation_id", BigInteger),
    Column("repo", String(200)),
    Column("issue_key", String(120)),  # one-at-a-time unit: "repo_id#number"
    Column("payload", Text, nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
    Column("state", String(16), nullable=False),  # pending, processing, done, dead
    # Counted when claimed, so an attempt that kills the process still counts.
    Column("attempts", Integer, nullable=False, default=0),
    Column("available_at", UTCDateTime, nullable=False),
    Column("lease_until", UTCDateTime),
    Column("claimed_by", String(64)),
    Column("last_error", Text),
    Column("outcome", String(200)),
    Column("finished_at", UTCDateTime),
    # Attempts cut off unfinished (the process died, or its lease ran out): a delivery that
    # kills the process every time is given up after max_attempts of these.
    Column("abandoned", Integer, nullable=False, default=0, server_default=text("0")),
    # Claimed in lane order: 0 may concern an incident, 1 other work (app/service/triage.py); 2 was
    # decided unrelated at receipt and stored as done.
    Column("lane", SmallInteger, nullable=False, default=0, server_default=text("0")),
)
# Unfinished deliveries by issue: the claim walks it to find each issue's oldest one. It is
# the table's only index beside the keys: each index is a cost on every stored delivery, and
# the two it replaced led the planners to scan the whole backlog for a claim.
UNFINISHED = "finished_at IS NULL"
Index(
    "ix_deliveries_unfinished",
    deliveries.c.issue_key,
    deliveries.c.seq,
    postgresql_where=text(UNFINISHED),
    sqlite_where=text(UNFINISHED),
)

incidents = Table(
    "incidents",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("repo", String(200), nullable=False),
    Column("repo_id", BigInteger, nullable=False),
    Column("number", Integer, nullable=False),
    Column("title", Text, nullable=False, default=""),
    Column("status", String(32), nullable=False),
    Column("severity", Integer),
    Column("managed", Boolean, nullable=False, default=True),
    Column("declared_at", UTCDateTime, nullable=False),
    Column("declared_by", String(100), nullable=False),
    Column("stabilized_at", UTCDateTime),
    Column("resolved_at", UTCDateTime),
    Column("reviewed_at", UTCDateTime),
    Column("lead", String(100)),
    Column("installation_id", BigInteger),
    Column("updated_at", UTCDateTime, nullable=False),
    # Added by migration 0006: when the lead acknowledged, and when the impact began.
    Column("acknowledged_at", UTCDateTime),
    Column("impact_started_at", UTCDateTime),
    UniqueConstraint("repo_id", "number", name="uq_incident_issue"),
)

timeline = Table(
    "timeline",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("incident_id", ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False),
    Column("position", Integer, nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("actor", String(100), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("detail", Text, nullable=False, default=""),
    Column("from_value", String(64)),
    Column("to_value", String(64)),
    Column("ref", String(120)),
    UniqueConstraint("incident_id", "position", name="uq_timeline_position"),
)


# What the app keeps beside each incident's record (app/storage/bookkeeping.py): the status comment,
# the last update (a comment by the lead or a triage+ user: reminders count from it), the
# retrospective issue.
incident_extras = Table(
    "incident_extras",
    metadata,
    Column("repo_id", BigInteger, primary_key=True, autoincrement=False),
    Column("number", Integer, primary_key=True, autoincrement=False),
    Column("status_comment_id", BigInteger),
    Column("last_human_comment_at", UTCDateTime),
    Column("retro_number", Integer),
    # Set while the after-change work runs: left set by a failure, it is caught up later.
    Column("followup_due", Boolean, nullable=False, default=False),
)
Index("ix_incident_extras_retro", incident_extras.c.repo_id, incident_extras.c.retro_number)

# Each incident's follow-up issues and their state, as its last decision knew them
# (app/storage/followups.py): the dashboard lists the open ones.
followups = Table(
    "followups",
    metadata,
    Column("repo_id", BigInteger, primary_key=True, autoincrement=False),
    Column("number", Integer, primary_key=True, autoincrement=False),  # the follow-up issue
    Column("incident_number", Integer, nullable=False),
    Column("title", Text, nullable=False, default=""),
    Column("state", String(16), nullable=False),  # open, closed
    Column("opened_at", UTCDateTime),
)
Index("ix_followups_incident", followups.c.repo_id, followups.c.incident_number)

# Once-only claims shared by every instance: a reminder per overdue period, a config error
# report per file version. The unique key is the claim.
claims = Table(
    "claims",
    metadata,
    Column("key", String(250), primary_key=True),
    Column("claimed_at", UTCDateTime, nullable=False),
)

# A named lease: which instance runs a periodic job (the reminder scheduler) until when.
leases = Table(
    "leases",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("holder", String(64), nullable=False),
    Column("until", UTCDateTime, nullable=False),
)

# The last read of each issue that the app acted on, kept where every instance sees it
# (PostgreSQL), so the other half of a sidebar change costs no read on any instance.
issue_reads = Table(
    "issue_reads",
    metadata,
    Column("issue_key", String(120), primary_key=True),
    Column("updated_at", UTCDateTime, nullable=False),  # the issue's, as read
    Column("read_at", UTCDateTime, nullable=False),  # GitHub's Date of the read
)


# The last valid `.github/incidents.yml` of each repo (app/storage/last_good.py): kept in force when
# a newer version is invalid, on every instance and across restarts.
repo_configs = Table(
    "repo_configs",
    metadata,
    Column("repo", String(200), primary_key=True),  # casefolded: GitHub ignores the case
    Column("version", String(64), nullable=False),  # the file's blob sha
    Column("text", Text, nullable=False),
    Column("saved_at", UTCDateTime, nullable=False),
)


# The chat thread of each incident per destination (app/storage/chat_threads.py): the Slack
# message its updates are posted under, kept for every instance and across restarts.
chat_threads = Table(
    "chat_threads",
    metadata,
    Column("repo_id", BigInteger, primary_key=True, autoincrement=False),
    Column("number", Integer, primary_key=True, autoincrement=False),
    Column("destination", String(200), primary_key=True),  # "slack:<token variable>:<channel>"
    Column("channel", String(100), nullable=False),  # Slack's channel id, which chat.update needs
    Column("ts", String(64), nullable=False),  # the first message's ts: the replies' thread_ts
    Column("created_at", UTCDateTime, nullable=False),
)


# Each alert group (`groupKey`, hashed) of a repository and its incident
# (app/storage/alert_groups.py): a group that fires again finds its incident here.
alert_groups = Table(
    "alert_groups",
    metadata,
    Column("repo_id", BigInteger, primary_key=True, autoincrement=False),
    Column("group_hash", String(64), primary_key=True),
    Column("number", Integer, nullable=False),
    Column("status", String(16), nullable=False),  # the last notification's
    Column("commented_at", UTCDateTime),  # the last comment, on the receiver's clock
    Column("updated_at", UTCDateTime, nullable=False),
)


@asynccontextmanager
async def reading(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A connection that only reads: on SQLite its transaction leaves the write lock free."""
    async with engine.connect() as conn:
        await conn.execution_options(read_only=True)
        yield conn


@asynccontextmanager
async def writing(
    engine: AsyncEngine, queue: asyncio.Lock | None = None
) -> AsyncIterator[AsyncConnection]:
    """A transaction that writes, after this process's other writers that share `queue`."""
    if queue is None:
        async with engine.begin() as conn:
            yield conn
        return
    async with queue, engine.begin() as conn:
        yield conn


async def create_schema(engine: AsyncEngine) -> None:
    """Upgrade the database to the newest migration (app/migrations), under a lock: instances
    starting together wait for the first, which does the work, and then find nothing to do."""
    from app.migrations import upgrade  # Alembic only where the schema is set up

    async with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            # Held to the end of this transaction, which PostgreSQL's DDL is part of.
            await conn.execute(text("SELECT pg_advisory_xact_lock(7301966)"))
        # SQLite: this transaction began with BEGIN IMMEDIATE (app/storage/engine.py), which
        # holds the database's one write lock; other processes wait for it (30 s busy timeout).
        await conn.run_sync(upgrade)


def utcnow() -> datetime:
    return datetime.now(UTC)
