"""Indexes found missing by the EXPLAIN checks on PostgreSQL: the superadmin's queue, a grid's
history and KPIs, the staff review queue of held reports, and the sessions the sweeper closes.

Revision ID: 50cd256ad112
Revises: a0ca7197c172
Create Date: 2026-12-01 19:38:15.247943+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "50cd256ad112"
down_revision: str | None = "a0ca7197c172"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("course_session", schema=None) as batch_op:
        batch_op.create_index(
            "ix_course_session_unclosed_ends_at",
            ["ends_at"],
            unique=False,
            postgresql_where=sa.text("closed_at IS NULL AND status = 'scheduled'"),
            sqlite_where=sa.text("closed_at IS NULL AND status = 'scheduled'"),
        )

    with op.batch_alter_table("ticket", schema=None) as batch_op:
        batch_op.create_index("ix_ticket_grid_id_submitted_at", ["grid_id", "submitted_at"], unique=False)
        batch_op.create_index(
            "ix_ticket_held_submitted_at",
            ["submitted_at"],
            unique=False,
            postgresql_where=sa.text("moderation = 'held'"),
            sqlite_where=sa.text("moderation = 'held'"),
        )
        batch_op.create_index(
            "ix_ticket_next_due_at_id",
            ["next_due_at", "id"],
            unique=False,
            postgresql_where=sa.text("next_due_at IS NOT NULL"),
            sqlite_where=sa.text("next_due_at IS NOT NULL"),
        )


def downgrade() -> None:
    with op.batch_alter_table("ticket", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_ticket_next_due_at_id",
            postgresql_where=sa.text("next_due_at IS NOT NULL"),
            sqlite_where=sa.text("next_due_at IS NOT NULL"),
        )
        batch_op.drop_index(
            "ix_ticket_held_submitted_at",
            postgresql_where=sa.text("moderation = 'held'"),
            sqlite_where=sa.text("moderation = 'held'"),
        )
        batch_op.drop_index("ix_ticket_grid_id_submitted_at")

    with op.batch_alter_table("course_session", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_course_session_unclosed_ends_at",
            postgresql_where=sa.text("closed_at IS NULL AND status = 'scheduled'"),
            sqlite_where=sa.text("closed_at IS NULL AND status = 'scheduled'"),
        )
