"""Response KPIs of a grid, community, subdistrict or department over a date range.

One statement reads the tickets of the range once. It groups them by (responder, handler), counts
everything in SQL and hands back, per group, only the response times as one aggregated value (a
PostgreSQL array, an SQLite comma-joined text): no per-ticket rows cross into Python. Every count
is additive, so the whole scope, each responder and each handler are sums over those few groups;
medians and percentiles are computed in Python from the response times, because SQLite has no
percentile function.
"""

import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import fields
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import Field
from sqlalchemy import ColumnElement, Float, and_, cast, extract, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.permissions import Actor, Scope, administers, administers_subdistrict
from app.core.errors import Forbidden, NotFound, Unprocessable
from app.core.schemas import OutSchema
from app.org.models import Community, Department, Grid, Subdistrict
from app.ticket import state, stats
from app.ticket.models import Ticket
from app.ticket.state import TicketStatus
from app.user.models import User

DEFAULT_DAYS = 30
MAX_DAYS = 366
_SECONDS_DIGITS = 3


class StatsScope(StrEnum):
    GRID = "grid"
    COMMUNITY = "community"
    SUBDISTRICT = "subdistrict"
    DEPARTMENT = "department"


class StatsScopeForbidden(Forbidden):
    code = "stats.scope_forbidden"
    message = "只有管理该网格、社区、街道或部门的工作人员可以查看统计"


class StatsScopeNotFound(NotFound):
    code = "stats.scope_not_found"
    message = "没有找到要统计的网格、社区、街道或部门"


class InvalidDateRange(Unprocessable):
    code = "ticket.invalid_date_range"
    message = f"开始时间必须早于结束时间，且跨度不超过 {MAX_DAYS} 天"


class WorkerStats(OutSchema):
    user_id: uuid.UUID
    display_name: str
    handled: int = Field(description="作为处理人（接单或被派单）的工单数")
    resolved: int = Field(description="其中已办结（已办结或已关闭）的工单数")
    responded: int = Field(description="由此人首次响应（接单、派单、吹哨）的工单数")
    responded_on_time: int
    responded_on_time_rate: float | None = Field(description="按时响应率（0–1），以此人响应的工单为基数")
    median_response_seconds: float | None
    rated: int = Field(description="所处理工单中已评价的数量")
    mean_rating: float | None


class ResponseStats(OutSchema):
    """KPIs of one scope and date range; rates are fractions 0–1 (None when the base is 0)."""

    scope: StatsScope
    scope_id: uuid.UUID
    scope_name: str
    date_from: datetime
    date_to: datetime = Field(description="不含此时刻")
    as_of: datetime = Field(description="计算时刻：尚未到期的工单不计入按时率")
    tickets: int = Field(description="期间上报的工单总数")
    valid_tickets: int = Field(description="有效工单：不含不予受理和已合并")
    responded: int = Field(description="已响应（接单、派单或吹哨）")
    response_due: int = Field(description="响应按时率的基数：已响应的，加上超过响应时限仍未响应的有效工单")
    responded_on_time: int = Field(description="在响应时限内响应的（默认 10 分钟）")
    responded_on_time_rate: float | None
    median_response_seconds: float | None = Field(description="已响应工单的响应用时中位数（秒）")
    p90_response_seconds: float | None = Field(
        description="90% 的已响应工单在此秒数内得到响应（最近秩法，取实际出现的值）"
    )
    resolved: int = Field(description="已办结（已办结或已关闭）")
    closure_rate: float | None = Field(description="办结率：已办结 / 有效工单")
    resolve_due: int = Field(description="办结按时率的基数：已办结的，加上超过办结时限仍未办结的")
    resolved_on_time: int
    resolved_on_time_rate: float | None
    rated: int = Field(description="已评价的工单数")
    mean_rating: float | None = Field(description="平均评分（1–5）")
    satisfied: int = Field(description="评分 ≥ 4 的工单数")
    satisfied_rate: float | None = Field(description="满意率：评分 ≥ 4 / 已评价")
    escalated: int = Field(description="吹哨过的工单数")
    escalation_rate: float | None = Field(description="吹哨率：吹哨过的 / 有效工单")
    reopened: int = Field(description="被居民重新打开过的工单数")
    reopen_rate: float | None = Field(description="重开率：重新打开过的 / 曾经办结过的")
    workers: list[WorkerStats] = Field(description="按人员：处理的工单、响应和评分")


def date_window(
    date_from: datetime | None, date_to: datetime | None, *, now: datetime
) -> tuple[datetime, datetime]:
    """The [from, to) range asked for; the last DEFAULT_DAYS days by default."""
    end = date_to or now
    try:
        start = date_from or end - timedelta(days=DEFAULT_DAYS)
    except OverflowError:  # before year 1; API inputs are bounded (ApiDatetime), other callers may not be
        raise InvalidDateRange(date_to=end.isoformat()) from None
    if start >= end or end - start > timedelta(days=MAX_DAYS):
        raise InvalidDateRange(date_from=start.isoformat(), date_to=end.isoformat())
    return start, end


async def scope_filter(
    session: AsyncSession, *, actor: Actor, scope: StatsScope, scope_id: uuid.UUID
) -> tuple[ColumnElement[bool], str]:
    """The tickets of the scope as a WHERE clause, and its name, if the actor administers it.

    Staff who administer the scope: superadmins; subdistrict admins of it (or of the grid's,
    community's or department's subdistrict); community admins of the community or of the grid's
    community; department staff of the department."""
    if not actor.is_staff:
        raise StatsScopeForbidden()
    allowed = False
    if scope is StatsScope.GRID:
        grid = await session.get(Grid, scope_id)
        community = await session.get(Community, grid.community_id) if grid else None
        if grid is None or community is None:
            raise StatsScopeNotFound()
        allowed = administers(
            actor, Scope(subdistrict_id=community.subdistrict_id, community_id=community.id)
        )
        clause, name = Ticket.grid_id == grid.id, f"{community.name} {grid.name}"
    elif scope is StatsScope.COMMUNITY:
        community = await session.get(Community, scope_id)
        if community is None:
            raise StatsScopeNotFound()
        allowed = administers(
            actor, Scope(subdistrict_id=community.subdistrict_id, community_id=community.id)
        )
        clause, name = Ticket.community_id == community.id, community.name
    elif scope is StatsScope.SUBDISTRICT:
        subdistrict = await session.get(Subdistrict, scope_id)
        if subdistrict is None:
            raise StatsScopeNotFound()
        allowed = administers_subdistrict(actor, subdistrict.id)
        clause, name = Ticket.subdistrict_id == subdistrict.id, subdistrict.name
    else:
        department = await session.get(Department, scope_id)
        if department is None:
            raise StatsScopeNotFound()
        allowed = department.id in actor.department_ids or administers_subdistrict(
            actor, department.subdistrict_id
        )
        clause, name = Ticket.department_id == department.id, department.name
    if not allowed:
        raise StatsScopeForbidden()
    return clause, name


def _response_seconds(dialect: str) -> ColumnElement[float]:
    """responded_at - submitted_at in seconds, computed by the database."""
    if dialect == "postgresql":
        return cast(extract("epoch", Ticket.responded_at - Ticket.submitted_at), Float)
    # SQLite stores the timestamps as text; julianday() is exact to well under a millisecond here.
    return (func.julianday(Ticket.responded_at) - func.julianday(Ticket.submitted_at)) * 86400.0


def _seconds_aggregate(dialect: str) -> tuple[ColumnElement[Any], Callable[[Any], list[float]]]:
    """The response times of a group as one value, and how to read it back as floats."""
    secs = _response_seconds(dialect)
    if dialect == "postgresql":
        agg = func.array_agg(secs).filter(Ticket.responded_at.is_not(None))
        return agg, lambda value: list(value) if value else []
    # group_concat skips NULLs (tickets not answered yet) and prints 15 significant digits.
    return func.group_concat(secs), lambda value: [float(x) for x in value.split(",")] if value else []


def _count_columns(now: datetime) -> dict[str, Any]:
    """One aggregate per field of stats.Counts."""
    t = Ticket
    valid = t.status.not_in([TicketStatus.REJECTED, TicketStatus.MERGED])
    responded = t.responded_at.is_not(None)
    resolved = t.resolved_at.is_not(None)
    n = func.count
    columns = {
        "tickets": n(),
        "valid": n().filter(valid),
        "responded": n().filter(responded),
        "response_due": n().filter(or_(responded, and_(valid, t.respond_by <= now))),
        "responded_on_time": n().filter(t.responded_at <= t.respond_by),
        "resolved": n().filter(t.status.in_([TicketStatus.RESOLVED, TicketStatus.CLOSED])),
        "resolve_due": n().filter(or_(resolved, and_(t.status.in_(state.OPEN), t.resolve_by <= now))),
        "resolved_on_time": n().filter(t.resolved_at <= t.resolve_by),
        "rated": n(t.rating),
        "rating_sum": func.coalesce(func.sum(t.rating), 0),
        "satisfied": n().filter(t.rating >= 4),
        "escalated": n().filter(t.escalation_count > 0),
        "ever_resolved": n().filter(or_(resolved, t.reopen_count > 0)),
        "reopened": n().filter(t.reopen_count > 0),
    }
    assert list(columns) == [f.name for f in fields(stats.Counts)]
    return columns


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, _SECONDS_DIGITS)


async def response_stats(
    session: AsyncSession,
    *,
    actor: Actor,
    scope: StatsScope,
    scope_id: uuid.UUID,
    date_from: datetime | None,
    date_to: datetime | None,
    now: datetime,
) -> ResponseStats:
    """The response, closure and satisfaction KPIs of a scope, with a per-person breakdown."""
    start, end = date_window(date_from, date_to, now=now)
    clause, scope_name = await scope_filter(session, actor=actor, scope=scope, scope_id=scope_id)
    where = and_(clause, Ticket.submitted_at >= start, Ticket.submitted_at < end)

    seconds, read_seconds = _seconds_aggregate(session.get_bind().dialect.name)
    groups = await session.execute(
        select(Ticket.responded_by_id, Ticket.assignee_id, seconds, *_count_columns(now).values())
        .where(where)
        .group_by(Ticket.responded_by_id, Ticket.assignee_id)
    )
    by_responder: dict[uuid.UUID, stats.Counts] = defaultdict(stats.Counts)
    by_handler: dict[uuid.UUID, stats.Counts] = defaultdict(stats.Counts)
    seconds_by_responder: dict[uuid.UUID, list[float]] = defaultdict(list)
    all_seconds: list[float] = []
    overall = stats.Counts()
    for responder, handler, group_seconds, *values in groups:
        counts = stats.Counts(*(int(v or 0) for v in values))
        times = read_seconds(group_seconds)
        overall += counts
        all_seconds += times
        if responder is not None:
            by_responder[responder] += counts
            seconds_by_responder[responder] += times
        if handler is not None:
            by_handler[handler] += counts
    all_seconds.sort()

    people = set(by_responder) | set(by_handler)
    names: dict[uuid.UUID, str] = {}
    if people:
        name_rows = await session.execute(select(User.id, User.display_name).where(User.id.in_(people)))
        names = dict(name_rows.all())
    workers = []
    for person in people:
        r, h = by_responder.get(person, stats.Counts()), by_handler.get(person, stats.Counts())
        workers.append(
            WorkerStats(
                user_id=person,
                display_name=names.get(person, ""),
                handled=h.tickets,
                resolved=h.resolved,
                responded=r.responded,
                responded_on_time=r.responded_on_time,
                responded_on_time_rate=stats.rate(r.responded_on_time, r.responded),
                median_response_seconds=_round(stats.median(seconds_by_responder.get(person, []))),
                rated=h.rated,
                mean_rating=stats.mean(h.rating_sum, h.rated),
            )
        )
    workers.sort(key=lambda x: (-x.handled, -x.responded, x.display_name, str(x.user_id)))

    c = overall
    return ResponseStats(
        scope=scope,
        scope_id=scope_id,
        scope_name=scope_name,
        date_from=start,
        date_to=end,
        as_of=now,
        tickets=c.tickets,
        valid_tickets=c.valid,
        responded=c.responded,
        response_due=c.response_due,
        responded_on_time=c.responded_on_time,
        responded_on_time_rate=stats.rate(c.responded_on_time, c.response_due),
        median_response_seconds=_round(stats.median(all_seconds, presorted=True)),
        p90_response_seconds=_round(stats.p90(all_seconds, presorted=True)),
        resolved=c.resolved,
        closure_rate=stats.rate(c.resolved, c.valid),
        resolve_due=c.resolve_due,
        resolved_on_time=c.resolved_on_time,
        resolved_on_time_rate=stats.rate(c.resolved_on_time, c.resolve_due),
        rated=c.rated,
        mean_rating=stats.mean(c.rating_sum, c.rated),
        satisfied=c.satisfied,
        satisfied_rate=stats.rate(c.satisfied, c.rated),
        escalated=c.escalated,
        escalation_rate=stats.rate(c.escalated, c.valid),
        reopened=c.reopened,
        reopen_rate=stats.rate(c.reopened, c.ever_resolved),
        workers=workers,
    )
