"""WeChat platform: subscribe-message credits, content-check state of photos, tickets and repair
orders, verified phone numbers.

Revision ID: a0ca7197c172
Revises: f59c7c57e6ae
Create Date: 2026-12-01 18:53:09.037809+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "a0ca7197c172"
down_revision: str | None = "f59c7c57e6ae"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "subscription_credit",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("template_id", sa.String(length=128), nullable=False),
        sa.Column("credits", sa.Integer(), nullable=False),
        sa.Column("accepted_total", sa.Integer(), nullable=False),
        sa.Column("sent_total", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user.id"], name=op.f("fk_subscription_credit_user_id_user"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", "template_id", name=op.f("pk_subscription_credit")),
    )
    with op.batch_alter_table("photo", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("check_status", sa.String(length=16), server_default="none", nullable=False)
        )
        batch_op.add_column(sa.Column("check_trace_id", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("check_requested_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("check_label", sa.Integer(), nullable=True))
        batch_op.create_index(
            "ix_photo_check_status_check_requested_at", ["check_status", "check_requested_at"], unique=False
        )
        batch_op.create_index("ix_photo_check_trace_id", ["check_trace_id"], unique=False)

    with op.batch_alter_table("repair_order", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("moderation", sa.String(length=16), server_default="visible", nullable=False)
        )
        batch_op.add_column(sa.Column("sec_trace_id", sa.String(length=64), nullable=True))

    with op.batch_alter_table("ticket", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("moderation", sa.String(length=16), server_default="visible", nullable=False)
        )
        batch_op.add_column(sa.Column("sec_trace_id", sa.String(length=64), nullable=True))

    with op.batch_alter_table("user", schema=None) as batch_op:
        batch_op.add_column(sa.Column("phone_verified_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("user", schema=None) as batch_op:
        batch_op.drop_column("phone_verified_at")

    with op.batch_alter_table("ticket", schema=None) as batch_op:
        batch_op.drop_column("sec_trace_id")
        batch_op.drop_column("moderation")

    with op.batch_alter_table("repair_order", schema=None) as batch_op:
        batch_op.drop_column("sec_trace_id")
        batch_op.drop_column("moderation")

    with op.batch_alter_table("photo", schema=None) as batch_op:
        batch_op.drop_index("ix_photo_check_trace_id")
        batch_op.drop_index("ix_photo_check_status_check_requested_at")
        batch_op.drop_column("check_label")
        batch_op.drop_column("check_requested_at")
        batch_op.drop_column("check_trace_id")
        batch_op.drop_column("check_status")

    op.drop_table("subscription_credit")
