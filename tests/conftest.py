"""Test harness.

Every test that touches the database runs once per backend: SQLite always, PostgreSQL too when
LINLI_TEST_POSTGRES_URL is set (CI sets it). Databases are built by the Alembic migrations. Each
test runs inside an outer transaction that is rolled back; the app's own unit of work runs
against it through savepoints (join_transaction_mode="create_savepoint").
"""

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from app.core.config import Settings
from app.core.db import create_engine
from app.main import create_app
from app.media.storage import InMemoryStorage
from app.wechat.client import FakeWeChatClient
from tests.dbutil import DatabaseFactory
from tests.fakes import FrozenClock
from tests.live import Live, live_app

PG_URL = os.environ.get("LINLI_TEST_POSTGRES_URL")
BACKENDS = ["sqlite", *(["postgresql"] if PG_URL else [])]


def make_settings(url: str, tmp: Path | None = None, **overrides: object) -> Settings:
    """Test settings: cheap password hashing, explicit database, no .env file."""
    values: dict[str, object] = {
        "env": "test",
        "DATABASE_URL": url,
        "password": {"time_cost": 1, "memory_cost_kib": 8, "parallelism": 1},
        "media": {"root": str(tmp or Path("/nonexistent"))},
        # No background sweeper in tests: they call app.ticket.jobs.sweep() with a frozen clock.
        "ticket": {"sweep_interval_seconds": 0},
        # A frozen clock is one endless minute: tests/core/test_ratelimit.py turns the limits on.
        "rate_limit": {"enabled": False},
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture(scope="session", params=BACKENDS)
def databases(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DatabaseFactory]:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    dbs = DatabaseFactory(
        request.param, workdir=tmp_path_factory.mktemp(f"db_{request.param}"), pg_url=PG_URL, worker=worker
    )
    yield dbs
    dbs.drop_all()


@pytest.fixture(scope="session")
def backend(databases: DatabaseFactory) -> str:
    return databases.backend


@pytest.fixture(scope="session")
def database_url(databases: DatabaseFactory) -> str:
    return databases.copy()


@pytest.fixture(scope="session")
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    eng = create_engine(make_settings(database_url).database)
    yield eng
    await eng.dispose()


@pytest.fixture
async def connection(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    async with engine.connect() as conn:
        outer = await conn.begin()
        yield conn
        await outer.rollback()


@pytest.fixture
def maker(connection: AsyncConnection) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(
        bind=connection, expire_on_commit=False, join_transaction_mode="create_savepoint"
    )


@pytest.fixture
async def session(maker: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """A session for arranging data; flush or commit (a savepoint) before calling the app."""
    async with maker() as s:
        yield s


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def storage() -> InMemoryStorage:
    return InMemoryStorage()


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return make_settings(database_url, tmp_path)


@pytest.fixture
def app(
    settings: Settings, maker: async_sessionmaker[AsyncSession], clock: FrozenClock, storage: InMemoryStorage
):  # type: ignore[no-untyped-def]
    application = create_app(settings, clock=clock, wechat=FakeWeChatClient(), storage=storage)
    application.state.sessionmaker = maker
    return application


@pytest.fixture
async def client(app) -> AsyncIterator[httpx.AsyncClient]:  # type: ignore[no-untyped-def]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as c:
        yield c


@pytest.fixture
async def live(databases: DatabaseFactory, tmp_path: Path) -> AsyncIterator[Live]:
    """The app on a fresh database of its own, for real concurrent requests (tests/live.py)."""
    async with live_app(databases, tmp_path) as app:
        yield app
