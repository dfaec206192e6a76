"""The in-app inbox (list, mark read) and the live event stream (Server-Sent Events)."""

import uuid
from collections.abc import AsyncIterable, AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.sse import EventSourceResponse, ServerSentEvent
from sqlalchemy import func, select, update

from app.auth.dependencies import CurrentUser
from app.core.clock import ClockDep
from app.core.db import SessionDep
from app.core.errors import NotFound, responses
from app.core.pagination import InvalidCursor, paginate
from app.core.schemas import Limit
from app.notification.models import Notification
from app.notification.outbox import Broker, Subscription
from app.notification.schemas import NotificationPage, NotificationRead, ReadAllOut

router = APIRouter(tags=["notifications"])

# How long an EventSource waits before reconnecting after the stream drops.
RECONNECT_MS = 3000


class NotificationNotFound(NotFound):
    code = "notification.not_found"
    message = "没有找到该通知"


@router.get(
    "/notifications",
    response_model=NotificationPage,
    summary="我的通知",
    description="站内通知，最新的在前，游标翻页；`unread=true` 只看未读。`unread_count` 是未读总数。",
    responses=responses(InvalidCursor),
)
async def list_notifications(
    user: CurrentUser,
    session: SessionDep,
    unread: Annotated[bool, Query(description="只看未读")] = False,
    cursor: str | None = None,
    limit: Limit = 20,
) -> NotificationPage:
    stmt = select(Notification).where(Notification.user_id == user.id)
    if unread:
        stmt = stmt.where(Notification.read_at.is_(None))
    rows, next_cursor = await paginate(
        session,
        stmt,
        columns=[Notification.created_at, Notification.id],
        cursor=cursor,
        limit=limit,
        descending=True,
    )
    unread_count = await session.scalar(
        select(func.count())
        .select_from(Notification)
        .where(Notification.user_id == user.id, Notification.read_at.is_(None))
    )
    return NotificationPage(
        items=[NotificationRead.model_validate(n) for n in rows],
        next_cursor=next_cursor,
        unread_count=unread_count or 0,
    )


@router.post(
    "/notifications/read-all",
    response_model=ReadAllOut,
    summary="全部标为已读",
)
async def read_all(user: CurrentUser, session: SessionDep, clock: ClockDep) -> ReadAllOut:
    result = await session.execute(
        update(Notification)
        .where(Notification.user_id == user.id, Notification.read_at.is_(None))
        .values(read_at=clock.now())
        .execution_options(synchronize_session=False)
    )
    return ReadAllOut(updated=result.rowcount or 0)  # type: ignore[attr-defined]


@router.post(
    "/notifications/{notification_id}/read",
    response_model=NotificationRead,
    summary="标为已读",
    description="重复调用不会改变第一次的已读时间。",
    responses=responses(NotificationNotFound),
)
async def read_one(
    notification_id: uuid.UUID, user: CurrentUser, session: SessionDep, clock: ClockDep
) -> Notification:
    note = await session.get(Notification, notification_id)
    if note is None or note.user_id != user.id:
        raise NotificationNotFound()
    if note.read_at is None:
        note.read_at = clock.now()
        await session.flush()
    return note


async def get_broker(request: Request) -> Broker:
    return request.app.state.broker


async def live_subscription(
    user: CurrentUser, broker: Annotated[Broker, Depends(get_broker)]
) -> AsyncIterator[Subscription]:
    """Subscribe before the response starts, unsubscribe when the stream ends."""
    sub = broker.subscribe(user.id)
    try:
        yield sub
    finally:
        broker.unsubscribe(sub)


@router.get(
    "/events",
    response_class=EventSourceResponse,
    summary="实时事件流（SSE）",
    description="当前用户的实时通知，Server-Sent Events 格式。连接后先收到 `event: ready`；"
    "之后每条通知一个事件：`event` 为通知类型（如 `ticket.new`、`ticket.response_overdue`、"
    "`ticket.escalated`），`id` 为通知编号，`data` 为 JSON："
    "`{notification_id, kind, title, body, ticket_id, data, created_at}`。"
    "空闲时每 15 秒发送一行注释 `: ping` 保持连接。断线期间的通知请从 `GET /api/v1/notifications` 补取。",
)
async def events(
    sub: Annotated[Subscription, Depends(live_subscription, scope="request")],
) -> AsyncIterable[ServerSentEvent]:
    yield ServerSentEvent(event="ready", data={"user_id": str(sub.user_id)}, retry=RECONNECT_MS)
    while (message := await sub.get()) is not None:
        yield ServerSentEvent(event=message.kind, id=message.id, data=message.data)
