"""Idempotency-Key storage: a retried write returns the first answer instead of doing it twice.

A request with a key claims it before doing any work: it inserts the key's record (with no answer
yet) in its own transaction, does the work, then fills the answer in; the claim, the work and the
answer commit together or not at all. A retry racing the first request waits on the claim:

* PostgreSQL: the retry's insert of the same primary key waits until the claiming transaction
  ends (ON CONFLICT DO NOTHING). If that transaction committed, the retry reads its answer; if it
  rolled back (an error, or the process died), the retry's insert goes through and it does the work.
* SQLite: a writing transaction holds the database's write lock from its start (BEGIN IMMEDIATE,
  app/core/db.py), so the retry's transaction begins only after the first has ended.

A retry therefore never sees a claim without its answer, and never does the work a second time.
"""

import hashlib
import json
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import Header
from sqlalchemy import JSON, ForeignKey, Integer, Row, String, delete, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from app.core.errors import AppError, Unprocessable
from app.core.models import Base, UTCDateTime

KEEP_FOR = timedelta(days=7)
# The status of a claimed key whose request is still running (never committed: see the module doc).
CLAIMED = 0


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


def request_hash(body: Any) -> str:
    return hashlib.sha256(
        json.dumps(body, sort_keys=True, default=str, ensure_ascii=False).encode()
    ).hexdigest()


_T = IdempotencyRecord.__table__


def _this(user_id: uuid.UUID, scope: str, key: str) -> Any:
    return (_T.c.user_id == user_id) & (_T.c.scope == scope) & (_T.c.key == key)


async def _claim(
    session: AsyncSession, *, user_id: uuid.UUID, scope: str, key: str, body_hash: str, now: datetime
) -> bool:
    """Insert the key's record without an answer; False if a record is there already (on PostgreSQL
    after waiting for the transaction of an uncommitted one to end)."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = (
        insert(_T)
        .values(
            user_id=user_id,
            scope=scope,
            key=key,
            request_hash=body_hash,
            status_code=CLAIMED,
            resource_id=None,
            response={},
            created_at=now,
        )
        .on_conflict_do_nothing(index_elements=[_T.c.user_id, _T.c.scope, _T.c.key])
        .returning(_T.c.key)
    )
    return (await session.execute(stmt)).first() is not None


async def _take_over(
    session: AsyncSession, *, user_id: uuid.UUID, scope: str, key: str, body_hash: str, now: datetime
) -> bool:
    """Claim a key whose record has expired (or, which cannot happen, was committed unanswered).
    The condition is checked again under the row lock, so one of several takers wins."""
    result = await session.execute(
        update(_T)
        .where(_this(user_id, scope, key), or_(_T.c.created_at < now - KEEP_FOR, _T.c.status_code == CLAIMED))
        .values(request_hash=body_hash, status_code=CLAIMED, resource_id=None, response={}, created_at=now)
        .returning(_T.c.key)
    )
    return result.first() is not None


async def _stored(session: AsyncSession, *, user_id: uuid.UUID, scope: str, key: str) -> Row[Any] | None:
    # Columns, not the entity: the identity map must not hand back a copy read earlier.
    return (
        await session.execute(
            select(_T.c.request_hash, _T.c.status_code, _T.c.response, _T.c.created_at).where(
                _this(user_id, scope, key)
            )
        )
    ).first()


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
    """Run a write once per Idempotency-Key: `run` returns (status, resource id, JSON body); a retry
    with the same key and body gets the stored status and body back, one running at the same time
    waits for it. The same key with another body is refused (IdempotencyKeyReused).

    Call it before any other write of the request: the claim is what a racing retry waits on."""
    if not key:
        status_code, _, response = await run()
        return status_code, response
    body_hash = request_hash(body)
    ids = {"user_id": user_id, "scope": scope, "key": key}
    # Each pass either claims the key or finds an answer; another pass is needed only when the
    # record found vanished (purged) or changed (taken over by a racing request) in between.
    for _ in range(5):
        if await _claim(session, **ids, body_hash=body_hash, now=now):
            break
        seen = await _stored(session, **ids)
        if seen is None:
            continue
        if seen.created_at < now - KEEP_FOR or seen.status_code == CLAIMED:
            if await _take_over(session, **ids, body_hash=body_hash, now=now):
                break
            continue
        if seen.request_hash != body_hash:
            raise IdempotencyKeyReused()
        return seen.status_code, seen.response
    else:  # pragma: no cover - five purges or take-overs of one key within one request
        raise RuntimeError(f"Idempotency-Key {key!r} could not be claimed")
    try:
        status_code, resource_id, response = await run()
    except AppError as exc:
        if exc.commit_on_raise:  # the error's own writes stand, the claim must not
            await session.execute(delete(_T).where(_this(user_id, scope, key)))
        raise
    await session.execute(
        update(_T)
        .where(_this(user_id, scope, key))
        .values(status_code=status_code, resource_id=resource_id, response=response)
    )
    return status_code, response
