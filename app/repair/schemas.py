"""乐修匠 shapes. Money is in fen (分), as integers."""

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import Field, StringConstraints, model_validator

from app.auth.permissions import CareCategory
from app.core.schemas import ApiDatetime, InSchema, OutSchema, PhoneCN
from app.media.schemas import PhotoRead
from app.repair.models import PaymentMethod, RepairCategory
from app.repair.pricing import LineKind
from app.repair.state import RepairStatus
from app.ticket.schemas import PersonRead

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
Unit = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=16)]
Note = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=500)]
Cents = Annotated[int, Field(ge=0, le=10_000_000, description="金额，单位：分")]
Quantity = Annotated[int, Field(ge=1, le=999)]
PhotoIds = Annotated[list[uuid.UUID], Field(max_length=9, description="上传接口返回的照片编号，最多 9 张")]


# --- price list and policy -------------------------------------------------------------


class PriceItemCreate(InSchema):
    subdistrict_id: uuid.UUID
    category: RepairCategory
    name: Name = Field(examples=["更换水龙头"])
    unit: Unit = Field(examples=["个"])
    price_cents: Cents = Field(examples=[2000])
    market_price_cents: Cents | None = Field(default=None, examples=[5000], description="市场参考价")


class PriceItemUpdate(InSchema):
    name: Name | None = None
    unit: Unit | None = None
    price_cents: Cents | None = None
    market_price_cents: Cents | None = None
    is_active: bool | None = None


class PriceItemRead(OutSchema):
    id: uuid.UUID
    subdistrict_id: uuid.UUID
    category: RepairCategory
    category_name: str
    name: str
    unit: str
    price_cents: int
    market_price_cents: int | None
    is_active: bool
    version: int


class PriceItemVersionRead(OutSchema):
    version: int
    name: str
    unit: str
    price_cents: int
    market_price_cents: int | None
    is_active: bool
    changed_by_id: uuid.UUID | None
    changed_at: datetime


class CareRuleIO(InSchema):
    labor_discount_pct: int = Field(default=0, ge=0, le=100, description="人工费减免百分比")
    materials_discount_pct: int = Field(default=0, ge=0, le=100, description="材料费减免百分比")
    waive_visit_fee: bool = Field(default=False, description="免收上门费")


class PolicyIn(InSchema):
    visit_fee_cents: Cents = 0
    rules: dict[CareCategory, CareRuleIO] = Field(
        default_factory=dict, description="按困难类别的减免规则；未列出的类别按价目表收费"
    )


class PolicyRead(OutSchema):
    subdistrict_id: uuid.UUID
    visit_fee_cents: int
    rules: dict[CareCategory, CareRuleIO]
    is_default: bool = Field(description="街道尚未自定义，使用系统默认政策")
    updated_at: datetime | None


# --- craftsmen -------------------------------------------------------------------------


class CraftsmanIn(InSchema):
    subdistrict_id: uuid.UUID
    skills: list[RepairCategory] = Field(min_length=1, max_length=len(RepairCategory))
    community_ids: list[uuid.UUID] = Field(default_factory=list, description="服务的社区；留空表示全街道")
    organisation: Annotated[str, StringConstraints(strip_whitespace=True, max_length=64)] = ""
    max_active_orders: int | None = Field(default=None, ge=1, le=50, description="同时在手的维修单上限")
    is_active: bool = True


class CraftsmanRead(OutSchema):
    user_id: uuid.UUID
    display_name: str
    phone: str | None
    subdistrict_id: uuid.UUID
    skills: list[RepairCategory]
    community_ids: list[uuid.UUID]
    organisation: str
    max_active_orders: int
    active_orders: int
    is_active: bool


# --- orders ----------------------------------------------------------------------------


class ForResidentIn(InSchema):
    """A phone order entered by staff: an existing account, or just a name and a phone."""

    resident_id: uuid.UUID | None = None
    name: Name | None = None
    phone: PhoneCN | None = None
    care_category: CareCategory | None = Field(
        default=None, description="没有账号的居民：工作人员核实的困难类别（有账号时以档案为准）"
    )

    @model_validator(mode="after")
    def _someone(self) -> "ForResidentIn":
        if self.resident_id is None and not (self.name and self.phone):
            raise ValueError("请选择居民账号，或填写居民姓名和电话")
        return self


class OrderCreate(InSchema):
    category: RepairCategory
    description: Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=500)] = (
        Field(examples=["厨房水龙头一直滴水"])
    )
    photo_ids: PhotoIds = Field(default_factory=list)
    address: Annotated[str, StringConstraints(strip_whitespace=True, max_length=128)] | None = Field(
        default=None, description="上门地址；不填时用居民档案中的地址"
    )
    community_id: uuid.UUID | None = Field(default=None, description="不填时用居民所在社区")
    building_id: uuid.UUID | None = None
    preferred_time: Annotated[str, StringConstraints(strip_whitespace=True, max_length=64)] = Field(
        default="", examples=["周末上午"]
    )
    for_resident: ForResidentIn | None = Field(default=None, description="工作人员电话登记时填写")

    @model_validator(mode="after")
    def _distinct_photos(self) -> "OrderCreate":
        if len(set(self.photo_ids)) != len(self.photo_ids):
            raise ValueError("照片重复")
        return self


class AssignIn(InSchema):
    craftsman_id: uuid.UUID
    note: Note | None = None


class ScheduleIn(InSchema):
    visit_at: ApiDatetime = Field(description="约定上门时间（带时区）")
    note: Note | None = None


class NoteIn(InSchema):
    note: Note | None = None


class ReasonIn(InSchema):
    reason: Reason


class QuoteItemIn(InSchema):
    price_item_id: uuid.UUID
    quantity: Quantity = 1


class MaterialIn(InSchema):
    name: Name
    unit: Unit = "个"
    unit_cost_cents: Cents
    quantity: Quantity = 1


class QuoteIn(InSchema):
    items: list[QuoteItemIn] = Field(min_length=1, max_length=20)
    materials: list[MaterialIn] = Field(default_factory=list, max_length=20)
    note: Note | None = None


class EstimateIn(InSchema):
    """Price a job in advance for the caller's own household (nothing is stored)."""

    subdistrict_id: uuid.UUID
    items: list[QuoteItemIn] = Field(min_length=1, max_length=20)
    materials: list[MaterialIn] = Field(default_factory=list, max_length=20)


class CompleteIn(InSchema):
    note: Note | None = None
    photo_ids: PhotoIds = Field(default_factory=list)


class SettleIn(InSchema):
    amount_cents: Cents = Field(description="实收金额，须等于报价应付金额")
    method: PaymentMethod
    reference: Annotated[str, StringConstraints(strip_whitespace=True, max_length=64)] | None = Field(
        default=None, description="微信支付交易单号"
    )


class RateIn(InSchema):
    rating: int = Field(ge=1, le=5)
    comment: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] | None = None


class QuoteLineRead(OutSchema):
    kind: LineKind
    name: str
    unit: str
    quantity: int
    price_item_id: uuid.UUID | None
    price_version: int | None
    list_unit_cents: int
    list_amount_cents: int
    market_amount_cents: int | None
    discount_pct: int
    subsidy_cents: int
    due_cents: int
    rule: str = Field(description="适用的收费规则，例如“孤寡老人：人工费全免”")


class QuoteRead(OutSchema):
    version: int | None = Field(description="第几版报价；试算时为空")
    care_category: CareCategory | None
    lines: list[QuoteLineRead]
    list_total_cents: int
    market_total_cents: int
    subsidy_cents: int
    due_cents: int


class RepairEventRead(OutSchema):
    id: uuid.UUID
    action: str
    from_status: RepairStatus | None
    to_status: RepairStatus | None
    actor: PersonRead | None
    note: str | None
    photos: list[PhotoRead] = Field(default_factory=list)
    data: dict = Field(default_factory=dict)
    at: datetime


class OrderBrief(OutSchema):
    id: uuid.UUID
    number: str
    status: RepairStatus
    category: RepairCategory
    category_name: str
    description: str
    subdistrict_id: uuid.UUID
    community_id: uuid.UUID
    address: str = Field(description="接单前的师傅和无关人员只看到小区，门牌号被隐去")
    preferred_time: str
    craftsman_id: uuid.UUID | None
    scheduled_for: datetime | None
    requested_at: datetime
    due_cents: int | None
    rating: int | None
    moderation: str = Field(
        default="visible",
        description="内容安全：visible 正常；held 文字待工作人员留意（微信内容安全建议人工审核）",
    )


class OrderRead(OrderBrief):
    contact: PersonRead | None = Field(description="居民姓名和电话；接单前的师傅看不到")
    resident_id: uuid.UUID | None
    requested_by_id: uuid.UUID | None = Field(description="登记人；接单前的师傅看不到")
    care_category: CareCategory | None = Field(description="困难类别：仅居民本人和工作人员可见")
    craftsman: PersonRead | None
    ticket_id: uuid.UUID | None
    accepted_at: datetime | None
    arrived_at: datetime | None
    quoted_at: datetime | None
    confirmed_at: datetime | None
    completed_at: datetime | None
    settled_at: datetime | None
    cancelled_at: datetime | None
    cancel_reason: str | None
    quote: QuoteRead | None
    list_total_cents: int | None
    subsidy_cents: int | None
    paid_cents: int | None
    payment_method: PaymentMethod | None
    payment_reference: str | None
    rating_comment: str | None
    photos: list[PhotoRead]
    after_photos: list[PhotoRead]
    timeline: list[RepairEventRead]
    is_full_view: bool
