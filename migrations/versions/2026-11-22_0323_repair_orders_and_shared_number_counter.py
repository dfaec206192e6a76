"""乐修匠 repair orders, price list, policies, craftsmen; one number counter for all prefixes

Revision ID: a9bafc6e1c11
Revises: 9fc58505ac23
Create Date: 2026-11-22 03:23:02.779349+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "a9bafc6e1c11"
down_revision: str | None = "9fc58505ac23"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "number_counter",
        sa.Column("key", sa.String(length=24), nullable=False),
        sa.Column("last", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_number_counter")),
    )
    op.create_table(
        "price_item",
        sa.Column("subdistrict_id", sa.Uuid(), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("unit", sa.String(length=16), nullable=False),
        sa.Column("price_cents", sa.Integer(), nullable=False),
        sa.Column("market_price_cents", sa.Integer(), nullable=True),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["subdistrict_id"], ["subdistrict.id"], name=op.f("fk_price_item_subdistrict_id_subdistrict")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_price_item")),
        sa.UniqueConstraint(
            "subdistrict_id", "category", "name", name=op.f("uq_price_item_subdistrict_id_category_name")
        ),
    )
    with op.batch_alter_table("price_item", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_price_item_subdistrict_id"), ["subdistrict_id"], unique=False)

    op.create_table(
        "craftsman",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("subdistrict_id", sa.Uuid(), nullable=False),
        sa.Column("skills", sa.JSON(), nullable=False),
        sa.Column("community_ids", sa.JSON(), nullable=False),
        sa.Column("organisation", sa.String(length=64), nullable=False),
        sa.Column("max_active_orders", sa.Integer(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["subdistrict_id"], ["subdistrict.id"], name=op.f("fk_craftsman_subdistrict_id_subdistrict")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user.id"], name=op.f("fk_craftsman_user_id_user"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_craftsman")),
    )
    with op.batch_alter_table("craftsman", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_craftsman_subdistrict_id"), ["subdistrict_id"], unique=False)

    op.create_table(
        "price_item_version",
        sa.Column("item_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("unit", sa.String(length=16), nullable=False),
        sa.Column("price_cents", sa.Integer(), nullable=False),
        sa.Column("market_price_cents", sa.Integer(), nullable=True),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("changed_by_id", sa.Uuid(), nullable=True),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["changed_by_id"], ["user.id"], name=op.f("fk_price_item_version_changed_by_id_user")
        ),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["price_item.id"],
            name=op.f("fk_price_item_version_item_id_price_item"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_price_item_version")),
        sa.UniqueConstraint("item_id", "version", name=op.f("uq_price_item_version_item_id_version")),
    )
    op.create_table(
        "repair_policy",
        sa.Column("subdistrict_id", sa.Uuid(), nullable=False),
        sa.Column("visit_fee_cents", sa.Integer(), nullable=False),
        sa.Column("rules", sa.JSON(), nullable=False),
        sa.Column("updated_by_id", sa.Uuid(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["subdistrict_id"], ["subdistrict.id"], name=op.f("fk_repair_policy_subdistrict_id_subdistrict")
        ),
        sa.ForeignKeyConstraint(
            ["updated_by_id"], ["user.id"], name=op.f("fk_repair_policy_updated_by_id_user")
        ),
        sa.PrimaryKeyConstraint("subdistrict_id", name=op.f("pk_repair_policy")),
    )
    op.create_table(
        "repair_order",
        sa.Column("number", sa.String(length=24), nullable=False),
        sa.Column("subdistrict_id", sa.Uuid(), nullable=False),
        sa.Column("community_id", sa.Uuid(), nullable=False),
        sa.Column("resident_id", sa.Uuid(), nullable=True),
        sa.Column("requested_by_id", sa.Uuid(), nullable=False),
        sa.Column("contact_name", sa.String(length=64), nullable=False),
        sa.Column("contact_phone", sa.String(length=20), nullable=True),
        sa.Column("address", sa.String(length=128), nullable=False),
        sa.Column("building_id", sa.Uuid(), nullable=True),
        sa.Column("care_category", sa.String(length=32), nullable=True),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("preferred_time", sa.String(length=64), nullable=False),
        sa.Column("ticket_id", sa.Uuid(), nullable=True),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("status_changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("craftsman_id", sa.Uuid(), nullable=True),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("scheduled_for", sa.DateTime(timezone=True), nullable=True),
        sa.Column("arrived_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("quoted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("quote_version", sa.Integer(), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("settled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancel_reason", sa.String(length=500), nullable=True),
        sa.Column("list_total_cents", sa.Integer(), nullable=True),
        sa.Column("market_total_cents", sa.Integer(), nullable=True),
        sa.Column("subsidy_cents", sa.Integer(), nullable=True),
        sa.Column("due_cents", sa.Integer(), nullable=True),
        sa.Column("paid_cents", sa.Integer(), nullable=True),
        sa.Column("payment_method", sa.String(length=32), nullable=True),
        sa.Column("payment_reference", sa.String(length=64), nullable=True),
        sa.Column("rating", sa.Integer(), nullable=True),
        sa.Column("rating_comment", sa.String(length=500), nullable=True),
        sa.Column("rated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("handback_count", sa.Integer(), nullable=False),
        sa.Column("no_show_count", sa.Integer(), nullable=False),
        sa.Column("absent_count", sa.Integer(), nullable=False),
        sa.Column("event_count", sa.Integer(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["building_id"], ["building.id"], name=op.f("fk_repair_order_building_id_building")
        ),
        sa.ForeignKeyConstraint(
            ["community_id"], ["community.id"], name=op.f("fk_repair_order_community_id_community")
        ),
        sa.ForeignKeyConstraint(
            ["craftsman_id"], ["user.id"], name=op.f("fk_repair_order_craftsman_id_user")
        ),
        sa.ForeignKeyConstraint(
            ["requested_by_id"], ["user.id"], name=op.f("fk_repair_order_requested_by_id_user")
        ),
        sa.ForeignKeyConstraint(["resident_id"], ["user.id"], name=op.f("fk_repair_order_resident_id_user")),
        sa.ForeignKeyConstraint(
            ["subdistrict_id"], ["subdistrict.id"], name=op.f("fk_repair_order_subdistrict_id_subdistrict")
        ),
        sa.ForeignKeyConstraint(["ticket_id"], ["ticket.id"], name=op.f("fk_repair_order_ticket_id_ticket")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_repair_order")),
        sa.UniqueConstraint("number", name=op.f("uq_repair_order_number")),
        sa.UniqueConstraint("ticket_id", name=op.f("uq_repair_order_ticket_id")),
    )
    with op.batch_alter_table("repair_order", schema=None) as batch_op:
        batch_op.create_index(
            "ix_repair_order_community_id_created_at", ["community_id", "created_at"], unique=False
        )
        batch_op.create_index("ix_repair_order_craftsman_id_status", ["craftsman_id", "status"], unique=False)
        batch_op.create_index(
            "ix_repair_order_requested_by_id_created_at", ["requested_by_id", "created_at"], unique=False
        )
        batch_op.create_index(
            "ix_repair_order_resident_id_created_at", ["resident_id", "created_at"], unique=False
        )
        batch_op.create_index(
            "ix_repair_order_subdistrict_id_status_created_at",
            ["subdistrict_id", "status", "created_at"],
            unique=False,
        )

    op.create_table(
        "repair_event",
        sa.Column("order_id", sa.Uuid(), nullable=False),
        sa.Column("from_status", sa.String(length=32), nullable=True),
        sa.Column("to_status", sa.String(length=32), nullable=True),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("note", sa.String(length=500), nullable=True),
        sa.Column("photo_ids", sa.JSON(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(["actor_id"], ["user.id"], name=op.f("fk_repair_event_actor_id_user")),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["repair_order.id"],
            name=op.f("fk_repair_event_order_id_repair_order"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_repair_event")),
        sa.UniqueConstraint("order_id", "seq", name=op.f("uq_repair_event_order_id_seq")),
    )
    op.create_table(
        "repair_photo",
        sa.Column("order_id", sa.Uuid(), nullable=False),
        sa.Column("photo_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["repair_order.id"],
            name=op.f("fk_repair_photo_order_id_repair_order"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(["photo_id"], ["photo.id"], name=op.f("fk_repair_photo_photo_id_photo")),
        sa.PrimaryKeyConstraint("order_id", "photo_id", name=op.f("pk_repair_photo")),
    )
    with op.batch_alter_table("repair_photo", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_repair_photo_photo_id"), ["photo_id"], unique=False)

    op.create_table(
        "repair_quote_line",
        sa.Column("order_id", sa.Uuid(), nullable=False),
        sa.Column("quote_version", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("price_item_id", sa.Uuid(), nullable=True),
        sa.Column("price_version", sa.Integer(), nullable=True),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("unit", sa.String(length=16), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("list_unit_cents", sa.Integer(), nullable=False),
        sa.Column("list_amount_cents", sa.Integer(), nullable=False),
        sa.Column("market_amount_cents", sa.Integer(), nullable=True),
        sa.Column("discount_pct", sa.Integer(), nullable=False),
        sa.Column("subsidy_cents", sa.Integer(), nullable=False),
        sa.Column("due_cents", sa.Integer(), nullable=False),
        sa.Column("rule", sa.String(length=128), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["repair_order.id"],
            name=op.f("fk_repair_quote_line_order_id_repair_order"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["price_item_id"], ["price_item.id"], name=op.f("fk_repair_quote_line_price_item_id_price_item")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_repair_quote_line")),
        sa.UniqueConstraint(
            "order_id",
            "quote_version",
            "position",
            name=op.f("uq_repair_quote_line_order_id_quote_version_position"),
        ),
    )
    # Ticket numbers keep counting where they were: their counters move under the "T" prefix.
    op.execute("INSERT INTO number_counter (key, last) SELECT 'T' || day, last FROM ticket_number_counter")
    op.drop_table("ticket_number_counter")


def downgrade() -> None:
    op.create_table(
        "ticket_number_counter",
        sa.Column("day", sa.VARCHAR(length=8), nullable=False),
        sa.Column("last", sa.INTEGER(), server_default=sa.text("0"), nullable=False),
        sa.PrimaryKeyConstraint("day", name=op.f("pk_ticket_number_counter")),
    )
    op.execute(
        "INSERT INTO ticket_number_counter (day, last) SELECT substr(key, 2), last FROM number_counter"
        " WHERE key LIKE 'T%'"
    )
    op.drop_table("repair_quote_line")
    with op.batch_alter_table("repair_photo", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_repair_photo_photo_id"))

    op.drop_table("repair_photo")
    op.drop_table("repair_event")
    with op.batch_alter_table("repair_order", schema=None) as batch_op:
        batch_op.drop_index("ix_repair_order_subdistrict_id_status_created_at")
        batch_op.drop_index("ix_repair_order_resident_id_created_at")
        batch_op.drop_index("ix_repair_order_requested_by_id_created_at")
        batch_op.drop_index("ix_repair_order_craftsman_id_status")
        batch_op.drop_index("ix_repair_order_community_id_created_at")

    op.drop_table("repair_order")
    op.drop_table("repair_policy")
    op.drop_table("price_item_version")
    with op.batch_alter_table("craftsman", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_craftsman_subdistrict_id"))

    op.drop_table("craftsman")
    with op.batch_alter_table("price_item", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_price_item_subdistrict_id"))

    op.drop_table("price_item")
    op.drop_table("number_counter")
