"""Real concurrent requests against a real engine (no shared test transaction).

SQLite must not answer "database is locked" under concurrent writes, and rules that allow one
winner must hold on both databases.
"""

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import func, select

from app.main import create_app
from app.media.storage import InMemoryStorage
from app.user.models import User
from app.wechat.client import FakeWeChatClient
from tests.conftest import make_settings
from tests.dbutil import DatabaseFactory
from tests.fakes import FrozenClock


@pytest.fixture
async def live(databases: DatabaseFactory, tmp_path) -> AsyncIterator[tuple[httpx.AsyncClient, object]]:  # type: ignore[no-untyped-def]
    app = create_app(
        make_settings(databases.copy(), tmp_path),
        clock=FrozenClock(),
        wechat=FakeWeChatClient(),
        storage=InMemoryStorage(),
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        yield client, app
    await app.state.engine.dispose()


async def test_concurrent_writes_all_succeed(live) -> None:  # type: ignore[no-untyped-def]
    client, app = live
    n = 40
    logins = [client.post("/api/v1/auth/wechat/login", json={"code": f"ok:crowd-{i}"}) for i in range(n)]
    reads = [client.get("/readyz") for _ in range(10)]
    results = await asyncio.gather(*logins, *reads)
    assert [r.status_code for r in results] == [200] * (n + 10), [
        r.text for r in results if r.status_code != 200
    ]
    async with app.state.sessionmaker() as session:
        assert await session.scalar(select(func.count(User.id))) == n


async def test_concurrent_refresh_of_one_token_has_exactly_one_winner(live) -> None:  # type: ignore[no-untyped-def]
    client, _ = live
    body = (await client.post("/api/v1/auth/wechat/login", json={"code": "ok:racer"})).json()
    results = await asyncio.gather(
        *(
            client.post("/api/v1/auth/refresh", json={"refresh_token": body["refresh_token"]})
            for _ in range(10)
        )
    )
    codes = sorted(r.status_code for r in results)
    assert codes == [200] + [401] * 9, [r.text for r in results]
    # The first loser revokes the family; later ones find it revoked already.
    losers = {r.json()["code"] for r in results if r.status_code == 401}
    assert "auth.refresh_reused" in losers
    assert losers <= {"auth.refresh_reused", "auth.refresh_invalid"}
