"""open311 api keys

Revision ID: 4b2a629405ff
Revises: 04cca080f105
Create Date: 2026-12-01 22:48:31.574914+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "4b2a629405ff"
down_revision: str | None = "04cca080f105"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "open311_api_key",
        sa.Column("partner_name", sa.String(length=64), nullable=False),
        sa.Column("subdistrict_id", sa.Uuid(), nullable=False),
        sa.Column("community_id", sa.Uuid(), nullable=True),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("key_prefix", sa.String(length=16), nullable=False),
        sa.Column("service_user_id", sa.Uuid(), nullable=False),
        sa.Column("created_by_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_by_id", sa.Uuid(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["community_id"], ["community.id"], name=op.f("fk_open311_api_key_community_id_community")
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["user.id"], name=op.f("fk_open311_api_key_created_by_id_user")
        ),
        sa.ForeignKeyConstraint(
            ["revoked_by_id"], ["user.id"], name=op.f("fk_open311_api_key_revoked_by_id_user")
        ),
        sa.ForeignKeyConstraint(
            ["service_user_id"], ["user.id"], name=op.f("fk_open311_api_key_service_user_id_user")
        ),
        sa.ForeignKeyConstraint(
            ["subdistrict_id"], ["subdistrict.id"], name=op.f("fk_open311_api_key_subdistrict_id_subdistrict")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_open311_api_key")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_open311_api_key_key_hash")),
        sa.UniqueConstraint("service_user_id", name=op.f("uq_open311_api_key_service_user_id")),
    )
    with op.batch_alter_table("open311_api_key", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_open311_api_key_subdistrict_id"), ["subdistrict_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("open311_api_key", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_open311_api_key_subdistrict_id"))

    op.drop_table("open311_api_key")
