"""Uploaded photos: re-encoded originals and thumbnails held by a Storage backend."""

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.core.models import Base, IdMixin, UTCDateTime


class Photo(IdMixin, Base):
    __tablename__ = "photo"
    __table_args__ = (
        Index("ix_photo_owner_id_sha256", "owner_id", "sha256"),
        Index("ix_photo_check_trace_id", "check_trace_id"),
        Index("ix_photo_check_status_check_requested_at", "check_status", "check_requested_at"),
    )

    owner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    content_type: Mapped[str] = mapped_column(String(32))
    source_format: Mapped[str] = mapped_column(String(16))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    size_bytes: Mapped[int] = mapped_column(Integer)
    # Of the bytes as uploaded: a retried upload is recognised and not stored twice.
    sha256: Mapped[str] = mapped_column(String(64))
    storage_key: Mapped[str] = mapped_column(String(128))
    thumb_key: Mapped[str] = mapped_column(String(128))
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # WeChat content check (mediaCheckAsync): none (not checked: no WeChat author) | pending |
    # pass | review (staff to look) | risky (quarantined: staff only) — see app/wechat/moderation.py.
    check_status: Mapped[str] = mapped_column(String(16), default="none", server_default="none")
    check_trace_id: Mapped[str | None] = mapped_column(String(64))
    check_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    check_label: Mapped[int | None] = mapped_column(Integer)
