"""Grid workers on and off duty, with their last location kept only while on duty."""

import uuid
from datetime import datetime

from sqlalchemy import Boolean, Float, ForeignKey
from sqlalchemy.orm import Mapped, mapped_column

from app.core.models import Base, UTCDateTime


class WorkerDuty(Base):
    __tablename__ = "worker_duty"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), primary_key=True)
    on_duty: Mapped[bool] = mapped_column(Boolean, default=False)
    since: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # WGS-84. Cleared when going off duty and when the heartbeat is older than the retention window.
    lat: Mapped[float | None] = mapped_column(Float)
    lng: Mapped[float | None] = mapped_column(Float)
