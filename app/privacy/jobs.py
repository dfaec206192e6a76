"""Retention (PIPL Art. 19: keep personal information no longer than needed), run by the sweeper.

- Worker positions: erased once older than duty.location_retention_minutes (the same window in
  which the ticket sweep takes silent workers off duty; this catches any position left behind,
  on or off duty).
- Idempotency-Key answers: deleted after privacy.idempotency_retention_hours.
- The access log: deleted after privacy.audit_retention_days.
"""

from dataclasses import dataclass, fields
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.clock import Clock
from app.core.config import Settings
from app.core.idempotency import IdempotencyRecord
from app.duty.models import WorkerDuty
from app.privacy.models import AuditLog


@dataclass
class PrivacySweepReport:
    locations_erased: int = 0
    idempotency_purged: int = 0
    audit_purged: int = 0
    notifications: int = 0  # none: the sweeper loop adds these up for every domain

    def __bool__(self) -> bool:
        return any(getattr(self, f.name) for f in fields(self))


async def erase_stale_locations(session: AsyncSession, *, before: datetime) -> int:
    """Clear positions whose last heartbeat is older than `before` (or unknown)."""
    result = await session.execute(
        update(WorkerDuty)
        .where(
            or_(WorkerDuty.lat.is_not(None), WorkerDuty.lng.is_not(None)),
            or_(WorkerDuty.last_seen_at.is_(None), WorkerDuty.last_seen_at < before),
        )
        .values(lat=None, lng=None)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0  # type: ignore[attr-defined]


async def purge_idempotency(session: AsyncSession, *, before: datetime) -> int:
    """Delete stored Idempotency-Key answers made before `before`."""
    result = await session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.created_at < before))
    return result.rowcount or 0  # type: ignore[attr-defined]


async def purge_audit_log(session: AsyncSession, *, before: datetime) -> int:
    """Delete access-log rows written before `before`."""
    result = await session.execute(delete(AuditLog).where(AuditLog.at < before))
    return result.rowcount or 0  # type: ignore[attr-defined]


async def sweep(
    maker: async_sessionmaker[AsyncSession], *, clock: Clock, settings: Settings
) -> PrivacySweepReport:
    """Erase and delete what is past its retention period, in one transaction."""
    now = clock.now()
    cfg = settings.privacy
    async with maker() as session, session.begin():
        return PrivacySweepReport(
            locations_erased=await erase_stale_locations(
                session, before=now - timedelta(minutes=settings.duty.location_retention_minutes)
            ),
            idempotency_purged=await purge_idempotency(
                session, before=now - timedelta(hours=cfg.idempotency_retention_hours)
            ),
            audit_purged=await purge_audit_log(
                session, before=now - timedelta(days=cfg.audit_retention_days)
            ),
        )
