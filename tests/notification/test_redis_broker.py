"""RedisBroker: the live feed shared by several processes through Redis pub/sub (each broker here
stands for one process, with its own Redis connection)."""

import asyncio
import os
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from app.notification.outbox import LiveMessage, RedisBroker

REDIS_URL = os.environ.get("LINLI_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture
async def brokers() -> AsyncIterator[list[RedisBroker]]:
    clients = [aioredis.from_url(REDIS_URL, socket_connect_timeout=0.5) for _ in range(2)]
    try:
        await clients[0].ping()
    except (RedisError, OSError) as exc:
        if "LINLI_TEST_REDIS_URL" in os.environ:
            raise
        pytest.skip(f"Redis is not reachable at {REDIS_URL}: {exc!r}")
    made = [RedisBroker(c) for c in clients]
    for b in made:
        await b.start()
    await asyncio.gather(*(asyncio.wait_for(b.listening.wait(), 5) for b in made))
    yield made
    for b in made:
        await b.aclose()
    for c in clients:
        await c.aclose()


async def test_a_message_published_by_one_process_reaches_subscribers_on_every_process(
    brokers: list[RedisBroker],
) -> None:
    a, b = brokers
    user, other = uuid.uuid4(), uuid.uuid4()
    on_a, on_b, others = a.subscribe(user), b.subscribe(user), b.subscribe(other)
    await a.publish(user, LiveMessage(id="n1", kind="ticket.new", data={"number": "T1", "中文": "路灯"}))
    got_a = await asyncio.wait_for(on_a.get(), 5)
    got_b = await asyncio.wait_for(on_b.get(), 5)
    assert got_a == got_b == LiveMessage(id="n1", kind="ticket.new", data={"number": "T1", "中文": "路灯"})
    # Only that user's connections get it, once each.
    await a.publish(other, LiveMessage(id="n2", kind="ticket.claimed", data={}))
    assert (await asyncio.wait_for(others.get(), 5)).id == "n2"
    assert on_a.pending() == [] and on_b.pending() == []


async def test_unsubscribed_connections_get_nothing_and_unreadable_messages_are_skipped(
    brokers: list[RedisBroker],
) -> None:
    a, b = brokers
    user = uuid.uuid4()
    gone, stays = b.subscribe(user), b.subscribe(user)
    b.unsubscribe(gone)
    await a.redis.publish(RedisBroker.CHANNEL, "not json")
    await a.publish(user, LiveMessage(id="n3", kind="ticket.resolved", data={}))
    assert (await asyncio.wait_for(stays.get(), 5)).id == "n3"
    assert await gone.get() is None  # closed when unsubscribed
    assert b.subscriber_count(user) == 1
