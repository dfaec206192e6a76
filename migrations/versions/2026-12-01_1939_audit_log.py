"""The access log (PIPL): which member of staff was shown whose full phone number or care
category, through which ticket, order, roster or account, and when; also residents' own account
deletions.

Revision ID: 04cca080f105
Revises: 50cd256ad112
Create Date: 2026-12-01 19:39:19.178540+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "04cca080f105"
down_revision: str | None = "50cd256ad112"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("actor_id", sa.Uuid(), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("subject_user_id", sa.Uuid(), nullable=True),
        sa.Column("resource", sa.String(length=32), nullable=False),
        sa.Column("resource_id", sa.Uuid(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(["actor_id"], ["user.id"], name=op.f("fk_audit_log_actor_id_user")),
        sa.ForeignKeyConstraint(
            ["subject_user_id"], ["user.id"], name=op.f("fk_audit_log_subject_user_id_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index("ix_audit_log_actor_id_at", ["actor_id", "at"], unique=False)
        batch_op.create_index("ix_audit_log_at_id", ["at", "id"], unique=False)
        batch_op.create_index("ix_audit_log_subject_user_id_at", ["subject_user_id", "at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_log_subject_user_id_at")
        batch_op.drop_index("ix_audit_log_at_id")
        batch_op.drop_index("ix_audit_log_actor_id_at")

    op.drop_table("audit_log")
