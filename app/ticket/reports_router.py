"""Seeing the work: response KPIs, ticket exports for meetings, and the public board (问题清单).

Registered before the ticket router: /tickets/export must match before /tickets/{ticket_id}.
"""

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from app.auth.dependencies import CurrentActor, NotStaff
from app.core.clock import ClockDep
from app.core.db import SessionDep
from app.core.deps import SettingsDep
from app.core.errors import responses
from app.core.pagination import InvalidCursor
from app.core.schemas import ApiDatetime, Limit, Page
from app.org import geo
from app.org.exceptions import CommunityNotFound
from app.ticket import export, kpi, public
from app.ticket.state import TicketStatus

router = APIRouter()

_RANGE_HELP = "带时区的时间，例如 2026-11-01T00:00:00+08:00"


@router.get(
    "/stats/response",
    tags=["stats"],
    response_model=kpi.ResponseStats,
    summary="响应与办结统计（10 分钟响应率、办结率、满意度）",
    description="某网格、社区、街道或部门在一段时间内（按上报时间，默认最近 30 天，最长 366 天）的："
    "工单数、按时响应率、响应用时中位数和 P90、办结率、按时办结率、满意度、吹哨和重开情况，"
    "以及按人员的明细。按时率只计已到期的工单：已响应（已办结）的，和超过时限仍未响应（办结）的。"
    "只有管理该范围的工作人员可以查看。",
    responses=responses(kpi.StatsScopeForbidden, kpi.StatsScopeNotFound, kpi.InvalidDateRange),
)
async def response_stats(
    actor: CurrentActor,
    session: SessionDep,
    clock: ClockDep,
    scope: kpi.StatsScope,
    scope_id: uuid.UUID,
    date_from: Annotated[ApiDatetime | None, Query(description=_RANGE_HELP)] = None,
    date_to: Annotated[ApiDatetime | None, Query(description="不含此时刻；默认为现在")] = None,
) -> kpi.ResponseStats:
    return await kpi.response_stats(
        session,
        actor=actor,
        scope=scope,
        scope_id=scope_id,
        date_from=date_from,
        date_to=date_to,
        now=clock.now(),
    )


@router.get(
    "/tickets/export",
    tags=["tickets"],
    response_class=StreamingResponse,
    summary="导出工单列表（CSV / Excel）",
    description="筛选条件与工单列表 view=all 相同，范围为本人辖区。边查边写，导出一百万行内存也不增长。"
    "不导出上报人和任何手机号；只有管理该社区的工作人员看到完整地址。CSV 带 BOM，Excel 可直接打开。",
    responses={
        200: {
            "description": "文件下载",
            "content": {media: {} for media in export.MEDIA_TYPES.values()},
        },
        **responses(NotStaff, kpi.InvalidDateRange),
    },
)
async def export_tickets(
    request: Request,
    actor: CurrentActor,
    clock: ClockDep,
    format: Annotated[export.ExportFormat, Query(description="csv 或 xlsx")] = export.ExportFormat.CSV,
    status_in: Annotated[list[TicketStatus] | None, Query(alias="status")] = None,
    category_id: uuid.UUID | None = None,
    grid_id: uuid.UUID | None = None,
    community_id: uuid.UUID | None = None,
    overdue: bool | None = None,
    date_from: Annotated[ApiDatetime | None, Query(description=_RANGE_HELP)] = None,
    date_to: ApiDatetime | None = None,
) -> StreamingResponse:
    now = clock.now()
    filters = export.ExportFilters(
        statuses=status_in,
        category_id=category_id,
        grid_id=grid_id,
        community_id=community_id,
        overdue=overdue,
        date_from=date_from,
        date_to=date_to,
    )
    stmt = export.export_statement(actor, filters, now=now)
    # The body is produced after this returns and the request's session is closed: the rows are
    # read in a session of their own.
    body = export.chunks(format, request.app.state.sessionmaker, stmt, actor=actor, now=now)
    name = export.filename(format, now)
    return StreamingResponse(
        body,
        media_type=export.MEDIA_TYPES[format],
        headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"},
    )


@router.get(
    "/public/tickets",
    tags=["public"],
    response_model=Page[public.PublicTicket],
    summary="问题清单：社区公开的随手拍问题",
    description="任何登录用户可看。不含上报人和处理人、手机号、精确地址；位置约 100 米精度；"
    "照片只在工作人员确认可以公开后展示。不予受理和已合并的工单不公开。",
    responses=responses(CommunityNotFound, InvalidCursor),
)
async def public_tickets(
    actor: CurrentActor,
    session: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
    community_id: uuid.UUID,
    status_in: Annotated[list[TicketStatus] | None, Query(alias="status")] = None,
    coord_system: Annotated[
        geo.CoordSystem, Query(description="返回坐标所用的坐标系")
    ] = geo.CoordSystem.WGS84,
    cursor: str | None = None,
    limit: Limit = 20,
) -> Page[public.PublicTicket]:
    items, next_cursor = await public.board(
        session,
        community_id=community_id,
        statuses=status_in,
        cursor=cursor,
        limit=limit,
        now=clock.now(),
        settings=settings,
        system=coord_system,
    )
    return Page(items=items, next_cursor=next_cursor)
