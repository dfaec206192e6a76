"""The ticket sweeper: the alert ladders, auto-close and data retention.

sweep() is a plain async function that takes a session factory and a clock, so tests call it
directly with a frozen clock. Each step reads its candidates in a read-only transaction and, if
there is work, does it in one unit of work of its own. Every rung of a ladder is claimed with a
conditional UPDATE (the level must still be the one this sweeper read) in the same transaction as
its notifications and timeline event, so when several processes sweep at once each rung fires
exactly once: on PostgreSQL the loser's UPDATE waits for the winner's row lock and then matches
nothing; on SQLite writers are serialised by BEGIN IMMEDIATE and the loser sees the new level.
"""

import logging
import uuid
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import InstrumentedAttribute

from app.auth.permissions import Role
from app.core import idempotency
from app.core.clock import Clock
from app.core.config import Settings
from app.duty import service as duty
from app.notification import outbox
from app.ticket import service, sla, state
from app.ticket.models import Ticket
from app.ticket.state import TicketStatus
from app.user.service import role_holder_ids

log = logging.getLogger("linli.sweeper")

BATCH = 200
Maker = async_sessionmaker[AsyncSession]


@dataclass
class SweepReport:
    response_alerts: int = 0  # rungs fired on the response ladder
    resolve_alerts: int = 0  # rungs fired on the resolve ladder
    notifications: int = 0
    auto_closed: int = 0
    locations_purged: int = 0
    idempotency_purged: int = 0
    outbox_purged: int = 0
    errors: int = 0  # tickets skipped because handling them failed (logged)

    def __bool__(self) -> bool:
        return any(getattr(self, f.name) for f in fields(self))


# --- the ladders ------------------------------------------------------------------------

Recipients = Callable[[AsyncSession, Ticket], Awaitable[list[uuid.UUID | None]]]


async def _community_admins(session: AsyncSession, t: Ticket) -> list[uuid.UUID | None]:
    return list(await role_holder_ids(session, Role.COMMUNITY_ADMIN, community_id=t.community_id))


async def _subdistrict_admins(session: AsyncSession, t: Ticket) -> list[uuid.UUID | None]:
    return list(await role_holder_ids(session, Role.SUBDISTRICT_ADMIN, subdistrict_id=t.subdistrict_id))


async def _grid_on_duty_first_and_community(session: AsyncSession, t: Ticket) -> list[uuid.UUID | None]:
    """On-duty workers of the ticket's grid (every worker of it if none is on duty), and the
    community admins."""
    workers = await service.grid_worker_ids(session, t)
    on_duty = await duty.on_duty_ids(session, workers)
    return [*(on_duty or workers), *await _community_admins(session, t)]


async def _community_and_assignee(session: AsyncSession, t: Ticket) -> list[uuid.UUID | None]:
    return [*await _community_admins(session, t), t.assignee_id]


@dataclass(frozen=True, eq=False)
class Rung:
    kind: str
    title: str
    note: str
    recipients: Recipients


def _response_due(respond_by: datetime, level: int, now: datetime, settings: Settings) -> int:
    return sla.response_rung_due(
        respond_by=respond_by,
        level=level,
        now=now,
        unclaimed_escalate=timedelta(minutes=settings.ticket.unclaimed_escalate_minutes),
    )


def _resolve_due(resolve_by: datetime, level: int, now: datetime, settings: Settings) -> int:
    return sla.resolve_rung_due(
        resolve_by=resolve_by,
        level=level,
        now=now,
        overdue_escalate=timedelta(hours=settings.ticket.overdue_escalate_hours),
    )


@dataclass(frozen=True, eq=False)
class Ladder:
    name: str
    statuses: Collection[TicketStatus]
    deadline: InstrumentedAttribute[datetime]
    level: InstrumentedAttribute[int]
    breached_at: InstrumentedAttribute[datetime | None]
    rung_due: Callable[[datetime, int, datetime, Settings], int]
    counter: str  # the SweepReport field counting fired rungs
    rungs: dict[int, Rung]


RESPONSE = Ladder(
    name="response",
    statuses=state.AWAITING_RESPONSE,
    deadline=Ticket.respond_by,
    level=Ticket.response_alert_level,
    breached_at=Ticket.response_breached_at,
    rung_due=_response_due,
    counter="response_alerts",
    rungs={
        1: Rung(
            "ticket.response_overdue",
            "工单超时未接单，请尽快处理",
            "超过响应时限仍无人接单，已提醒网格员和社区",
            _grid_on_duty_first_and_community,
        ),
        2: Rung(
            "ticket.response_escalated",
            "工单长时间无人接单，请街道督办",
            "长时间无人接单，已上报街道",
            _subdistrict_admins,
        ),
    },
)

RESOLVE = Ladder(
    name="resolve",
    statuses=state.OPEN,
    deadline=Ticket.resolve_by,
    level=Ticket.resolve_alert_level,
    breached_at=Ticket.resolve_breached_at,
    rung_due=_resolve_due,
    counter="resolve_alerts",
    rungs={
        1: Rung(
            "ticket.resolve_overdue",
            "工单已超过办结时限",
            "超过办结时限仍未办结，已提醒社区和处理人",
            _community_and_assignee,
        ),
        2: Rung(
            "ticket.resolve_escalated",
            "工单严重超期未办结，请街道督办",
            "超期未办结，已上报街道",
            _subdistrict_admins,
        ),
    },
)


def _breached(ladder: Ladder, now: datetime) -> list[ColumnElement[bool]]:
    return [ladder.level < max(ladder.rungs), ladder.deadline <= now, Ticket.status.in_(ladder.statuses)]


async def _fire(
    session: AsyncSession, ladder: Ladder, ticket_id: uuid.UUID, seen: int, rung: int, now: datetime
) -> int:
    """Claim rungs seen+1..rung of one ticket and send them; returns the notifications sent, or
    -1 if another sweeper (or a claim) got there first."""
    values: dict[str, Any] = {ladder.level.key: rung}
    if seen == 0:
        values[ladder.breached_at.key] = now
    won = await session.execute(
        update(Ticket)
        .where(Ticket.id == ticket_id, ladder.level == seen, *_breached(ladder, now))
        .values(values)
        .execution_options(synchronize_session=False)
    )
    if won.rowcount != 1:  # type: ignore[attr-defined]
        return -1
    t = await service.get_for_update(session, ticket_id)
    sent = 0
    for level in range(seen + 1, rung + 1):
        step = ladder.rungs[level]
        users = list(dict.fromkeys(u for u in await step.recipients(session, t) if u is not None))
        await service._notify_ticket(
            session, t, users, kind=step.kind, title=step.title, now=now, ladder=ladder.name, rung=level
        )
        service._event(
            session,
            t,
            action="alert",
            now=now,
            actor_id=None,
            note=step.note,
            ladder=ladder.name,
            rung=level,
            kind=step.kind,
            notified=len(users),
        )
        sent += len(users)
    await session.flush()
    return sent


async def _run_ladder(
    maker: Maker, ladder: Ladder, *, now: datetime, settings: Settings, report: SweepReport, batch: int
) -> None:
    async with maker() as session:
        await outbox.read_only(session)
        rows = (
            await session.execute(
                select(Ticket.id, ladder.deadline, ladder.level)
                .where(*_breached(ladder, now))
                .order_by(ladder.deadline, Ticket.id)
                .limit(batch)
            )
        ).all()
    due = []
    for ticket_id, deadline, level in rows:
        rung = ladder.rung_due(deadline, level, now, settings)
        if rung > level:
            due.append((ticket_id, level, rung))
    if not due:
        return
    async with maker() as session, session.begin():
        for ticket_id, seen, rung in due:
            try:
                async with session.begin_nested():
                    sent = await _fire(session, ladder, ticket_id, seen, rung, now)
            except Exception:
                log.exception("%s alert for ticket %s failed", ladder.name, ticket_id)
                report.errors += 1
                continue
            if sent >= 0:
                setattr(report, ladder.counter, getattr(report, ladder.counter) + rung - seen)
                report.notifications += sent


# --- auto-close and retention -----------------------------------------------------------


async def _auto_close(
    maker: Maker, *, now: datetime, settings: Settings, report: SweepReport, batch: int
) -> None:
    cutoff = now - timedelta(hours=settings.ticket.auto_close_hours)
    async with maker() as session:
        await outbox.read_only(session)
        ids = list(
            await session.scalars(
                select(Ticket.id)
                .where(Ticket.status == TicketStatus.RESOLVED, Ticket.resolved_at <= cutoff)
                .order_by(Ticket.resolved_at, Ticket.id)
                .limit(batch)
            )
        )
    if not ids:
        return
    async with maker() as session, session.begin():
        for ticket_id in ids:
            try:
                async with session.begin_nested():
                    closed = await service.auto_close(session, ticket_id=ticket_id, now=now)
            except Exception:
                log.exception("auto-close of ticket %s failed", ticket_id)
                report.errors += 1
                continue
            report.auto_closed += int(closed)


async def _retention(
    maker: Maker, *, now: datetime, settings: Settings, report: SweepReport, batch: int
) -> None:
    async with maker() as session, session.begin():
        report.locations_purged += await duty.purge_stale(
            session, now=now, retention=timedelta(minutes=settings.duty.location_retention_minutes)
        )
        report.idempotency_purged += await idempotency.purge_expired(session, now=now)
        report.outbox_purged += await outbox.purge_sent(session, now=now)


async def sweep(maker: Maker, *, clock: Clock, settings: Settings, batch: int = BATCH) -> SweepReport:
    """One pass: the response ladder, the resolve ladder, auto-close, then retention. Steps are
    independent: a failing step does not stop the others, and its error is raised at the end."""
    now = clock.now()
    report = SweepReport()
    kw: dict[str, Any] = {"now": now, "settings": settings, "report": report, "batch": batch}
    steps: list[tuple[str, Callable[[], Awaitable[None]]]] = [
        ("response ladder", partial(_run_ladder, maker, RESPONSE, **kw)),
        ("resolve ladder", partial(_run_ladder, maker, RESOLVE, **kw)),
        ("auto-close", partial(_auto_close, maker, **kw)),
        ("retention", partial(_retention, maker, **kw)),
    ]
    failures: list[Exception] = []
    for name, step in steps:
        try:
            await step()
        except Exception as err:
            err.add_note(f"sweep step: {name}")
            failures.append(err)
    if failures:
        raise ExceptionGroup("sweep failed", failures)
    return report
