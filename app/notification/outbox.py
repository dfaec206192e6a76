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

With one process the broker is in-process. With several (REDIS_URL set), RedisBroker publishes
through Redis pub/sub and every process fans the messages out to its own SSE connections, so a
worker connected to any process gets every event whichever process dispatched it.
"""

import asyncio
import contextlib
import json
import logging
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
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
PENDING, SENDING, SENT, SKIPPED, FAILED = "pending", "sending", "sent", "skipped", "failed"
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

    async def start(self) -> None: ...

    async def publish(self, user_id: uuid.UUID, message: LiveMessage) -> None: ...

    def subscribe(self, user_id: uuid.UUID) -> Subscription: ...

    def unsubscribe(self, subscription: Subscription) -> None: ...

    async def aclose(self) -> None: ...


class InProcessBroker:
    """Subscriptions of this process only (one server process, or tests)."""

    def __init__(self, queue_size: int = SUBSCRIBER_QUEUE_SIZE) -> None:
        self.queue_size = queue_size
        self._subs: defaultdict[uuid.UUID, set[Subscription]] = defaultdict(set)

    async def start(self) -> None:
        return None

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


class RedisBroker:
    """Publishes through Redis pub/sub; each process delivers what it hears to its own connections.

    A message published while a process is reconnecting is not seen there: the SSE stream is a
    convenience and the inbox (GET /notifications) has every message.
    """

    CHANNEL = "linli:live"

    def __init__(self, redis: Any, queue_size: int = SUBSCRIBER_QUEUE_SIZE) -> None:
        self.redis = redis
        self.local = InProcessBroker(queue_size)
        self.listening = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._listen(), name="linli-live-redis")

    async def publish(self, user_id: uuid.UUID, message: LiveMessage) -> None:
        body = json.dumps(
            {"user_id": str(user_id), "id": message.id, "kind": message.kind, "data": message.data}
        )
        await self.redis.publish(self.CHANNEL, body)

    def subscribe(self, user_id: uuid.UUID) -> Subscription:
        return self.local.subscribe(user_id)

    def unsubscribe(self, subscription: Subscription) -> None:
        self.local.unsubscribe(subscription)

    def subscriber_count(self, user_id: uuid.UUID) -> int:
        return self.local.subscriber_count(user_id)

    async def _listen(self) -> None:
        while True:
            pubsub = self.redis.pubsub()
            try:
                await pubsub.subscribe(self.CHANNEL)
                self.listening.set()
                async for item in pubsub.listen():
                    if item.get("type") != "message":
                        continue
                    try:
                        raw = json.loads(item["data"])
                        message = LiveMessage(id=raw["id"], kind=raw["kind"], data=raw["data"])
                        await self.local.publish(uuid.UUID(raw["user_id"]), message)
                    except (ValueError, KeyError, TypeError) as err:
                        log.warning("unreadable live message on %s: %r", self.CHANNEL, err)
            except asyncio.CancelledError:
                raise
            except Exception as err:
                self.listening.clear()
                log.warning("live feed lost its Redis subscription (%r); resubscribing", err)
                await asyncio.sleep(1.0)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.local.aclose()


# --- the dispatcher ---------------------------------------------------------------------


def backoff(attempts: int) -> timedelta:
    """Delay before retry number `attempts` (1, 2, ...): 2 s, 4 s, 8 s, ... capped at 5 min."""
    return min(BACKOFF_BASE * 2 ** max(attempts - 1, 0), BACKOFF_MAX)


def _due(channel: str, now: datetime) -> ColumnElement[bool]:
    return and_(
        OutboxMessage.channel == channel,
        or_(
            and_(OutboxMessage.status == PENDING, OutboxMessage.available_at <= now),
            and_(OutboxMessage.status == SENDING, OutboxMessage.claimed_until < now),
        ),
    )


async def read_only(session: AsyncSession) -> None:
    """Start a read-only transaction (deferred on SQLite: it takes no write lock)."""
    if isinstance(session.bind, AsyncEngine):
        await session.connection(execution_options={READONLY_OPTION: True})


@dataclass(frozen=True)
class Claimed:
    """An outbox message this process has claimed for delivery."""

    id: uuid.UUID
    user_id: uuid.UUID | None
    topic: str
    payload: dict[str, Any]
    attempts: int


class Skipped(Exception):
    """Nothing to deliver, by design (no WeChat credit, no template): recorded, never retried."""


class PermanentFailure(Exception):
    """Delivery can never succeed as is (bad template data, unknown recipient): not retried."""


# Delivers one claimed message. Returning means delivered; Skipped and PermanentFailure are
# final; any other exception is retried with backoff up to MAX_ATTEMPTS.
Deliver = Callable[[Claimed], Awaitable[None]]


def live_deliverer(broker: "Broker") -> Deliver:
    async def deliver(row: Claimed) -> None:
        if row.user_id is None:
            raise ValueError("live message without a recipient")
        message = LiveMessage(
            id=str(row.payload.get("notification_id") or row.id), kind=row.topic, data=row.payload
        )
        await broker.publish(row.user_id, message)

    return deliver


async def dispatch_channel(
    session_maker: async_sessionmaker[AsyncSession],
    channel: str,
    deliver: Deliver,
    clock: Clock,
    *,
    batch: int = BATCH,
    claim_for: timedelta = CLAIM_FOR,
) -> int:
    """Claim due messages of one channel, deliver them and record the outcome; returns how many
    were settled (delivered or skipped)."""
    now = clock.now()
    async with session_maker() as session:
        await read_only(session)
        ids = list(
            await session.scalars(
                select(OutboxMessage.id)
                .where(_due(channel, now))
                .order_by(OutboxMessage.available_at, OutboxMessage.id)
                .limit(batch)
            )
        )
    if not ids:
        return 0
    async with session_maker() as session, session.begin():
        # The conditional UPDATE is the claim: of several processes reading the same ids, each
        # row goes to exactly one of them.
        claimed = (
            await session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id.in_(ids), _due(channel, now))
                .values(status=SENDING, claimed_until=now + claim_for)
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
    settled: dict[str, list[tuple[uuid.UUID, str | None]]] = {SENT: [], SKIPPED: []}
    failed: list[tuple[uuid.UUID, int, str, bool]] = []
    released: list[uuid.UUID] = []
    # Stop well before the claim runs out: past it another process may take the same rows.
    stop_at = now + claim_for * 3 / 4
    for row in claimed:
        if clock.now() >= stop_at:
            released.append(row.id)
            continue
        try:
            await deliver(Claimed(row.id, row.user_id, row.topic, row.payload, row.attempts))
        except Skipped as why:
            settled[SKIPPED].append((row.id, str(why)[:500] or None))
        except PermanentFailure as err:
            log.warning("%s delivery of outbox message %s failed for good: %s", channel, row.id, err)
            failed.append((row.id, row.attempts + 1, str(err)[:500], False))
        except Exception as err:
            log.warning("%s delivery of outbox message %s failed: %r", channel, row.id, err)
            failed.append((row.id, row.attempts + 1, repr(err)[:500], True))
        else:
            settled[SENT].append((row.id, None))
    done = clock.now()
    async with session_maker() as session, session.begin():
        for status, rows in settled.items():
            for message_id, note in rows:
                await session.execute(
                    update(OutboxMessage)
                    .where(OutboxMessage.id == message_id, OutboxMessage.status == SENDING)
                    .values(status=status, sent_at=done, claimed_until=None, last_error=note)
                    .execution_options(synchronize_session=False)
                )
        if released:
            # Not attempted: back to the queue as they were, for this or another process.
            await session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id.in_(released), OutboxMessage.status == SENDING)
                .values(status=PENDING, claimed_until=None)
                .execution_options(synchronize_session=False)
            )
        for message_id, attempts, error, retryable in failed:
            retry = retryable and attempts < MAX_ATTEMPTS
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
    return len(settled[SENT]) + len(settled[SKIPPED])


async def dispatch_once(
    session_maker: async_sessionmaker[AsyncSession], broker: Broker, clock: Clock, batch: int = BATCH
) -> int:
    """Claim due live messages, publish them and record the outcome; returns how many went out."""
    return await dispatch_channel(session_maker, LIVE, live_deliverer(broker), clock, batch=batch)


async def purge_sent(session: AsyncSession, *, now: datetime) -> int:
    """Delete messages delivered or skipped more than KEEP_SENT ago (the sweeper calls this)."""
    result = await session.execute(
        delete(OutboxMessage)
        .where(
            OutboxMessage.status.in_((SENT, SKIPPED)),
            OutboxMessage.available_at < now - KEEP_SENT,
        )
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0  # type: ignore[attr-defined]


class OutboxDispatcher:
    """Runs one channel's dispatch every `interval` seconds, and at once when woken after a commit."""

    def __init__(
        self,
        session_maker: async_sessionmaker[AsyncSession],
        broker: Broker,
        clock: Clock,
        *,
        interval: float = POLL_SECONDS,
        batch: int = BATCH,
        channel: str = LIVE,
        deliver: Deliver | None = None,
        claim_for: timedelta = CLAIM_FOR,
    ) -> None:
        self.session_maker = session_maker
        self.broker = broker
        self.clock = clock
        self.interval = interval
        self.batch = batch
        self.channel = channel
        self.deliver = deliver or live_deliverer(broker)
        self.claim_for = claim_for
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
                delivered = await dispatch_channel(
                    self.session_maker,
                    self.channel,
                    self.deliver,
                    self.clock,
                    batch=self.batch,
                    claim_for=self.claim_for,
                )
            except Exception:
                log.exception("%s outbox dispatch failed", self.channel)
                delivered = 0
            self.passes += 1
            if delivered >= self.batch:
                continue  # more may be waiting
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval)
            self._wake.clear()


@contextlib.asynccontextmanager
async def live_delivery(
    app: FastAPI, *others: OutboxDispatcher, dispatch: bool = True
) -> AsyncIterator[OutboxDispatcher]:
    """Start the broker, and (unless a separate worker process does it) run the live dispatcher
    and those of other channels (WeChat) for the app's lifetime."""
    dispatcher = OutboxDispatcher(app.state.sessionmaker, app.state.broker, app.state.clock)
    dispatchers = [dispatcher, *others] if dispatch else []
    app.state.dispatcher = dispatcher if dispatch else None
    await app.state.broker.start()

    def after_commit(info: Mapping[str, Any]) -> None:
        for d in dispatchers:
            d.after_commit(info)

    app.state.after_commit = after_commit if dispatch else None
    tasks = [asyncio.create_task(d.run(), name=f"linli-outbox-{d.channel}") for d in dispatchers]
    try:
        yield dispatcher
    finally:
        app.state.after_commit = None
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await app.state.broker.aclose()
