"""Timelines: the ordered, append-only record of what happened to a ticket or an order.

An owner row keeps `event_count`; each event takes the next `seq`, so events that share a
timestamp still have one order. Domains declare their event table with TimelineEventMixin and
append through `append_event`.
"""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from app.core.models import IdMixin, UTCDateTime


class TimelineEventMixin(IdMixin):
    seq: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(32))
    actor_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user.id"))
    note: Mapped[str | None] = mapped_column(String(500))
    photo_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    at: Mapped[datetime] = mapped_column(UTCDateTime())


def plain(data: dict[str, Any]) -> dict[str, Any]:
    """JSON-ready event data (ids as strings)."""
    return {k: (str(v) if isinstance(v, uuid.UUID) else v) for k, v in data.items()}


def append_event(session: AsyncSession, owner: Any, event_cls: type, **fields: Any) -> Any:
    """Add the owner's next event (owner.event_count is bumped in the same unit of work)."""
    owner.event_count = (owner.event_count or 0) + 1
    event = event_cls(seq=owner.event_count, **fields)
    session.add(event)
    return event
