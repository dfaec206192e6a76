"""随手拍 tickets, their photos, timeline events and supporters."""

import uuid
from datetime import datetime

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.models import Base, IdMixin, StrEnumType, TimestampMixin, UTCDateTime
from app.core.timeline import TimelineEventMixin
from app.ticket.state import TicketStatus


class Ticket(IdMixin, TimestampMixin, Base):
    __tablename__ = "ticket"
    __table_args__ = (
        # The worker queue and the sweeper read open tickets by deadline.
        Index("ix_ticket_grid_id_next_due_at", "grid_id", "next_due_at", "id"),
        Index("ix_ticket_community_id_next_due_at", "community_id", "next_due_at", "id"),
        Index("ix_ticket_subdistrict_id_next_due_at", "subdistrict_id", "next_due_at", "id"),
        Index("ix_ticket_assignee_id_next_due_at", "assignee_id", "next_due_at", "id"),
        Index("ix_ticket_status_resolved_at", "status", "resolved_at"),
        # The community duty queue (tickets with no grid): grid_id IS NULL AND community_id = ?.
        Index("ix_ticket_grid_id_community_id_next_due_at", "grid_id", "community_id", "next_due_at", "id"),
        Index("ix_ticket_community_id_submitted_at", "community_id", "submitted_at"),
        Index("ix_ticket_subdistrict_id_submitted_at", "subdistrict_id", "submitted_at"),
        Index("ix_ticket_reporter_id_submitted_at", "reporter_id", "submitted_at"),
        # The sweeper's ladders: open tickets whose next rung is due (levels that already fired
        # at the top rung are skipped inside the index).
        Index(
            "ix_ticket_status_response_alert_level_respond_by", "status", "response_alert_level", "respond_by"
        ),
        Index(
            "ix_ticket_status_resolve_alert_level_resolve_by", "status", "resolve_alert_level", "resolve_by"
        ),
        # Possible duplicates: same category, last day, near a point; the box is checked inside
        # the index, so only the few tickets nearby are read.
        Index(
            "ix_ticket_category_id_submitted_at_lat_lng_status_id",
            "category_id",
            "submitted_at",
            "lat",
            "lng",
            "status",
            "id",
        ),
        # The superadmin's queue (every open ticket by deadline), the grid's KPIs and history, and
        # the staff review queue of reports held by the content check.
        Index(
            "ix_ticket_next_due_at_id",
            "next_due_at",
            "id",
            postgresql_where=text("next_due_at IS NOT NULL"),
            sqlite_where=text("next_due_at IS NOT NULL"),
        ),
        Index("ix_ticket_grid_id_submitted_at", "grid_id", "submitted_at"),
        Index(
            "ix_ticket_held_submitted_at",
            "submitted_at",
            postgresql_where=text("moderation = 'held'"),
            sqlite_where=text("moderation = 'held'"),
        ),
    )

    number: Mapped[str] = mapped_column(String(20), unique=True)
    subdistrict_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("subdistrict.id"))
    community_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("community.id"))
    grid_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("grid.id"))
    category_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("category.id"))
    building_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("building.id"))
    priority: Mapped[int] = mapped_column(Integer)
    description: Mapped[str] = mapped_column(Text)
    # WGS-84; null when only an address was given.
    lat: Mapped[float | None] = mapped_column(Float)
    lng: Mapped[float | None] = mapped_column(Float)
    address: Mapped[str] = mapped_column(String(200), default="")
    routed_by: Mapped[str] = mapped_column(String(16))  # grid | nearest_grid | duty_queue
    reporter_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user.id"))
    # Reported on behalf of someone (an elder who phoned the community).
    on_behalf_name: Mapped[str | None] = mapped_column(String(64))
    on_behalf_phone: Mapped[str | None] = mapped_column(String(20))
    consent_note: Mapped[str | None] = mapped_column(String(200))

    status: Mapped[TicketStatus] = mapped_column(StrEnumType(TicketStatus))
    status_changed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    assignee_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user.id"))
    department_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("department.id"), index=True)
    merged_into_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("ticket.id"))

    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime())
    respond_by: Mapped[datetime] = mapped_column(UTCDateTime())
    resolve_by: Mapped[datetime] = mapped_column(UTCDateTime())
    # respond_by while waiting for a response, resolve_by while open, null when done: queues sort by it.
    next_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    responded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    responded_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user.id"))
    arrived_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    arrival_distance_m: Mapped[float | None] = mapped_column(Float)
    arrival_far: Mapped[bool] = mapped_column(Boolean, default=False)
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Alert ladder: how many rungs have fired for the response and the resolve deadline.
    response_breached_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    response_alert_level: Mapped[int] = mapped_column(Integer, default=0)
    resolve_breached_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resolve_alert_level: Mapped[int] = mapped_column(Integer, default=0)

    rating: Mapped[int | None] = mapped_column(Integer)
    rating_comment: Mapped[str | None] = mapped_column(String(500))
    reopen_count: Mapped[int] = mapped_column(Integer, default=0)
    escalation_count: Mapped[int] = mapped_column(Integer, default=0)
    supporter_count: Mapped[int] = mapped_column(Integer, default=0)
    event_count: Mapped[int] = mapped_column(Integer, default=0)
    # Staff approved showing the report photos on the public board (faces, plates).
    photos_public: Mapped[bool] = mapped_column(Boolean, default=False)
    # Text check at submit (msgSecCheck): visible | held (staff review; hidden from the public
    # board) | hidden (staff decided it stays off the board). The work goes on either way.
    moderation: Mapped[str] = mapped_column(String(16), default="visible", server_default="visible")
    sec_trace_id: Mapped[str | None] = mapped_column(String(64))


class TicketPhoto(Base):
    __tablename__ = "ticket_photo"

    ticket_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("ticket.id", ondelete="CASCADE"), primary_key=True
    )
    # Never loaded: it makes the unit of work insert a new ticket before its rows here.
    ticket: Mapped[Ticket] = relationship(lazy="raise")
    photo_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("photo.id"), primary_key=True, index=True)
    kind: Mapped[str] = mapped_column(String(16))  # report | progress | after
    position: Mapped[int] = mapped_column(Integer)


class TicketEvent(TimelineEventMixin, Base):
    """One line of a ticket's timeline: every transition and notable fact."""

    __tablename__ = "ticket_event"
    __table_args__ = (UniqueConstraint("ticket_id", "seq"),)

    ticket_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("ticket.id", ondelete="CASCADE"))
    ticket: Mapped[Ticket] = relationship(lazy="raise")  # orders the inserts, never loaded
    # action: a TicketAction, or create/support/alert
    from_status: Mapped[TicketStatus | None] = mapped_column(StrEnumType(TicketStatus))
    to_status: Mapped[TicketStatus | None] = mapped_column(StrEnumType(TicketStatus))
    lat: Mapped[float | None] = mapped_column(Float)
    lng: Mapped[float | None] = mapped_column(Float)


class TicketSupporter(Base):
    """A "+1": someone else affected by the same problem."""

    __tablename__ = "ticket_supporter"

    ticket_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("ticket.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())


class PointsEntry(IdMixin, Base):
    """Credit for couriers and part-time grid workers whose reports were verified."""

    __tablename__ = "points_entry"
    __table_args__ = (UniqueConstraint("user_id", "ticket_id"),)

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    ticket_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("ticket.id", ondelete="CASCADE"))
    points: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
