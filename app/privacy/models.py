"""The access log: who was shown someone else's full phone number or care category, and when."""

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from app.core.models import Base, IdMixin, StrEnumType, UTCDateTime


class AuditAction(StrEnum):
    PHONE_READ = "phone_read"  # a full (unmasked) phone number was shown
    CARE_CATEGORY_READ = "care_category_read"  # a 彩虹网格 care category was shown
    ACCOUNT_DELETED = "account_deleted"  # the person deleted their own account


class AuditLog(IdMixin, Base):
    """One disclosure of one person's data to one member of staff, through one resource.

    Written in the request that showed the data. Holds no copy of the data itself, only where it
    was shown (resource: user | ticket | repair_order | course_signup | course_help_request |
    course_attendee | grid | craftsman, and its id)."""

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_subject_user_id_at", "subject_user_id", "at"),
        Index("ix_audit_log_actor_id_at", "actor_id", "at"),
        Index("ix_audit_log_at_id", "at", "id"),
    )

    actor_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user.id"))
    action: Mapped[AuditAction] = mapped_column(StrEnumType(AuditAction))
    # Null: someone without an account (an elder reported for, a learner signed up by phone);
    # the resource says where.
    subject_user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user.id"))
    resource: Mapped[str] = mapped_column(String(32))
    resource_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
