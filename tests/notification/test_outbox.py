"""Live delivery: the broker's fan-out and bounded queues, and the dispatcher that claims,
publishes, retries and gives up, without ever touching the inbox row."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update

from app.core.db import create_engine, create_sessionmaker
from app.notification import outbox
from app.notification.models import Notification, OutboxMessage
from app.notification.outbox import InProcessBroker, LiveMessage, OutboxDispatcher, dispatch_once
from app.notification.service import OUTBOX_PENDING_KEY, notify
from tests.conftest import make_settings
from tests.dbutil import DatabaseFactory
from tests.factories import make_world
from tests.fakes import FrozenClock


def message(n: int = 0) -> LiveMessage:
    return LiveMessage(id=str(n), kind="ticket.new", data={"n": n})


class FailingBroker(InProcessBroker):
    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    async def publish(self, user_id: uuid.UUID, message: LiveMessage) -> None:
        self.calls += 1
        raise ConnectionError("redis is down")


async def send(session, users, clock, kind: str = "ticket.new") -> list[uuid.UUID]:  # type: ignore[no-untyped-def]
    """Notify users in one committed transaction; returns their notification ids."""
    await notify(
        session,
        user_ids=[u.id for u in users],
        kind=kind,
        title="新的随手拍问题",
        now=clock.now(),
        body="T2026 井盖破损",
        data={"number": "T20261122000001"},
    )
    await session.commit()
    return list(
        await session.scalars(select(Notification.id).where(Notification.user_id.in_([u.id for u in users])))
    )


async def outbox_row(session, user) -> OutboxMessage:  # type: ignore[no-untyped-def]
    row = await session.scalar(
        select(OutboxMessage)
        .where(OutboxMessage.user_id == user.id)
        .execution_options(populate_existing=True)
    )
    assert row is not None
    return row


class TestBroker:
    async def test_publish_reaches_every_connection_of_that_user_only(self) -> None:
        broker = InProcessBroker()
        me, other = uuid.uuid4(), uuid.uuid4()
        phone, desk, theirs = broker.subscribe(me), broker.subscribe(me), broker.subscribe(other)
        await broker.publish(me, message(1))
        assert phone.pending() == desk.pending() == [message(1)]
        assert theirs.pending() == []

    async def test_a_slow_subscriber_loses_its_oldest_messages(self) -> None:
        broker = InProcessBroker(queue_size=3)
        sub = broker.subscribe(me := uuid.uuid4())
        for n in range(5):
            await broker.publish(me, message(n))
        assert [m.id for m in sub.pending()] == ["2", "3", "4"]
        assert sub.dropped == 2

    async def test_unsubscribing_ends_the_stream_and_stops_delivery(self) -> None:
        broker = InProcessBroker()
        sub = broker.subscribe(me := uuid.uuid4())
        waiter = asyncio.create_task(sub.get())
        await asyncio.sleep(0)
        broker.unsubscribe(sub)
        assert await asyncio.wait_for(waiter, 2) is None
        await broker.publish(me, message())
        assert broker.subscriber_count(me) == 0 and sub.pending() == []

    async def test_closing_the_broker_ends_every_stream(self) -> None:
        broker = InProcessBroker()
        subs = [broker.subscribe(uuid.uuid4()) for _ in range(3)]
        await broker.aclose()
        assert [await asyncio.wait_for(s.get(), 2) for s in subs] == [None, None, None]

    def test_backoff_doubles_and_is_capped(self) -> None:
        assert [outbox.backoff(n).total_seconds() for n in (1, 2, 3)] == [2, 4, 8]
        assert outbox.backoff(30) == outbox.BACKOFF_MAX


class TestDispatcher:
    async def test_delivers_to_the_users_open_connection_and_marks_it_sent(
        self, session, maker, clock, w
    ) -> None:
        broker = InProcessBroker()
        sub = broker.subscribe(w.worker.id)
        [note_id] = await send(session, [w.worker], clock)

        assert await dispatch_once(maker, broker, clock) == 1
        [got] = sub.pending()
        assert got.id == str(note_id) and got.kind == "ticket.new"
        assert got.data["title"] == "新的随手拍问题" and got.data["data"] == {"number": "T20261122000001"}
        row = await outbox_row(session, w.worker)
        assert (row.status, row.sent_at, row.attempts, row.claimed_until) == ("sent", clock.now(), 0, None)

        assert await dispatch_once(maker, broker, clock) == 0
        assert sub.pending() == []

    async def test_a_user_with_no_open_connection_is_marked_sent_and_keeps_the_inbox_copy(
        self, session, maker, clock, w
    ) -> None:
        await send(session, [w.resident], clock)
        assert await dispatch_once(maker, InProcessBroker(), clock) == 1
        assert (await outbox_row(session, w.resident)).status == "sent"
        assert await session.scalar(select(func.count()).where(Notification.user_id == w.resident.id)) == 1

    async def test_messages_not_yet_available_wait(self, session, maker, clock, w) -> None:
        await send(session, [w.worker], clock)
        await session.execute(update(OutboxMessage).values(available_at=clock.now() + timedelta(seconds=5)))
        await session.commit()
        assert await dispatch_once(maker, InProcessBroker(), clock) == 0
        clock.advance(timedelta(seconds=5))
        assert await dispatch_once(maker, InProcessBroker(), clock) == 1

    async def test_a_failed_publish_is_retried_later_and_the_inbox_row_stays(
        self, session, maker, clock, w
    ) -> None:
        [note_id] = await send(session, [w.worker], clock)
        failing = FailingBroker()
        assert await dispatch_once(maker, failing, clock) == 0
        assert failing.calls == 1
        row = await outbox_row(session, w.worker)
        assert (row.status, row.attempts) == ("pending", 1)
        assert row.available_at == clock.now() + timedelta(seconds=2)
        assert "redis is down" in row.last_error
        assert await session.get(Notification, note_id) is not None

        broker = InProcessBroker()
        sub = broker.subscribe(w.worker.id)
        assert await dispatch_once(maker, broker, clock) == 0  # backing off
        clock.advance(timedelta(seconds=2))
        assert await dispatch_once(maker, broker, clock) == 1
        assert [m.id for m in sub.pending()] == [str(note_id)]
        assert (await outbox_row(session, w.worker)).status == "sent"

    async def test_gives_up_after_max_attempts(self, session, maker, clock, w) -> None:
        [note_id] = await send(session, [w.worker], clock)
        failing = FailingBroker()
        for _ in range(outbox.MAX_ATTEMPTS + 2):
            await dispatch_once(maker, failing, clock)
            clock.advance(outbox.BACKOFF_MAX)
        assert failing.calls == outbox.MAX_ATTEMPTS
        row = await outbox_row(session, w.worker)
        assert (row.status, row.attempts) == ("failed", outbox.MAX_ATTEMPTS)
        note = await session.get(Notification, note_id)
        assert note is not None and note.read_at is None

    async def test_a_claim_left_by_a_crashed_dispatcher_is_taken_over_when_it_expires(
        self, session, maker, clock, w
    ) -> None:
        await send(session, [w.worker], clock)
        await session.execute(
            update(OutboxMessage).values(status="sending", claimed_until=clock.now() + outbox.CLAIM_FOR)
        )
        await session.commit()
        broker = InProcessBroker()
        sub = broker.subscribe(w.worker.id)
        assert await dispatch_once(maker, broker, clock) == 0
        clock.advance(outbox.CLAIM_FOR + timedelta(seconds=1))
        assert await dispatch_once(maker, broker, clock) == 1
        assert len(sub.pending()) == 1

    async def test_batches_are_bounded(self, session, maker, clock, w) -> None:
        users = [w.worker, w.resident, w.c1_admin, w.sub_admin, w.dept_staff]
        await send(session, users, clock)
        broker = InProcessBroker()
        assert await dispatch_once(maker, broker, clock, batch=2) == 2
        assert await dispatch_once(maker, broker, clock, batch=2) == 2
        assert await dispatch_once(maker, broker, clock, batch=2) == 1
        assert await dispatch_once(maker, broker, clock, batch=2) == 0


class TestWakeUp:
    async def test_a_committed_request_that_queued_notifications_calls_after_commit(
        self, app, client, w, auth
    ) -> None:
        seen: list[dict[str, Any]] = []
        app.state.after_commit = lambda info: seen.append(dict(info))
        await client.get("/api/v1/notifications", headers=auth(w.worker))
        assert seen and not seen[-1].get(OUTBOX_PENDING_KEY)

        from tests.factories import make_category

        async with app.state.sessionmaker() as s:
            category = await make_category(s, w.s1)
            await s.commit()
        body = {
            "category_id": str(category.id),
            "description": "楼道灯坏了",
            "location": {"lat": 34.272, "lng": 108.952, "coord_system": "wgs84"},
        }
        r = await client.post("/api/v1/tickets", json=body, headers=auth(w.resident))
        assert r.status_code == 201, r.text
        assert seen[-1].get(OUTBOX_PENDING_KEY) is True


# --- several dispatchers at once, on a real engine ----------------------------------------


@pytest.fixture
async def live_maker(databases: DatabaseFactory, tmp_path) -> AsyncIterator[Any]:  # type: ignore[no-untyped-def]
    engine = create_engine(make_settings(databases.copy(), tmp_path).database)
    yield create_sessionmaker(engine)
    await engine.dispose()


async def test_concurrent_dispatchers_deliver_each_message_once(live_maker) -> None:  # type: ignore[no-untyped-def]
    clock = FrozenClock()
    async with live_maker() as session:
        w = await make_world(session)
        users = [w.worker, w.resident, w.c1_admin, w.c2_admin, w.sub_admin, w.dept_staff, w.superadmin]
        for _ in range(10):
            await notify(
                session, user_ids=[u.id for u in users], kind="ticket.new", title="t", now=clock.now()
            )
        await session.commit()
    broker = InProcessBroker(queue_size=1000)
    subs = {u.id: broker.subscribe(u.id) for u in users}
    makers = [create_sessionmaker(live_maker.kw["bind"]) for _ in range(3)]
    totals = await asyncio.gather(*(dispatch_once(m, broker, clock, batch=100) for m in makers))
    assert sum(totals) == 70
    assert all(len({m.id for m in s.pending()}) == 10 for s in subs.values())
    async with live_maker() as session:
        statuses = set(await session.scalars(select(OutboxMessage.status)))
    assert statuses == {"sent"}


async def test_the_running_dispatcher_delivers_as_soon_as_it_is_woken(live_maker) -> None:  # type: ignore[no-untyped-def]
    clock = FrozenClock()
    async with live_maker() as session:
        w = await make_world(session)
    broker = InProcessBroker()
    sub = broker.subscribe(w.worker.id)
    dispatcher = OutboxDispatcher(live_maker, broker, clock, interval=3600)
    task = asyncio.create_task(dispatcher.run())
    try:

        async def idle() -> None:
            while dispatcher.passes == 0:
                await asyncio.sleep(0.01)

        await asyncio.wait_for(idle(), 5)  # the first pass found nothing; now it waits an hour
        async with live_maker() as session:
            await notify(session, user_ids=[w.worker.id], kind="ticket.new", title="t", now=clock.now())
            await session.commit()
            dispatcher.after_commit(session.info)
        got = await asyncio.wait_for(sub.get(), 5)
        assert got is not None and got.kind == "ticket.new"
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
