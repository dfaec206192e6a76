"""WeChat-side state: one-time subscribe-message credits per user and template."""

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.core.models import Base, UTCDateTime


class SubscriptionCredit(Base):
    """How many messages of one template the user still allows (each accept in the
    wx.requestSubscribeMessage popup allows one; a send spends one; 43101 means none left)."""

    __tablename__ = "subscription_credit"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), primary_key=True)
    template_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    credits: Mapped[int] = mapped_column(Integer, default=0)
    accepted_total: Mapped[int] = mapped_column(Integer, default=0)
    sent_total: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
