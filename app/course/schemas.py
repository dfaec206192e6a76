"""菜鸟学堂 request and response bodies."""

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import Field, StringConstraints, model_validator

from app.core.schemas import ApiDatetime, InSchema, Name, OutSchema, PhoneCN
from app.course.models import CheckInMethod, Level, Relationship, SessionStatus, Topic
from app.course.state import HelpStatus, SignupStatus

Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
Venue = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128)]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]


# --- courses and sessions ----------------------------------------------------------------


class CourseCreate(InSchema):
    community_id: uuid.UUID
    title: Title
    topics: list[Topic] = Field(min_length=1, max_length=len(Topic))
    description: str = Field(default="", max_length=2000)
    level: Level = Level.BEGINNER


class CourseUpdate(InSchema):
    title: Title | None = None
    topics: list[Topic] | None = Field(default=None, min_length=1, max_length=len(Topic))
    description: str | None = Field(default=None, max_length=2000)
    level: Level | None = None
    is_active: bool | None = Field(default=None, description="停办的课程不再出现在课程表中")


class CourseRead(OutSchema):
    id: uuid.UUID
    community_id: uuid.UUID
    subdistrict_id: uuid.UUID
    title: str
    topics: list[Topic]
    description: str
    level: Level
    is_active: bool
    created_at: datetime


class SessionCreate(InSchema):
    starts_at: ApiDatetime
    ends_at: ApiDatetime
    venue: Venue
    capacity: int = Field(ge=1, le=1000)
    teacher_ids: list[uuid.UUID] = Field(default_factory=list, max_length=20)


class SessionUpdate(InSchema):
    starts_at: ApiDatetime | None = None
    ends_at: ApiDatetime | None = None
    venue: Venue | None = None
    capacity: int | None = Field(default=None, ge=1, le=1000, description="增加名额会自动递补候补学员")
    teacher_ids: list[uuid.UUID] | None = Field(default=None, max_length=20)


class ReasonIn(InSchema):
    reason: Reason = ""


class TeacherRead(OutSchema):
    user_id: uuid.UUID
    display_name: str


class SessionRead(OutSchema):
    id: uuid.UUID
    course_id: uuid.UUID
    community_id: uuid.UUID
    title: str
    topics: list[Topic]
    level: Level
    starts_at: datetime
    ends_at: datetime
    venue: str
    capacity: int
    seats_left: int
    waitlist_length: int
    status: SessionStatus
    cancel_reason: str | None
    teachers: list[TeacherRead]


class CourseDetail(CourseRead):
    sessions: list[SessionRead]


# --- signups -------------------------------------------------------------------------------


class AttendeeIn(InSchema):
    """The learner, when signing up someone else who has no attendee record yet."""

    name: Name
    phone: PhoneCN | None = None
    age: int | None = Field(default=None, ge=1, le=120)


class SignupCreate(InSchema):
    attendee: AttendeeIn | None = Field(
        default=None, description="替他人报名时填写学员信息；为自己报名时省略"
    )
    attendee_id: uuid.UUID | None = Field(default=None, description="替之前登记过的学员再次报名")
    relationship: Relationship = Field(default=Relationship.SELF, description="报名人与学员的关系")
    consent: bool = Field(default=False, description="替他人报名时须确认已征得学员本人同意")
    consent_note: Reason = ""

    @model_validator(mode="after")
    def _one_attendee(self) -> "SignupCreate":
        if self.attendee is not None and self.attendee_id is not None:
            raise ValueError("attendee 和 attendee_id 只能填一个")
        return self


class AttendeeRead(OutSchema):
    id: uuid.UUID
    name: str
    phone: str | None
    age: int | None
    community_id: uuid.UUID | None
    has_account: bool
    user_id: uuid.UUID | None = None  # staff only


class SignupRead(OutSchema):
    id: uuid.UUID
    session_id: uuid.UUID
    attendee: AttendeeRead
    signed_up_by_id: uuid.UUID | None = Field(default=None, description="工作人员和报名人本人可见")
    signed_up_by_name: str | None = None
    relationship: Relationship
    consent: bool
    status: SignupStatus
    seq: int = Field(description="到达顺序")
    waitlist_position: int | None = Field(description="候补第几位（仅候补中）")
    signed_up_at: datetime
    confirmed_at: datetime | None
    cancelled_at: datetime | None
    cancel_reason: str | None
    checked_in_at: datetime | None
    check_in_method: CheckInMethod | None


class MySignupRead(SignupRead):
    session: SessionRead


class MoveIn(InSchema):
    position: int = Field(ge=1, description="移到候补第几位")


# --- attendance ---------------------------------------------------------------------------


class CheckinToken(OutSchema):
    token: str
    session_id: uuid.UUID
    valid_until: datetime = Field(description="此码最迟到这个时间失效；现场二维码应每分钟刷新")
    refresh_in_seconds: int


class CheckInIn(InSchema):
    token: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    signup_id: uuid.UUID | None = Field(default=None, description="为多位学员报名时，选择为谁签到")


class RollCallEntry(InSchema):
    signup_id: uuid.UUID
    present: bool


class RollCallIn(InSchema):
    entries: list[RollCallEntry] = Field(min_length=1, max_length=1000)


class HistoryItem(OutSchema):
    signup_id: uuid.UUID
    session_id: uuid.UUID
    course_id: uuid.UUID
    title: str
    topics: list[Topic]
    starts_at: datetime
    ends_at: datetime
    venue: str
    status: SignupStatus
    checked_in_at: datetime | None


class AttendeeHistory(OutSchema):
    attendee: AttendeeRead
    attended: int
    no_shows: int
    items: list[HistoryItem]


class LinkIn(InSchema):
    user_id: uuid.UUID


# --- one-on-one help ------------------------------------------------------------------------


class HelpCreate(InSchema):
    topic: Topic
    description: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
    preferred_time: Annotated[str, StringConstraints(strip_whitespace=True, max_length=64)] = ""
    community_id: uuid.UUID | None = Field(default=None, description="默认是学员（或本人）所在社区")
    attendee: AttendeeIn | None = None
    attendee_id: uuid.UUID | None = None
    relationship: Relationship = Relationship.SELF
    consent: bool = False

    @model_validator(mode="after")
    def _one_attendee(self) -> "HelpCreate":
        if self.attendee is not None and self.attendee_id is not None:
            raise ValueError("attendee 和 attendee_id 只能填一个")
        return self


class HelpScheduleIn(InSchema):
    scheduled_for: ApiDatetime
    place: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128)]


class HelpCompleteIn(InSchema):
    minutes: int = Field(ge=5, le=480, description="实际帮扶时长（分钟），计入志愿时长")
    outcome: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] = ""


class HelpEventRead(OutSchema):
    seq: int
    action: str
    from_status: HelpStatus | None
    to_status: HelpStatus | None
    actor_id: uuid.UUID | None
    note: str | None
    at: datetime


class HelpRead(OutSchema):
    id: uuid.UUID
    number: str
    community_id: uuid.UUID
    attendee: AttendeeRead
    requested_by_id: uuid.UUID | None
    relationship: Relationship
    topic: Topic
    description: str
    preferred_time: str
    status: HelpStatus
    requested_at: datetime
    helper_id: uuid.UUID | None
    helper_name: str | None
    claimed_at: datetime | None
    scheduled_for: datetime | None
    place: str | None
    done_at: datetime | None
    minutes: int | None
    outcome: str | None
    timeline: list[HelpEventRead] = Field(default_factory=list)
