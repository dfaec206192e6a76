"""Live delivery after commit: an in-process broker for SSE subscribers, and the dispatcher that
moves pending outbox messages to it.

notify() writes an OutboxMessage(channel="live") in the same transaction as its cause. After the
commit, get_session calls app.state.after_commit, which wakes the dispatcher; it also polls every
second, so a message written outside a request (the sweeper) or left behind by a crash still goes
out. A message is claimed with a conditional UPDATE (pending → sending, or an expired sending claim),
so several processes can dispatch at once without sending a message twice in the normal case.
Delivery is at least once: a process that dies between publishing and marking a message sent
leaves a claim that expires and is retried. A failed delivery only changes the outbox row; the
inbox row and the ticket were committed long before.

The broker is in-process for now. A multi-process deployment swaps in a broker with the same
interface that publishes through Redis and fans out to its local subscriptions.
"""

import asyncio
import contextlib
import logging
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from fastapi import FastAPI
from sqlalchemy import ColumnElement, and_, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.core.clock import Clock
from app.core.db import READONLY_OPTION
from app.notification.models import OutboxMessage
from app.notification.service import OUTBOX_PENDING_KEY

log = logging.getLogger("linli.outbox")

LIVE = "live"
PENDING, SENDING, SENT, FAILED = "pending", "sending", "sent", "failed"
# How long a dispatcher owns a claimed message before another one may take it over.
CLAIM_FOR = timedelta(seconds=30)
MAX_ATTEMPTS = 6
BACKOFF_BASE = timedelta(seconds=2)
BACKOFF_MAX = timedelta(minutes=5)
POLL_SECONDS = 1.0
BATCH = 100
# Per SSE connection; a slow client loses its oldest undelivered events (the inbox keeps them).
SUBSCRIBER_QUEUE_SIZE = 100
# Delivered live messages are deleted after this long (the inbox rows stay).
KEEP_SENT = timedelta(days=1)


@dataclass(frozen=True)
class LiveMessage:
    id: str  # the notification id; the SSE event id
    kind: str  # the SSE event name, e.g. ticket.new
    data: dict[str, Any]


class Subscription:
    """One SSE connection's queue. Bounded: on overflow the oldest message is dropped."""

    def __init__(self, user_id: uuid.UUID, maxsize: int = SUBSCRIBER_QUEUE_SIZE) -> None:
        self.user_id = user_id
        self.dropped = 0
        self.closed = False
        self._queue: asyncio.Queue[LiveMessage | None] = asyncio.Queue(maxsize)

    def offer(self, message: LiveMessage | None) -> None:
        """Queue without waiting, dropping the oldest message when full."""
        while True:
            try:
                self._queue.put_nowait(message)
                return
            except asyncio.QueueFull:
                with contextlib.suppress(asyncio.QueueEmpty):
                    self._queue.get_nowait()
                    self.dropped += 1

    def close(self) -> None:
        """End the stream: get() returns None once the messages queued so far are read."""
        if not self.closed:
            self.closed = True
            self.offer(None)

    async def get(self) -> LiveMessage | None:
        """The next message, or None when the subscription was closed."""
        if self.closed and self._queue.empty():
            return None
        return await self._queue.get()

    def pending(self) -> list[LiveMessage]:
        """Take the messages queued now without waiting (tests, draining)."""
        out = []
        while not self._queue.empty():
            item = self._queue.get_nowait()
            if item is not None:
                out.append(item)
        return out


class Broker(Protocol):
    """Fans a user's live messages out to their open connections."""

    async def publish(self, user_id: uuid.UUID, message: LiveMessage) -> None: ...

    def subscribe(self, user_id: uuid.UUID) -> Subscription: ...

    def unsubscribe(self, subscription: Subscription) -> None: ...

    async def aclose(self) -> None: ...


class InProcessBroker:
    """Subscriptions of this process only (one server process, or tests)."""

    def __init__(self, queue_size: int = SUBSCRIBER_QUEUE_SIZE) -> None:
        self.queue_size = queue_size
        self._subs: defaultdict[uuid.UUID, set[Subscription]] = defaultdict(set)

    async def publish(self, user_id: uuid.UUID, message: LiveMessage) -> None:
        for sub in list(self._subs.get(user_id, ())):
            sub.offer(message)

    def subscribe(self, user_id: uuid.UUID) -> Subscription:
        sub = Subscription(user_id, self.queue_size)
        self._subs[user_id].add(sub)
        return sub

    def unsubscribe(self, subscription: Subscription) -> None:
        subs = self._subs.get(subscription.user_id)
        if subs is not None:
            subs.discard(subscription)
            if not subs:
                del self._subs[subscription.user_id]
        subscription.close()

    def subscriber_count(self, user_id: uuid.UUID) -> int:
        return len(self._subs.get(user_id, ()))

    async def aclose(self) -> None:
        for subs in list(self._subs.values()):
            for sub in list(subs):
                self.unsubscribe(sub)


# --- the dispatcher ---------------------------------------------------------------------


def backoff(attempts: int) -> timedelta:
    """Delay before retry number `attempts` (1, 2, ...): 2 s, 4 s, 8 s, ... capped at 5 min."""
    return min(BACKOFF_BASE * 2 ** max(attempts - 1, 0), BACKOFF_MAX)


def _due(now: datetime) -> ColumnElement[bool]:
    return and_(
        OutboxMessage.channel == LIVE,
        or_(
            and_(OutboxMessage.status == PENDING, OutboxMessage.available_at <= now),
            and_(OutboxMessage.status == SENDING, OutboxMessage.claimed_until < now),
        ),
    )


async def read_only(session: AsyncSession) -> None:
    """Start a read-only transaction (deferred on SQLite: it takes no write lock)."""
    if isinstance(session.bind, AsyncEngine):
        await session.connection(execution_options={READONLY_OPTION: True})


async def dispatch_once(
    session_maker: async_sessionmaker[AsyncSession], broker: Broker, clock: Clock, batch: int = BATCH
) -> int:
    """Claim due live messages, publish them and record the outcome; returns how many went out."""
    now = clock.now()
    async with session_maker() as session:
        await read_only(session)
        ids = list(
            await session.scalars(
                select(OutboxMessage.id)
                .where(_due(now))
                .order_by(OutboxMessage.available_at, OutboxMessage.id)
                .limit(batch)
            )
        )
    if not ids:
        return 0
    async with session_maker() as session, session.begin():
        claimed = (
            await session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id.in_(ids), _due(now))
                .values(status=SENDING, claimed_until=now + CLAIM_FOR)
                .returning(
                    OutboxMessage.id,
                    OutboxMessage.user_id,
                    OutboxMessage.topic,
                    OutboxMessage.payload,
                    OutboxMessage.attempts,
                )
                .execution_options(synchronize_session=False)
            )
        ).all()
    sent: list[uuid.UUID] = []
    failed: list[tuple[uuid.UUID, int, str]] = []
    for row in claimed:
        try:
            if row.user_id is None:
                raise ValueError("live message without a recipient")
            message = LiveMessage(
                id=str(row.payload.get("notification_id") or row.id), kind=row.topic, data=row.payload
            )
            await broker.publish(row.user_id, message)
        except Exception as err:
            log.warning("live delivery of outbox message %s failed: %r", row.id, err)
            failed.append((row.id, row.attempts + 1, repr(err)[:500]))
        else:
            sent.append(row.id)
    done = clock.now()
    async with session_maker() as session, session.begin():
        if sent:
            await session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id.in_(sent), OutboxMessage.status == SENDING)
                .values(status=SENT, sent_at=done, claimed_until=None)
                .execution_options(synchronize_session=False)
            )
        for message_id, attempts, error in failed:
            retry = attempts < MAX_ATTEMPTS
            await session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == message_id, OutboxMessage.status == SENDING)
                .values(
                    status=PENDING if retry else FAILED,
                    attempts=attempts,
                    available_at=done + backoff(attempts) if retry else done,
                    claimed_until=None,
                    last_error=error,
                )
                .execution_options(synchronize_session=False)
            )
    return len(sent)


async def purge_sent(session: AsyncSession, *, now: datetime) -> int:
    """Delete live messages delivered more than KEEP_SENT ago (the sweeper calls this)."""
    result = await session.execute(
        delete(OutboxMessage)
        .where(
            OutboxMessage.channel == LIVE,
            OutboxMessage.status == SENT,
            OutboxMessage.available_at < now - KEEP_SENT,
        )
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0  # type: ignore[attr-defined]


class OutboxDispatcher:
    """Runs dispatch_once every POLL_SECONDS, and at once when woken after a commit."""

    def __init__(
        self,
        session_maker: async_sessionmaker[AsyncSession],
        broker: Broker,
        clock: Clock,
        *,
        interval: float = POLL_SECONDS,
        batch: int = BATCH,
    ) -> None:
        self.session_maker = session_maker
        self.broker = broker
        self.clock = clock
        self.interval = interval
        self.batch = batch
        self.passes = 0  # completed dispatch passes (for tests and health checks)
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    def after_commit(self, info: Mapping[str, Any]) -> None:
        """app.state.after_commit: wake up if the committed transaction queued live messages."""
        if info.get(OUTBOX_PENDING_KEY):
            self.wake()

    async def run(self) -> None:
        while True:
            try:
                delivered = await dispatch_once(self.session_maker, self.broker, self.clock, self.batch)
            except Exception:
                log.exception("outbox dispatch failed")
                delivered = 0
            self.passes += 1
            if delivered >= self.batch:
                continue  # more may be waiting
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval)
            self._wake.clear()


@contextlib.asynccontextmanager
async def live_delivery(app: FastAPI) -> AsyncIterator[OutboxDispatcher]:
    """Run the dispatcher for the app's lifetime (entered in the lifespan)."""
    dispatcher = OutboxDispatcher(app.state.sessionmaker, app.state.broker, app.state.clock)
    app.state.dispatcher = dispatcher
    app.state.after_commit = dispatcher.after_commit
    task = asyncio.create_task(dispatcher.run(), name="linli-outbox-dispatcher")
    try:
        yield dispatcher
    finally:
        app.state.after_commit = None
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await app.state.broker.aclose()
