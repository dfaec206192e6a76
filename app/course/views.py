"""Read models for 菜鸟学堂, with personal data shown only to those who need it.

A learner's phone is shown in full to the learner, to whoever signed them up and to staff of the
community; teachers see it masked (they call the roll, they need not call the learner); nobody
else sees learners at all.
"""

import uuid
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.permissions import Actor, mask_phone
from app.course import service
from app.course.models import Attendee, Course, CourseSession, HelpEvent, HelpRequest, Signup, Topic
from app.course.schemas import (
    AttendeeRead,
    CourseDetail,
    CourseRead,
    HelpEventRead,
    HelpRead,
    SessionRead,
    SignupRead,
    TeacherRead,
)
from app.privacy import audit
from app.user.models import User


async def _names(session: AsyncSession, ids: Iterable[uuid.UUID | None]) -> dict[uuid.UUID, str]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    return dict((await session.execute(select(User.id, User.display_name).where(User.id.in_(wanted)))).all())  # type: ignore[arg-type]


def course_read(c: Course) -> CourseRead:
    return CourseRead(
        id=c.id,
        community_id=c.community_id,
        subdistrict_id=c.subdistrict_id,
        title=c.title,
        topics=[Topic(t) for t in c.topics],
        description=c.description,
        level=c.level,
        is_active=c.is_active,
        created_at=c.created_at,
    )


async def sessions_read(session: AsyncSession, rows: list[CourseSession]) -> list[SessionRead]:
    ids = [s.id for s in rows]
    counts = await service.seat_counts(session, ids)
    teachers = await service.teacher_ids(session, ids)
    names = await _names(session, [t for ts in teachers.values() for t in ts])
    course_ids = {s.course_id for s in rows}
    courses = (
        {c.id: c for c in await session.scalars(select(Course).where(Course.id.in_(course_ids)))}
        if course_ids
        else {}
    )
    out = []
    for s in rows:
        c = courses[s.course_id]
        seated, waiting = counts[s.id]
        out.append(
            SessionRead(
                id=s.id,
                course_id=s.course_id,
                community_id=s.community_id,
                title=c.title,
                topics=[Topic(t) for t in c.topics],
                level=c.level,
                starts_at=s.starts_at,
                ends_at=s.ends_at,
                venue=s.venue,
                capacity=s.capacity,
                seats_left=max(s.capacity - seated, 0),
                waitlist_length=waiting,
                status=s.status,
                cancel_reason=s.cancel_reason,
                teachers=[
                    TeacherRead(user_id=t, display_name=names.get(t, ""))
                    for t in sorted(teachers.get(s.id, []), key=lambda t: names.get(t, ""))
                ],
            )
        )
    return out


async def course_detail(session: AsyncSession, c: Course) -> CourseDetail:
    sessions = await sessions_read(session, await service.course_sessions(session, c.id))
    return CourseDetail(**course_read(c).model_dump(), sessions=sessions)


def attendee_read(a: Attendee, *, full: bool, staff: bool) -> AttendeeRead:
    return AttendeeRead(
        id=a.id,
        name=a.name,
        phone=a.phone if full else mask_phone(a.phone),
        age=a.age,
        community_id=a.community_id,
        has_account=a.user_id is not None,
        user_id=a.user_id if staff else None,
    )


async def signups_read(
    session: AsyncSession,
    actor: Actor,
    rows: list[Signup],
    *,
    staff: bool,
    now: datetime,
    positions: dict[uuid.UUID, int] | None = None,
) -> list[SignupRead]:
    """staff: the caller administers the session's community (full phones, who signed up)."""
    attendee_ids = {su.attendee_id for su in rows}
    attendees = (
        {a.id: a for a in await session.scalars(select(Attendee).where(Attendee.id.in_(attendee_ids)))}
        if attendee_ids
        else {}
    )
    names = await _names(session, [su.signed_up_by_id for su in rows])
    out, shown = [], []
    for su in rows:
        a = attendees[su.attendee_id]
        own = actor.user_id in (su.signed_up_by_id, a.user_id)
        if staff or own:
            shown.append(audit.phone(a.user_id, a.phone, su.id))
        position = (
            positions.get(su.id) if positions is not None else await service.waitlist_position(session, su)
        )
        out.append(
            SignupRead(
                id=su.id,
                session_id=su.session_id,
                attendee=attendee_read(a, full=staff or own, staff=staff),
                signed_up_by_id=su.signed_up_by_id if staff or own else None,
                signed_up_by_name=names.get(su.signed_up_by_id),
                relationship=su.relationship_,
                consent=su.consent,
                status=su.status,
                seq=su.seq,
                waitlist_position=position,
                signed_up_at=su.signed_up_at,
                confirmed_at=su.confirmed_at,
                cancelled_at=su.cancelled_at,
                cancel_reason=su.cancel_reason,
                checked_in_at=su.checked_in_at,
                check_in_method=su.check_in_method,
            )
        )
    await audit.shown(session, actor, shown, resource="course_signup", now=now)
    return out


async def help_read(
    session: AsyncSession,
    r: HelpRequest,
    *,
    role: str,
    actor: Actor,
    now: datetime,
    timeline: list[HelpEvent] | None = None,
) -> HelpRead:
    """role: staff, helper, asker or volunteer (a teacher deciding whether to claim: masked phone)."""
    a = await session.get(Attendee, r.attendee_id)
    assert a is not None
    if role != "volunteer":
        await audit.shown(
            session, actor, [audit.phone(a.user_id, a.phone, r.id)], resource="course_help_request", now=now
        )
    names = await _names(session, [r.helper_id])
    return HelpRead(
        id=r.id,
        number=r.number,
        community_id=r.community_id,
        attendee=attendee_read(a, full=role != "volunteer", staff=role == "staff"),
        requested_by_id=r.requested_by_id if role in ("staff", "asker") else None,
        relationship=r.relationship_,
        topic=r.topic,
        description=r.description,
        preferred_time=r.preferred_time,
        status=r.status,
        requested_at=r.requested_at,
        helper_id=r.helper_id,
        helper_name=names.get(r.helper_id) if r.helper_id else None,
        claimed_at=r.claimed_at,
        scheduled_for=r.scheduled_for,
        place=r.place,
        done_at=r.done_at,
        minutes=r.minutes,
        outcome=r.outcome,
        timeline=[
            HelpEventRead(
                seq=e.seq,
                action=e.action,
                from_status=e.from_status,
                to_status=e.to_status,
                actor_id=e.actor_id,
                note=e.note,
                at=e.at,
            )
            for e in timeline or []
        ],
    )
