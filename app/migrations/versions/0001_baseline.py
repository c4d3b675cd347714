"""Baseline: the schema of the last version before migrations (0.1.0, main at 49a9d43)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Indexes of versions before the baseline, dropped from databases that still have them.
RETIRED_INDEXES = ("ix_deliveries_ready", "ix_deliveries_issue")
UNFINISHED = "finished_at IS NULL"


def schema() -> sa.MetaData:
    """The baseline's tables, frozen here: app/storage/db.py changes only through later migrations.
    (UTCDateTime stores naive UTC in a plain DateTime column.)"""
    meta = sa.MetaData()
    serial = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    deliveries = sa.Table(
        "deliveries",
        meta,
        sa.Column("seq", serial, primary_key=True, autoincrement=True),
        sa.Column("delivery_id", sa.String(64), nullable=False, unique=True),
        sa.Column("event", sa.String(64), nullable=False),
        sa.Column("action", sa.String(64)),
        sa.Column("installation_id", sa.BigInteger),
        sa.Column("repo", sa.String(200)),
        sa.Column("issue_key", sa.String(120)),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("received_at", sa.DateTime, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("available_at", sa.DateTime, nullable=False),
        sa.Column("lease_until", sa.DateTime),
        sa.Column("claimed_by", sa.String(64)),
        sa.Column("last_error", sa.Text),
        sa.Column("outcome", sa.String(200)),
        sa.Column("finished_at", sa.DateTime),
    )
    sa.Index(
        "ix_deliveries_unfinished",
        deliveries.c.issue_key,
        deliveries.c.seq,
        postgresql_where=sa.text(UNFINISHED),
        sqlite_where=sa.text(UNFINISHED),
    )
    sa.Table(
        "incidents",
        meta,
        sa.Column("id", serial, primary_key=True, autoincrement=True),
        sa.Column("repo", sa.String(200), nullable=False),
        sa.Column("repo_id", sa.BigInteger, nullable=False),
        sa.Column("number", sa.Integer, nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("severity", sa.Integer),
        sa.Column("managed", sa.Boolean, nullable=False),
        sa.Column("declared_at", sa.DateTime, nullable=False),
        sa.Column("declared_by", sa.String(100), nullable=False),
        sa.Column("stabilized_at", sa.DateTime),
        sa.Column("resolved_at", sa.DateTime),
        sa.Column("reviewed_at", sa.DateTime),
        sa.Column("lead", sa.String(100)),
        sa.Column("installation_id", sa.BigInteger),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        sa.UniqueConstraint("repo_id", "number", name="uq_incident_issue"),
    )
    sa.Table(
        "timeline",
        meta,
        sa.Column("id", serial, primary_key=True, autoincrement=True),
        sa.Column("incident_id", sa.ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("at", sa.DateTime, nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("from_value", sa.String(64)),
        sa.Column("to_value", sa.String(64)),
        sa.Column("ref", sa.String(120)),
        sa.UniqueConstraint("incident_id", "position", name="uq_timeline_position"),
    )
    extras = sa.Table(
        "incident_extras",
        meta,
        sa.Column("repo_id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("number", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("status_comment_id", sa.BigInteger),
        sa.Column("last_human_comment_at", sa.DateTime),
        sa.Column("retro_number", sa.Integer),
        sa.Column("followup_due", sa.Boolean, nullable=False),
    )
    sa.Index("ix_incident_extras_retro", extras.c.repo_id, extras.c.retro_number)
    sa.Table(
        "claims",
        meta,
        sa.Column("key", sa.String(250), primary_key=True),
        sa.Column("claimed_at", sa.DateTime, nullable=False),
    )
    sa.Table(
        "leases",
        meta,
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("holder", sa.String(64), nullable=False),
        sa.Column("until", sa.DateTime, nullable=False),
    )
    sa.Table(
        "issue_reads",
        meta,
        sa.Column("issue_key", sa.String(120), primary_key=True),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        sa.Column("read_at", sa.DateTime, nullable=False),
    )
    return meta


def upgrade() -> None:
    schema().create_all(op.get_bind())


def downgrade() -> None:
    schema().drop_all(op.get_bind())


def adopt(connection: Any) -> None:
    """Bring a database of the versions before migrations to the baseline: they created
    what was missing at each start and dropped the indexes they had retired."""
    meta = schema()
    meta.create_all(connection, checkfirst=True)
    for table in meta.sorted_tables:
        for index in table.indexes:
            index.create(connection, checkfirst=True)
    for name in RETIRED_INDEXES:
        connection.execute(sa.text(f"DROP INDEX IF EXISTS {name}"))
