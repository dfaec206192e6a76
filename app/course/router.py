"""菜鸟学堂: courses and sessions, signups (for oneself or someone else), the waitlist,
check-in, one-on-one help, volunteer hours and figures."""

import functools
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, status
from fastapi.responses import JSONResponse, Response
from sqlalchemy import select

from app.auth.dependencies import AdminActor, CurrentActor, CurrentUser
from app.auth.permissions import administers
from app.core import idempotency
from app.core.actions import add_action_route
from app.core.clock import ClockDep
from app.core.db import SessionDep
from app.core.deps import SettingsDep
from app.core.errors import responses
from app.core.ratelimit import limited
from app.core.schemas import ApiDatetime, Limit, Page
from app.course import exceptions as exc
from app.course import help as help_service
from app.course import service, stats, views
from app.course.models import CourseSession, Topic
from app.course.schemas import (
    AttendeeHistory,
    AttendeeRead,
    CheckInIn,
    CheckinToken,
    CourseCreate,
    CourseDetail,
    CourseRead,
    CourseUpdate,
    HelpCompleteIn,
    HelpCreate,
    HelpRead,
    HelpScheduleIn,
    HistoryItem,
    LinkIn,
    MoveIn,
    MySignupRead,
    ReasonIn,
    RollCallIn,
    SessionCreate,
    SessionRead,
    SessionUpdate,
    SignupCreate,
    SignupRead,
)
from app.course.state import HelpAction, HelpStatus, SignupStatus
from app.privacy import audit
from app.ticket.kpi import InvalidDateRange

router = APIRouter(prefix="/courses", tags=["courses"])
IdempotencyKey = idempotency.IdempotencyKey


async def _session_read(session: Any, s: Any) -> SessionRead:
    return (await views.sessions_read(session, [s]))[0]


async def _staff_of(session: Any, actor: Any, s: Any) -> bool:
    return administers(actor, await service.session_scope(session, s))


async def _signup_read(session: Any, actor: Any, su: Any, now: Any) -> SignupRead:
    s = await service.get_session(session, su.session_id)
    return (
        await views.signups_read(session, actor, [su], staff=await _staff_of(session, actor, s), now=now)
    )[0]


# --- fixed paths first (before /courses/{course_id}) ------------------------------------


@router.get(
    "",
    response_model=Page[SessionRead],
    summary="菜鸟学堂课程表",
    description="即将开始（和正在进行）的课次，按开课时间排列，含剩余名额和候补人数；可按社区、主题、课程筛选。",
)
async def list_sessions(
    actor: CurrentActor,
    session: SessionDep,
    clock: ClockDep,
    community_id: uuid.UUID | None = None,
    topic: Topic | None = None,
    course_id: uuid.UUID | None = None,
    include_cancelled: bool = False,
    cursor: str | None = None,
    limit: Limit = 20,
) -> Page[SessionRead]:
    rows, next_cursor = await service.list_sessions(
        session,
        now=clock.now(),
        community_id=community_id,
        topic=topic,
        course_id=course_id,
        include_cancelled=include_cancelled,
        cursor=cursor,
        limit=limit,
    )
    return Page(items=await views.sessions_read(session, rows), next_cursor=next_cursor)


@router.post(
    "",
    dependencies=[limited("create")],
    response_model=CourseRead,
    status_code=status.HTTP_201_CREATED,
    summary="开设课程（社区工作人员、本社区老师）",
    responses=responses(exc.NoCommunity, exc.ScopeForbidden),
)
async def create_course(
    body: CourseCreate, user: CurrentUser, actor: CurrentActor, session: SessionDep
) -> CourseRead:
    return views.course_read(await service.create_course(session, actor=actor, user=user, data=body))


@router.get(
    "/signups/mine",
    response_model=list[MySignupRead],
    summary="我的报名（为自己和替他人报的）",
    description="upcoming=true（默认）：还没结束的有效报名；false：全部，最近的在前。",
)
async def my_signups(
    user: CurrentUser, actor: CurrentActor, session: SessionDep, clock: ClockDep, upcoming: bool = True
) -> list[MySignupRead]:
    rows = await service.my_signups(session, user=user, now=clock.now(), upcoming=upcoming)
    reads = await views.signups_read(session, actor, rows, staff=False, now=clock.now())
    ids = {su.session_id for su in rows}
    found = list(await session.scalars(select(CourseSession).where(CourseSession.id.in_(ids)))) if ids else []
    sessions = {s.id: s for s in await views.sessions_read(session, found)}
    return [MySignupRead(**r.model_dump(), session=sessions[r.session_id]) for r in reads]


@router.get(
    "/me/history",
    response_model=AttendeeHistory,
    summary="我的上课记录",
    responses=responses(exc.AttendeeNotFound),
)
async def my_history(user: CurrentUser, actor: CurrentActor, session: SessionDep) -> AttendeeHistory:
    a = await service.own_attendee(session, user, create=False)
    if a is None:
        raise exc.AttendeeNotFound(message="您还没有上过菜鸟学堂的课")
    return await _history(session, a, staff=False)


async def _history(session: Any, a: Any, *, staff: bool) -> AttendeeHistory:
    rows = await service.history(session, a.id)
    items = [
        HistoryItem(
            signup_id=su.id,
            session_id=s.id,
            course_id=c.id,
            title=c.title,
            topics=[Topic(t) for t in c.topics],
            starts_at=s.starts_at,
            ends_at=s.ends_at,
            venue=s.venue,
            status=su.status,
            checked_in_at=su.checked_in_at,
        )
        for su, s, c in rows
    ]
    return AttendeeHistory(
        attendee=views.attendee_read(a, full=True, staff=staff),
        attended=sum(1 for i in items if i.status is SignupStatus.ATTENDED),
        no_shows=sum(1 for i in items if i.status is SignupStatus.NO_SHOW),
        items=items,
    )


@router.get(
    "/attendees",
    response_model=list[AttendeeRead],
    summary="学员名册（社区工作人员）",
    description="unlinked=true：只看还没关联居民账号的学员（他人代报名登记的），便于关联。q：按姓名或手机号查找。",
    responses=responses(exc.ScopeForbidden),
)
async def list_attendees(
    actor: AdminActor,
    session: SessionDep,
    clock: ClockDep,
    community_id: uuid.UUID,
    unlinked: bool = False,
    q: Annotated[str | None, Query(max_length=64)] = None,
) -> list[AttendeeRead]:
    rows = await service.list_attendees(
        session, actor=actor, community_id=community_id, unlinked=unlinked, q=q
    )
    shown = [audit.phone(a.user_id, a.phone, a.id) for a in rows]
    await audit.shown(session, actor, shown, resource="course_attendee", now=clock.now())
    return [views.attendee_read(a, full=True, staff=True) for a in rows]


@router.get(
    "/attendees/{attendee_id}/history",
    response_model=AttendeeHistory,
    summary="学员的上课记录",
    description="学员本人、登记该学员的报名人和社区工作人员可见。",
    responses=responses(exc.AttendeeNotFound),
)
async def attendee_history(
    attendee_id: uuid.UUID, actor: CurrentActor, session: SessionDep, clock: ClockDep
) -> AttendeeHistory:
    a = await service.visible_attendee(session, actor=actor, attendee_id=attendee_id)
    staff = a.user_id != actor.user_id and a.created_by_id != actor.user_id
    await audit.shown(
        session, actor, [audit.phone(a.user_id, a.phone, a.id)], resource="course_attendee", now=clock.now()
    )
    return await _history(session, a, staff=staff)


@router.post(
    "/attendees/{attendee_id}/link",
    response_model=AttendeeRead,
    summary="把代报名登记的学员关联到居民账号（社区工作人员）",
    description="学员已有自己的学员记录时，两条记录合并：报名和求助都归到本人记录下。"
    "同一节课重复的报名保留进展更多的一条（已签到优先，其次有座位的，都一样时保留本人的），空出的座位递补候补学员。",
    responses=responses(exc.AttendeeNotFound, exc.AttendeeAlreadyLinked, exc.UserNotResident),
)
async def link_attendee(
    attendee_id: uuid.UUID, body: LinkIn, actor: AdminActor, session: SessionDep, clock: ClockDep
) -> AttendeeRead:
    a = await service.link_attendee(
        session, actor=actor, attendee_id=attendee_id, user_id=body.user_id, now=clock.now()
    )
    await audit.shown(
        session, actor, [audit.phone(a.user_id, a.phone, a.id)], resource="course_attendee", now=clock.now()
    )
    return views.attendee_read(a, full=True, staff=True)


# --- one-on-one help -------------------------------------------------------------------


@router.post(
    "/help-requests",
    dependencies=[limited("create")],
    response_model=HelpRead,
    status_code=status.HTTP_201_CREATED,
    summary="手把手求助（为自己或替老人）",
    description="本社区的菜鸟学堂老师会收到通知并认领。带相同 `Idempotency-Key` 重试时返回第一次的结果。",
    responses=responses(
        exc.NoCommunity,
        exc.ConsentRequired,
        exc.AttendeeRequired,
        exc.RelationshipRequired,
        exc.AttendeeNotFound,
        idempotency.IdempotencyKeyReused,
    ),
)
async def create_help(
    body: HelpCreate,
    user: CurrentUser,
    actor: CurrentActor,
    session: SessionDep,
    clock: ClockDep,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    async def run() -> tuple[int, str | None, dict[str, Any]]:
        r = await help_service.create(session, actor=actor, user=user, data=body, now=clock.now())
        timeline = await help_service.events(session, r)
        out = await views.help_read(session, r, role="asker", actor=actor, now=clock.now(), timeline=timeline)
        return 201, str(r.id), out.model_dump(mode="json")

    code, content = await idempotency.once(
        session,
        user_id=user.id,
        scope="POST /api/v1/courses/help-requests",
        key=idempotency_key,
        body=body.model_dump(mode="json"),
        now=clock.now(),
        run=run,
    )
    return JSONResponse(status_code=code, content=content)


@router.get(
    "/help-requests",
    response_model=Page[HelpRead],
    summary="手把手求助列表",
    description="mine：我提的或为我提的；open：本社区等待认领的（老师）；assigned：我认领的；all：管辖范围内全部（工作人员）。",
    responses=responses(exc.NotATeacher, exc.ScopeForbidden),
)
async def list_help(
    user: CurrentUser,
    actor: CurrentActor,
    session: SessionDep,
    clock: ClockDep,
    view: Annotated[str, Query(pattern="^(mine|open|assigned|all)$")] = "mine",
    status_: Annotated[HelpStatus | None, Query(alias="status")] = None,
    community_id: uuid.UUID | None = None,
    cursor: str | None = None,
    limit: Limit = 20,
) -> Page[HelpRead]:
    rows, next_cursor = await help_service.list_requests(
        session,
        actor=actor,
        user=user,
        view=view,
        status=status_,
        community_id=community_id,
        cursor=cursor,
        limit=limit,
    )
    items = []
    for r in rows:
        role = await help_service.role_of(session, actor, r) or "volunteer"
        items.append(await views.help_read(session, r, role=role, actor=actor, now=clock.now()))
    return Page(items=items, next_cursor=next_cursor)


@router.get(
    "/help-requests/{request_id}",
    response_model=HelpRead,
    summary="手把手求助详情（含时间线）",
    responses=responses(exc.HelpRequestNotFound),
)
async def get_help(
    request_id: uuid.UUID, actor: CurrentActor, session: SessionDep, clock: ClockDep
) -> HelpRead:
    r, role = await help_service.visible(session, actor=actor, request_id=request_id)
    timeline = await help_service.events(session, r)
    return await views.help_read(session, r, role=role, actor=actor, now=clock.now(), timeline=timeline)


async def _help_out(session: Any, actor: Any, r: Any, now: Any) -> HelpRead:
    role = await help_service.role_of(session, actor, r) or "volunteer"
    timeline = await help_service.events(session, r)
    return await views.help_read(session, r, role=role, actor=actor, now=now, timeline=timeline)


_HELP_ERRORS = (exc.HelpRequestNotFound, exc.ActionNotAllowed, exc.InvalidTransition)


async def _run_help_action(
    action: HelpAction, *, request_id: uuid.UUID, body: Any, actor: Any, session: Any, clock: Any
) -> HelpRead:
    r = await help_service.apply_action(
        session, actor=actor, request_id=request_id, action=action, body=body, now=clock.now()
    )
    return await _help_out(session, actor, r, clock.now())


def _help_action(
    action: HelpAction, body_model: type | None, summary: str, description: str, *errors: type
) -> None:
    """Register POST /courses/help-requests/{id}/<action> for one lifecycle action."""
    add_action_route(
        router,
        prefix="/help-requests",
        path=action.value,
        id_name="request_id",
        body_model=body_model,
        deps={"actor": CurrentActor, "session": SessionDep, "clock": ClockDep},
        run=functools.partial(_run_help_action, action),
        name=f"{action.value}_help",
        response_model=HelpRead,
        summary=summary,
        description=description,
        responses=responses(*_HELP_ERRORS, *errors),
    )


_help_action(
    HelpAction.CLAIM,
    None,
    "认领手把手求助（本社区老师）",
    "多位老师同时认领只有一人成功；不能认领自己提出（或为自己提出）的求助。",
    exc.NotATeacher,
    exc.HelpAlreadyClaimed,
)
_help_action(
    HelpAction.SCHEDULE,
    HelpScheduleIn,
    "约定手把手的时间地点（认领的老师）",
    "学员和求助人会收到通知。",
    exc.ScheduleInPast,
)
_help_action(HelpAction.COMPLETE, HelpCompleteIn, "手把手完成（认领的老师）", "填写实际用时，计入志愿时长。")
_help_action(HelpAction.RELEASE, None, "退回手把手求助（认领的老师或工作人员）", "重新等待其他老师认领。")
_help_action(
    HelpAction.CANCEL, ReasonIn, "取消手把手求助（求助人、学员本人或工作人员）", "认领的老师会收到通知。"
)


# --- volunteer hours and figures --------------------------------------------------------


@router.get(
    "/volunteer-hours/me",
    response_model=stats.VolunteerHours,
    summary="我的志愿时长",
    description="授课（课次结束后记入）和手把手帮扶（完成时记入），默认最近 30 天，最长 366 天。",
    responses=responses(InvalidDateRange),
)
async def my_volunteer_hours(
    actor: CurrentActor,
    session: SessionDep,
    clock: ClockDep,
    date_from: ApiDatetime | None = None,
    date_to: ApiDatetime | None = None,
) -> stats.VolunteerHours:
    return await stats.volunteer_hours(
        session,
        actor=actor,
        subdistrict_id=None,
        community_id=None,
        user_id=actor.user_id,
        date_from=date_from,
        date_to=date_to,
        now=clock.now(),
    )


_HOURS_DESCRIPTION = "街道或社区志愿者的授课和手把手时长，按人合计并列出明细。"


async def _staff_hours(
    actor: Any,
    session: Any,
    clock: Any,
    subdistrict_id: uuid.UUID,
    community_id: Any,
    date_from: Any,
    date_to: Any,
) -> stats.VolunteerHours:
    return await stats.volunteer_hours(
        session,
        actor=actor,
        subdistrict_id=subdistrict_id,
        community_id=community_id,
        user_id=None,
        date_from=date_from,
        date_to=date_to,
        now=clock.now(),
    )


@router.get(
    "/volunteer-hours",
    response_model=stats.VolunteerHours,
    summary="志愿时长（工作人员）",
    description=_HOURS_DESCRIPTION,
    responses=responses(exc.ScopeForbidden, InvalidDateRange),
)
async def volunteer_hours(
    actor: AdminActor,
    session: SessionDep,
    clock: ClockDep,
    subdistrict_id: uuid.UUID,
    community_id: uuid.UUID | None = None,
    date_from: ApiDatetime | None = None,
    date_to: ApiDatetime | None = None,
) -> stats.VolunteerHours:
    return await _staff_hours(actor, session, clock, subdistrict_id, community_id, date_from, date_to)


@router.get(
    "/volunteer-hours/export",
    summary="导出志愿时长 CSV（工作人员）",
    description=_HOURS_DESCRIPTION + "UTF-8 带 BOM，可直接用 Excel 打开。",
    response_class=Response,
    responses={
        200: {"content": {"text/csv": {}}, "description": "CSV 文件"},
        **responses(exc.ScopeForbidden, InvalidDateRange),
    },
)
async def export_volunteer_hours(
    actor: AdminActor,
    session: SessionDep,
    clock: ClockDep,
    subdistrict_id: uuid.UUID,
    community_id: uuid.UUID | None = None,
    date_from: ApiDatetime | None = None,
    date_to: ApiDatetime | None = None,
) -> Response:
    report = await _staff_hours(actor, session, clock, subdistrict_id, community_id, date_from, date_to)
    name = f"volunteer-hours-{report.date_from:%Y%m%d}-{report.date_to:%Y%m%d}.csv"
    return Response(
        content=stats.hours_csv(report).encode(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get(
    "/stats",
    response_model=stats.CourseStats,
    summary="菜鸟学堂统计（工作人员）",
    description="期间内（按开课时间，默认最近 30 天）服务学员数、举办课次、到课率和未到率、"
    "候补转正率、手把手和志愿时长，按社区分列。",
    responses=responses(exc.ScopeForbidden, InvalidDateRange),
)
async def course_stats(
    actor: AdminActor,
    session: SessionDep,
    clock: ClockDep,
    subdistrict_id: uuid.UUID,
    community_id: uuid.UUID | None = None,
    date_from: ApiDatetime | None = None,
    date_to: ApiDatetime | None = None,
) -> stats.CourseStats:
    return await stats.compute(
        session,
        actor=actor,
        subdistrict_id=subdistrict_id,
        community_id=community_id,
        date_from=date_from,
        date_to=date_to,
        now=clock.now(),
    )


# --- signups ---------------------------------------------------------------------------


@router.get(
    "/signups/{signup_id}",
    response_model=SignupRead,
    summary="报名详情（含候补位次）",
    responses=responses(exc.SignupNotFound),
)
async def get_signup(
    signup_id: uuid.UUID, actor: CurrentActor, session: SessionDep, clock: ClockDep
) -> SignupRead:
    su = await service.get_signup(session, signup_id)
    s = await service.get_session(session, su.session_id)
    if not await service.can_see_signup(session, actor, su, s):
        raise exc.SignupNotFound()
    return await _signup_read(session, actor, su, clock.now())


@router.post(
    "/signups/{signup_id}/cancel",
    response_model=SignupRead,
    summary="取消报名",
    description="学员本人、报名人可在开课前（默认 2 小时）取消，工作人员开课前随时可以取消。"
    "空出的座位自动给候补第一位，并通知学员和报名人。",
    responses=responses(
        exc.SignupNotFound,
        exc.ActionNotAllowed,
        exc.SignupAlreadyCancelled,
        exc.CancelCutoffPassed,
        exc.SessionStarted,
        exc.InvalidTransition,
    ),
)
async def cancel_signup(
    signup_id: uuid.UUID,
    body: ReasonIn,
    actor: CurrentActor,
    session: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
) -> SignupRead:
    su = await service.cancel_signup(
        session, actor=actor, signup_id=signup_id, reason=body.reason, settings=settings, now=clock.now()
    )
    return await _signup_read(session, actor, su, clock.now())


@router.post(
    "/signups/{signup_id}/promote",
    response_model=SignupRead,
    summary="候补转正（工作人员）",
    description="有空余名额时，把候补学员直接转为正式报名（不按候补顺序）。",
    responses=responses(
        exc.SignupNotFound,
        exc.ScopeForbidden,
        exc.NotWaitlisted,
        exc.NoSeatFree,
        exc.SessionStarted,
        exc.SessionCancelled,
    ),
)
async def promote_signup(
    signup_id: uuid.UUID, actor: AdminActor, session: SessionDep, clock: ClockDep
) -> SignupRead:
    su = await service.promote(session, actor=actor, signup_id=signup_id, now=clock.now())
    return await _signup_read(session, actor, su, clock.now())


@router.post(
    "/signups/{signup_id}/move",
    response_model=list[SignupRead],
    summary="调整候补顺序（工作人员）",
    description="把该候补学员移到第 position 位，返回调整后的候补名单。",
    responses=responses(exc.SignupNotFound, exc.ScopeForbidden, exc.NotWaitlisted),
)
async def move_signup(
    signup_id: uuid.UUID, body: MoveIn, actor: AdminActor, session: SessionDep, clock: ClockDep
) -> list[SignupRead]:
    line = await service.move(session, actor=actor, signup_id=signup_id, position=body.position)
    return await views.signups_read(
        session,
        actor,
        line,
        staff=True,
        now=clock.now(),
        positions={su.id: i for i, su in enumerate(line, start=1)},
    )


# --- sessions --------------------------------------------------------------------------


@router.get(
    "/sessions/{session_id}",
    response_model=SessionRead,
    summary="课次详情",
    responses=responses(exc.SessionNotFound),
)
async def get_session(session_id: uuid.UUID, actor: CurrentActor, session: SessionDep) -> SessionRead:
    return await _session_read(session, await service.get_session(session, session_id))


@router.patch(
    "/sessions/{session_id}",
    response_model=SessionRead,
    summary="修改课次（时间、地点、名额、老师）",
    description="改时间或地点会通知所有报名的学员和报名人；增加名额会按顺序递补候补学员。",
    responses=responses(
        exc.SessionNotFound,
        exc.ScopeForbidden,
        exc.SessionCancelled,
        exc.SessionFinished,
        exc.InvalidTimes,
        exc.SessionInPast,
        exc.CapacityBelowSeated,
        exc.CapacityTooLarge,
        exc.InvalidTeachers,
    ),
)
async def update_session(
    session_id: uuid.UUID,
    body: SessionUpdate,
    actor: CurrentActor,
    session: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
) -> SessionRead:
    s = await service.update_session(
        session, actor=actor, session_id=session_id, data=body, settings=settings, now=clock.now()
    )
    return await _session_read(session, s)


@router.post(
    "/sessions/{session_id}/cancel",
    response_model=SessionRead,
    summary="取消课次",
    description="所有报名随之取消，并通知学员和报名人。",
    responses=responses(exc.SessionNotFound, exc.ScopeForbidden, exc.SessionCancelled, exc.SessionFinished),
)
async def cancel_session(
    session_id: uuid.UUID, body: ReasonIn, actor: CurrentActor, session: SessionDep, clock: ClockDep
) -> SessionRead:
    s = await service.cancel_session(
        session, actor=actor, session_id=session_id, reason=body.reason, now=clock.now()
    )
    return await _session_read(session, s)


_SIGNUP_ERRORS = (
    exc.SessionNotFound,
    exc.SessionCancelled,
    exc.SessionStarted,
    exc.OverlappingSession,
    exc.AlreadySignedUp,
    exc.ConsentRequired,
    exc.AttendeeRequired,
    exc.RelationshipRequired,
    exc.AttendeeNotFound,
    idempotency.IdempotencyKeyReused,
)


@router.post(
    "/sessions/{session_id}/signups",
    dependencies=[limited("create")],
    response_model=SignupRead,
    status_code=status.HTTP_201_CREATED,
    summary="报名（为自己，或替老人报名）",
    description="为自己报名时不用填学员；替他人报名填学员姓名（手机号、年龄可选）、与学员的关系，并确认已征得本人同意。"
    "没有账号的学员也会登记在册，之后可由社区关联到本人账号。"
    "有空位时报名成功（confirmed），否则进入候补（waitlisted，按到达顺序）。"
    "同一报名人重复提交同一学员返回原报名（200）；带相同 `Idempotency-Key` 重试时返回第一次的结果。",
    responses={
        200: {"model": SignupRead, "description": "已报名过（重复提交）"},
        **responses(*_SIGNUP_ERRORS),
    },
)
async def sign_up(
    session_id: uuid.UUID,
    body: SignupCreate,
    user: CurrentUser,
    actor: CurrentActor,
    session: SessionDep,
    clock: ClockDep,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    async def run() -> tuple[int, str | None, dict[str, Any]]:
        result = await service.sign_up(
            session, actor=actor, user=user, clock=clock, session_id=session_id, data=body
        )
        out = await _signup_read(session, actor, result.signup, clock.now())
        return (201 if result.created else 200), str(result.signup.id), out.model_dump(mode="json")

    code, content = await idempotency.once(
        session,
        user_id=user.id,
        scope="POST /api/v1/courses/sessions/signups",
        key=idempotency_key,
        body={"session_id": str(session_id), **body.model_dump(mode="json")},
        now=clock.now(),
        run=run,
    )
    return JSONResponse(status_code=code, content=content)


@router.get(
    "/sessions/{session_id}/signups",
    response_model=list[SignupRead],
    summary="报名名单（老师、工作人员）",
    description="按到达顺序，含候补位次；老师看到的手机号是打码的。",
    responses=responses(exc.SessionNotFound, exc.ScopeForbidden),
)
async def roster(
    session_id: uuid.UUID, actor: CurrentActor, session: SessionDep, clock: ClockDep
) -> list[SignupRead]:
    s, rows = await service.roster(session, actor=actor, session_id=session_id)
    return await views.signups_read(
        session,
        actor,
        rows,
        staff=await _staff_of(session, actor, s),
        now=clock.now(),
        positions=service.waitlist_positions(rows),
    )


@router.get(
    "/sessions/{session_id}/checkin-token",
    response_model=CheckinToken,
    summary="现场签到二维码的内容（老师、工作人员）",
    description="把 token 生成二维码在现场展示，每 refresh_in_seconds 秒重新获取；过期的码不能签到。",
    responses=responses(exc.SessionNotFound, exc.ScopeForbidden, exc.SessionCancelled),
)
async def checkin_token(
    session_id: uuid.UUID, actor: CurrentActor, session: SessionDep, clock: ClockDep, settings: SettingsDep
) -> CheckinToken:
    t = await service.checkin_token(
        session, actor=actor, session_id=session_id, settings=settings, now=clock.now()
    )
    return CheckinToken(
        token=t.token,
        session_id=session_id,
        valid_until=t.valid_until,
        refresh_in_seconds=t.refresh_in_seconds,
    )


@router.post(
    "/sessions/{session_id}/check-in",
    response_model=SignupRead,
    summary="扫码签到（学员本人或陪同的报名人）",
    description="开课前 30 分钟起可以签到。为多位学员报名的，用 signup_id 选择为谁签到。重复扫码不报错。",
    responses=responses(
        exc.SessionNotFound,
        exc.SessionCancelled,
        exc.CheckinTokenInvalid,
        exc.CheckinTokenExpired,
        exc.CheckinTokenWrongSession,
        exc.CheckinNotOpen,
        exc.NotSignedUp,
        exc.WhichSignup,
        exc.WaitlistedCannotCheckIn,
    ),
)
async def check_in(
    session_id: uuid.UUID,
    body: CheckInIn,
    user: CurrentUser,
    actor: CurrentActor,
    session: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
) -> SignupRead:
    su = await service.check_in(
        session,
        actor=actor,
        user=user,
        session_id=session_id,
        token=body.token,
        signup_id=body.signup_id,
        settings=settings,
        now=clock.now(),
    )
    return await _signup_read(session, actor, su, clock.now())


@router.post(
    "/sessions/{session_id}/roll-call",
    response_model=list[SignupRead],
    summary="老师点名（也可更正签到）",
    description="present=true 记为到课，false 记为未到；课后 48 小时内可以更正。",
    responses=responses(
        exc.SessionNotFound,
        exc.ScopeForbidden,
        exc.SessionCancelled,
        exc.RollCallNotOpen,
        exc.RollCallClosed,
        exc.SignupNotFound,
        exc.WaitlistedCannotCheckIn,
        exc.InvalidTransition,
    ),
)
async def roll_call(
    session_id: uuid.UUID,
    body: RollCallIn,
    actor: CurrentActor,
    session: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
) -> list[SignupRead]:
    s, rows = await service.roll_call(
        session, actor=actor, session_id=session_id, entries=body.entries, settings=settings, now=clock.now()
    )
    return await views.signups_read(
        session,
        actor,
        rows,
        staff=await _staff_of(session, actor, s),
        now=clock.now(),
        positions=service.waitlist_positions(rows),
    )


# --- courses ---------------------------------------------------------------------------


@router.get(
    "/{course_id}",
    response_model=CourseDetail,
    summary="课程详情（含全部课次）",
    responses=responses(exc.CourseNotFound),
)
async def get_course(course_id: uuid.UUID, actor: CurrentActor, session: SessionDep) -> CourseDetail:
    return await views.course_detail(session, await service.get_course(session, course_id))


@router.patch(
    "/{course_id}",
    response_model=CourseRead,
    summary="修改课程",
    responses=responses(exc.CourseNotFound, exc.ScopeForbidden),
)
async def update_course(
    course_id: uuid.UUID, body: CourseUpdate, actor: CurrentActor, session: SessionDep
) -> CourseRead:
    return views.course_read(
        await service.update_course(session, actor=actor, course_id=course_id, data=body)
    )


@router.post(
    "/{course_id}/sessions",
    dependencies=[limited("create")],
    response_model=SessionRead,
    status_code=status.HTTP_201_CREATED,
    summary="新增课次",
    description="授课老师须是本社区的菜鸟学堂老师（志愿者）。",
    responses=responses(
        exc.CourseNotFound,
        exc.ScopeForbidden,
        exc.InvalidTimes,
        exc.SessionInPast,
        exc.CapacityTooLarge,
        exc.InvalidTeachers,
    ),
)
async def create_session(
    course_id: uuid.UUID,
    body: SessionCreate,
    user: CurrentUser,
    actor: CurrentActor,
    session: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
) -> SessionRead:
    s = await service.create_session(
        session, actor=actor, user=user, course_id=course_id, data=body, settings=settings, now=clock.now()
    )
    return await _session_read(session, s)
