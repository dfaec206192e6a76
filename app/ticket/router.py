"""随手拍 tickets: report, list, read, and one endpoint per lifecycle action."""

import functools
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, status
from fastapi.responses import JSONResponse

from app.auth.dependencies import CurrentActor, CurrentUser
from app.core import idempotency
from app.core.actions import add_action_route
from app.core.clock import ClockDep
from app.core.db import SessionDep
from app.core.deps import SettingsDep
from app.core.errors import responses
from app.core.ratelimit import limited
from app.core.schemas import ApiDatetime, BBox, InSchema, Limit, Page
from app.org import geo
from app.org.exceptions import BuildingNotFound
from app.org.models import Category
from app.ticket import exceptions as exc
from app.ticket import service, views
from app.ticket.schemas import (
    ArriveIn,
    AssignIn,
    ConfirmIn,
    EscalateIn,
    MergeIn,
    NoteIn,
    ReasonIn,
    ResolveIn,
    TicketBrief,
    TicketCreate,
    TicketCreated,
    TicketRead,
)
from app.ticket.state import TicketAction, TicketStatus
from app.wechat import moderation

router = APIRouter(prefix="/tickets", tags=["tickets"])
CoordParam = Annotated[geo.CoordSystem, Query(description="返回坐标所用的坐标系")]

_ACTION_ERRORS = (exc.TicketNotFound, exc.ActionNotAllowed, exc.InvalidTransition, exc.TicketFinished)


@router.post(
    "",
    dependencies=[limited("create")],
    response_model=TicketCreated,
    status_code=status.HTTP_201_CREATED,
    summary="随手拍：上报问题",
    description="按位置分到网格（不在任何网格内时取附近网格，再不行进入上报人所在社区的值班队列），"
    "开始 10 分钟响应计时。带相同 `Idempotency-Key` 重试时返回第一次的结果，不会重复上报。"
    "返回附近 24 小时内同类未办结的问题，居民可以改为“+1”。",
    responses=responses(
        exc.UnknownCategory,
        exc.NoGridForLocation,
        exc.PhotoNotFound,
        exc.PhotoNotYours,
        exc.ReportForOthersNotAllowed,
        BuildingNotFound,
        idempotency.IdempotencyKeyReused,
        moderation.ContentRisky,
    ),
)
async def create_ticket(
    body: TicketCreate,
    user: CurrentUser,
    actor: CurrentActor,
    request: Request,
    session: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
    idempotency_key: idempotency.IdempotencyKey = None,
) -> Any:
    now = clock.now()

    async def run() -> tuple[int, str | None, dict[str, Any]]:
        screened = await moderation.screen_text(
            session,
            request.app.state.wechat,
            user_id=user.id,
            texts=(body.description, body.address),
            settings=settings,
        )
        ticket, duplicates = await service.create_ticket(
            session,
            actor=actor,
            reporter=user,
            clock=clock,
            settings=settings,
            cache=request.app.state.grid_index,
            data=body,
            screened=screened,
        )
        # The category is in the session already (no query): it was checked when routing.
        category = await session.get(Category, ticket.category_id)
        names = {ticket.category_id: category.name if category else ""}
        read = await views.detail(
            session, ticket, actor=actor, settings=settings, now=now, category_name=names[ticket.category_id]
        )
        dup_briefs = await views.briefs(
            session,
            [t for t, _ in duplicates],
            actor=actor,
            now=now,
            system=geo.CoordSystem.WGS84,
            distances=[d for _, d in duplicates],
            names=names,
        )
        out = TicketCreated(**read.model_dump(), possible_duplicates=dup_briefs)
        return 201, str(ticket.id), out.model_dump(mode="json")

    code, content = await idempotency.once(
        session,
        user_id=user.id,
        scope="POST /api/v1/tickets",
        key=idempotency_key,
        body=body.model_dump(mode="json"),
        now=now,
        run=run,
    )
    return JSONResponse(status_code=code, content=content)


@router.get(
    "",
    response_model=Page[TicketBrief],
    summary="工单列表",
    description="view=mine：我上报的；view=queue：我负责网格的待办，按时限先后排序并给出剩余秒数；"
    "view=all：工作人员辖区内全部。",
    responses=responses(exc.ActionNotAllowed),
)
async def list_tickets(
    actor: CurrentActor,
    session: SessionDep,
    clock: ClockDep,
    view: Annotated[str, Query(pattern="^(mine|queue|all)$")] = "mine",
    status_in: Annotated[list[TicketStatus] | None, Query(alias="status")] = None,
    category_id: uuid.UUID | None = None,
    grid_id: uuid.UUID | None = None,
    community_id: uuid.UUID | None = None,
    overdue: bool | None = None,
    date_from: ApiDatetime | None = None,
    date_to: ApiDatetime | None = None,
    bbox: Annotated[BBox | None, Query(description="最小经度,最小纬度,最大经度,最大纬度")] = None,
    coord_system: CoordParam = geo.CoordSystem.WGS84,
    moderation_in: Annotated[
        moderation.TextVerdict | None,
        Query(alias="moderation", description="held：被内容安全拦下、等待审核的（工作人员的审核队列）"),
    ] = None,
    cursor: str | None = None,
    limit: Limit = 20,
) -> Page[TicketBrief]:
    now = clock.now()
    box = None
    if bbox:
        min_lng, min_lat, max_lng, max_lat = (float(v) for v in bbox.split(","))
        (a_lat, a_lng), (b_lat, b_lng) = (
            geo.to_wgs84(min_lat, min_lng, coord_system),
            geo.to_wgs84(max_lat, max_lng, coord_system),
        )
        box = (min(a_lat, b_lat), min(a_lng, b_lng), max(a_lat, b_lat), max(a_lng, b_lng))
    rows, next_cursor = await service.list_tickets(
        session,
        actor=actor,
        view=view,
        now=now,
        statuses=status_in,
        category_id=category_id,
        grid_id=grid_id,
        community_id=community_id,
        overdue=overdue,
        date_from=date_from,
        date_to=date_to,
        bbox=box,
        cursor=cursor,
        limit=limit,
        moderation=moderation_in,
    )
    items = await views.briefs(session, rows, actor=actor, now=now, system=coord_system)
    return Page(items=items, next_cursor=next_cursor)


@router.get(
    "/{ticket_id}",
    response_model=TicketRead,
    summary="工单详情（含处理时间线）",
    description="上报人、处理人、本网格网格员和辖区工作人员看到完整内容；其他人看到公开视图。",
    responses=responses(exc.TicketNotFound),
)
async def get_ticket(
    ticket_id: uuid.UUID,
    actor: CurrentActor,
    session: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
    coord_system: CoordParam = geo.CoordSystem.WGS84,
) -> TicketRead:
    ticket, category_name = await service.get_ticket(session, ticket_id)
    return await views.detail(
        session,
        ticket,
        actor=actor,
        settings=settings,
        now=clock.now(),
        system=coord_system,
        category_name=category_name,
    )


@router.post(
    "/{ticket_id}/support",
    response_model=TicketRead,
    summary="“+1”：我也遇到了这个问题",
    description="代替重复上报；同一个人重复点无副作用。",
    responses=responses(exc.TicketNotFound, exc.CannotSupportOwn, exc.TicketFinished),
)
async def support_ticket(
    ticket_id: uuid.UUID, actor: CurrentActor, session: SessionDep, clock: ClockDep, settings: SettingsDep
) -> TicketRead:
    ticket = await service.support(session, actor=actor, clock=clock, ticket_id=ticket_id)
    return await views.detail(session, ticket, actor=actor, settings=settings, now=clock.now())


class PhotosPublicIn(InSchema):
    photos_public: bool


@router.post(
    "/{ticket_id}/photos-public",
    response_model=TicketRead,
    summary="允许或撤回照片在公开清单展示",
    description="工作人员确认照片中没有人脸、车牌等个人信息后才公开。",
    responses=responses(exc.TicketNotFound, exc.ActionNotAllowed),
)
async def set_photos_public(
    ticket_id: uuid.UUID,
    body: PhotosPublicIn,
    actor: CurrentActor,
    session: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
) -> TicketRead:
    ticket = await service.set_photos_public(
        session, actor=actor, ticket_id=ticket_id, public=body.photos_public, clock=clock
    )
    return await views.detail(session, ticket, actor=actor, settings=settings, now=clock.now())


async def _run_action(
    action: TicketAction,
    *,
    ticket_id: uuid.UUID,
    body: Any,
    actor: Any,
    session: Any,
    clock: Any,
    settings: Any,
) -> TicketRead:
    ticket = await service.apply_action(
        session, actor=actor, clock=clock, settings=settings, ticket_id=ticket_id, action=action, body=body
    )
    return await views.detail(session, ticket, actor=actor, settings=settings, now=clock.now())


def _action_route(
    action: TicketAction, path: str, body_model: type | None, summary: str, description: str, *errors: type
) -> None:
    """Register POST /tickets/{id}/<path> for one lifecycle action."""
    add_action_route(
        router,
        path=path,
        id_name="ticket_id",
        body_model=body_model,
        deps={"actor": CurrentActor, "session": SessionDep, "clock": ClockDep, "settings": SettingsDep},
        run=functools.partial(_run_action, action),
        name=action.value,
        response_model=TicketRead,
        summary=summary,
        description=description,
        responses=responses(*_ACTION_ERRORS, *errors),
    )


_action_route(
    TicketAction.CLAIM,
    "claim",
    None,
    "接单",
    "本网格网格员接单，10 分钟响应计时停止；多人同时接单只有一人成功。",
    exc.AlreadyClaimed,
)
_action_route(
    TicketAction.ASSIGN,
    "assign",
    AssignIn,
    "派单 / 改派",
    "社区管理员把工单派给（或改派给）本社区的网格员。",
    exc.WorkerNotEligible,
)
_action_route(
    TicketAction.ARRIVE, "arrive", ArriveIn, "到场打卡", "记录到场位置和与问题位置的距离，距离过远会标记。"
)
_action_route(
    TicketAction.RESOLVE,
    "resolve",
    ResolveIn,
    "办结",
    "填写处理说明，可附处理后照片；部门处理完后由社区销号也用此接口。",
    exc.PhotoNotFound,
    exc.PhotoNotYours,
)
_action_route(
    TicketAction.ESCALATE,
    "escalate",
    EscalateIn,
    "吹哨（上报职能部门）",
    "社区解决不了时吹哨，由部门报到处理。",
    exc.DepartmentNotEligible,
)
_action_route(
    TicketAction.ACCEPT_ESCALATION, "accept-escalation", NoteIn, "部门报到", "职能部门接手吹哨工单。"
)
_action_route(
    TicketAction.DEPARTMENT_RESOLVE,
    "department-resolve",
    ResolveIn,
    "部门处理完毕",
    "部门处理完毕，交回社区销号。",
    exc.PhotoNotFound,
    exc.PhotoNotYours,
)
_action_route(TicketAction.RECALL, "recall", NoteIn, "收回吹哨", "社区管理员收回已吹哨的工单。")
_action_route(TicketAction.REJECT, "reject", ReasonIn, "不予受理", "无效或不属于受理范围的问题，需写明原因。")
_action_route(
    TicketAction.MERGE,
    "merge",
    MergeIn,
    "合并重复工单",
    "把本工单合并到另一个工单，上报人和“+1”的人一并转过去。",
    exc.MergeTargetInvalid,
)
_action_route(TicketAction.CONFIRM, "confirm", ConfirmIn, "确认并评价", "上报人确认问题已解决，打 1–5 分。")
_action_route(
    TicketAction.REOPEN,
    "reopen",
    ReasonIn,
    "重新打开",
    "上报人认为没有解决，在规定时间内可以重新打开。",
    exc.ReopenWindowPassed,
)
