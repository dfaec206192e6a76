"""乐修匠 repair orders, the versioned price list, pricing policies and craftsman profiles."""

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.auth.permissions import CareCategory
from app.core.models import Base, IdMixin, StrEnumType, TimestampMixin, UTCDateTime
from app.core.timeline import TimelineEventMixin
from app.repair.pricing import LineKind
from app.repair.state import RepairStatus


class RepairCategory(StrEnum):
    APPLIANCE = "appliance"  # 家电
    PLUMBING = "plumbing"  # 水暖
    ELECTRICAL = "electrical"  # 电路
    LOCK = "lock"  # 门锁
    FURNITURE = "furniture"  # 家具
    DRAIN = "drain"  # 管道疏通
    OTHER = "other"  # 其他


CATEGORY_LABELS = {
    RepairCategory.APPLIANCE: "家电",
    RepairCategory.PLUMBING: "水暖",
    RepairCategory.ELECTRICAL: "电路",
    RepairCategory.LOCK: "门锁",
    RepairCategory.FURNITURE: "家具",
    RepairCategory.DRAIN: "管道疏通",
    RepairCategory.OTHER: "其他",
}


class PaymentMethod(StrEnum):
    FREE = "free"  # nothing to pay (fully subsidised)
    CASH = "cash"
    WECHAT = "wechat"  # a WeChat Pay transaction reference (real payment is a later issue)


class PriceItem(IdMixin, TimestampMixin, Base):
    """One line of a subdistrict's published price list; `version` grows with every price change."""

    __tablename__ = "price_item"
    __table_args__ = (UniqueConstraint("subdistrict_id", "category", "name"),)

    subdistrict_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("subdistrict.id"), index=True)
    category: Mapped[RepairCategory] = mapped_column(StrEnumType(RepairCategory))
    name: Mapped[str] = mapped_column(String(64))
    unit: Mapped[str] = mapped_column(String(16))
    price_cents: Mapped[int] = mapped_column(Integer)
    market_price_cents: Mapped[int | None] = mapped_column(Integer)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    version: Mapped[int] = mapped_column(Integer, default=1)


class PriceItemVersion(IdMixin, Base):
    """Each version of a price-list item as it was published (orders quote a version)."""

    __tablename__ = "price_item_version"
    __table_args__ = (UniqueConstraint("item_id", "version"),)

    item_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("price_item.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(64))
    unit: Mapped[str] = mapped_column(String(16))
    price_cents: Mapped[int] = mapped_column(Integer)
    market_price_cents: Mapped[int | None] = mapped_column(Integer)
    is_active: Mapped[bool] = mapped_column(Boolean)
    changed_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user.id"))
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime())


class RepairPolicy(Base):
    """A subdistrict's pricing policy (care-category rules are percentages, not code)."""

    __tablename__ = "repair_policy"

    subdistrict_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("subdistrict.id"), primary_key=True)
    visit_fee_cents: Mapped[int] = mapped_column(Integer, default=0)
    # {care_category: {labor_discount_pct, materials_discount_pct, waive_visit_fee}}
    rules: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user.id"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Craftsman(TimestampMixin, Base):
    """A 乐修匠 handyman's profile: what they repair, where, and how much at once."""

    __tablename__ = "craftsman"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), primary_key=True)
    subdistrict_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("subdistrict.id"), index=True)
    skills: Mapped[list[str]] = mapped_column(JSON, default=list)  # RepairCategory values
    community_ids: Mapped[list[str]] = mapped_column(JSON, default=list)  # communities served
    organisation: Mapped[str] = mapped_column(String(64), default="")  # e.g. 区总工会志愿队
    max_active_orders: Mapped[int] = mapped_column(Integer)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)


class RepairOrder(IdMixin, TimestampMixin, Base):
    __tablename__ = "repair_order"
    __table_args__ = (
        Index("ix_repair_order_subdistrict_id_status_created_at", "subdistrict_id", "status", "created_at"),
        Index("ix_repair_order_community_id_created_at", "community_id", "created_at"),
        Index("ix_repair_order_craftsman_id_status", "craftsman_id", "status"),
        Index("ix_repair_order_resident_id_created_at", "resident_id", "created_at"),
        Index("ix_repair_order_requested_by_id_created_at", "requested_by_id", "created_at"),
    )

    number: Mapped[str] = mapped_column(String(24), unique=True)
    subdistrict_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("subdistrict.id"))
    community_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("community.id"))
    # The household served: an account, or (phone orders) only the contact below.
    resident_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user.id"))
    requested_by_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user.id"))
    contact_name: Mapped[str] = mapped_column(String(64))
    contact_phone: Mapped[str | None] = mapped_column(String(20))
    address: Mapped[str] = mapped_column(String(128))
    building_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("building.id"))
    # Taken from the resident's record (or stated by the staff member for a phone order).
    care_category: Mapped[CareCategory | None] = mapped_column(StrEnumType(CareCategory))
    category: Mapped[RepairCategory] = mapped_column(StrEnumType(RepairCategory))
    description: Mapped[str] = mapped_column(Text)
    preferred_time: Mapped[str] = mapped_column(String(64), default="")
    ticket_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("ticket.id"), unique=True)

    status: Mapped[RepairStatus] = mapped_column(StrEnumType(RepairStatus))
    status_changed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime())
    craftsman_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user.id"))
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    scheduled_for: Mapped[datetime | None] = mapped_column(UTCDateTime())
    arrived_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    quoted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    quote_version: Mapped[int] = mapped_column(Integer, default=0)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    settled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    cancel_reason: Mapped[str | None] = mapped_column(String(500))

    # The confirmed (or latest) quote's totals, in fen.
    list_total_cents: Mapped[int | None] = mapped_column(Integer)
    market_total_cents: Mapped[int | None] = mapped_column(Integer)
    subsidy_cents: Mapped[int | None] = mapped_column(Integer)
    due_cents: Mapped[int | None] = mapped_column(Integer)
    paid_cents: Mapped[int | None] = mapped_column(Integer)
    payment_method: Mapped[PaymentMethod | None] = mapped_column(StrEnumType(PaymentMethod))
    payment_reference: Mapped[str | None] = mapped_column(String(64))

    rating: Mapped[int | None] = mapped_column(Integer)
    rating_comment: Mapped[str | None] = mapped_column(String(500))
    rated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    handback_count: Mapped[int] = mapped_column(Integer, default=0)
    no_show_count: Mapped[int] = mapped_column(Integer, default=0)
    absent_count: Mapped[int] = mapped_column(Integer, default=0)
    event_count: Mapped[int] = mapped_column(Integer, default=0)
    # Text check at submit (msgSecCheck): visible | held (staff to look at the wording).
    moderation: Mapped[str] = mapped_column(String(16), default="visible", server_default="visible")
    sec_trace_id: Mapped[str | None] = mapped_column(String(64))


class RepairQuoteLine(IdMixin, Base):
    """One priced line of one version of an order's quote (older versions are kept)."""

    __tablename__ = "repair_quote_line"
    __table_args__ = (UniqueConstraint("order_id", "quote_version", "position"),)

    order_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("repair_order.id", ondelete="CASCADE"))
    order: Mapped[RepairOrder] = relationship(lazy="raise")  # orders the inserts, never loaded
    quote_version: Mapped[int] = mapped_column(Integer)
    position: Mapped[int] = mapped_column(Integer)
    kind: Mapped[LineKind] = mapped_column(StrEnumType(LineKind))
    price_item_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("price_item.id"))
    price_version: Mapped[int | None] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(64))
    unit: Mapped[str] = mapped_column(String(16))
    quantity: Mapped[int] = mapped_column(Integer)
    list_unit_cents: Mapped[int] = mapped_column(Integer)
    list_amount_cents: Mapped[int] = mapped_column(Integer)
    market_amount_cents: Mapped[int | None] = mapped_column(Integer)
    discount_pct: Mapped[int] = mapped_column(Integer)
    subsidy_cents: Mapped[int] = mapped_column(Integer)
    due_cents: Mapped[int] = mapped_column(Integer)
    rule: Mapped[str] = mapped_column(String(128))


class RepairPhoto(Base):
    __tablename__ = "repair_photo"

    order_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("repair_order.id", ondelete="CASCADE"), primary_key=True
    )
    # Never loaded: it makes the unit of work insert a new order before its rows here.
    order: Mapped[RepairOrder] = relationship(lazy="raise")
    photo_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("photo.id"), primary_key=True, index=True)
    kind: Mapped[str] = mapped_column(String(16))  # request | after
    position: Mapped[int] = mapped_column(Integer)


class RepairEvent(TimelineEventMixin, Base):
    """One line of an order's timeline."""

    __tablename__ = "repair_event"
    __table_args__ = (UniqueConstraint("order_id", "seq"),)

    order_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("repair_order.id", ondelete="CASCADE"))
    order: Mapped[RepairOrder] = relationship(lazy="raise")  # orders the inserts, never loaded
    from_status: Mapped[RepairStatus | None] = mapped_column(StrEnumType(RepairStatus))
    to_status: Mapped[RepairStatus | None] = mapped_column(StrEnumType(RepairStatus))
