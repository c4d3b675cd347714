"""incidents.impact_started_at (`/started`) and incidents.acknowledged_at (time to acknowledge).

Lead duty needs no table: its periods are derived from the timeline's lead entries
(app/domain/lead_duty.py). `acknowledged_at` is added only where it is missing, since the
on-call migration may add the same column first.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

ADDED = ("impact_started_at", "acknowledged_at")


def _present() -> set[str]:
    return {c["name"] for c in sa.inspect(op.get_bind()).get_columns("incidents")}


def upgrade() -> None:
    present = _present()
    with op.batch_alter_table("incidents") as batch:
        for name in ADDED:
            if name not in present:
                batch.add_column(sa.Column(name, sa.DateTime))


def downgrade() -> None:
    present = _present()
    with op.batch_alter_table("incidents") as batch:
        for name in ADDED:
            if name in present:
                batch.drop_column(name)
