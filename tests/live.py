"""The app on a database of its own, for tests of real concurrent requests.

The usual `client` fixture shares one rolled-back transaction, so requests through it cannot
overlap in the database. `live_app` builds the app on a fresh copy of the test database (SQLite
file or PostgreSQL database) with an injected clock; requests sent at once through its client
really run concurrently against the database.
"""

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx

from app.core.config import Settings
from app.main import create_app
from app.media.storage import InMemoryStorage
from app.user.models import User
from app.wechat.client import FakeWeChatClient
from tests.dbutil import DatabaseFactory
from tests.factories import World, bearer, make_world
from tests.fakes import FrozenClock


@dataclass
class Live:
    client: httpx.AsyncClient
    app: Any
    settings: Settings
    clock: FrozenClock

    def auth(self, user: User) -> dict[str, str]:
        return bearer(self.settings, self.clock, user)

    async def world(self) -> World:
        async with self.app.state.sessionmaker() as session:
            return await make_world(session)

    async def scalar(self, stmt: Any) -> Any:
        async with self.app.state.sessionmaker() as session:
            return await session.scalar(stmt)


L = TypeVar("L", bound=Live)


@contextlib.asynccontextmanager
async def live_app(databases: DatabaseFactory, tmp_path: Path, cls: type[L] = Live) -> AsyncIterator[L]:  # type: ignore[assignment]
    from tests.conftest import make_settings

    settings = make_settings(databases.copy(), tmp_path)
    clock = FrozenClock()
    app = create_app(settings, clock=clock, wechat=FakeWeChatClient(), storage=InMemoryStorage())
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://test"
        ) as client:
            yield cls(client, app, settings, clock)
    finally:
        await app.state.engine.dispose()
