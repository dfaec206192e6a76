"""Grid workers on and off duty. A location is kept (in WGS-84) only while on duty and only as
long as heartbeats keep coming; the sweeper takes silent workers off duty."""

import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import Conflict, Forbidden
from app.duty.models import WorkerDuty


class NotGridWorker(Forbidden):
    code = "duty.grid_worker_only"
    message = "只有网格员可以上岗值班和上报位置"


class NotOnDuty(Conflict):
    code = "duty.not_on_duty"
    message = "您当前不在岗，请先上岗再上报位置"


async def get_duty(session: AsyncSession, user_id: uuid.UUID) -> WorkerDuty | None:
    return await session.get(WorkerDuty, user_id)


async def _locked(session: AsyncSession, user_id: uuid.UUID) -> WorkerDuty:
    """The worker's duty row, created if missing, locked for this transaction."""
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as upsert
    else:
        from sqlalchemy.dialects.sqlite import insert as upsert
    await session.execute(
        upsert(WorkerDuty)
        .values(user_id=user_id, on_duty=False)
        .on_conflict_do_nothing(index_elements=["user_id"])
    )
    row = await session.scalar(
        select(WorkerDuty)
        .where(WorkerDuty.user_id == user_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    assert row is not None
    return row


async def set_duty(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    on_duty: bool,
    point: tuple[float, float] | None,
    now: datetime,
) -> WorkerDuty:
    """Go on duty (optionally with a first location) or off duty (the location is dropped)."""
    row = await _locked(session, user_id)
    if on_duty:
        if not row.on_duty:
            row.on_duty, row.since = True, now
        row.last_seen_at = now
        if point is not None:
            row.lat, row.lng = point
    else:
        if row.on_duty:
            row.since = now
        row.on_duty, row.lat, row.lng = False, None, None
    await session.flush()
    return row


async def heartbeat(
    session: AsyncSession, *, user_id: uuid.UUID, point: tuple[float, float], now: datetime
) -> WorkerDuty:
    """Record where an on-duty worker is now."""
    row = await _locked(session, user_id)
    if not row.on_duty:
        raise NotOnDuty()
    row.last_seen_at = now
    row.lat, row.lng = point
    await session.flush()
    return row


async def on_duty_ids(session: AsyncSession, user_ids: Iterable[uuid.UUID]) -> list[uuid.UUID]:
    """Those of `user_ids` who are on duty now."""
    ids = list(user_ids)
    if not ids:
        return []
    rows = await session.scalars(
        select(WorkerDuty.user_id).where(WorkerDuty.user_id.in_(ids), WorkerDuty.on_duty.is_(True))
    )
    return sorted(set(rows))


async def purge_stale(session: AsyncSession, *, now: datetime, retention: timedelta) -> int:
    """Take workers with no heartbeat within `retention` off duty and drop their location."""
    result = await session.execute(
        update(WorkerDuty)
        .where(WorkerDuty.on_duty.is_(True), WorkerDuty.last_seen_at < now - retention)
        .values(on_duty=False, since=now, lat=None, lng=None)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0  # type: ignore[attr-defined]
