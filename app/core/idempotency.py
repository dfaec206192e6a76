"""Idempotency-Key storage: a retried write returns the first answer instead of doing it twice."""

import hashlib
import json
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import Header
from sqlalchemy import JSON, ForeignKey, Integer, String, delete
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from app.core.errors import Conflict, Unprocessable
from app.core.models import Base, UTCDateTime

KEEP_FOR = timedelta(days=7)


# The request header a phone sends with every write it may retry.
IdempotencyKey = Annotated[str | None, Header(max_length=128, description="客户端生成的唯一请求编号")]


class IdempotencyRecord(Base):
    __tablename__ = "idempotency_record"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), primary_key=True)
    scope: Mapped[str] = mapped_column(String(64), primary_key=True)  # e.g. "POST /api/v1/tickets"
    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    resource_id: Mapped[str | None] = mapped_column(String(64))
    response: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class IdempotencyKeyReused(Unprocessable):
    code = "request.idempotency_key_reused"
    message = "同一个请求编号被用于不同的内容，请重新提交"


class IdempotencyKeyInFlight(Conflict):
    code = "request.idempotency_key_in_flight"
    message = "相同的请求正在处理，请稍后重试"


def request_hash(body: Any) -> str:
    return hashlib.sha256(
        json.dumps(body, sort_keys=True, default=str, ensure_ascii=False).encode()
    ).hexdigest()


async def lookup(
    session: AsyncSession, *, user_id: uuid.UUID, scope: str, key: str, body_hash: str, now: datetime
) -> IdempotencyRecord | None:
    """The stored answer for this key, or None; the same key with another body is refused."""
    record = await session.get(IdempotencyRecord, (user_id, scope, key))
    if record is None or record.created_at < now - KEEP_FOR:
        return None
    if record.request_hash != body_hash:
        raise IdempotencyKeyReused()
    return record


async def remember(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    scope: str,
    key: str,
    body_hash: str,
    now: datetime,
    status_code: int,
    resource_id: str | None,
    response: dict[str, Any],
) -> None:
    """Store the answer given for this key (in the same transaction as the write)."""
    existing = await session.get(IdempotencyRecord, (user_id, scope, key))
    if existing is not None:
        if existing.created_at >= now - KEEP_FOR:
            # A retry with this key ran at the same time and committed first: this request's
            # writes must not stand beside it (the error rolls them back; retrying gets its answer).
            raise IdempotencyKeyInFlight()
        await session.delete(existing)  # an expired record: replace it
        await session.flush()
    session.add(
        IdempotencyRecord(
            user_id=user_id,
            scope=scope,
            key=key,
            request_hash=body_hash,
            status_code=status_code,
            resource_id=resource_id,
            response=response,
            created_at=now,
        )
    )


async def purge_expired(session: AsyncSession, *, now: datetime) -> int:
    """Delete records past the retention window; returns how many."""
    result = await session.execute(
        delete(IdempotencyRecord).where(IdempotencyRecord.created_at < now - KEEP_FOR)
    )
    return result.rowcount or 0


async def once(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    scope: str,
    key: str | None,
    body: Any,
    now: datetime,
    run: Callable[[], Awaitable[tuple[int, str | None, dict[str, Any]]]],
) -> tuple[int, dict[str, Any]]:
    """Run a create once per Idempotency-Key: `run` returns (status, resource id, JSON body);
    a retry with the same key and body gets the stored status and body back."""
    if not key:
        status_code, _, response = await run()
        return status_code, response
    body_hash = request_hash(body)
    seen = await lookup(session, user_id=user_id, scope=scope, key=key, body_hash=body_hash, now=now)
    if seen is not None:
        return seen.status_code, seen.response
    status_code, resource_id, response = await run()
    await remember(
        session,
        user_id=user_id,
        scope=scope,
        key=key,
        body_hash=body_hash,
        now=now,
        status_code=status_code,
        resource_id=resource_id,
        response=response,
    )
    return status_code, response
