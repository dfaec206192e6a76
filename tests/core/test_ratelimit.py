"""Rate limits: per signed-in user and per client IP, per minute, with the error envelope and
Retry-After; counters in Redis are shared by every process."""

import os
import uuid
from datetime import timedelta

import pytest
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from app.core.ratelimit import Limit, MemoryCounter, RateLimited, RedisCounter, check, window
from app.main import create_app
from app.media.storage import InMemoryStorage
from app.wechat.client import FakeWeChatClient
from tests.conftest import make_settings
from tests.factories import bearer, make_category, make_world
from tests.fakes import FrozenClock

REDIS_URL = os.environ.get("LINLI_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
IN_G1 = {"lat": 34.272, "lng": 108.952, "coord_system": "wgs84"}


def test_windows_are_whole_minutes() -> None:
    clock = FrozenClock()
    start, retry = window(clock.now() + timedelta(seconds=42))
    assert start % 60 == 0 and retry == 18


async def test_over_the_user_limit_is_refused_until_the_next_minute() -> None:
    clock, counter, user = FrozenClock(), MemoryCounter(), uuid.uuid4()
    limit = Limit(per_user=3, per_ip=0)
    for _ in range(3):
        await check(counter, group="create", limit=limit, user_id=user, ip="10.0.0.1", now=clock.now())
    with pytest.raises(RateLimited) as err:
        await check(counter, group="create", limit=limit, user_id=user, ip="10.0.0.1", now=clock.now())
    assert err.value.headers == {"Retry-After": "60"} and err.value.status_code == 429
    # Someone else is not affected; the next minute starts afresh.
    await check(counter, group="create", limit=limit, user_id=uuid.uuid4(), ip="10.0.0.1", now=clock.now())
    clock.advance(timedelta(minutes=1))
    await check(counter, group="create", limit=limit, user_id=user, ip="10.0.0.1", now=clock.now())


async def test_the_ip_limit_counts_everyone_behind_one_address() -> None:
    clock, counter = FrozenClock(), MemoryCounter()
    limit = Limit(per_user=100, per_ip=2)
    await check(counter, group="login", limit=limit, user_id=None, ip="10.0.0.9", now=clock.now())
    await check(counter, group="login", limit=limit, user_id=None, ip="10.0.0.9", now=clock.now())
    with pytest.raises(RateLimited):
        await check(counter, group="login", limit=limit, user_id=None, ip="10.0.0.9", now=clock.now())
    await check(counter, group="login", limit=limit, user_id=None, ip="10.0.0.10", now=clock.now())


async def test_redis_counters_are_shared_by_processes() -> None:
    clients = [aioredis.from_url(REDIS_URL, socket_connect_timeout=0.5) for _ in range(2)]
    try:
        await clients[0].ping()
    except (RedisError, OSError) as exc:
        if "LINLI_TEST_REDIS_URL" in os.environ:
            raise
        pytest.skip(f"Redis is not reachable: {exc!r}")
    try:
        a, b = (RedisCounter(c) for c in clients)
        clock, user, limit = FrozenClock(), uuid.uuid4(), Limit(per_user=4, per_ip=0)
        for counter in (a, b, a, b):
            await check(counter, group="upload", limit=limit, user_id=user, ip=None, now=clock.now())
        with pytest.raises(RateLimited):
            await check(b, group="upload", limit=limit, user_id=user, ip=None, now=clock.now())
    finally:
        for c in clients:
            await c.aclose()


async def test_a_limiter_that_is_down_lets_requests_through() -> None:
    class Down:
        async def hit(self, key: str, window_start: int) -> int:
            raise ConnectionError("redis is down")

    await check(
        Down(), group="create", limit=Limit(1, 1), user_id=uuid.uuid4(), ip="1.2.3.4", now=FrozenClock().now()
    )


async def test_the_api_answers_429_with_the_envelope_and_nothing_is_stored(
    databases, tmp_path, backend
) -> None:  # type: ignore[no-untyped-def]
    import httpx
    from sqlalchemy import func, select

    from app.ticket.models import Ticket

    settings = make_settings(
        databases.copy(),
        tmp_path,
        rate_limit={"enabled": True, "create": {"per_user": 2, "per_ip": 100}, "login": {"per_ip": 3}},
    )
    clock = FrozenClock()
    app = create_app(settings, clock=clock, wechat=FakeWeChatClient(), storage=InMemoryStorage())
    async with app.state.sessionmaker() as session:
        w = await make_world(session)
        category = await make_category(session, w.s1, name="设施损坏")
        await session.commit()
    headers = bearer(settings, clock, w.resident)
    body = {"category_id": str(category.id), "description": "井盖破损", "location": IN_G1}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        codes = [
            (await client.post("/api/v1/tickets", json=body, headers=headers)).status_code for _ in range(2)
        ]
        r = await client.post("/api/v1/tickets", json=body, headers=headers)
        assert codes == [201, 201]
        assert r.status_code == 429
        assert r.json()["code"] == "request.rate_limited" and r.json()["message"]
        assert int(r.headers["Retry-After"]) == 60 - clock.now().second
        # Another resident may still report.
        other = await client.post(
            "/api/v1/tickets", json=body, headers=bearer(settings, clock, w.other_resident)
        )
        assert other.status_code != 429
        # Logins are limited per IP, before WeChat is asked.
        logins = [
            (await client.post("/api/v1/auth/wechat/login", json={"code": f"ok:u{i}"})).status_code
            for i in range(4)
        ]
        assert logins == [200, 200, 200, 429]
        clock.advance(timedelta(minutes=1))
        assert (await client.post("/api/v1/tickets", json=body, headers=headers)).status_code == 201
    async with app.state.sessionmaker() as session:
        assert (
            await session.scalar(
                select(func.count()).select_from(Ticket).where(Ticket.reporter_id == w.resident.id)
            )
            == 3
        )
    await app.state.engine.dispose()
