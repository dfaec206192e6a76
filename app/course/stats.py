"""菜鸟学堂 figures and volunteer hours for a subdistrict or community over a period.

Class volumes are small (a few sessions a week per community), so the period's sessions,
signups and help requests are read with a few columns each and counted here.
"""

import csv
import io
import uuid
from collections import defaultdict
from datetime import datetime

from pydantic import Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.permissions import Actor, Scope, administers
from app.core.numbering import LOCAL_TZ
from app.core.schemas import OutSchema
from app.course import exceptions as exc
from app.course.models import (
    CourseSession,
    HelpRequest,
    SessionStatus,
    Signup,
    VolunteerRecord,
    VolunteerSource,
)
from app.course.state import HelpStatus, SignupStatus
from app.org.models import Community
from app.ticket.kpi import date_window
from app.user.models import User

S = SignupStatus


class Figures(OutSchema):
    sessions_held: int = Field(description="已举办的课次（不含取消的，按开课时间）")
    sessions_cancelled: int
    learners_served: int = Field(description="到过课或得到过手把手帮扶的学员人数")
    seats_taken: int = Field(description="已举办课次的有座报名数（到课 + 未到）")
    attended: int
    no_shows: int
    attendance_rate: float | None = Field(description="到课 / (到课 + 未到)")
    no_show_rate: float | None
    waitlisted: int = Field(description="进入过候补名单的报名数")
    waitlist_promoted: int = Field(description="其中递补成功的")
    waitlist_conversion: float | None = Field(description="候补转正率")
    help_requests: int = Field(description="期间内提出的手把手求助")
    help_done: int
    volunteer_minutes: int = Field(description="期间内记入的志愿时长（分钟）")
    volunteer_hours: float


class CommunityFigures(Figures):
    community_id: uuid.UUID


class CourseStats(OutSchema):
    subdistrict_id: uuid.UUID
    community_id: uuid.UUID | None
    date_from: datetime
    date_to: datetime = Field(description="不含此时刻")
    total: Figures
    by_community: list[CommunityFigures]


class VolunteerRecordRead(OutSchema):
    user_id: uuid.UUID
    display_name: str
    community_id: uuid.UUID
    source: VolunteerSource
    source_id: uuid.UUID
    title: str
    minutes: int
    served_at: datetime


class VolunteerTotal(OutSchema):
    user_id: uuid.UUID
    display_name: str
    sessions_taught: int
    help_given: int
    minutes: int
    hours: float


class VolunteerHours(OutSchema):
    date_from: datetime
    date_to: datetime
    totals: list[VolunteerTotal]
    records: list[VolunteerRecordRead]


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _figures(sessions: list, signups: list, helps: list, minutes: int) -> dict[str, object]:
    held = [s for s in sessions if s.status is SessionStatus.SCHEDULED]
    # Signups count only for sessions that were held (a cancelled session's waitlist never had a chance).
    held_ids = {s.id for s in held}
    signups = [su for su in signups if su.session_id in held_ids]
    attended = sum(1 for su in signups if su.status is S.ATTENDED)
    no_shows = sum(1 for su in signups if su.status is S.NO_SHOW)
    waitlisted = [su for su in signups if su.waitlisted_at is not None]
    promoted = sum(1 for su in waitlisted if su.confirmed_at is not None)
    learners = {su.attendee_id for su in signups if su.status is S.ATTENDED}
    learners |= {h.attendee_id for h in helps if h.status is HelpStatus.DONE}
    return {
        "sessions_held": len(held),
        "sessions_cancelled": len(sessions) - len(held),
        "learners_served": len(learners),
        "seats_taken": attended + no_shows,
        "attended": attended,
        "no_shows": no_shows,
        "attendance_rate": _rate(attended, attended + no_shows),
        "no_show_rate": _rate(no_shows, attended + no_shows),
        "waitlisted": len(waitlisted),
        "waitlist_promoted": promoted,
        "waitlist_conversion": _rate(promoted, len(waitlisted)),
        "help_requests": len(helps),
        "help_done": sum(1 for h in helps if h.status is HelpStatus.DONE),
        "volunteer_minutes": minutes,
        "volunteer_hours": round(minutes / 60, 1),
    }


async def _check_scope(
    session: AsyncSession, actor: Actor, subdistrict_id: uuid.UUID, community_id: uuid.UUID | None
) -> None:
    if community_id is not None:
        community = await session.get(Community, community_id)
        if community is None or community.subdistrict_id != subdistrict_id:
            raise exc.ScopeForbidden()
    if not administers(actor, Scope(subdistrict_id=subdistrict_id, community_id=community_id)):
        raise exc.ScopeForbidden()


async def compute(
    session: AsyncSession,
    *,
    actor: Actor,
    subdistrict_id: uuid.UUID,
    community_id: uuid.UUID | None,
    date_from: datetime | None,
    date_to: datetime | None,
    now: datetime,
) -> CourseStats:
    await _check_scope(session, actor, subdistrict_id, community_id)
    start, end = date_window(date_from, date_to, now=now)
    communities = select(Community.id).where(Community.subdistrict_id == subdistrict_id)
    if community_id is not None:
        communities = communities.where(Community.id == community_id)
    sessions = list(
        (
            await session.execute(
                select(CourseSession.id, CourseSession.community_id, CourseSession.status).where(
                    CourseSession.community_id.in_(communities),
                    CourseSession.starts_at >= start,
                    CourseSession.starts_at < end,
                    CourseSession.starts_at < now,
                )
            )
        ).all()
    )
    community_of = {s.id: s.community_id for s in sessions}
    signups = (
        list(
            (
                await session.execute(
                    select(
                        Signup.session_id,
                        Signup.attendee_id,
                        Signup.status,
                        Signup.waitlisted_at,
                        Signup.confirmed_at,
                    ).where(Signup.session_id.in_(list(community_of)))
                )
            ).all()
        )
        if community_of
        else []
    )
    helps = list(
        (
            await session.execute(
                select(HelpRequest.community_id, HelpRequest.attendee_id, HelpRequest.status).where(
                    HelpRequest.community_id.in_(communities),
                    HelpRequest.requested_at >= start,
                    HelpRequest.requested_at < end,
                )
            )
        ).all()
    )
    minutes_rows = (
        await session.execute(
            select(VolunteerRecord.community_id, VolunteerRecord.minutes).where(
                VolunteerRecord.community_id.in_(communities),
                VolunteerRecord.served_at >= start,
                VolunteerRecord.served_at < end,
            )
        )
    ).all()
    per: dict[uuid.UUID, dict[str, list]] = defaultdict(lambda: {"s": [], "su": [], "h": [], "m": []})
    for s in sessions:
        per[s.community_id]["s"].append(s)
    for su in signups:
        per[community_of[su.session_id]]["su"].append(su)
    for h in helps:
        per[h.community_id]["h"].append(h)
    for cid, m in minutes_rows:
        per[cid]["m"].append(m)
    return CourseStats(
        subdistrict_id=subdistrict_id,
        community_id=community_id,
        date_from=start,
        date_to=end,
        total=Figures(**_figures(sessions, signups, helps, sum(m for _, m in minutes_rows))),  # type: ignore[arg-type]
        by_community=[
            CommunityFigures(community_id=cid, **_figures(v["s"], v["su"], v["h"], sum(v["m"])))  # type: ignore[arg-type]
            for cid, v in sorted(per.items(), key=lambda kv: str(kv[0]))
        ],
    )


async def volunteer_hours(
    session: AsyncSession,
    *,
    actor: Actor,
    subdistrict_id: uuid.UUID | None,
    community_id: uuid.UUID | None,
    user_id: uuid.UUID | None,
    date_from: datetime | None,
    date_to: datetime | None,
    now: datetime,
) -> VolunteerHours:
    """The ledger over a period: one person's own (user_id = the caller), or staff's view of a
    subdistrict or community."""
    start, end = date_window(date_from, date_to, now=now)
    stmt = select(VolunteerRecord, User.display_name).join(User, User.id == VolunteerRecord.user_id)
    if user_id is not None:
        stmt = stmt.where(VolunteerRecord.user_id == user_id)
    else:
        if subdistrict_id is None:
            raise exc.ScopeForbidden()
        await _check_scope(session, actor, subdistrict_id, community_id)
        communities = select(Community.id).where(Community.subdistrict_id == subdistrict_id)
        if community_id is not None:
            communities = communities.where(Community.id == community_id)
        stmt = stmt.where(VolunteerRecord.community_id.in_(communities))
    rows = (
        await session.execute(
            stmt.where(
                VolunteerRecord.served_at >= start,
                # By default the window ends now, and what was recorded this instant is in it.
                VolunteerRecord.served_at < end if date_to is not None else VolunteerRecord.served_at <= end,
            ).order_by(VolunteerRecord.served_at, VolunteerRecord.id)
        )
    ).all()
    records = [
        VolunteerRecordRead(
            user_id=r.user_id,
            display_name=name,
            community_id=r.community_id,
            source=r.source,
            source_id=r.source_id,
            title=r.title,
            minutes=r.minutes,
            served_at=r.served_at,
        )
        for r, name in rows
    ]
    totals: dict[uuid.UUID, VolunteerTotal] = {}
    for rec in records:
        t = totals.setdefault(
            rec.user_id,
            VolunteerTotal(
                user_id=rec.user_id,
                display_name=rec.display_name,
                sessions_taught=0,
                help_given=0,
                minutes=0,
                hours=0,
            ),
        )
        if rec.source is VolunteerSource.SESSION:
            t.sessions_taught += 1
        else:
            t.help_given += 1
        t.minutes += rec.minutes
        t.hours = round(t.minutes / 60, 1)
    return VolunteerHours(
        date_from=start,
        date_to=end,
        totals=sorted(totals.values(), key=lambda t: (-t.minutes, t.display_name)),
        records=records,
    )


def hours_csv(report: VolunteerHours) -> str:
    """The ledger as CSV for Excel (UTF-8 with BOM), totals first."""
    out = io.StringIO()
    out.write("\ufeff")
    w = csv.writer(out)
    w.writerow(["志愿者", "授课次数", "手把手次数", "时长（小时）"])
    for t in report.totals:
        w.writerow([_cell(t.display_name), t.sessions_taught, t.help_given, t.hours])
    w.writerow([])
    w.writerow(["志愿者", "日期", "服务", "时长（分钟）"])
    for r in report.records:
        w.writerow(
            [
                _cell(r.display_name),
                r.served_at.astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M"),
                _cell(r.title),
                r.minutes,
            ]
        )
    return out.getvalue()


def _cell(value: str) -> str:
    # A cell starting with = + - @ would be run as a formula by Excel.
    return "'" + value if value[:1] in ("=", "+", "-", "@") else value
