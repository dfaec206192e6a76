"""The production profile for real: two API processes (uvicorn subprocesses on loopback) on one
PostgreSQL database and one Redis.

* A ticket created through process A reaches a grid worker whose SSE stream is open on process B
  (the live feed goes through Redis pub/sub).
* Both processes run the sweeper and the outbox: each response breach is notified once. (The
  subprocesses run on the real clock, so the test waits for their sweeps instead of advancing one.)

Needs LINLI_TEST_POSTGRES_URL and a Redis on loopback (LINLI_TEST_REDIS_URL, default
redis://127.0.0.1:6379/15); CI provides both.
"""

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import redis
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.clock import SystemClock
from app.core.config import Settings
from app.core.db import create_engine
from app.notification.models import Notification, OutboxMessage
from app.ticket.models import Ticket
from tests import server as uvicorn
from tests.conftest import make_settings
from tests.dbutil import DatabaseFactory
from tests.factories import World, bearer, make_category, make_world

PG_URL = os.environ.get("LINLI_TEST_POSTGRES_URL")
REDIS_URL = os.environ.get("LINLI_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
ROOT = Path(__file__).resolve().parent.parent
JWT_SECRET = "multiprocess-test-secret-" + "x" * 32
IN_G1 = {"lat": 34.272, "lng": 108.952, "coord_system": "wgs84"}
DEADLINE = timedelta(minutes=10)


def _redis_up() -> bool:
    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5).ping())
    except (redis.RedisError, OSError):
        return False


pytestmark = [
    pytest.mark.skipif(not PG_URL, reason="needs LINLI_TEST_POSTGRES_URL (PostgreSQL on loopback)"),
    pytest.mark.skipif(
        "LINLI_TEST_REDIS_URL" not in os.environ and not _redis_up(), reason="needs Redis on loopback"
    ),
]


@dataclass
class Cluster:
    url: str
    settings: Settings
    world: World
    category_id: str
    a: str  # base URLs of the two processes
    b: str
    maker: async_sessionmaker[AsyncSession]

    def auth(self, user) -> dict[str, str]:  # type: ignore[no-untyped-def]
        return bearer(self.settings, SystemClock(), user)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def pg_databases(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DatabaseFactory]:
    dbs = DatabaseFactory("postgresql", workdir=tmp_path_factory.mktemp("mp"), pg_url=PG_URL, worker="mp")
    yield dbs
    dbs.drop_all()


@pytest.fixture
def pg_database(pg_databases: DatabaseFactory) -> str:
    """A fresh migrated database per test (the worlds' grids would overlap in one)."""
    return pg_databases.copy()


@contextlib.asynccontextmanager
async def _cluster(
    pg_database: str, tmp_path: Path, *, background: bool, worker: bool
) -> AsyncIterator[Cluster]:
    redis.Redis.from_url(REDIS_URL).flushdb()
    settings = make_settings(pg_database, tmp_path, jwt={"secret": JWT_SECRET})
    engine = create_engine(settings.database)
    maker = async_sessionmaker(engine, expire_on_commit=False)
    async with maker() as session:
        world = await make_world(session)
        category = await make_category(session, world.s1, name="设施损坏", respond_minutes=10)
        await session.commit()
    env = {
        **os.environ,
        "DATABASE_URL": pg_database,
        "REDIS_URL": REDIS_URL,
        "LINLI_ENV": "dev",
        "LINLI_JWT__SECRET": JWT_SECRET,
        "LINLI_MEDIA__ROOT": str(tmp_path / "media"),
        "LINLI_TICKET__SWEEP_INTERVAL_SECONDS": "0.3",
        "LINLI_BACKGROUND": "true" if background else "false",
        "LINLI_RATE_LIMIT__LOGIN__PER_IP": "5",
    }
    ports = uvicorn.free_port(), uvicorn.free_port()
    logs = tmp_path / "a.log", tmp_path / "b.log"
    procs = [uvicorn.start(p, env, log) for p, log in zip(ports, logs, strict=True)]
    if worker:
        # The same command as the worker service in docker-compose.yml.
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "app.worker"],
                cwd=ROOT,
                env=env,
                stdout=(tmp_path / "worker.log").open("wb"),
                stderr=subprocess.STDOUT,
            )
        )
    try:
        bases = [f"http://127.0.0.1:{p}" for p in ports]
        for base, proc, log in zip(bases, procs, logs, strict=False):
            await asyncio.to_thread(uvicorn.wait_ready, base, proc, log)
        yield Cluster(pg_database, settings, world, str(category.id), bases[0], bases[1], maker)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        await engine.dispose()


@pytest.fixture
async def cluster(pg_database: str, tmp_path: Path) -> AsyncIterator[Cluster]:
    """Two API processes, each also dispatching the outbox and sweeping."""
    async with _cluster(pg_database, tmp_path, background=True, worker=False) as c:
        yield c


@pytest.fixture
async def split_cluster(pg_database: str, tmp_path: Path) -> AsyncIterator[Cluster]:
    """Two request-only API processes (LINLI_BACKGROUND=false) and one `python -m app.worker`."""
    async with _cluster(pg_database, tmp_path, background=False, worker=True) as c:
        yield c


async def _next_event(lines: AsyncIterator[str], kind: str) -> dict:  # type: ignore[type-arg]
    event = None
    async for line in lines:
        if line.startswith("event:"):
            event = line.split(":", 1)[1].strip()
        elif line.startswith("data:") and event == kind:
            return json.loads(line.split(":", 1)[1])
    raise AssertionError("stream ended")


async def _ticket_reaches_the_other_process(cluster: Cluster) -> None:
    w = cluster.world
    async with (
        httpx.AsyncClient(timeout=30) as http,
        http.stream("GET", f"{cluster.b}/api/v1/events", headers=cluster.auth(w.worker)) as stream,
    ):
        assert stream.status_code == 200
        lines = stream.aiter_lines()
        await asyncio.wait_for(_next_event(lines, "ready"), 10)
        r = await http.post(
            f"{cluster.a}/api/v1/tickets",
            json={
                "category_id": cluster.category_id,
                "description": "井盖破损，晚上很危险",
                "location": IN_G1,
            },
            headers=cluster.auth(w.resident),
        )
        assert r.status_code == 201, r.text
        data = await asyncio.wait_for(_next_event(lines, "ticket.new"), 15)
    assert data["ticket_id"] == r.json()["id"]
    assert data["data"]["number"] == r.json()["number"]


async def test_a_ticket_created_on_one_process_reaches_a_worker_streaming_from_the_other(
    cluster: Cluster,
) -> None:
    await _ticket_reaches_the_other_process(cluster)


async def test_with_a_separate_worker_process_the_request_only_api_processes_still_stream_events(
    split_cluster: Cluster,
) -> None:
    # Neither API process dispatches the outbox: the worker does, and Redis carries it to B.
    await _ticket_reaches_the_other_process(split_cluster)


async def test_both_sweepers_run_yet_each_breach_is_notified_once(cluster: Cluster) -> None:
    w = cluster.world
    ids = []
    async with httpx.AsyncClient(timeout=30) as http:
        for i in range(6):
            r = await http.post(
                f"{cluster.a if i % 2 else cluster.b}/api/v1/tickets",
                json={"category_id": cluster.category_id, "description": f"路灯不亮 {i}", "location": IN_G1},
                headers=cluster.auth(w.resident),
            )
            assert r.status_code == 201, r.text
            ids.append(r.json()["id"])
    # Eleven minutes pass for these tickets: their 10-minute response deadline is behind them.
    past = datetime.now(UTC) - timedelta(minutes=11)
    async with cluster.maker() as session, session.begin():
        await session.execute(
            update(Ticket)
            .where(Ticket.id.in_(ids))
            .values(
                submitted_at=past,
                respond_by=past + timedelta(minutes=10),
                next_due_at=past + timedelta(minutes=10),
            )
        )

    async def overdue_notes() -> list[tuple]:  # type: ignore[type-arg]
        async with cluster.maker() as session:
            rows = await session.execute(
                select(Notification.ticket_id, Notification.user_id).where(
                    Notification.kind == "ticket.response_overdue", Notification.ticket_id.in_(ids)
                )
            )
            return list(rows.all())

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and len({t for t, _ in await overdue_notes()}) < len(ids):
        await asyncio.sleep(0.2)
    # Both sweepers (every 0.3 s) keep running: give them many more passes to double up, if they could.
    await asyncio.sleep(3)
    notes = await overdue_notes()
    assert {t for t, _ in notes} == {uuid.UUID(i) for i in ids}
    assert len(notes) == len(set(notes)), "a breach was notified twice"
    async with cluster.maker() as session:
        levels = list(await session.scalars(select(Ticket.response_alert_level).where(Ticket.id.in_(ids))))
        pending = await session.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.channel == "live", OutboxMessage.status.in_(("pending", "sending")))
        )
    assert levels == [1] * len(ids)
    assert pending == 0


async def test_rate_limits_are_counted_across_processes(cluster: Cluster) -> None:
    # The processes count per wall-clock minute: start well inside one.
    left = 60 - time.time() % 60
    if left < 20:
        await asyncio.sleep(left + 0.5)
    async with httpx.AsyncClient(timeout=30) as http:
        codes = []
        for i in range(7):
            base = cluster.a if i % 2 else cluster.b
            r = await http.post(f"{base}/api/v1/auth/wechat/login", json={"code": f"ok:mp_user_{i}"})
            codes.append(r.status_code)
    # Five logins a minute from one address, wherever they land.
    assert codes[:5] == [200] * 5 and codes[5:] == [429, 429]
    assert r.json()["code"] == "request.rate_limited" and "Retry-After" in r.headers
