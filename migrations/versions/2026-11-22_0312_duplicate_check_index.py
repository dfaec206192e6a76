"""Index for the possible-duplicate check (same category, last day, near a point)

Revision ID: 9fc58505ac23
Revises: 0ecb7726ef74
Create Date: 2026-11-22 03:12:29.466064+00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "9fc58505ac23"
down_revision: str | None = "0ecb7726ef74"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("ticket", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ticket_category_id_submitted_at"))
        batch_op.create_index(
            "ix_ticket_category_id_submitted_at_lat_lng_status_id",
            ["category_id", "submitted_at", "lat", "lng", "status", "id"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("ticket", schema=None) as batch_op:
        batch_op.drop_index("ix_ticket_category_id_submitted_at_lat_lng_status_id")
        batch_op.create_index(
            batch_op.f("ix_ticket_category_id_submitted_at"), ["category_id", "submitted_at"], unique=False
        )
