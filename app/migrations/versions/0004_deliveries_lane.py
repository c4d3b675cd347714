"""deliveries.lane: incident work is claimed first; unrelated deliveries are done at receipt."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Deliveries already held keep lane 0: claimed first, as every delivery was before.
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(
            sa.Column("lane", sa.SmallInteger, nullable=False, server_default=sa.text("0"))
        )


def downgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_column("lane")
