"""Organisation tree: subdistrict → community → grid → building; departments and categories."""

import secrets
import uuid
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.core.models import Base, IdMixin, TimestampMixin


def new_shape_tag() -> int:
    return secrets.randbits(31)


class Subdistrict(IdMixin, TimestampMixin, Base):
    __tablename__ = "subdistrict"

    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(64))
    city: Mapped[str] = mapped_column(String(32), default="")
    district: Mapped[str] = mapped_column(String(32), default="")


class Community(IdMixin, TimestampMixin, Base):
    __tablename__ = "community"

    subdistrict_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("subdistrict.id"), index=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(64))


class Grid(IdMixin, TimestampMixin, Base):
    __tablename__ = "grid"

    community_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("community.id"), index=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(64))
    # GeoJSON Polygon or MultiPolygon, always WGS-84 (lng, lat) as GeoJSON requires.
    boundary: Mapped[dict[str, Any]] = mapped_column(JSON)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    # A fresh random tag on every change: the spatial index cache of each process compares
    # (count, sum(shape_tag)) with what it was built from, so any change anywhere invalidates it.
    shape_tag: Mapped[int] = mapped_column(Integer, default=new_shape_tag)


class Building(IdMixin, TimestampMixin, Base):
    __tablename__ = "building"
    __table_args__ = (UniqueConstraint("community_id", "name"),)

    community_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("community.id"), index=True)
    grid_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("grid.id"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    compound: Mapped[str] = mapped_column(String(64), default="")
    lat: Mapped[float | None] = mapped_column(Float)
    lng: Mapped[float | None] = mapped_column(Float)


class Department(IdMixin, TimestampMixin, Base):
    __tablename__ = "department"
    __table_args__ = (UniqueConstraint("subdistrict_id", "name"),)

    subdistrict_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("subdistrict.id"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    phone: Mapped[str] = mapped_column(String(32), default="")


class Category(IdMixin, TimestampMixin, Base):
    """A kind of reported problem (环境卫生, 设施损坏, …) with its service promise."""

    __tablename__ = "category"
    __table_args__ = (UniqueConstraint("subdistrict_id", "code"),)

    subdistrict_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("subdistrict.id"), index=True)
    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(64))
    priority: Mapped[int] = mapped_column(Integer, default=3)
    respond_minutes: Mapped[int] = mapped_column(Integer, default=10)
    resolve_hours: Mapped[int] = mapped_column(Integer, default=72)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)


class DepartmentCategory(Base):
    __tablename__ = "department_category"

    department_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("department.id", ondelete="CASCADE"), primary_key=True
    )
    category_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("category.id", ondelete="CASCADE"), primary_key=True, index=True
    )
