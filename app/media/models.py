"""Uploaded photos: re-encoded originals and thumbnails held by a Storage backend."""

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.core.models import Base, IdMixin, UTCDateTime


class Photo(IdMixin, Base):
    __tablename__ = "photo"
    __table_args__ = (Index("ix_photo_owner_id_sha256", "owner_id", "sha256"),)

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
