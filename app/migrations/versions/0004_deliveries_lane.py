"""deliveries.lane: incident work is claimed first; unrelated deliveries are done at receipt.

On PostgreSQL the payload is compressed with lz4 where the server has it: a real 12 KB
delivery is stored out of line, and pglz's compression was most of the time it took.
"""

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
    if _lz4():
        op.execute("ALTER TABLE deliveries ALTER COLUMN payload SET COMPRESSION lz4")


def _lz4() -> bool:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return False
    found = bind.execute(
        sa.text(
            "SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'"
        )
    ).scalar()
    return bool(found)


def downgrade() -> None:
    if _lz4():
        op.execute("ALTER TABLE deliveries ALTER COLUMN payload SET COMPRESSION default")
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_column("lane")
