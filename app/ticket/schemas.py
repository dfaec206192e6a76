"""Ticket shapes."""

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import Field, StringConstraints, model_validator

from app.core.schemas import InSchema, OutSchema, PhoneCN
from app.media.schemas import PhotoRead
from app.org.geo import CoordSystem
from app.ticket.state import TicketStatus

PhotoIds = Annotated[list[uuid.UUID], Field(max_length=9, description="上传接口返回的照片编号，最多 9 张")]
Note = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]


class PointIn(InSchema):
    lat: float = Field(ge=-90, le=90, examples=[34.2704])
    lng: float = Field(ge=-180, le=180, examples=[108.9541])
    coord_system: CoordSystem = Field(default=CoordSystem.GCJ02, description="小程序地图为 gcj02")


class OnBehalfIn(InSchema):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
    phone: PhoneCN | None = None
    consent_note: Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=200)] = (
        Field(description="居民同意代报的说明，例如“刘奶奶电话来电，同意由网格员代为上报”")
    )


class TicketCreate(InSchema):
    category_id: uuid.UUID
    description: Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=500)] = (
        Field(examples=["小区门口井盖破损，晚上很危险"])
    )
    photo_ids: PhotoIds = Field(default_factory=list)
    location: PointIn | None = None
    address: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] | None = Field(
        default=None, examples=["西一路小区北门"]
    )
    building_id: uuid.UUID | None = None
    on_behalf: OnBehalfIn | None = Field(default=None, description="工作人员或网格员代居民上报时填写")

    @model_validator(mode="after")
    def _somewhere(self) -> "TicketCreate":
        if self.location is None and not self.address and self.building_id is None:
            raise ValueError("请在地图上选择位置，或填写地址")
        if len(set(self.photo_ids)) != len(self.photo_ids):
            raise ValueError("照片重复")
        return self


class AssignIn(InSchema):
    worker_id: uuid.UUID
    note: Note | None = None


class ArriveIn(PointIn):
    note: Note | None = None


class ResolveIn(InSchema):
    note: Note = Field(examples=["井盖已更换"])
    photo_ids: PhotoIds = Field(default_factory=list)


class EscalateIn(InSchema):
    department_id: uuid.UUID
    note: Note = Field(examples=["井盖属市政设施，社区无法处理，请城管中队处理"])


class NoteIn(InSchema):
    note: Note | None = None


class ReasonIn(InSchema):
    reason: Note


class MergeIn(InSchema):
    into_ticket_id: uuid.UUID
    note: Note | None = None


class ConfirmIn(InSchema):
    rating: int = Field(ge=1, le=5, description="1–5 分")
    comment: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] | None = None


class PersonRead(OutSchema):
    id: uuid.UUID | None = None
    display_name: str
    phone: str | None = None


class LocationRead(OutSchema):
    lat: float
    lng: float
    coord_system: CoordSystem


class TicketEventRead(OutSchema):
    id: uuid.UUID
    action: str
    from_status: TicketStatus | None
    to_status: TicketStatus | None
    actor: PersonRead | None
    note: str | None
    photos: list[PhotoRead] = Field(default_factory=list)
    location: LocationRead | None = None
    data: dict = Field(default_factory=dict)
    at: datetime


class TicketBrief(OutSchema):
    """A row of a list: enough for a queue or a board."""

    id: uuid.UUID
    number: str = Field(examples=["T20261122000001"], description="电话里可以念的工单号")
    status: TicketStatus
    category_id: uuid.UUID
    category_name: str
    priority: int
    description: str
    community_id: uuid.UUID
    grid_id: uuid.UUID | None
    address: str = Field(description="无需知道的人看到的是打码后的地址")
    location: LocationRead | None
    submitted_at: datetime
    respond_by: datetime
    resolve_by: datetime
    responded_at: datetime | None
    resolved_at: datetime | None
    seconds_to_respond: int | None = Field(description="待接单时距 10 分钟响应时限的秒数，负数为已超时")
    seconds_to_resolve: int | None = Field(description="未办结时距办结时限的秒数，负数为已超时")
    response_overdue: bool
    resolve_overdue: bool
    assignee_id: uuid.UUID | None
    supporter_count: int
    moderation: str = Field(
        default="visible",
        description=(
            "内容安全：visible 正常；held 待工作人员审核（不在问题清单公开）；hidden 工作人员决定不公开"
        ),
    )
    distance_m: float | None = Field(default=None, description="与所给位置的距离（疑似重复时）")


class TicketRead(TicketBrief):
    reporter: PersonRead | None = Field(description="仅工作人员、处理人和上报人本人可见")
    on_behalf: PersonRead | None = None
    consent_note: str | None = None
    building_id: uuid.UUID | None
    routed_by: str
    assignee: PersonRead | None
    department_id: uuid.UUID | None
    merged_into_id: uuid.UUID | None
    arrived_at: datetime | None
    arrival_distance_m: float | None
    arrival_far: bool
    closed_at: datetime | None
    rating: int | None
    rating_comment: str | None
    reopen_count: int
    photos: list[PhotoRead]
    after_photos: list[PhotoRead]
    timeline: list[TicketEventRead]
    is_full_view: bool = Field(description="false 表示公开视图（不含上报人、精确地址）")


class TicketCreated(TicketRead):
    possible_duplicates: list[TicketBrief] = Field(
        default_factory=list, description="附近 24 小时内同类未办结的问题，可以改为“+1”"
    )
