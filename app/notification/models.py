"""The in-app inbox and the outbox that carries notifications to other channels after commit."""

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.models import Base, IdMixin, UTCDateTime

if TYPE_CHECKING:
    from app.ticket.models import Ticket


class Notification(IdMixin, Base):
    """One message in a user's in-app inbox. Written in the same transaction as its cause, so it
    is never lost, whatever happens to delivery on other channels."""

    __tablename__ = "notification"
    __table_args__ = (Index("ix_notification_user_id_created_at", "user_id", "created_at"),)

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(48))  # e.g. ticket.new, ticket.response_overdue
    title: Mapped[str] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text, default="")
    ticket_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("ticket.id", ondelete="CASCADE"))
    # Never loaded: a new ticket's notifications are inserted after the ticket.
    ticket: Mapped["Ticket | None"] = relationship(lazy="raise")
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class OutboxMessage(IdMixin, Base):
    """A delivery to make after commit (live feed now; WeChat subscribe messages later)."""

    __tablename__ = "outbox_message"
    __table_args__ = (Index("ix_outbox_message_status_available_at", "status", "available_at"),)

    channel: Mapped[str] = mapped_column(String(16))  # live | wechat
    topic: Mapped[str] = mapped_column(String(48))
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending | sending | sent | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    available_at: Mapped[datetime] = mapped_column(UTCDateTime())
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
