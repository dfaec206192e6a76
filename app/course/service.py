"""菜鸟学堂 use cases: courses and sessions, signups and the waitlist, attendance, attendees.

Every change to a session's signups takes the session's row lock first (SELECT ... FOR UPDATE on
PostgreSQL; on SQLite writers are serialised by BEGIN IMMEDIATE), so seats are counted and
arrival numbers handed out by one transaction at a time: capacity is never exceeded and the
waitlist keeps arrival order, whatever the concurrency.
"""

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, String, cast, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.permissions import Actor, Role, Scope, administers
from app.core.clock import Clock
from app.core.config import Settings
from app.core.pagination import paginate
from app.course import exceptions as exc
from app.course import policies
from app.course.models import (
    Attendee,
    CheckInMethod,
    Course,
    CourseSession,
    HelpRequest,
    Relationship,
    SessionStatus,
    SessionTeacher,
    Signup,
    Topic,
)
from app.course.schemas import (
    AttendeeIn,
    CourseCreate,
    CourseUpdate,
    RollCallEntry,
    SessionCreate,
    SessionUpdate,
    SignupCreate,
)
from app.course.state import ACTIVE, SEATED, InvalidTransition, SignupAction, SignupStatus, next_signup_status
from app.notification.service import notify
from app.org.models import Community
from app.user.models import User, UserRole

S, A = SignupStatus, SignupAction
MAX_SESSION = timedelta(hours=8)


def scope_of(obj: Course | Community) -> Scope:
    if isinstance(obj, Community):
        return Scope(subdistrict_id=obj.subdistrict_id, community_id=obj.id)
    return Scope(subdistrict_id=obj.subdistrict_id, community_id=obj.community_id)


async def session_scope(session: AsyncSession, s: CourseSession) -> Scope:
    subdistrict_id = await session.scalar(
        select(Community.subdistrict_id).where(Community.id == s.community_id)
    )
    return Scope(subdistrict_id=subdistrict_id, community_id=s.community_id)


# --- courses ----------------------------------------------------------------------------


async def create_course(session: AsyncSession, *, actor: Actor, user: User, data: CourseCreate) -> Course:
    community = await session.get(Community, data.community_id)
    if community is None:
        raise exc.NoCommunity()
    if not policies.manages(actor, scope_of(community)):
        raise exc.ScopeForbidden()
    course = Course(
        id=uuid.uuid4(),
        subdistrict_id=community.subdistrict_id,
        community_id=community.id,
        title=data.title,
        topics=sorted({t.value for t in data.topics}),
        description=data.description,
        level=data.level,
        created_by_id=user.id,
        is_active=True,
    )
    session.add(course)
    await session.flush()
    return course


async def get_course(session: AsyncSession, course_id: uuid.UUID) -> Course:
    course = await session.get(Course, course_id)
    if course is None:
        raise exc.CourseNotFound()
    return course


async def update_course(
    session: AsyncSession, *, actor: Actor, course_id: uuid.UUID, data: CourseUpdate
) -> Course:
    course = await get_course(session, course_id)
    if not policies.manages(actor, scope_of(course)):
        raise exc.ScopeForbidden()
    changes = data.model_dump(exclude_unset=True)
    for key, value in changes.items():
        if value is None:
            continue
        if key == "topics":
            value = sorted({Topic(t).value for t in value})
        setattr(course, key, value)
    await session.flush()
    return course


# --- sessions ---------------------------------------------------------------------------


def _check_times(starts_at: datetime, ends_at: datetime, now: datetime) -> None:
    if ends_at <= starts_at or ends_at - starts_at > MAX_SESSION:
        raise exc.InvalidTimes()
    if starts_at <= now:
        raise exc.SessionInPast()


async def _check_teachers(
    session: AsyncSession, community_id: uuid.UUID, teacher_ids: Iterable[uuid.UUID]
) -> list[uuid.UUID]:
    ids = list(dict.fromkeys(teacher_ids))
    if not ids:
        return []
    found = set(
        await session.scalars(
            select(UserRole.user_id)
            .join(User, User.id == UserRole.user_id)
            .where(
                UserRole.user_id.in_(ids),
                UserRole.role == Role.TEACHER,
                UserRole.community_id == community_id,
                User.is_active.is_(True),
            )
        )
    )
    if found != set(ids):
        raise exc.InvalidTeachers(user_ids=sorted(str(i) for i in set(ids) - found))
    return ids


async def teacher_ids(
    session: AsyncSession, session_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, list[uuid.UUID]]:
    out: dict[uuid.UUID, list[uuid.UUID]] = {}
    ids = list(session_ids)
    if not ids:
        return out
    rows = await session.execute(
        select(SessionTeacher.session_id, SessionTeacher.user_id).where(SessionTeacher.session_id.in_(ids))
    )
    for sid, uid in rows.all():
        out.setdefault(sid, []).append(uid)
    return out


async def create_session(
    session: AsyncSession,
    *,
    actor: Actor,
    user: User,
    course_id: uuid.UUID,
    data: SessionCreate,
    settings: Settings,
    now: datetime,
) -> CourseSession:
    course = await get_course(session, course_id)
    if not policies.manages(actor, scope_of(course)):
        raise exc.ScopeForbidden()
    _check_times(data.starts_at, data.ends_at, now)
    if data.capacity > settings.course.max_capacity:
        raise exc.CapacityTooLarge(max_capacity=settings.course.max_capacity)
    teachers = await _check_teachers(session, course.community_id, data.teacher_ids)
    s = CourseSession(
        id=uuid.uuid4(),
        course_id=course.id,
        community_id=course.community_id,
        starts_at=data.starts_at,
        ends_at=data.ends_at,
        venue=data.venue,
        capacity=data.capacity,
        status=SessionStatus.SCHEDULED,
        signup_count=0,
        created_by_id=user.id,
    )
    session.add(s)
    for t in teachers:
        session.add(SessionTeacher(session_id=s.id, user_id=t))
    await session.flush()
    return s


async def get_session(session: AsyncSession, session_id: uuid.UUID, *, lock: bool = False) -> CourseSession:
    stmt = select(CourseSession).where(CourseSession.id == session_id)
    if lock:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    s = await session.scalar(stmt)
    if s is None:
        raise exc.SessionNotFound()
    return s


async def _managed_session(
    session: AsyncSession, actor: Actor, session_id: uuid.UUID, *, lock: bool
) -> CourseSession:
    s = await get_session(session, session_id, lock=lock)
    if not policies.manages(actor, await session_scope(session, s)):
        raise exc.ScopeForbidden()
    return s


async def seat_counts(
    session: AsyncSession, session_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, tuple[int, int]]:
    """{session id: (seats taken, waitlist length)}."""
    ids = list(session_ids)
    out = dict.fromkeys(ids, (0, 0))
    if not ids:
        return out
    rows = await session.execute(
        select(Signup.session_id, Signup.status, func.count())
        .where(Signup.session_id.in_(ids), Signup.status != S.CANCELLED)
        .group_by(Signup.session_id, Signup.status)
    )
    for sid, status, n in rows.all():
        seated, waiting = out[sid]
        if status in SEATED:
            seated += n
        elif status is S.WAITLISTED:
            waiting += n
        out[sid] = (seated, waiting)
    return out


async def _seated(session: AsyncSession, s: CourseSession) -> int:
    return (await seat_counts(session, [s.id]))[s.id][0]


async def _waitlist(session: AsyncSession, session_id: uuid.UUID) -> list[Signup]:
    return list(
        await session.scalars(
            select(Signup)
            .where(Signup.session_id == session_id, Signup.status == S.WAITLISTED)
            .order_by(Signup.position, Signup.seq)
        )
    )


async def update_session(
    session: AsyncSession,
    *,
    actor: Actor,
    session_id: uuid.UUID,
    data: SessionUpdate,
    settings: Settings,
    now: datetime,
) -> CourseSession:
    s = await _managed_session(session, actor, session_id, lock=True)
    if s.status is SessionStatus.CANCELLED:
        raise exc.SessionCancelled()
    if s.starts_at <= now:
        raise exc.SessionFinished(message="这次课已经开始，不能再修改")
    changes = data.model_dump(exclude_unset=True, exclude_none=True)
    starts_at = changes.get("starts_at", s.starts_at)
    ends_at = changes.get("ends_at", s.ends_at)
    if "starts_at" in changes or "ends_at" in changes:
        _check_times(starts_at, ends_at, now)
    if "capacity" in changes:
        if changes["capacity"] > settings.course.max_capacity:
            raise exc.CapacityTooLarge(max_capacity=settings.course.max_capacity)
        if changes["capacity"] < await _seated(session, s):
            raise exc.CapacityBelowSeated()
    if "teacher_ids" in changes:
        teachers = await _check_teachers(session, s.community_id, changes.pop("teacher_ids"))
        current = (await teacher_ids(session, [s.id])).get(s.id, [])
        for t in set(current) - set(teachers):
            await session.delete(await session.get(SessionTeacher, (s.id, t)))
        for t in teachers:
            if t not in current:
                session.add(SessionTeacher(session_id=s.id, user_id=t))
    moved = ("starts_at" in changes and starts_at != s.starts_at) or (
        "venue" in changes and changes["venue"] != s.venue
    )
    for key, value in changes.items():
        setattr(s, key, value)
    s.reminded_at = None if moved else s.reminded_at  # a moved class is reminded again
    await session.flush()
    if moved:
        course = await session.get(Course, s.course_id)
        await _notify_signups(
            session,
            s,
            await _active_signups(session, s.id),
            kind="course.session_changed",
            title="课程时间或地点有变",
            body=f"{course.title if course else ''}：{_when(s)}，{s.venue}",
            now=now,
        )
    await _fill_seats(session, s, actor_id=actor.user_id, now=now)
    return s


async def cancel_session(
    session: AsyncSession, *, actor: Actor, session_id: uuid.UUID, reason: str, now: datetime
) -> CourseSession:
    s = await _managed_session(session, actor, session_id, lock=True)
    if s.status is SessionStatus.CANCELLED:
        raise exc.SessionCancelled()
    if s.starts_at <= now:
        raise exc.SessionFinished(message="这次课已经开始，不能再取消")
    s.status = SessionStatus.CANCELLED
    s.cancelled_at = now
    s.cancel_reason = reason or None
    signups = await _active_signups(session, s.id)
    for su in signups:
        su.status = S.CANCELLED
        su.cancelled_at = now
        su.cancelled_by_id = actor.user_id
        su.cancel_reason = "课程取消"
    await session.flush()
    course = await session.get(Course, s.course_id)
    await _notify_signups(
        session,
        s,
        signups,
        kind="course.session_cancelled",
        title="课程已取消",
        body=f"{course.title if course else ''}（{_when(s)}）已取消。{reason}",
        now=now,
    )
    return s


async def list_sessions(
    session: AsyncSession,
    *,
    now: datetime,
    community_id: uuid.UUID | None,
    topic: Topic | None,
    course_id: uuid.UUID | None,
    include_cancelled: bool,
    cursor: str | None,
    limit: int,
) -> tuple[list[CourseSession], str | None]:
    """Upcoming (and running) sessions of active courses, soonest first."""
    stmt: Select[Any] = (
        select(CourseSession)
        .join(Course, Course.id == CourseSession.course_id)
        .where(CourseSession.ends_at > now, Course.is_active.is_(True))
    )
    if not include_cancelled:
        stmt = stmt.where(CourseSession.status == SessionStatus.SCHEDULED)
    if community_id is not None:
        stmt = stmt.where(CourseSession.community_id == community_id)
    if course_id is not None:
        stmt = stmt.where(CourseSession.course_id == course_id)
    if topic is not None:
        # Topics are a JSON list of plain words; the quoted value matches one element exactly.
        stmt = stmt.where(cast(Course.topics, String).like(f'%"{topic.value}"%'))
    return await paginate(
        session, stmt, columns=[CourseSession.starts_at, CourseSession.id], cursor=cursor, limit=limit
    )


async def course_sessions(session: AsyncSession, course_id: uuid.UUID) -> list[CourseSession]:
    return list(
        await session.scalars(
            select(CourseSession)
            .where(CourseSession.course_id == course_id)
            .order_by(CourseSession.starts_at)
        )
    )


# --- attendees --------------------------------------------------------------------------


async def _lock_learner(session: AsyncSession, key: str) -> None:
    """Hold a lock on this learner's identity until the transaction ends, so two requests at once
    cannot both find no record and each create one (PostgreSQL; on SQLite writers are serialised
    already). In a signup it comes after the session's row lock, before the attendee's."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(select(func.pg_advisory_xact_lock(func.hashtext(f"course_attendee:{key}"))))


async def own_attendee(session: AsyncSession, user: User, *, create: bool) -> Attendee | None:
    a = await session.scalar(select(Attendee).where(Attendee.user_id == user.id))
    if a is None and create:
        await _lock_learner(session, f"user:{user.id}")
        a = await session.scalar(select(Attendee).where(Attendee.user_id == user.id))
    if a is None and create:
        a = Attendee(
            id=uuid.uuid4(),
            user_id=user.id,
            name=user.display_name or "居民",
            phone=user.phone,
            community_id=user.home_community_id,
            created_by_id=user.id,
        )
        session.add(a)
        await session.flush()
    return a


async def may_act_for(session: AsyncSession, actor: Actor, a: Attendee) -> bool:
    """The learner themself, whoever entered the record, or staff of the learner's community."""
    if a.user_id == actor.user_id or a.created_by_id == actor.user_id:
        return True
    if a.community_id is None:
        return actor.is_superadmin
    community = await session.get(Community, a.community_id)
    return community is not None and administers(actor, scope_of(community))


async def _resolve_attendee(
    session: AsyncSession,
    *,
    actor: Actor,
    user: User,
    attendee_in: AttendeeIn | None,
    attendee_id: uuid.UUID | None,
    relationship: Relationship,
    consent: bool,
    community_id: uuid.UUID | None,
) -> Attendee:
    """The learner a signup or help request is for: the caller, or someone they sign up."""
    if attendee_in is None and attendee_id is None:
        if relationship is not Relationship.SELF:
            raise exc.AttendeeRequired()
        a = await own_attendee(session, user, create=True)
        assert a is not None
        return a
    if relationship is Relationship.SELF:
        raise exc.RelationshipRequired()
    if not consent:
        raise exc.ConsentRequired()
    if attendee_id is not None:
        a = await session.get(Attendee, attendee_id)
        if a is None or a.merged_into_id is not None or not await may_act_for(session, actor, a):
            raise exc.AttendeeNotFound()
        return a
    assert attendee_in is not None
    # The same learner entered again (a double tap, or a second class): reuse their record.
    who = f"phone:{attendee_in.phone}" if attendee_in.phone else f"by:{user.id}"
    await _lock_learner(session, f"{who}:{attendee_in.name}")
    if attendee_in.phone:
        match = select(Attendee).where(Attendee.phone == attendee_in.phone, Attendee.name == attendee_in.name)
    else:
        match = select(Attendee).where(
            Attendee.created_by_id == user.id, Attendee.name == attendee_in.name, Attendee.phone.is_(None)
        )
    a = await session.scalar(
        match.where(Attendee.merged_into_id.is_(None)).order_by(Attendee.created_at).limit(1)
    )
    if a is not None:
        if a.age is None and attendee_in.age is not None:
            a.age = attendee_in.age
        return a
    a = Attendee(
        id=uuid.uuid4(),
        name=attendee_in.name,
        phone=attendee_in.phone,
        age=attendee_in.age,
        community_id=community_id,
        created_by_id=user.id,
    )
    session.add(a)
    await session.flush()
    return a


# --- signups ----------------------------------------------------------------------------


def _when(s: CourseSession) -> str:
    from app.core.numbering import LOCAL_TZ

    start = s.starts_at.astimezone(LOCAL_TZ)
    return f"{start:%m月%d日 %H:%M}"


async def _active_signups(session: AsyncSession, session_id: uuid.UUID) -> list[Signup]:
    return list(
        await session.scalars(
            select(Signup)
            .where(Signup.session_id == session_id, Signup.status.in_(ACTIVE))
            .order_by(Signup.seq)
        )
    )


async def recipients(session: AsyncSession, signups: Iterable[Signup]) -> list[uuid.UUID]:
    """The learner's own account, and whoever signed them up (the reminder of a learner without
    WeChat goes to them)."""
    signups = list(signups)
    ids = {su.attendee_id for su in signups}
    users = (
        dict((await session.execute(select(Attendee.id, Attendee.user_id).where(Attendee.id.in_(ids)))).all())
        if ids
        else {}
    )
    out: list[uuid.UUID] = []
    for su in signups:
        if users.get(su.attendee_id) is not None:
            out.append(users[su.attendee_id])
        out.append(su.signed_up_by_id)
    return list(dict.fromkeys(out))


async def _notify_signups(
    session: AsyncSession,
    s: CourseSession,
    signups: Iterable[Signup],
    *,
    kind: str,
    title: str,
    body: str,
    now: datetime,
    skip: uuid.UUID | None = None,
    **data: Any,
) -> None:
    users = [u for u in await recipients(session, signups) if u != skip]
    if users:
        await notify(
            session,
            user_ids=users,
            kind=kind,
            title=title,
            now=now,
            body=body,
            data={"session_id": s.id, "course_id": s.course_id, **data},
        )


@dataclass
class SignupResult:
    signup: Signup
    created: bool


async def sign_up(
    session: AsyncSession,
    *,
    actor: Actor,
    user: User,
    clock: Clock,
    session_id: uuid.UUID,
    data: SignupCreate,
) -> SignupResult:
    """Sign up oneself or someone else: a seat if one is free, else the end of the waitlist."""
    now = clock.now()
    s = await get_session(session, session_id, lock=True)
    if s.status is SessionStatus.CANCELLED:
        raise exc.SessionCancelled()
    if s.starts_at <= now:
        raise exc.SessionStarted()
    a = await _resolve_attendee(
        session,
        actor=actor,
        user=user,
        attendee_in=data.attendee,
        attendee_id=data.attendee_id,
        relationship=data.relationship,
        consent=data.consent,
        community_id=s.community_id,
    )
    # Serialise this learner's signups (two sessions at once must not both pass the overlap check).
    await session.execute(select(Attendee.id).where(Attendee.id == a.id).with_for_update())
    existing = await session.scalar(
        select(Signup).where(Signup.session_id == s.id, Signup.attendee_id == a.id, Signup.status.in_(ACTIVE))
    )
    if existing is not None:
        if existing.signed_up_by_id == user.id:
            return SignupResult(existing, created=False)  # a double tap
        raise exc.AlreadySignedUp()
    clash = (
        await session.execute(
            select(CourseSession.id, Course.title, CourseSession.starts_at)
            .join(Signup, Signup.session_id == CourseSession.id)
            .join(Course, Course.id == CourseSession.course_id)
            .where(
                Signup.attendee_id == a.id,
                Signup.status.in_(ACTIVE),
                CourseSession.status == SessionStatus.SCHEDULED,
                CourseSession.starts_at < s.ends_at,
                CourseSession.ends_at > s.starts_at,
            )
            .limit(1)
        )
    ).first()
    if clash is not None:
        raise exc.OverlappingSession(session_id=str(clash[0]), title=clash[1])
    seated = await _seated(session, s)
    s.signup_count += 1
    confirmed = seated < s.capacity
    su = Signup(
        id=uuid.uuid4(),
        session_id=s.id,
        attendee_id=a.id,
        signed_up_by_id=user.id,
        relationship_=data.relationship,
        consent=data.consent or data.relationship is Relationship.SELF,
        consent_note=data.consent_note,
        status=S.CONFIRMED if confirmed else S.WAITLISTED,
        seq=s.signup_count,
        position=s.signup_count,
        signed_up_at=now,
        confirmed_at=now if confirmed else None,
        waitlisted_at=None if confirmed else now,
    )
    session.add(su)
    await session.flush()
    if a.user_id is not None and a.user_id != user.id:
        course = await session.get(Course, s.course_id)
        await notify(
            session,
            user_ids=[a.user_id],
            kind="course.signed_up_for_you",
            title="有人为您报名了菜鸟学堂",
            now=now,
            body=f"{user.display_name}为您报名了{course.title if course else ''}（{_when(s)}，{s.venue}）"
            + ("" if confirmed else "，目前在候补名单中"),
            data={"session_id": s.id, "signup_id": su.id},
        )
    return SignupResult(su, created=True)


async def get_signup(session: AsyncSession, signup_id: uuid.UUID) -> Signup:
    su = await session.get(Signup, signup_id)
    if su is None:
        raise exc.SignupNotFound()
    return su


async def _locked_signup(session: AsyncSession, signup_id: uuid.UUID) -> tuple[CourseSession, Signup]:
    """Lock the signup's session, then read the signup afresh."""
    su = await get_signup(session, signup_id)
    s = await get_session(session, su.session_id, lock=True)
    su = await session.scalar(
        select(Signup).where(Signup.id == signup_id).execution_options(populate_existing=True)
    )
    assert su is not None
    return s, su


async def can_see_signup(session: AsyncSession, actor: Actor, su: Signup, s: CourseSession) -> bool:
    if su.signed_up_by_id == actor.user_id:
        return True
    a = await session.get(Attendee, su.attendee_id)
    if a is not None and a.user_id == actor.user_id:
        return True
    return policies.manages(actor, await session_scope(session, s))


def _move(su: Signup, action: SignupAction) -> None:
    try:
        su.status = next_signup_status(su.status, action)
    except InvalidTransition:
        if su.status is S.CANCELLED and action is A.CANCEL:
            raise exc.SignupAlreadyCancelled() from None
        raise exc.InvalidTransition(status=su.status.value, action=action.value) from None


async def _promote(
    session: AsyncSession, s: CourseSession, su: Signup, *, actor_id: uuid.UUID | None, now: datetime
) -> None:
    _move(su, A.PROMOTE)
    su.confirmed_at = now
    su.promoted_by_id = actor_id
    await session.flush()
    course = await session.get(Course, s.course_id)
    await _notify_signups(
        session,
        s,
        [su],
        kind="course.promoted",
        title="候补成功，您有座位了",
        body=f"{course.title if course else ''}（{_when(s)}，{s.venue}）已为您保留座位",
        now=now,
        signup_id=su.id,
        course_title=course.title if course else "",
        starts_at=s.starts_at.isoformat(),
        place=s.venue,
    )


async def _fill_seats(
    session: AsyncSession, s: CourseSession, *, actor_id: uuid.UUID | None, now: datetime
) -> int:
    """Give free seats to the waitlist, first in line first. Not once the class has begun."""
    if s.status is not SessionStatus.SCHEDULED or s.starts_at <= now:
        return 0
    free = s.capacity - await _seated(session, s)
    promoted = 0
    for su in (await _waitlist(session, s.id))[: max(free, 0)]:
        await _promote(session, s, su, actor_id=actor_id, now=now)
        promoted += 1
    return promoted


async def cancel_signup(
    session: AsyncSession,
    *,
    actor: Actor,
    signup_id: uuid.UUID,
    reason: str,
    settings: Settings,
    now: datetime,
) -> Signup:
    s, su = await _locked_signup(session, signup_id)
    scope = await session_scope(session, s)
    is_staff = administers(actor, scope)
    if not is_staff:
        if not await can_see_signup(session, actor, su, s):
            raise exc.SignupNotFound()
        if su.signed_up_by_id != actor.user_id and not await _is_attendee(session, actor, su):
            raise exc.ActionNotAllowed()
    if su.status is S.CANCELLED:
        raise exc.SignupAlreadyCancelled()
    if s.starts_at <= now and su.status is not S.WAITLISTED:
        raise exc.SessionStarted(message="这次课已经开始，不能再取消报名")
    if (
        not is_staff
        and su.status is S.CONFIRMED
        and now > policies.cancel_cutoff(s.starts_at, settings.course.cancel_cutoff_minutes)
    ):
        raise exc.CancelCutoffPassed(cutoff_minutes=settings.course.cancel_cutoff_minutes)
    _move(su, A.CANCEL)
    su.cancelled_at = now
    su.cancelled_by_id = actor.user_id
    su.cancel_reason = reason or None
    await session.flush()
    course = await session.get(Course, s.course_id)
    await _notify_signups(
        session,
        s,
        [su],
        kind="course.signup_cancelled",
        title="报名已取消",
        body=f"{course.title if course else ''}（{_when(s)}）的报名已取消。{reason}",
        now=now,
        skip=actor.user_id,
        signup_id=su.id,
    )
    await _fill_seats(session, s, actor_id=None, now=now)
    return su


async def _is_attendee(session: AsyncSession, actor: Actor, su: Signup) -> bool:
    a = await session.get(Attendee, su.attendee_id)
    return a is not None and a.user_id == actor.user_id


async def promote(session: AsyncSession, *, actor: Actor, signup_id: uuid.UUID, now: datetime) -> Signup:
    """Staff give a waitlisted learner a free seat out of turn."""
    s, su = await _locked_signup(session, signup_id)
    if not administers(actor, await session_scope(session, s)):
        raise exc.ScopeForbidden()
    if su.status is not S.WAITLISTED:
        raise exc.NotWaitlisted()
    if s.status is SessionStatus.CANCELLED:
        raise exc.SessionCancelled()
    if s.starts_at <= now:
        raise exc.SessionStarted(message="这次课已经开始")
    if await _seated(session, s) >= s.capacity:
        raise exc.NoSeatFree(capacity=s.capacity)
    await _promote(session, s, su, actor_id=actor.user_id, now=now)
    return su


async def move(session: AsyncSession, *, actor: Actor, signup_id: uuid.UUID, position: int) -> list[Signup]:
    """Staff reorder the waitlist: put this signup at `position` (1 is next in line)."""
    s, su = await _locked_signup(session, signup_id)
    if not administers(actor, await session_scope(session, s)):
        raise exc.ScopeForbidden()
    if su.status is not S.WAITLISTED:
        raise exc.NotWaitlisted()
    line = [w for w in await _waitlist(session, s.id) if w.id != su.id]
    line.insert(min(position, len(line) + 1) - 1, su)
    for i, w in enumerate(line, start=1):
        w.position = i
    await session.flush()
    return line


async def roster(
    session: AsyncSession, *, actor: Actor, session_id: uuid.UUID
) -> tuple[CourseSession, list[Signup]]:
    s = await _managed_session(session, actor, session_id, lock=False)
    rows = list(await session.scalars(select(Signup).where(Signup.session_id == s.id).order_by(Signup.seq)))
    return s, rows


def waitlist_positions(signups: Iterable[Signup]) -> dict[uuid.UUID, int]:
    line = sorted((su for su in signups if su.status is S.WAITLISTED), key=lambda su: (su.position, su.seq))
    return {su.id: i for i, su in enumerate(line, start=1)}


async def waitlist_position(session: AsyncSession, su: Signup) -> int | None:
    if su.status is not S.WAITLISTED:
        return None
    ahead = await session.scalar(
        select(func.count()).where(
            Signup.session_id == su.session_id,
            Signup.status == S.WAITLISTED,
            or_(Signup.position < su.position, (Signup.position == su.position) & (Signup.seq < su.seq)),
        )
    )
    return int(ahead or 0) + 1


async def my_signups(session: AsyncSession, *, user: User, now: datetime, upcoming: bool) -> list[Signup]:
    a = await own_attendee(session, user, create=False)
    who = Signup.signed_up_by_id == user.id
    if a is not None:
        who = or_(who, Signup.attendee_id == a.id)
    stmt = select(Signup).join(CourseSession, CourseSession.id == Signup.session_id).where(who)
    if upcoming:
        stmt = stmt.where(CourseSession.ends_at > now, Signup.status.in_(ACTIVE)).order_by(
            CourseSession.starts_at
        )
    else:
        stmt = stmt.order_by(CourseSession.starts_at.desc())
    return list(await session.scalars(stmt.limit(200)))


# --- attendance -------------------------------------------------------------------------


async def checkin_token(
    session: AsyncSession, *, actor: Actor, session_id: uuid.UUID, settings: Settings, now: datetime
) -> policies.IssuedToken:
    s = await _managed_session(session, actor, session_id, lock=False)
    if s.status is SessionStatus.CANCELLED:
        raise exc.SessionCancelled()
    return policies.issue_token(_secret(settings), s.id, now, settings.course.checkin_token_seconds)


def _secret(settings: Settings) -> bytes:
    return settings.jwt.secret.get_secret_value().encode()


def _checkin_open(s: CourseSession, settings: Settings, now: datetime) -> bool:
    opens = s.starts_at - timedelta(minutes=settings.course.checkin_opens_minutes_before)
    closes = s.ends_at + timedelta(minutes=settings.course.close_after_minutes)
    return opens <= now < closes and s.closed_at is None


async def check_in(
    session: AsyncSession,
    *,
    actor: Actor,
    user: User,
    session_id: uuid.UUID,
    token: str,
    signup_id: uuid.UUID | None,
    settings: Settings,
    now: datetime,
) -> Signup:
    """The learner (or whoever brought them) scans the code shown at the venue."""
    s = await get_session(session, session_id, lock=True)
    problem = policies.check_token(_secret(settings), token, s.id, now, settings.course.checkin_token_seconds)
    if problem is policies.TokenProblem.INVALID:
        raise exc.CheckinTokenInvalid()
    if problem is policies.TokenProblem.WRONG_SESSION:
        raise exc.CheckinTokenWrongSession()
    if problem is policies.TokenProblem.EXPIRED:
        raise exc.CheckinTokenExpired()
    if s.status is SessionStatus.CANCELLED:
        raise exc.SessionCancelled()
    if not _checkin_open(s, settings, now):
        raise exc.CheckinNotOpen()
    a = await own_attendee(session, user, create=False)
    who = Signup.signed_up_by_id == user.id
    if a is not None:
        who = or_(who, Signup.attendee_id == a.id)
    mine = list(
        await session.scalars(
            select(Signup)
            .where(Signup.session_id == s.id, Signup.status.in_(ACTIVE), who)
            .order_by(Signup.seq)
        )
    )
    if signup_id is not None:
        mine = [su for su in mine if su.id == signup_id]
    if not mine:
        raise exc.NotSignedUp()
    if len(mine) > 1:
        # Someone who signed up several learners: only those still to check in are a choice.
        waiting = [su for su in mine if su.status in (S.CONFIRMED, S.NO_SHOW)]
        if len(waiting) > 1:
            raise exc.WhichSignup(signup_ids=[str(su.id) for su in waiting])
        mine = waiting or [su for su in mine if su.status is S.ATTENDED] or mine
    su = mine[0]
    if su.status is S.ATTENDED:
        return su  # scanned twice
    if su.status is S.WAITLISTED:
        raise exc.WaitlistedCannotCheckIn()
    _move(su, A.CHECK_IN)
    su.checked_in_at = now
    su.check_in_method = CheckInMethod.QR
    su.attendance_by_id = actor.user_id
    await session.flush()
    return su


async def roll_call(
    session: AsyncSession,
    *,
    actor: Actor,
    session_id: uuid.UUID,
    entries: list[RollCallEntry],
    settings: Settings,
    now: datetime,
) -> tuple[CourseSession, list[Signup]]:
    """The teacher marks who is there (and corrects a missed scan or a wrong no-show)."""
    s = await _managed_session(session, actor, session_id, lock=True)
    if s.status is SessionStatus.CANCELLED:
        raise exc.SessionCancelled()
    if now < s.starts_at - timedelta(minutes=settings.course.checkin_opens_minutes_before):
        raise exc.RollCallNotOpen()
    if now > s.ends_at + timedelta(hours=settings.course.roll_call_correction_hours):
        raise exc.RollCallClosed()
    by_id = {su.id: su for su in await session.scalars(select(Signup).where(Signup.session_id == s.id))}
    unknown = [str(e.signup_id) for e in entries if e.signup_id not in by_id]
    if unknown:
        raise exc.SignupNotFound(signup_ids=unknown)
    for e in entries:
        su = by_id[e.signup_id]
        target = S.ATTENDED if e.present else S.NO_SHOW
        if su.status is target:
            continue
        if su.status is S.WAITLISTED:
            raise exc.WaitlistedCannotCheckIn(signup_id=str(su.id))
        _move(su, A.CHECK_IN if e.present else A.MARK_ABSENT)
        su.checked_in_at = now if e.present else None
        su.check_in_method = CheckInMethod.ROLL_CALL if e.present else None
        su.attendance_by_id = actor.user_id
    await session.flush()
    return s, sorted(by_id.values(), key=lambda su: su.seq)


async def history(
    session: AsyncSession, attendee_id: uuid.UUID
) -> list[tuple[Signup, CourseSession, Course]]:
    rows = await session.execute(
        select(Signup, CourseSession, Course)
        .join(CourseSession, CourseSession.id == Signup.session_id)
        .join(Course, Course.id == CourseSession.course_id)
        .where(Signup.attendee_id == attendee_id, Signup.status.in_([S.ATTENDED, S.NO_SHOW]))
        .order_by(CourseSession.starts_at.desc())
    )
    return [tuple(r) for r in rows.all()]  # type: ignore[misc]


async def visible_attendee(session: AsyncSession, *, actor: Actor, attendee_id: uuid.UUID) -> Attendee:
    """The learner, whoever entered the record, staff of the learner's community, and staff of a
    community where the learner signed up for a class."""
    a = await session.get(Attendee, attendee_id)
    if a is None or a.merged_into_id is not None:
        raise exc.AttendeeNotFound()
    if await may_act_for(session, actor, a):
        return a
    if actor.is_admin:
        class_communities = await session.scalars(
            select(Community)
            .join(CourseSession, CourseSession.community_id == Community.id)
            .join(Signup, Signup.session_id == CourseSession.id)
            .where(Signup.attendee_id == a.id)
            .distinct()
        )
        if any(administers(actor, scope_of(c)) for c in class_communities):
            return a
    raise exc.AttendeeNotFound()


async def list_attendees(
    session: AsyncSession, *, actor: Actor, community_id: uuid.UUID, unlinked: bool, q: str | None
) -> list[Attendee]:
    community = await session.get(Community, community_id)
    if community is None or not administers(actor, scope_of(community)):
        raise exc.ScopeForbidden()
    stmt = select(Attendee).where(Attendee.community_id == community_id, Attendee.merged_into_id.is_(None))
    if unlinked:
        stmt = stmt.where(Attendee.user_id.is_(None))
    if q:
        stmt = stmt.where(or_(Attendee.name.contains(q, autoescape=True), Attendee.phone == q))
    return list(await session.scalars(stmt.order_by(Attendee.name, Attendee.id).limit(500)))


# Which of two signups of one learner to the same session a merge keeps (the higher).
_MERGE_RANK = {S.WAITLISTED: 0, S.CONFIRMED: 1, S.NO_SHOW: 1, S.ATTENDED: 2}


async def link_attendee(
    session: AsyncSession, *, actor: Actor, attendee_id: uuid.UUID, user_id: uuid.UUID, now: datetime
) -> Attendee:
    """Staff connect a learner entered by someone else to the learner's own account. If the
    learner already has a record of their own, this one is merged into it.

    Locks are taken in the order a signup takes them (sessions first, then the learner), so a
    merge and a signup of the same learner cannot deadlock."""
    a = await session.get(Attendee, attendee_id)
    if a is None or a.merged_into_id is not None:
        raise exc.AttendeeNotFound()
    community = await session.get(Community, a.community_id) if a.community_id else None
    if not (actor.is_superadmin or (community is not None and administers(actor, scope_of(community)))):
        raise exc.AttendeeNotFound()
    if a.user_id is not None:
        raise exc.AttendeeAlreadyLinked()
    target_user = await session.get(User, user_id)
    if target_user is None or not target_user.is_active:
        raise exc.UserNotResident()
    home = (
        await session.get(Community, target_user.home_community_id) if target_user.home_community_id else None
    )
    if not (actor.is_superadmin or (home is not None and administers(actor, scope_of(home)))):
        # Someone outside the caller's communities: answered like an unknown account.
        raise exc.UserNotResident()
    own = await own_attendee(session, target_user, create=False)
    records = [a.id] if own is None else sorted([a.id, own.id])
    for sid in sorted(
        set(await session.scalars(select(Signup.session_id).where(Signup.attendee_id.in_(records))))
    ):
        await get_session(session, sid, lock=True)
    for rid in records:
        await session.execute(select(Attendee.id).where(Attendee.id == rid).with_for_update())
    await session.refresh(a)
    if a.merged_into_id is not None or a.user_id is not None:
        raise exc.AttendeeAlreadyLinked()  # linked by someone else meanwhile
    if own is None:
        a.user_id = target_user.id
        a.linked_by_id = actor.user_id
        a.linked_at = now
        await session.flush()
        return a
    # Merge: the learner's own record takes over these signups and help requests. Where both
    # hold a place in the same session, the learner's own signup stays, unless the other one got
    # further (checked in, or a seat while the own one waits): the learner keeps that.
    taken = {
        su.session_id: su
        for su in await session.scalars(
            select(Signup).where(Signup.attendee_id == own.id, Signup.status.in_(ACTIVE))
        )
    }
    freed: list[uuid.UUID] = []
    for su in await session.scalars(select(Signup).where(Signup.attendee_id == a.id)):
        kept = taken.get(su.session_id)
        if kept is not None and su.status in ACTIVE:
            drop = su if _MERGE_RANK[su.status] <= _MERGE_RANK[kept.status] else kept
            if drop.status in SEATED:
                freed.append(su.session_id)
            drop.status = S.CANCELLED
            drop.cancelled_at = now
            drop.cancelled_by_id = actor.user_id
            drop.cancel_reason = "合并重复报名"
            await session.flush()
        su.attendee_id = own.id
    await session.execute(
        update(HelpRequest).where(HelpRequest.attendee_id == a.id).values(attendee_id=own.id)
    )
    own.age = own.age or a.age
    a.merged_into_id = own.id
    a.linked_by_id = actor.user_id
    a.linked_at = now
    await session.flush()
    # A seat given up by a cancelled duplicate goes to the waitlist, as with any cancellation.
    for session_id in freed:
        await _fill_seats(session, await get_session(session, session_id, lock=True), actor_id=None, now=now)
    return own
