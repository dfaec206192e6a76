"""Seed a benchmark database: the demo subdistrict plus N tickets spread over 90 days."""

import random
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.demo import load_demo
from app.org.models import Category, Grid
from app.ticket.models import Ticket, TicketEvent
from app.ticket.state import TicketStatus
from app.user.models import User, UserIdentity

BATCH = 5_000


def _point_in(boundary: dict[str, Any], rng: random.Random) -> tuple[float, float]:
    ring = boundary["coordinates"][0]
    lngs, lats = [p[0] for p in ring], [p[1] for p in ring]
    return rng.uniform(min(lats), max(lats)), rng.uniform(min(lngs), max(lngs))


async def seed(
    session: AsyncSession, hasher: Any, *, n: int, now: datetime, claim_pool: int, seed_value: int = 42
) -> dict[str, Any]:
    """Insert n historical tickets and `claim_pool` fresh unclaimed ones in grid xyl-xyl-g1."""
    await load_demo(session, hasher)
    await session.flush()
    rng = random.Random(seed_value)
    grids = list(await session.scalars(select(Grid).order_by(Grid.code)))
    communities = {g.community_id for g in grids}
    categories = list(await session.scalars(select(Category).order_by(Category.code)))
    resident_id = await session.scalar(
        select(UserIdentity.user_id).where(UserIdentity.subject == "resident_liu")
    )
    worker_id = await session.scalar(select(User.id).where(User.username == "wg_zhang"))
    subdistrict_id = categories[0].subdistrict_id
    g1 = next(g for g in grids if g.code == "xyl-xyl-g1")
    statuses = (
        [TicketStatus.CLOSED] * 85
        + [TicketStatus.RESOLVED] * 5
        + [TicketStatus.CLAIMED] * 3
        + [TicketStatus.ON_SITE] * 1
        + [TicketStatus.REJECTED] * 4
        + [TicketStatus.MERGED] * 2
    )
    detail_ids: list[str] = []
    pool_ids: list[str] = []
    rows: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []

    async def flush() -> None:
        if rows:
            await session.execute(insert(Ticket), rows)
            await session.execute(insert(TicketEvent), events)
            rows.clear()
            events.clear()

    total = n + claim_pool
    for i in range(total):
        fresh = i >= n
        grid = g1 if fresh else grids[rng.randrange(len(grids))]
        cat = categories[rng.randrange(len(categories))]
        submitted = now - (
            timedelta(seconds=rng.uniform(0, 240)) if fresh else timedelta(days=rng.uniform(0.1, 90))
        )
        status = TicketStatus.SUBMITTED if fresh else statuses[rng.randrange(len(statuses))]
        if status is TicketStatus.RESOLVED and now - submitted > timedelta(days=2):
            status = TicketStatus.CLOSED  # older ones were confirmed or auto-closed long ago
        # The claim pool stays inside its response window for the whole run, so the sweeper is
        # not busy alerting on thousands of seeded breaches while the endpoints are measured.
        respond_by = submitted + (timedelta(hours=3) if fresh else timedelta(minutes=cat.respond_minutes))
        resolve_by = submitted + timedelta(hours=cat.resolve_hours)
        responded = None if fresh else submitted + timedelta(seconds=rng.lognormvariate(5.5, 0.8))
        done = status in (TicketStatus.RESOLVED, TicketStatus.CLOSED)
        resolved = responded + timedelta(hours=rng.uniform(0.5, 80)) if done and responded else None
        lat, lng = _point_in(grid.boundary, rng)
        tid = uuid.uuid4()
        open_ = status in (TicketStatus.CLAIMED, TicketStatus.ON_SITE)
        rows.append(
            {
                "id": tid,
                "number": f"S{i:014d}",
                "subdistrict_id": subdistrict_id,
                "community_id": grid.community_id,
                "grid_id": grid.id,
                "category_id": cat.id,
                "priority": cat.priority,
                "description": f"压测工单 {i}：{cat.name}",
                "lat": lat,
                "lng": lng,
                "address": "西一路小区",
                "routed_by": "grid",
                "reporter_id": resident_id,
                "status": status,
                "status_changed_at": submitted,
                "assignee_id": None if fresh else worker_id,
                "submitted_at": submitted,
                "respond_by": respond_by,
                "resolve_by": resolve_by,
                "next_due_at": respond_by if fresh else (resolve_by if open_ else None),
                "responded_at": responded,
                "responded_by_id": None if fresh else worker_id,
                "resolved_at": resolved,
                "closed_at": resolved if status is TicketStatus.CLOSED else None,
                "rating": rng.choice([3, 4, 5, 5, 5]) if status is TicketStatus.CLOSED else None,
                # History is already alerted; only the fresh pool can still breach.
                "response_alert_level": 0 if fresh else 2,
                "resolve_alert_level": 0 if fresh else 2,
                "arrival_far": False,
                "reopen_count": 0,
                "escalation_count": 0,
                "supporter_count": 0,
                "event_count": 1,
                "photos_public": False,
                "created_at": submitted,
                "updated_at": submitted,
            }
        )
        events.append(
            {
                "id": uuid.uuid4(),
                "ticket_id": tid,
                "seq": 1,
                "action": "create",
                "to_status": TicketStatus.SUBMITTED,
                "actor_id": resident_id,
                "photo_ids": [],
                "data": {},
                "at": submitted,
            }
        )
        if fresh:
            pool_ids.append(str(tid))
        elif len(detail_ids) < 10_000 and rng.random() < 10_000 / max(n, 1) * 1.2:
            detail_ids.append(str(tid))
        if len(rows) >= BATCH:
            await flush()
    await flush()
    return {
        "subdistrict_id": str(subdistrict_id),
        "community_ids": [str(c) for c in communities],
        "detail_ids": detail_ids,
        "pool_ids": pool_ids,
        "resident_id": str(resident_id),
        "worker_id": str(worker_id),
        "category_id": str(categories[0].id),
    }
