"""Shapes of the personal-data export, the account deletion request and the access log."""

import uuid
from datetime import datetime
from typing import Literal

from pydantic import Field

from app.auth.permissions import CareCategory, Role
from app.core.schemas import InSchema, OutSchema
from app.media.schemas import PhotoRead
from app.privacy.models import AuditAction

CONFIRM_WORD = "注销"


class DeleteAccountIn(InSchema):
    confirm: Literal["注销"] = Field(description=f"填写“{CONFIRM_WORD}”确认注销账号（不可恢复）")


# --- the export ---------------------------------------------------------------------------


class RoleExport(OutSchema):
    role: Role
    subdistrict_id: uuid.UUID | None
    community_id: uuid.UUID | None
    department_id: uuid.UUID | None
    is_part_time: bool


class ProfileExport(OutSchema):
    id: uuid.UUID
    display_name: str
    username: str | None
    phone: str | None
    phone_verified_at: datetime | None = Field(description="手机号经微信验证的时间")
    home_community_id: uuid.UUID | None
    home_community_name: str | None
    home_building_id: uuid.UUID | None
    home_building_name: str | None
    address: str
    care_category: CareCategory | None = Field(description="关爱类别（彩虹网格），由社区登记")
    is_active: bool
    roles: list[RoleExport]
    grid_ids: list[uuid.UUID]
    created_at: datetime
    last_login_at: datetime | None


class WeChatExport(OutSchema):
    openid: str = Field(description="本小程序下的微信用户标识")
    bound_at: datetime


class TimelineEntryExport(OutSchema):
    """A timeline entry the person wrote themselves."""

    action: str
    from_status: str | None
    to_status: str | None
    note: str | None
    photo_ids: list[uuid.UUID]
    at: datetime


class TicketExport(OutSchema):
    id: uuid.UUID
    number: str
    status: str
    category_name: str
    description: str
    address: str
    lat: float | None = Field(description="WGS-84")
    lng: float | None
    on_behalf: bool = Field(description="为他人代报（被代报人的姓名、电话不属于本人信息，不导出）")
    submitted_at: datetime
    resolved_at: datetime | None
    closed_at: datetime | None
    rating: int | None
    rating_comment: str | None
    photo_ids: list[uuid.UUID] = Field(description="本人上传、附在工单上的照片（见 photos）")
    timeline: list[TimelineEntryExport] = Field(description="本人在时间线上的记录")


class SupportExport(OutSchema):
    ticket_id: uuid.UUID
    number: str
    at: datetime


class RepairOrderExport(OutSchema):
    id: uuid.UUID
    number: str
    role: Literal["resident", "requester"] = Field(
        description="resident：为本人家里维修；requester：本人为他人申请（他人的联系方式和地址不导出）"
    )
    status: str
    category: str
    description: str
    contact_name: str | None
    contact_phone: str | None
    address: str | None
    care_category: CareCategory | None
    preferred_time: str
    requested_at: datetime
    scheduled_for: datetime | None
    completed_at: datetime | None
    cancelled_at: datetime | None
    due_cents: int | None
    paid_cents: int | None
    payment_method: str | None
    rating: int | None
    rating_comment: str | None
    timeline: list[TimelineEntryExport]


class LearnerExport(OutSchema):
    """The person's own 菜鸟学堂 learner record."""

    id: uuid.UUID
    name: str
    phone: str | None
    age: int | None
    community_id: uuid.UUID | None


class SignupExport(OutSchema):
    id: uuid.UUID
    for_self: bool = Field(description="false：本人为他人报名（他人的姓名、电话不导出）")
    session_id: uuid.UUID
    course_title: str
    starts_at: datetime
    venue: str
    relationship: str
    status: str = Field(description="confirmed / waitlisted / attended（已签到）/ no_show / cancelled")
    signed_up_at: datetime
    cancelled_at: datetime | None
    checked_in_at: datetime | None
    check_in_method: str | None


class HelpRequestExport(OutSchema):
    id: uuid.UUID
    number: str
    for_self: bool
    topic: str
    description: str
    preferred_time: str
    status: str
    requested_at: datetime
    scheduled_for: datetime | None
    place: str | None
    done_at: datetime | None
    outcome: str | None


class VolunteerRecordExport(OutSchema):
    source: str
    title: str
    minutes: int
    served_at: datetime


class PointsExport(OutSchema):
    ticket_id: uuid.UUID
    points: int
    reason: str
    at: datetime


class NotificationExport(OutSchema):
    kind: str
    title: str
    body: str = Field(description="消息正文（其中的手机号已打码）")
    ticket_id: uuid.UUID | None
    created_at: datetime
    read_at: datetime | None


class SubscriptionExport(OutSchema):
    template_id: str
    credits: int
    accepted_total: int
    sent_total: int
    updated_at: datetime


class DutyExport(OutSchema):
    on_duty: bool
    since: datetime | None
    last_seen_at: datetime | None
    lat: float | None = Field(description="WGS-84；只在岗时保留")
    lng: float | None


class PersonalDataExport(OutSchema):
    """Everything held about one person (PIPL Art. 45), without other people's personal data."""

    format: Literal["linli-export/1"] = "linli-export/1"
    generated_at: datetime
    photo_links_expire_at: datetime | None = Field(description="照片链接的失效时间，过期后重新导出即可")
    profile: ProfileExport
    wechat: list[WeChatExport]
    tickets: list[TicketExport] = Field(description="本人上报的随手拍")
    supported_tickets: list[SupportExport] = Field(description="本人点过“我也遇到”的随手拍")
    repair_orders: list[RepairOrderExport]
    learner: LearnerExport | None
    course_signups: list[SignupExport]
    help_requests: list[HelpRequestExport]
    volunteer_records: list[VolunteerRecordExport]
    points: list[PointsExport]
    notifications: list[NotificationExport]
    subscription_credits: list[SubscriptionExport]
    duty: DutyExport | None
    photos: list[PhotoRead] = Field(description="本人上传的全部照片（限时链接）")


# --- the access log -----------------------------------------------------------------------


class AuditLogRead(OutSchema):
    id: uuid.UUID
    actor_id: uuid.UUID
    actor_name: str
    action: AuditAction
    subject_user_id: uuid.UUID | None
    subject_name: str | None
    resource: str
    resource_id: uuid.UUID
    at: datetime
