"""菜鸟学堂: courses, sessions, attendees, signups, one-on-one help and volunteer hours."""

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.models import Base, IdMixin, StrEnumType, TimestampMixin, UTCDateTime
from app.core.timeline import TimelineEventMixin
from app.course.state import HelpStatus, SignupStatus


class Topic(StrEnum):
    HEALTH_CODE = "health_code"  # 健康码、行程卡
    WECHAT = "wechat"  # 微信聊天、视频通话
    PHOTOS = "photos"  # 拍照、相册
    VIDEO_APPS = "video_apps"  # 短视频
    HOSPITAL_BOOKING = "hospital_booking"  # 网上预约挂号
    MOBILE_PAYMENT = "mobile_payment"  # 移动支付
    ANTI_FRAUD = "anti_fraud"  # 防电信诈骗
    GOVERNMENT_SERVICES = "government_services"  # 社保、医保等政务服务
    OTHER = "other"


TOPIC_LABELS = {
    Topic.HEALTH_CODE: "健康码",
    Topic.WECHAT: "微信",
    Topic.PHOTOS: "拍照",
    Topic.VIDEO_APPS: "短视频",
    Topic.HOSPITAL_BOOKING: "网上挂号",
    Topic.MOBILE_PAYMENT: "移动支付",
    Topic.ANTI_FRAUD: "防诈骗",
    Topic.GOVERNMENT_SERVICES: "政务服务",
    Topic.OTHER: "其他",
}


class Level(StrEnum):
    BEGINNER = "beginner"  # 零基础
    BASIC = "basic"  # 会用一点
    ADVANCED = "advanced"  # 进阶


class Relationship(StrEnum):
    """Who signed the learner up, relative to the learner."""

    SELF = "self"  # 本人
    CHILD = "child"  # 子女
    RELATIVE = "relative"  # 其他亲属
    NEIGHBOUR = "neighbour"  # 邻居
    GRID_WORKER = "grid_worker"  # 网格员
    VOLUNTEER = "volunteer"  # 志愿者
    STAFF = "staff"  # 社区工作人员
    OTHER = "other"


class CheckInMethod(StrEnum):
    QR = "qr"  # scanned the code shown at the venue
    ROLL_CALL = "roll_call"  # the teacher's roll call


class SessionStatus(StrEnum):
    SCHEDULED = "scheduled"
    CANCELLED = "cancelled"


class VolunteerSource(StrEnum):
    SESSION = "session"  # a session taught
    HELP = "help"  # one-on-one help given


class Course(IdMixin, TimestampMixin, Base):
    __tablename__ = "course"

    subdistrict_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("subdistrict.id"))
    community_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("community.id"), index=True)
    title: Mapped[str] = mapped_column(String(64))
    topics: Mapped[list[str]] = mapped_column(JSON, default=list)  # Topic values
    description: Mapped[str] = mapped_column(Text, default="")
    level: Mapped[Level] = mapped_column(StrEnumType(Level))
    created_by_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user.id"))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)


class CourseSession(IdMixin, TimestampMixin, Base):
    """One class meeting: when, where, how many seats, who teaches."""

    __tablename__ = "course_session"
    __table_args__ = (
        Index("ix_course_session_community_id_starts_at", "community_id", "starts_at"),
        Index("ix_course_session_starts_at", "starts_at"),
        Index("ix_course_session_ends_at_closed_at", "ends_at", "closed_at"),
        # The sweeper closes sessions that ended: only the ones still open are in this index.
        Index(
            "ix_course_session_unclosed_ends_at",
            "ends_at",
            postgresql_where=text("closed_at IS NULL AND status = 'scheduled'"),
            sqlite_where=text("closed_at IS NULL AND status = 'scheduled'"),
        ),
    )

    course_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("course.id"), index=True)
    community_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("community.id"))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime())
    venue: Mapped[str] = mapped_column(String(128))
    capacity: Mapped[int] = mapped_column(Integer)
    status: Mapped[SessionStatus] = mapped_column(StrEnumType(SessionStatus))
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    cancel_reason: Mapped[str | None] = mapped_column(String(200))
    # Each signup takes the next arrival number (under the session's row lock).
    signup_count: Mapped[int] = mapped_column(Integer, default=0)
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # the day-before reminder
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # no-shows recorded, hours credited
    created_by_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user.id"))

    course: Mapped[Course] = relationship(lazy="raise")  # orders the inserts, never loaded


class SessionTeacher(Base):
    __tablename__ = "course_session_teacher"

    session_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("course_session.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user.id"), primary_key=True, index=True)

    session: Mapped[CourseSession] = relationship(lazy="raise")  # orders the inserts, never loaded


class Attendee(IdMixin, TimestampMixin, Base):
    """A learner. With an account (user_id), or a real record entered by whoever signed them up,
    which staff can later link to the learner's account."""

    __tablename__ = "course_attendee"
    __table_args__ = (
        Index("ix_course_attendee_community_id_phone", "community_id", "phone"),
        Index("ix_course_attendee_created_by_id_name", "created_by_id", "name"),
    )

    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user.id"), unique=True)
    name: Mapped[str] = mapped_column(String(64))
    phone: Mapped[str | None] = mapped_column(String(20))
    age: Mapped[int | None] = mapped_column(Integer)
    community_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("community.id"))
    created_by_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user.id"))
    linked_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user.id"))
    linked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Set when staff merged this record into the learner's own (it then holds nothing).
    merged_into_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("course_attendee.id"))


class Signup(IdMixin, TimestampMixin, Base):
    __tablename__ = "course_signup"
    __table_args__ = (
        # One place per attendee per session (cancelled signups don't count).
        Index(
            "uq_course_signup_session_id_attendee_id_active",
            "session_id",
            "attendee_id",
            unique=True,
            sqlite_where=text("status != 'cancelled'"),
            postgresql_where=text("status != 'cancelled'"),
        ),
        Index("ix_course_signup_session_id_status_position", "session_id", "status", "position"),
        Index("ix_course_signup_attendee_id_status", "attendee_id", "status"),
        Index("ix_course_signup_signed_up_by_id_created_at", "signed_up_by_id", "created_at"),
    )

    session_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("course_session.id"))
    attendee_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("course_attendee.id"))
    signed_up_by_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user.id"))
    relationship_: Mapped[Relationship] = mapped_column("relationship", StrEnumType(Relationship))
    consent: Mapped[bool] = mapped_column(Boolean)  # the learner agreed to be signed up
    consent_note: Mapped[str] = mapped_column(String(200), default="")
    status: Mapped[SignupStatus] = mapped_column(StrEnumType(SignupStatus))
    seq: Mapped[int] = mapped_column(Integer)  # arrival order within the session
    position: Mapped[int] = mapped_column(Integer)  # waitlist order (staff may reorder)
    signed_up_at: Mapped[datetime] = mapped_column(UTCDateTime())
    waitlisted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    promoted_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user.id"))
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    cancelled_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user.id"))
    cancel_reason: Mapped[str | None] = mapped_column(String(200))
    checked_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    check_in_method: Mapped[CheckInMethod | None] = mapped_column(StrEnumType(CheckInMethod))
    attendance_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user.id"))

    session: Mapped[CourseSession] = relationship(lazy="raise")  # orders the inserts, never loaded
    attendee: Mapped[Attendee] = relationship(lazy="raise")


class HelpRequest(IdMixin, TimestampMixin, Base):
    """手把手: one learner, one topic, one volunteer."""

    __tablename__ = "course_help_request"
    __table_args__ = (
        Index(
            "ix_course_help_request_community_id_status_requested_at",
            "community_id",
            "status",
            "requested_at",
        ),
        Index("ix_course_help_request_helper_id_status", "helper_id", "status"),
        Index("ix_course_help_request_requested_by_id_requested_at", "requested_by_id", "requested_at"),
    )

    number: Mapped[str] = mapped_column(String(24), unique=True)
    subdistrict_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("subdistrict.id"))
    community_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("community.id"))
    attendee_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("course_attendee.id"), index=True)
    requested_by_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user.id"))
    relationship_: Mapped[Relationship] = mapped_column("relationship", StrEnumType(Relationship))
    consent: Mapped[bool] = mapped_column(Boolean)
    topic: Mapped[Topic] = mapped_column(StrEnumType(Topic))
    description: Mapped[str] = mapped_column(Text)
    preferred_time: Mapped[str] = mapped_column(String(64), default="")
    status: Mapped[HelpStatus] = mapped_column(StrEnumType(HelpStatus))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime())
    helper_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user.id"))
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    scheduled_for: Mapped[datetime | None] = mapped_column(UTCDateTime())
    place: Mapped[str | None] = mapped_column(String(128))
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    minutes: Mapped[int | None] = mapped_column(Integer)  # time given, for 志愿时长
    outcome: Mapped[str | None] = mapped_column(String(500))
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    event_count: Mapped[int] = mapped_column(Integer, default=0)

    attendee: Mapped[Attendee] = relationship(lazy="raise")  # orders the inserts, never loaded


class HelpEvent(TimelineEventMixin, Base):
    __tablename__ = "course_help_event"
    __table_args__ = (UniqueConstraint("request_id", "seq"),)

    request_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("course_help_request.id", ondelete="CASCADE"))
    from_status: Mapped[HelpStatus | None] = mapped_column(StrEnumType(HelpStatus))
    to_status: Mapped[HelpStatus | None] = mapped_column(StrEnumType(HelpStatus))

    request: Mapped[HelpRequest] = relationship(lazy="raise")  # orders the inserts, never loaded


class VolunteerRecord(IdMixin, Base):
    """志愿时长 ledger: one row per session taught or help given, written once when it is done."""

    __tablename__ = "course_volunteer_record"
    __table_args__ = (
        UniqueConstraint("user_id", "source", "source_id"),
        Index("ix_course_volunteer_record_community_id_served_at", "community_id", "served_at"),
        Index("ix_course_volunteer_record_user_id_served_at", "user_id", "served_at"),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user.id"))
    community_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("community.id"))
    source: Mapped[VolunteerSource] = mapped_column(StrEnumType(VolunteerSource))
    source_id: Mapped[uuid.UUID] = mapped_column()
    title: Mapped[str] = mapped_column(String(128))
    minutes: Mapped[int] = mapped_column(Integer)
    served_at: Mapped[datetime] = mapped_column(UTCDateTime())  # when the service began
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())
