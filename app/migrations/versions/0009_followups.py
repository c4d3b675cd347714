"""followups: each incident's follow-up issues and their state, for the dashboard."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "followups",
        sa.Column("repo_id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("number", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("incident_number", sa.Integer, nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("opened_at", sa.DateTime),
    )
    op.create_index("ix_followups_incident", "followups", ["repo_id", "incident_number"])


def downgrade() -> None:
    op.drop_index("ix_followups_incident", table_name="followups")
    op.drop_table("followups")
