"""Seed a benchmark database: the demo subdistrict plus N tickets spread over 90 days.

The rows come from one generator, so SQLite (batched INSERTs) and PostgreSQL (COPY) get the same
data shape from the same seed value.
"""

import json
import random
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
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
COPY_BATCH = 50_000
# Bulk-load tables: their secondary indexes are dropped during the COPY and rebuilt afterwards.
COPY_TABLES = ("ticket", "ticket_event")


def _point_in(boundary: dict[str, Any], rng: random.Random) -> tuple[float, float]:
    ring = boundary["coordinates"][0]
    lngs, lats = [p[0] for p in ring], [p[1] for p in ring]
    return rng.uniform(min(lats), max(lats)), rng.uniform(min(lngs), max(lngs))


@dataclass
class Context:
    """The demo rows the tickets point at, and the ids the load scripts use."""

    grids: list[Grid]
    categories: list[Category]
    resident_id: uuid.UUID
    worker_id: uuid.UUID
    subdistrict_id: uuid.UUID
    g1: Grid
    detail_ids: list[str] = field(default_factory=list)
    pool_ids: list[str] = field(default_factory=list)

    def meta(self) -> dict[str, Any]:
        return {
            "subdistrict_id": str(self.subdistrict_id),
            "community_ids": [str(c) for c in {g.community_id for g in self.grids}],
            "detail_ids": self.detail_ids,
            "pool_ids": self.pool_ids,
            "resident_id": str(self.resident_id),
            "worker_id": str(self.worker_id),
            "category_id": str(self.categories[0].id),
        }


async def load_context(session: AsyncSession, hasher: Any) -> Context:
    await load_demo(session, hasher)
    await session.flush()
    grids = list(await session.scalars(select(Grid).order_by(Grid.code)))
    categories = list(await session.scalars(select(Category).order_by(Category.code)))
    resident_id = await session.scalar(
        select(UserIdentity.user_id).where(UserIdentity.subject == "resident_liu")
    )
    worker_id = await session.scalar(select(User.id).where(User.username == "wg_zhang"))
    assert resident_id is not None and worker_id is not None
    return Context(
        grids=grids,
        categories=categories,
        resident_id=resident_id,
        worker_id=worker_id,
        subdistrict_id=categories[0].subdistrict_id,
        g1=next(g for g in grids if g.code == "xyl-xyl-g1"),
    )


def generate(
    ctx: Context, *, n: int, now: datetime, claim_pool: int, seed_value: int = 42
) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """n historical tickets and `claim_pool` fresh unclaimed ones in grid xyl-xyl-g1, each with its
    create event; fills ctx.detail_ids and ctx.pool_ids on the way."""
    rng = random.Random(seed_value)
    grids, categories = ctx.grids, ctx.categories
    resident_id, worker_id = ctx.resident_id, ctx.worker_id
    statuses = (
        [TicketStatus.CLOSED] * 85
        + [TicketStatus.RESOLVED] * 5
        + [TicketStatus.CLAIMED] * 3
        + [TicketStatus.ON_SITE] * 1
        + [TicketStatus.REJECTED] * 4
        + [TicketStatus.MERGED] * 2
    )
    for i in range(n + claim_pool):
        fresh = i >= n
        grid = ctx.g1 if fresh else grids[rng.randrange(len(grids))]
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
        ticket = {
            "id": tid,
            "number": f"S{i:014d}",
            "subdistrict_id": ctx.subdistrict_id,
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
            "moderation": "visible",
            "created_at": submitted,
            "updated_at": submitted,
        }
        event = {
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
        if fresh:
            ctx.pool_ids.append(str(tid))
        elif len(ctx.detail_ids) < 10_000 and rng.random() < 10_000 / max(n, 1) * 1.2:
            ctx.detail_ids.append(str(tid))
        yield ticket, event


async def seed(
    session: AsyncSession, hasher: Any, *, n: int, now: datetime, claim_pool: int, seed_value: int = 42
) -> dict[str, Any]:
    """Batched INSERTs (SQLite, or any backend): the demo subdistrict and the tickets."""
    ctx = await load_context(session, hasher)
    rows: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []

    async def flush() -> None:
        if rows:
            await session.execute(insert(Ticket), rows)
            await session.execute(insert(TicketEvent), events)
            rows.clear()
            events.clear()

    for ticket, event in generate(ctx, n=n, now=now, claim_pool=claim_pool, seed_value=seed_value):
        rows.append(ticket)
        events.append(event)
        if len(rows) >= BATCH:
            await flush()
    await flush()
    return ctx.meta()


def _pg_value(value: Any) -> Any:
    if isinstance(value, TicketStatus):
        return value.value
    if isinstance(value, list | dict):
        return json.dumps(value)  # json columns: the asyncpg codec SQLAlchemy installs takes text
    return value


async def seed_copy(
    session: AsyncSession,
    hasher: Any,
    *,
    n: int,
    now: datetime,
    claim_pool: int,
    seed_value: int = 42,
    log: Any = print,
) -> dict[str, Any]:
    """PostgreSQL: the same rows through COPY, in the session's transaction.

    Foreign-key triggers are skipped (session_replication_role = replica, so the role must be a
    superuser; the rows point at the demo rows loaded just before) and the secondary indexes of the
    bulk tables are dropped for the load and rebuilt afterwards, which is several times faster than
    maintaining them row by row."""
    ctx = await load_context(session, hasher)
    conn = await session.connection()
    pg = (await conn.get_raw_connection()).driver_connection
    assert pg is not None
    await pg.execute("SET LOCAL synchronous_commit = off")
    await pg.execute("SET LOCAL maintenance_work_mem = '256MB'")
    await pg.execute("SET LOCAL session_replication_role = replica")
    indexes = await pg.fetch(
        """
        SELECT c.relname AS name, pg_get_indexdef(i.indexrelid) AS ddl
        FROM pg_index i
        JOIN pg_class c ON c.oid = i.indexrelid
        JOIN pg_class t ON t.oid = i.indrelid
        JOIN pg_namespace ns ON ns.oid = t.relnamespace
        WHERE t.relname = ANY($1::text[]) AND ns.nspname = current_schema()
          AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)
        """,
        list(COPY_TABLES),
    )
    for ix in indexes:
        await pg.execute(f'DROP INDEX "{ix["name"]}"')

    t0 = time.perf_counter()
    ticket_cols: list[str] = []
    event_cols: list[str] = []
    tickets: list[tuple[Any, ...]] = []
    events: list[tuple[Any, ...]] = []
    done = 0

    async def flush() -> None:
        nonlocal done
        if tickets:
            await pg.copy_records_to_table("ticket", records=tickets, columns=ticket_cols)
            await pg.copy_records_to_table("ticket_event", records=events, columns=event_cols)
            done += len(tickets)
            tickets.clear()
            events.clear()
            if done % 200_000 < COPY_BATCH:
                log(f"  copied {done:,} tickets in {time.perf_counter() - t0:.0f} s")

    for ticket, event in generate(ctx, n=n, now=now, claim_pool=claim_pool, seed_value=seed_value):
        if not ticket_cols:
            ticket_cols, event_cols = list(ticket), list(event)
        tickets.append(tuple(_pg_value(v) for v in ticket.values()))
        events.append(tuple(_pg_value(v) for v in event.values()))
        if len(tickets) >= COPY_BATCH:
            await flush()
    await flush()
    t1 = time.perf_counter()
    for ix in indexes:
        await pg.execute(ix["ddl"])
    log(f"  rebuilt {len(indexes)} indexes in {time.perf_counter() - t1:.0f} s")
    await pg.execute("SET LOCAL session_replication_role = origin")
    return ctx.meta()
