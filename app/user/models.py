"""Accounts: one user table, scoped role grants, WeChat identities, grid membership."""

import uuid
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.auth.permissions import CareCategory, Role
from app.core.models import Base, IdMixin, StrEnumType, TimestampMixin, UTCDateTime


class User(IdMixin, TimestampMixin, Base):
    __tablename__ = "user"

    display_name: Mapped[str] = mapped_column(String(64), default="")
    username: Mapped[str | None] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    phone: Mapped[str | None] = mapped_column(String(20), index=True)
    # Set when the number came from WeChat's phone component (verified by WeChat).
    phone_verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    home_community_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("community.id"), index=True)
    home_building_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("building.id"))
    address: Mapped[str] = mapped_column(String(128), default="")
    care_category: Mapped[CareCategory | None] = mapped_column(StrEnumType(CareCategory))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Bumped to invalidate every access token already issued (deactivation, password change).
    token_version: Mapped[int] = mapped_column(Integer, default=1)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class UserRole(IdMixin, TimestampMixin, Base):
    __tablename__ = "user_role"
    __table_args__ = (UniqueConstraint("user_id", "role", "subdistrict_id", "community_id", "department_id"),)

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    role: Mapped[Role] = mapped_column(StrEnumType(Role))
    subdistrict_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("subdistrict.id"))
    community_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("community.id"))
    department_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("department.id"))
    # Part-time grid workers: couriers and delivery riders who report what they see.
    is_part_time: Mapped[bool] = mapped_column(Boolean, default=False)


class UserIdentity(IdMixin, TimestampMixin, Base):
    """An external login bound to a user (WeChat mini-program openid)."""

    __tablename__ = "user_identity"
    __table_args__ = (UniqueConstraint("provider", "subject"),)

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    provider: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str] = mapped_column(String(128))
    union_id: Mapped[str | None] = mapped_column(String(128))


class GridMember(TimestampMixin, Base):
    """A grid worker serving a grid."""

    __tablename__ = "grid_member"
    __table_args__ = (Index("ix_grid_member_grid_id", "grid_id"),)

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), primary_key=True)
    grid_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("grid.id", ondelete="CASCADE"), primary_key=True)
