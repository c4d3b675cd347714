"""incidents.acknowledged_at: when a lead first acknowledged the incident.

Incidents that already have a lead count as acknowledged when their lead was last chosen:
they were recorded before anyone could acknowledge, and must not be escalated at start-up.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # 0006 (lead duty) adds the column where it is missing; a database that came another
    # way may lack it still.
    present = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("incidents")}
    if "acknowledged_at" not in present:
        with op.batch_alter_table("incidents") as batch:
            batch.add_column(sa.Column("acknowledged_at", sa.DateTime))
    incidents = sa.table(
        "incidents",
        sa.column("id", sa.BigInteger),
        sa.column("lead", sa.String),
        sa.column("declared_at", sa.DateTime),
        sa.column("acknowledged_at", sa.DateTime),
    )
    timeline = sa.table(
        "timeline",
        sa.column("incident_id", sa.BigInteger),
        sa.column("kind", sa.String),
        sa.column("at", sa.DateTime),
    )
    last_lead = (
        sa.select(sa.func.max(timeline.c.at))
        .where(timeline.c.incident_id == incidents.c.id, timeline.c.kind == "lead")
        .scalar_subquery()
    )
    op.execute(
        incidents.update()
        .where(incidents.c.lead.is_not(None))
        .values(acknowledged_at=sa.func.coalesce(last_lead, incidents.c.declared_at))
    )


def downgrade() -> None:
    # The column is 0006's to drop; the acknowledgements backfilled here are left as they are.
    pass
