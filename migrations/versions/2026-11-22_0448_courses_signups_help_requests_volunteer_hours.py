"""菜鸟学堂: courses, sessions, attendees, signups, help requests and the volunteer-hours ledger.

Revision ID: f59c7c57e6ae
Revises: a9bafc6e1c11
Create Date: 2026-11-22 04:48:06.494372+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "f59c7c57e6ae"
down_revision: str | None = "a9bafc6e1c11"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "course",
        sa.Column("subdistrict_id", sa.Uuid(), nullable=False),
        sa.Column("community_id", sa.Uuid(), nullable=False),
        sa.Column("title", sa.String(length=64), nullable=False),
        sa.Column("topics", sa.JSON(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("level", sa.String(length=32), nullable=False),
        sa.Column("created_by_id", sa.Uuid(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
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
            ["community_id"], ["community.id"], name=op.f("fk_course_community_id_community")
        ),
        sa.ForeignKeyConstraint(["created_by_id"], ["user.id"], name=op.f("fk_course_created_by_id_user")),
        sa.ForeignKeyConstraint(
            ["subdistrict_id"], ["subdistrict.id"], name=op.f("fk_course_subdistrict_id_subdistrict")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_course")),
    )
    with op.batch_alter_table("course", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_course_community_id"), ["community_id"], unique=False)

    op.create_table(
        "course_attendee",
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("phone", sa.String(length=20), nullable=True),
        sa.Column("age", sa.Integer(), nullable=True),
        sa.Column("community_id", sa.Uuid(), nullable=True),
        sa.Column("created_by_id", sa.Uuid(), nullable=False),
        sa.Column("linked_by_id", sa.Uuid(), nullable=True),
        sa.Column("linked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("merged_into_id", sa.Uuid(), nullable=True),
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
            ["community_id"], ["community.id"], name=op.f("fk_course_attendee_community_id_community")
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["user.id"], name=op.f("fk_course_attendee_created_by_id_user")
        ),
        sa.ForeignKeyConstraint(
            ["linked_by_id"], ["user.id"], name=op.f("fk_course_attendee_linked_by_id_user")
        ),
        sa.ForeignKeyConstraint(
            ["merged_into_id"],
            ["course_attendee.id"],
            name=op.f("fk_course_attendee_merged_into_id_course_attendee"),
        ),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"], name=op.f("fk_course_attendee_user_id_user")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_course_attendee")),
        sa.UniqueConstraint("user_id", name=op.f("uq_course_attendee_user_id")),
    )
    with op.batch_alter_table("course_attendee", schema=None) as batch_op:
        batch_op.create_index(
            "ix_course_attendee_community_id_phone", ["community_id", "phone"], unique=False
        )
        batch_op.create_index(
            "ix_course_attendee_created_by_id_name", ["created_by_id", "name"], unique=False
        )

    op.create_table(
        "course_volunteer_record",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("community_id", sa.Uuid(), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("source_id", sa.Uuid(), nullable=False),
        sa.Column("title", sa.String(length=128), nullable=False),
        sa.Column("minutes", sa.Integer(), nullable=False),
        sa.Column("served_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["community_id"], ["community.id"], name=op.f("fk_course_volunteer_record_community_id_community")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user.id"], name=op.f("fk_course_volunteer_record_user_id_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_course_volunteer_record")),
        sa.UniqueConstraint(
            "user_id", "source", "source_id", name=op.f("uq_course_volunteer_record_user_id_source_source_id")
        ),
    )
    with op.batch_alter_table("course_volunteer_record", schema=None) as batch_op:
        batch_op.create_index(
            "ix_course_volunteer_record_community_id_served_at", ["community_id", "served_at"], unique=False
        )
        batch_op.create_index(
            "ix_course_volunteer_record_user_id_served_at", ["user_id", "served_at"], unique=False
        )

    op.create_table(
        "course_help_request",
        sa.Column("number", sa.String(length=24), nullable=False),
        sa.Column("subdistrict_id", sa.Uuid(), nullable=False),
        sa.Column("community_id", sa.Uuid(), nullable=False),
        sa.Column("attendee_id", sa.Uuid(), nullable=False),
        sa.Column("requested_by_id", sa.Uuid(), nullable=False),
        sa.Column("relationship", sa.String(length=32), nullable=False),
        sa.Column("consent", sa.Boolean(), nullable=False),
        sa.Column("topic", sa.String(length=32), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("preferred_time", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("helper_id", sa.Uuid(), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("scheduled_for", sa.DateTime(timezone=True), nullable=True),
        sa.Column("place", sa.String(length=128), nullable=True),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("minutes", sa.Integer(), nullable=True),
        sa.Column("outcome", sa.String(length=500), nullable=True),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
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
            ["attendee_id"],
            ["course_attendee.id"],
            name=op.f("fk_course_help_request_attendee_id_course_attendee"),
        ),
        sa.ForeignKeyConstraint(
            ["community_id"], ["community.id"], name=op.f("fk_course_help_request_community_id_community")
        ),
        sa.ForeignKeyConstraint(
            ["helper_id"], ["user.id"], name=op.f("fk_course_help_request_helper_id_user")
        ),
        sa.ForeignKeyConstraint(
            ["requested_by_id"], ["user.id"], name=op.f("fk_course_help_request_requested_by_id_user")
        ),
        sa.ForeignKeyConstraint(
            ["subdistrict_id"],
            ["subdistrict.id"],
            name=op.f("fk_course_help_request_subdistrict_id_subdistrict"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_course_help_request")),
        sa.UniqueConstraint("number", name=op.f("uq_course_help_request_number")),
    )
    with op.batch_alter_table("course_help_request", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_course_help_request_attendee_id"), ["attendee_id"], unique=False)
        batch_op.create_index(
            "ix_course_help_request_community_id_status_requested_at",
            ["community_id", "status", "requested_at"],
            unique=False,
        )
        batch_op.create_index(
            "ix_course_help_request_helper_id_status", ["helper_id", "status"], unique=False
        )
        batch_op.create_index(
            "ix_course_help_request_requested_by_id_requested_at",
            ["requested_by_id", "requested_at"],
            unique=False,
        )

    op.create_table(
        "course_session",
        sa.Column("course_id", sa.Uuid(), nullable=False),
        sa.Column("community_id", sa.Uuid(), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("venue", sa.String(length=128), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancel_reason", sa.String(length=200), nullable=True),
        sa.Column("signup_count", sa.Integer(), nullable=False),
        sa.Column("reminded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by_id", sa.Uuid(), nullable=False),
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
            ["community_id"], ["community.id"], name=op.f("fk_course_session_community_id_community")
        ),
        sa.ForeignKeyConstraint(
            ["course_id"], ["course.id"], name=op.f("fk_course_session_course_id_course")
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["user.id"], name=op.f("fk_course_session_created_by_id_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_course_session")),
    )
    with op.batch_alter_table("course_session", schema=None) as batch_op:
        batch_op.create_index(
            "ix_course_session_community_id_starts_at", ["community_id", "starts_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_course_session_course_id"), ["course_id"], unique=False)
        batch_op.create_index("ix_course_session_ends_at_closed_at", ["ends_at", "closed_at"], unique=False)
        batch_op.create_index("ix_course_session_starts_at", ["starts_at"], unique=False)

    op.create_table(
        "course_help_event",
        sa.Column("request_id", sa.Uuid(), nullable=False),
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
        sa.ForeignKeyConstraint(["actor_id"], ["user.id"], name=op.f("fk_course_help_event_actor_id_user")),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["course_help_request.id"],
            name=op.f("fk_course_help_event_request_id_course_help_request"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_course_help_event")),
        sa.UniqueConstraint("request_id", "seq", name=op.f("uq_course_help_event_request_id_seq")),
    )
    op.create_table(
        "course_session_teacher",
        sa.Column("session_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["course_session.id"],
            name=op.f("fk_course_session_teacher_session_id_course_session"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user.id"], name=op.f("fk_course_session_teacher_user_id_user")
        ),
        sa.PrimaryKeyConstraint("session_id", "user_id", name=op.f("pk_course_session_teacher")),
    )
    with op.batch_alter_table("course_session_teacher", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_course_session_teacher_user_id"), ["user_id"], unique=False)

    op.create_table(
        "course_signup",
        sa.Column("session_id", sa.Uuid(), nullable=False),
        sa.Column("attendee_id", sa.Uuid(), nullable=False),
        sa.Column("signed_up_by_id", sa.Uuid(), nullable=False),
        sa.Column("relationship", sa.String(length=32), nullable=False),
        sa.Column("consent", sa.Boolean(), nullable=False),
        sa.Column("consent_note", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("signed_up_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("waitlisted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("promoted_by_id", sa.Uuid(), nullable=True),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancelled_by_id", sa.Uuid(), nullable=True),
        sa.Column("cancel_reason", sa.String(length=200), nullable=True),
        sa.Column("checked_in_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("check_in_method", sa.String(length=32), nullable=True),
        sa.Column("attendance_by_id", sa.Uuid(), nullable=True),
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
            ["attendance_by_id"], ["user.id"], name=op.f("fk_course_signup_attendance_by_id_user")
        ),
        sa.ForeignKeyConstraint(
            ["attendee_id"], ["course_attendee.id"], name=op.f("fk_course_signup_attendee_id_course_attendee")
        ),
        sa.ForeignKeyConstraint(
            ["cancelled_by_id"], ["user.id"], name=op.f("fk_course_signup_cancelled_by_id_user")
        ),
        sa.ForeignKeyConstraint(
            ["promoted_by_id"], ["user.id"], name=op.f("fk_course_signup_promoted_by_id_user")
        ),
        sa.ForeignKeyConstraint(
            ["session_id"], ["course_session.id"], name=op.f("fk_course_signup_session_id_course_session")
        ),
        sa.ForeignKeyConstraint(
            ["signed_up_by_id"], ["user.id"], name=op.f("fk_course_signup_signed_up_by_id_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_course_signup")),
    )
    with op.batch_alter_table("course_signup", schema=None) as batch_op:
        batch_op.create_index("ix_course_signup_attendee_id_status", ["attendee_id", "status"], unique=False)
        batch_op.create_index(
            "ix_course_signup_session_id_status_position", ["session_id", "status", "position"], unique=False
        )
        batch_op.create_index(
            "ix_course_signup_signed_up_by_id_created_at", ["signed_up_by_id", "created_at"], unique=False
        )
        batch_op.create_index(
            "uq_course_signup_session_id_attendee_id_active",
            ["session_id", "attendee_id"],
            unique=True,
            sqlite_where=sa.text("status != 'cancelled'"),
            postgresql_where=sa.text("status != 'cancelled'"),
        )


def downgrade() -> None:
    with op.batch_alter_table("course_signup", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_course_signup_session_id_attendee_id_active",
            sqlite_where=sa.text("status != 'cancelled'"),
            postgresql_where=sa.text("status != 'cancelled'"),
        )
        batch_op.drop_index("ix_course_signup_signed_up_by_id_created_at")
        batch_op.drop_index("ix_course_signup_session_id_status_position")
        batch_op.drop_index("ix_course_signup_attendee_id_status")

    op.drop_table("course_signup")
    with op.batch_alter_table("course_session_teacher", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_course_session_teacher_user_id"))

    op.drop_table("course_session_teacher")
    op.drop_table("course_help_event")
    with op.batch_alter_table("course_session", schema=None) as batch_op:
        batch_op.drop_index("ix_course_session_starts_at")
        batch_op.drop_index("ix_course_session_ends_at_closed_at")
        batch_op.drop_index(batch_op.f("ix_course_session_course_id"))
        batch_op.drop_index("ix_course_session_community_id_starts_at")

    op.drop_table("course_session")
    with op.batch_alter_table("course_help_request", schema=None) as batch_op:
        batch_op.drop_index("ix_course_help_request_requested_by_id_requested_at")
        batch_op.drop_index("ix_course_help_request_helper_id_status")
        batch_op.drop_index("ix_course_help_request_community_id_status_requested_at")
        batch_op.drop_index(batch_op.f("ix_course_help_request_attendee_id"))

    op.drop_table("course_help_request")
    with op.batch_alter_table("course_volunteer_record", schema=None) as batch_op:
        batch_op.drop_index("ix_course_volunteer_record_user_id_served_at")
        batch_op.drop_index("ix_course_volunteer_record_community_id_served_at")

    op.drop_table("course_volunteer_record")
    with op.batch_alter_table("course_attendee", schema=None) as batch_op:
        batch_op.drop_index("ix_course_attendee_created_by_id_name")
        batch_op.drop_index("ix_course_attendee_community_id_phone")

    op.drop_table("course_attendee")
    with op.batch_alter_table("course", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_course_community_id"))

    op.drop_table("course")
