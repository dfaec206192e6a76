"""乐修匠: price list, pricing policy, craftsmen, orders and one endpoint per order action."""

import functools
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, status
from fastapi.responses import JSONResponse

from app.auth.dependencies import AdminActor, CurrentActor, CurrentUser
from app.core import idempotency
from app.core.actions import add_action_route
from app.core.clock import ClockDep
from app.core.db import SessionDep
from app.core.deps import SettingsDep
from app.core.errors import responses
from app.core.ratelimit import limited
from app.core.schemas import ApiDatetime, Limit, Page
from app.privacy import audit
from app.repair import exceptions as exc
from app.repair import service, stats, views
from app.repair.models import Craftsman, RepairCategory
from app.repair.schemas import (
    AssignIn,
    CompleteIn,
    CraftsmanIn,
    CraftsmanRead,
    EstimateIn,
    NoteIn,
    OrderBrief,
    OrderCreate,
    OrderRead,
    PolicyIn,
    PolicyRead,
    PriceItemCreate,
    PriceItemRead,
    PriceItemUpdate,
    PriceItemVersionRead,
    QuoteIn,
    QuoteRead,
    RateIn,
    ReasonIn,
    ScheduleIn,
    SettleIn,
)
from app.repair.state import RepairAction, RepairStatus
from app.ticket import exceptions as ticket_exc
from app.user.models import User
from app.wechat import moderation

router = APIRouter(prefix="/repairs", tags=["repairs"])
IdempotencyKey = idempotency.IdempotencyKey


# --- price list and policy -------------------------------------------------------------


@router.get("/price-items", response_model=list[PriceItemRead], summary="乐修匠价目表")
async def list_price_items(
    actor: CurrentActor,
    session: SessionDep,
    subdistrict_id: uuid.UUID,
    category: RepairCategory | None = None,
    include_inactive: bool = False,
) -> list[PriceItemRead]:
    items = await service.list_price_items(
        session, subdistrict_id=subdistrict_id, category=category, include_inactive=include_inactive
    )
    return [views.price_item(p) for p in items]


@router.post(
    "/price-items",
    dependencies=[limited("create")],
    response_model=PriceItemRead,
    status_code=status.HTTP_201_CREATED,
    summary="新增价目表项目",
    responses=responses(exc.ScopeForbidden, exc.PriceItemExists, exc.PriceItemNotFound),
)
async def create_price_item(
    body: PriceItemCreate, actor: AdminActor, session: SessionDep, clock: ClockDep
) -> PriceItemRead:
    return views.price_item(await service.create_price_item(session, actor=actor, data=body, now=clock.now()))


@router.patch(
    "/price-items/{item_id}",
    response_model=PriceItemRead,
    summary="修改价目表项目（生成新版本，已报价的维修单不受影响）",
    responses=responses(exc.ScopeForbidden, exc.PriceItemExists, exc.PriceItemNotFound),
)
async def update_price_item(
    item_id: uuid.UUID, body: PriceItemUpdate, actor: AdminActor, session: SessionDep, clock: ClockDep
) -> PriceItemRead:
    item = await service.update_price_item(session, actor=actor, item_id=item_id, data=body, now=clock.now())
    return views.price_item(item)


@router.get(
    "/price-items/{item_id}/versions",
    response_model=list[PriceItemVersionRead],
    summary="价目表项目的历史版本",
    responses=responses(exc.PriceItemNotFound),
)
async def price_item_versions(item_id: uuid.UUID, actor: CurrentActor, session: SessionDep) -> Any:
    return await service.price_item_versions(session, item_id)


@router.get("/policies/{subdistrict_id}", response_model=PolicyRead, summary="收费减免政策")
async def get_policy(
    subdistrict_id: uuid.UUID, actor: CurrentActor, session: SessionDep, settings: SettingsDep
) -> PolicyRead:
    policy, row = await service.get_policy(session, settings, subdistrict_id)
    return PolicyRead(
        subdistrict_id=subdistrict_id,
        visit_fee_cents=policy.visit_fee_cents,
        rules={k: v.__dict__ for k, v in policy.rules.items()},  # type: ignore[misc]
        is_default=row is None,
        updated_at=row.updated_at if row else None,
    )


@router.put(
    "/policies/{subdistrict_id}",
    response_model=PolicyRead,
    summary="设置本街道的收费减免政策",
    description="按困难类别设置人工费、材料费减免比例和是否免上门费；已报价的维修单不受影响。",
    responses=responses(exc.ScopeForbidden),
)
async def put_policy(
    subdistrict_id: uuid.UUID,
    body: PolicyIn,
    actor: AdminActor,
    session: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
) -> PolicyRead:
    await service.put_policy(session, actor=actor, subdistrict_id=subdistrict_id, data=body, now=clock.now())
    return await get_policy(subdistrict_id, actor, session, settings)


@router.post(
    "/estimate",
    response_model=QuoteRead,
    summary="费用试算",
    description="按价目表和本人的困难类别试算费用（不保存）。",
    responses=responses(exc.PriceItemNotAvailable),
)
async def estimate(
    body: EstimateIn, user: CurrentUser, session: SessionDep, settings: SettingsDep
) -> QuoteRead:
    q = await service.estimate(
        session,
        user=user,
        settings=settings,
        subdistrict_id=body.subdistrict_id,
        items=body.items,
        materials=body.materials,
    )
    return views.quote_read(q)


# --- craftsmen -------------------------------------------------------------------------


async def _craftsman_read(session: Any, c: Craftsman, counts: dict[uuid.UUID, int]) -> CraftsmanRead:
    """A profile with the craftsman's full phone number. Shown to subdistrict or community staff
    (the routes below log it, app/privacy/audit.py) or to the craftsman themselves: the number is
    the craftsman's own mobile, not a published service line, so staff reading it is an access to
    personal data like any other."""
    user = await session.get(User, c.user_id)
    return CraftsmanRead(
        user_id=c.user_id,
        display_name=user.display_name if user else "",
        phone=user.phone if user else None,
        subdistrict_id=c.subdistrict_id,
        skills=[RepairCategory(s) for s in c.skills],
        community_ids=[uuid.UUID(x) for x in c.community_ids],
        organisation=c.organisation,
        max_active_orders=c.max_active_orders,
        active_orders=counts.get(c.user_id, 0),
        is_active=c.is_active,
    )


@router.get(
    "/craftsmen",
    response_model=list[CraftsmanRead],
    summary="乐修匠师傅名录（工作人员）",
    responses=responses(exc.ScopeForbidden),
)
async def list_craftsmen(
    subdistrict_id: uuid.UUID, actor: AdminActor, session: SessionDep, clock: ClockDep
) -> list[CraftsmanRead]:
    rows = await service.list_craftsmen(session, actor=actor, subdistrict_id=subdistrict_id)
    counts = await service.active_order_counts(session, [c.user_id for c in rows])
    out = [await _craftsman_read(session, c, counts) for c in rows]
    await _log_phones(session, actor, out, clock)
    return out


async def _log_phones(session: Any, actor: Any, profiles: list[CraftsmanRead], clock: Any) -> None:
    shown = [audit.phone(p.user_id, p.phone, p.user_id) for p in profiles]
    await audit.shown(session, actor, shown, resource="craftsman", now=clock.now())


@router.get(
    "/craftsmen/me",
    response_model=CraftsmanRead,
    summary="我的师傅档案",
    responses=responses(exc.NotACraftsman),
)
async def my_craftsman_profile(actor: CurrentActor, session: SessionDep) -> CraftsmanRead:
    c = await service.craftsman_of(session, actor.user_id)
    if c is None:
        raise exc.NotACraftsman()
    return await _craftsman_read(session, c, await service.active_order_counts(session, [c.user_id]))


@router.put(
    "/craftsmen/{user_id}",
    response_model=CraftsmanRead,
    summary="登记或修改师傅档案（街道工作人员）",
    description="用户须先被授予本街道的“乐修匠师傅”角色。",
    responses=responses(exc.ScopeForbidden, exc.UserNotCraftsman, exc.CraftsmanNotEligible),
)
async def put_craftsman(
    user_id: uuid.UUID,
    body: CraftsmanIn,
    actor: AdminActor,
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
) -> CraftsmanRead:
    c = await service.put_craftsman(session, actor=actor, user_id=user_id, data=body, settings=settings)
    out = await _craftsman_read(session, c, await service.active_order_counts(session, [c.user_id]))
    await _log_phones(session, actor, [out], clock)
    return out


# --- orders ----------------------------------------------------------------------------


async def _read(session: Any, order: Any, actor: Any, settings: Any, clock: Any) -> OrderRead:
    return await views.detail(
        session,
        order,
        actor=actor,
        settings=settings,
        now=clock.now(),
        quote_lines=await service.current_quote_lines(session, order),
    )


_CREATE_ERRORS = (
    exc.NoCommunity,
    exc.ResidentNotFound,
    exc.OrderForOthersNotAllowed,
    exc.ScopeForbidden,
    exc.PhotoNotFound,
    exc.PhotoNotYours,
    idempotency.IdempotencyKeyReused,
    moderation.ContentRisky,
)


@router.post(
    "/orders",
    dependencies=[limited("create")],
    response_model=OrderRead,
    status_code=status.HTTP_201_CREATED,
    summary="乐修匠：预约上门维修",
    description="居民为自己预约；社区工作人员可以替打电话来的居民登记（`for_resident`）。"
    "符合条件的师傅会收到通知。带相同 `Idempotency-Key` 重试时返回第一次的结果。",
    responses=responses(*_CREATE_ERRORS),
)
async def create_order(
    body: OrderCreate,
    request: Request,
    user: CurrentUser,
    actor: CurrentActor,
    session: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
    idempotency_key: IdempotencyKey = None,
) -> Any:

    async def run() -> tuple[int, str | None, dict[str, Any]]:
        screened = await moderation.screen_text(
            session,
            request.app.state.wechat,
            user_id=user.id,
            texts=(body.description, body.address),
            settings=settings,
        )
        order = await service.create_order(
            session, actor=actor, user=user, clock=clock, data=body, screened=screened
        )
        out = await _read(session, order, actor, settings, clock)
        return 201, str(order.id), out.model_dump(mode="json")

    code, content = await idempotency.once(
        session,
        user_id=user.id,
        scope="POST /api/v1/repairs/orders",
        key=idempotency_key,
        body=body.model_dump(mode="json"),
        now=clock.now(),
        run=run,
    )
    return JSONResponse(status_code=code, content=content)


@router.post(
    "/orders/from-ticket/{ticket_id}",
    dependencies=[limited("create")],
    response_model=OrderRead,
    status_code=status.HTTP_201_CREATED,
    summary="随手拍转维修单（工作人员）",
    description="居民自家的问题（如家里水管漏水）由社区工作人员转为乐修匠维修单，两边互相关联。",
    responses=responses(ticket_exc.TicketNotFound, exc.TicketNotEligible, *_CREATE_ERRORS),
)
async def order_from_ticket(
    ticket_id: uuid.UUID,
    body: OrderCreate,
    user: CurrentUser,
    actor: AdminActor,
    session: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
) -> OrderRead:
    order = await service.order_from_ticket(
        session, actor=actor, user=user, clock=clock, ticket_id=ticket_id, data=body
    )
    return await _read(session, order, actor, settings, clock)


@router.get(
    "/orders",
    response_model=Page[OrderBrief],
    summary="维修单列表",
    description="mine：我家的维修单；open：等待接单且适合我的（师傅）；assigned：我接的（师傅）；"
    "all：我管辖范围内的全部（工作人员）。",
    responses=responses(exc.NotACraftsman, exc.ScopeForbidden),
)
async def list_orders(
    actor: CurrentActor,
    session: SessionDep,
    view: Annotated[str, Query(pattern="^(mine|open|assigned|all)$")] = "mine",
    status_in: Annotated[list[RepairStatus] | None, Query(alias="status")] = None,
    community_id: uuid.UUID | None = None,
    category: RepairCategory | None = None,
    cursor: str | None = None,
    limit: Limit = 20,
) -> Page[OrderBrief]:
    rows, next_cursor = await service.list_orders(
        session,
        actor=actor,
        view=view,
        statuses=status_in,
        community_id=community_id,
        category=category,
        cursor=cursor,
        limit=limit,
    )
    return Page(items=[views.brief(o, actor=actor) for o in rows], next_cursor=next_cursor)


@router.get(
    "/stats",
    response_model=stats.RepairStats,
    summary="乐修匠统计（工作人员）",
    description="期间内的维修单数、接单和完工用时、满意度、减免金额，按社区和师傅分列。",
    responses=responses(exc.ScopeForbidden, stats.InvalidDateRange),
)
async def repair_stats(
    actor: AdminActor,
    session: SessionDep,
    clock: ClockDep,
    subdistrict_id: uuid.UUID,
    community_id: uuid.UUID | None = None,
    date_from: ApiDatetime | None = None,
    date_to: ApiDatetime | None = None,
) -> stats.RepairStats:
    return await stats.compute(
        session,
        actor=actor,
        subdistrict_id=subdistrict_id,
        community_id=community_id,
        date_from=date_from,
        date_to=date_to,
        now=clock.now(),
    )


@router.get(
    "/orders/{order_id}",
    response_model=OrderRead,
    summary="维修单详情（含时间线）",
    description="居民、工作人员和接单师傅看到联系人和完整地址；等待接单的师傅只看到小区和问题。",
    responses=responses(exc.OrderNotFound),
)
async def get_order(
    order_id: uuid.UUID, actor: CurrentActor, session: SessionDep, clock: ClockDep, settings: SettingsDep
) -> OrderRead:
    order = await service.visible_order(session, actor=actor, order_id=order_id)
    return await _read(session, order, actor, settings, clock)


_ACTION_ERRORS = (exc.OrderNotFound, exc.ActionNotAllowed, exc.InvalidTransition, exc.OrderFinished)


async def _run_action(
    action: RepairAction,
    *,
    order_id: uuid.UUID,
    body: Any,
    actor: Any,
    session: Any,
    clock: Any,
    settings: Any,
) -> OrderRead:
    order = await service.apply_action(
        session, actor=actor, clock=clock, settings=settings, order_id=order_id, action=action, body=body
    )
    return await _read(session, order, actor, settings, clock)


def _action_route(
    action: RepairAction, path: str, body_model: type | None, summary: str, description: str, *errors: type
) -> None:
    """Register POST /repairs/orders/{id}/<path> for one lifecycle action."""
    add_action_route(
        router,
        prefix="/orders",
        path=path,
        id_name="order_id",
        body_model=body_model,
        deps={"actor": CurrentActor, "session": SessionDep, "clock": ClockDep, "settings": SettingsDep},
        run=functools.partial(_run_action, action),
        name=f"repair_{action.value}",
        response_model=OrderRead,
        summary=summary,
        description=description,
        responses=responses(*_ACTION_ERRORS, *errors),
    )


_action_route(
    RepairAction.ACCEPT,
    "accept",
    None,
    "师傅接单",
    "技能和服务社区相符的师傅接单；多人同时接单只有一人成功；手上的单子达到上限时不能再接。",
    exc.AlreadyAccepted,
    exc.WorkloadCapReached,
    exc.NotACraftsman,
    exc.CraftsmanNotEligible,
)
_action_route(
    RepairAction.ASSIGN,
    "assign",
    AssignIn,
    "派单 / 改派（工作人员）",
    "把维修单派给（或改派给）合适的师傅。",
    exc.CraftsmanNotEligible,
    exc.WorkloadCapReached,
)
_action_route(RepairAction.HAND_BACK, "hand-back", NoteIn, "师傅退单", "师傅接单后无法上门，退回待接单。")
_action_route(
    RepairAction.SCHEDULE,
    "schedule",
    ScheduleIn,
    "约定 / 改约上门时间",
    "师傅与居民约定上门时间，居民会收到通知；可以改约。",
    exc.ScheduleInPast,
)
_action_route(
    RepairAction.CRAFTSMAN_NO_SHOW,
    "craftsman-no-show",
    NoteIn,
    "师傅未按约上门",
    "超过约定时间仍未上门时，居民或工作人员登记，维修单重新派发。",
    exc.TooEarlyForNoShow,
)
_action_route(
    RepairAction.RESIDENT_ABSENT,
    "resident-absent",
    NoteIn,
    "上门时家中无人",
    "师傅到了约定时间家中无人，需要重新约定时间。",
    exc.TooEarlyForNoShow,
)
_action_route(RepairAction.ARRIVE, "arrive", NoteIn, "师傅到达", "师傅到达居民家。")
_action_route(
    RepairAction.QUOTE,
    "quote",
    QuoteIn,
    "报价",
    "按价目表逐项计价，材料按进价，按居民困难类别减免，返回每一项的计算说明；确认前可以重新报价。",
    exc.PriceItemNotAvailable,
)
_action_route(
    RepairAction.CONFIRM_QUOTE,
    "confirm-quote",
    None,
    "确认报价",
    "居民（或工作人员代为）确认报价，开始维修。",
)
_action_route(
    RepairAction.DECLINE_QUOTE, "decline-quote", NoteIn, "不接受报价", "居民不接受报价，维修单取消。"
)
_action_route(
    RepairAction.COMPLETE,
    "complete",
    CompleteIn,
    "完工",
    "师傅完工，可附维修后照片。",
    exc.PhotoNotFound,
    exc.PhotoNotYours,
)
_action_route(
    RepairAction.SETTLE,
    "settle",
    SettleIn,
    "结算",
    "记录实收金额（须等于应付金额）和方式：免费、现金或微信支付单号。",
    exc.AmountMismatch,
    exc.PaymentMethodInvalid,
    exc.QuoteNotConfirmed,
)
_action_route(RepairAction.RATE, "rate", RateIn, "评价", "居民为师傅打 1–5 分。")
_action_route(
    RepairAction.CANCEL,
    "cancel",
    ReasonIn,
    "取消维修单",
    "居民在师傅上门前可以取消；工作人员在完工前任何时候可以取消。须写明原因。",
    exc.ResidentMayNotCancelNow,
)
