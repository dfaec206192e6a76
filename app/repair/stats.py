"""乐修匠 figures for a subdistrict or community over a period: orders, speed, satisfaction, subsidy.

Repair volumes are small (tens a day per subdistrict), so one query reads the period's orders'
few numeric columns and the sums and medians are computed here.
"""

import statistics
import uuid
from collections import defaultdict
from datetime import datetime

from pydantic import Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.permissions import Actor, Scope, administers
from app.core.schemas import OutSchema
from app.repair import exceptions as exc
from app.repair.models import RepairOrder
from app.repair.state import RepairStatus
from app.ticket.kpi import InvalidDateRange, date_window
from app.user.models import User

__all__ = ["InvalidDateRange", "RepairStats", "compute"]

_DONE = {RepairStatus.COMPLETED, RepairStatus.SETTLED, RepairStatus.RATED}


class Figures(OutSchema):
    orders: int = Field(description="期间内登记的维修单")
    accepted: int = Field(description="其中已有师傅接单的")
    completed: int = Field(description="已完工（含已结算、已评价）")
    cancelled: int
    median_accept_minutes: float | None = Field(description="从登记到接单用时的中位数（分钟）")
    median_complete_hours: float | None = Field(description="从登记到完工用时的中位数（小时）")
    rated: int
    mean_rating: float | None
    satisfied_rate: float | None = Field(description="满意率：评分 ≥ 4 / 已评价")
    settled: int
    subsidy_cents: int = Field(description="已结算维修单的减免金额合计（分）：街道让利的价值")
    paid_cents: int = Field(description="已结算维修单的实收合计（分）")


class CraftsmanFigures(Figures):
    user_id: uuid.UUID
    display_name: str


class CommunityFigures(Figures):
    community_id: uuid.UUID


class RepairStats(OutSchema):
    subdistrict_id: uuid.UUID
    community_id: uuid.UUID | None
    date_from: datetime
    date_to: datetime = Field(description="不含此时刻")
    total: Figures
    by_status: dict[RepairStatus, int]
    by_community: list[CommunityFigures]
    by_craftsman: list[CraftsmanFigures]


def _figures(rows: list[RepairOrder]) -> dict[str, object]:
    accept = [(o.accepted_at - o.requested_at).total_seconds() / 60 for o in rows if o.accepted_at]
    complete = [(o.completed_at - o.requested_at).total_seconds() / 3600 for o in rows if o.completed_at]
    ratings = [o.rating for o in rows if o.rating is not None]
    settled = [o for o in rows if o.settled_at is not None]
    return {
        "orders": len(rows),
        "accepted": sum(1 for o in rows if o.accepted_at is not None),
        "completed": sum(1 for o in rows if o.status in _DONE),
        "cancelled": sum(1 for o in rows if o.status is RepairStatus.CANCELLED),
        "median_accept_minutes": round(statistics.median(accept), 1) if accept else None,
        "median_complete_hours": round(statistics.median(complete), 2) if complete else None,
        "rated": len(ratings),
        "mean_rating": round(statistics.fmean(ratings), 2) if ratings else None,
        "satisfied_rate": round(sum(1 for r in ratings if r >= 4) / len(ratings), 4) if ratings else None,
        "settled": len(settled),
        "subsidy_cents": sum(o.subsidy_cents or 0 for o in settled),
        "paid_cents": sum(o.paid_cents or 0 for o in settled),
    }


async def compute(
    session: AsyncSession,
    *,
    actor: Actor,
    subdistrict_id: uuid.UUID,
    community_id: uuid.UUID | None,
    date_from: datetime | None,
    date_to: datetime | None,
    now: datetime,
) -> RepairStats:
    if not administers(actor, Scope(subdistrict_id=subdistrict_id, community_id=community_id)):
        raise exc.ScopeForbidden()
    start, end = date_window(date_from, date_to, now=now)
    stmt = select(RepairOrder).where(
        RepairOrder.subdistrict_id == subdistrict_id,
        RepairOrder.requested_at >= start,
        RepairOrder.requested_at < end,
    )
    if community_id is not None:
        stmt = stmt.where(RepairOrder.community_id == community_id)
    rows = list(await session.scalars(stmt))
    by_community: dict[uuid.UUID, list[RepairOrder]] = defaultdict(list)
    by_craftsman: dict[uuid.UUID, list[RepairOrder]] = defaultdict(list)
    for o in rows:
        by_community[o.community_id].append(o)
        if o.craftsman_id is not None:
            by_craftsman[o.craftsman_id].append(o)
    names = (
        dict(
            (await session.execute(select(User.id, User.display_name).where(User.id.in_(by_craftsman)))).all()
        )
        if by_craftsman
        else {}
    )
    by_status: dict[RepairStatus, int] = defaultdict(int)
    for o in rows:
        by_status[o.status] += 1
    return RepairStats(
        subdistrict_id=subdistrict_id,
        community_id=community_id,
        date_from=start,
        date_to=end,
        total=Figures(**_figures(rows)),  # type: ignore[arg-type]
        by_status=dict(by_status),
        by_community=[
            CommunityFigures(community_id=cid, **_figures(os))  # type: ignore[arg-type]
            for cid, os in sorted(by_community.items(), key=lambda kv: -len(kv[1]))
        ],
        by_craftsman=[
            CraftsmanFigures(user_id=uid, display_name=names.get(uid, ""), **_figures(os))  # type: ignore[arg-type]
            for uid, os in sorted(by_craftsman.items(), key=lambda kv: -len(kv[1]))
        ],
    )
