"""Open311 partner keys: district platforms (12345 hotlines, city grid systems) that file reports."""

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from app.core.models import Base, IdMixin, UTCDateTime


class Open311ApiKey(IdMixin, Base):
    """An api_key issued by staff to one partner system, for one subdistrict.

    Only the SHA-256 of the key is stored; the key itself is shown once, when it is issued. The
    partner's reports are filed by a service account of their own (`service_user_id`: no
    password, no WeChat identity, inactive, so nobody can log in as it), which keeps
    Ticket.reporter_id meaningful: "reported through partner X". Address-only reports (no
    coordinates) go to the duty queue of `community_id`, the service account's home community.
    Revoking sets revoked_at; the row stays as the record of who issued and revoked what."""

    __tablename__ = "open311_api_key"

    partner_name: Mapped[str] = mapped_column(String(64))
    subdistrict_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("subdistrict.id"), index=True)
    community_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("community.id"))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The first characters of the key, so staff can tell keys apart in a list.
    key_prefix: Mapped[str] = mapped_column(String(16))
    service_user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user.id"), unique=True)
    created_by_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user.id"))
