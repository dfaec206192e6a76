"""菜鸟学堂 background work, run by the sweeper: the day-before reminders, and closing sessions
that have ended (learners who never checked in become no-shows; teachers' hours are credited).

Each session is claimed with a conditional UPDATE (reminded_at / closed_at must still be empty)
in the same transaction as its notifications and records, so when several processes sweep at
once every reminder goes out once and every session is closed once.
"""

import logging
import uuid
from dataclasses import dataclass, fields
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.clock import Clock
from app.core.config import Settings
from app.course import service
from app.course.models import Course, CourseSession, SessionStatus, Signup, VolunteerRecord, VolunteerSource
from app.course.state import SignupStatus
from app.notification import outbox
from app.notification.service import notify

log = logging.getLogger("linli.course")
BATCH = 200
Maker = async_sessionmaker[AsyncSession]


@dataclass
class CourseSweepReport:
    reminded_sessions: int = 0
    notifications: int = 0
    closed_sessions: int = 0
    no_shows: int = 0
    volunteer_records: int = 0
    errors: int = 0

    def __bool__(self) -> bool:
        return any(getattr(self, f.name) for f in fields(self))


async def _remind(session: AsyncSession, session_id: uuid.UUID, now: datetime, horizon: datetime) -> int:
    won = await session.execute(
        update(CourseSession)
        .where(
            CourseSession.id == session_id,
            CourseSession.reminded_at.is_(None),
            CourseSession.status == SessionStatus.SCHEDULED,
            CourseSession.starts_at > now,
            CourseSession.starts_at <= horizon,
        )
        .values(reminded_at=now)
        .execution_options(synchronize_session=False)
    )
    if won.rowcount != 1:  # type: ignore[attr-defined]
        return -1
    s = await service.get_session(session, session_id)
    course = await session.get(Course, s.course_id)
    title = course.title if course else ""
    confirmed = list(
        await session.scalars(
            select(Signup).where(Signup.session_id == s.id, Signup.status == SignupStatus.CONFIRMED)
        )
    )
    learners = await service.recipients(session, confirmed)
    body = f"{title}：{service._when(s)}，{s.venue}。请带好手机和充电器。"
    sent = 0
    if learners:
        await notify(
            session,
            user_ids=learners,
            kind="course.reminder",
            title="明天的菜鸟学堂别忘了",
            now=now,
            body=body,
            data={
                "session_id": s.id,
                "course_id": s.course_id,
                "course_title": title,
                "starts_at": s.starts_at.isoformat(),
                "place": s.venue,
            },
        )
        sent += len(learners)
    teachers = [t for t in (await service.teacher_ids(session, [s.id])).get(s.id, []) if t not in learners]
    if teachers:
        await notify(
            session,
            user_ids=teachers,
            kind="course.teacher_reminder",
            title="明天有您的菜鸟学堂课",
            now=now,
            body=f"{body}已报名 {len(confirmed)} 人。",
            data={"session_id": s.id, "course_id": s.course_id},
        )
        sent += len(teachers)
    return sent


async def _close(
    session: AsyncSession, session_id: uuid.UUID, now: datetime, cutoff: datetime
) -> tuple[int, int]:
    won = await session.execute(
        update(CourseSession)
        .where(
            CourseSession.id == session_id,
            CourseSession.closed_at.is_(None),
            CourseSession.status == SessionStatus.SCHEDULED,
            CourseSession.ends_at <= cutoff,
        )
        .values(closed_at=now)
        .execution_options(synchronize_session=False)
    )
    if won.rowcount != 1:  # type: ignore[attr-defined]
        return -1, 0
    no_shows = await session.execute(
        update(Signup)
        .where(Signup.session_id == session_id, Signup.status == SignupStatus.CONFIRMED)
        .values(status=SignupStatus.NO_SHOW)
        .execution_options(synchronize_session=False)
    )
    s = await service.get_session(session, session_id)
    course = await session.get(Course, s.course_id)
    minutes = int((s.ends_at - s.starts_at).total_seconds() // 60)
    teachers = (await service.teacher_ids(session, [s.id])).get(s.id, [])
    for t in teachers:
        session.add(
            VolunteerRecord(
                id=uuid.uuid4(),
                user_id=t,
                community_id=s.community_id,
                source=VolunteerSource.SESSION,
                source_id=s.id,
                title=f"授课：{course.title if course else ''}",
                minutes=minutes,
                served_at=s.starts_at,
                recorded_at=now,
            )
        )
    await session.flush()
    return no_shows.rowcount, len(teachers)  # type: ignore[attr-defined]


async def sweep(maker: Maker, *, clock: Clock, settings: Settings, batch: int = BATCH) -> CourseSweepReport:
    now = clock.now()
    report = CourseSweepReport()
    horizon = now + timedelta(hours=settings.course.reminder_hours_before)
    cutoff = now - timedelta(minutes=settings.course.close_after_minutes)
    async with maker() as session:
        await outbox.read_only(session)
        to_remind = list(
            await session.scalars(
                select(CourseSession.id)
                .where(
                    CourseSession.reminded_at.is_(None),
                    CourseSession.status == SessionStatus.SCHEDULED,
                    CourseSession.starts_at > now,
                    CourseSession.starts_at <= horizon,
                )
                .order_by(CourseSession.starts_at)
                .limit(batch)
            )
        )
        to_close = list(
            await session.scalars(
                select(CourseSession.id)
                .where(
                    CourseSession.closed_at.is_(None),
                    CourseSession.status == SessionStatus.SCHEDULED,
                    CourseSession.ends_at <= cutoff,
                )
                .order_by(CourseSession.ends_at)
                .limit(batch)
            )
        )
    if to_remind or to_close:
        async with maker() as session, session.begin():
            for sid in to_remind:
                try:
                    async with session.begin_nested():
                        sent = await _remind(session, sid, now, horizon)
                except Exception:
                    log.exception("reminder for session %s failed", sid)
                    report.errors += 1
                    continue
                if sent >= 0:
                    report.reminded_sessions += 1
                    report.notifications += sent
            for sid in to_close:
                try:
                    async with session.begin_nested():
                        no_shows, records = await _close(session, sid, now, cutoff)
                except Exception:
                    log.exception("closing session %s failed", sid)
                    report.errors += 1
                    continue
                if no_shows >= 0:
                    report.closed_sessions += 1
                    report.no_shows += no_shows
                    report.volunteer_records += records
    return report
