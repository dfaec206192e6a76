"""Crash safety of ticket reports: the server (uvicorn subprocess) is SIGKILLed while concurrent
reports are in flight, restarted on the same database, and then

* every report acknowledged with 2xx before the kill is there, intact (id, number, description);
* retrying every report with its Idempotency-Key (acknowledged or not, twice at once) answers
  201 every time, on the first try: the twin that finds the key claimed waits for the other and
  gets its answer. The acknowledged ones get the original ticket; no report is stored twice.

Runs on SQLite (a migrated file) and, when LINLI_TEST_POSTGRES_URL is set, on PostgreSQL.
"""

import asyncio
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.clock import SystemClock
from app.core.db import create_engine
from app.core.idempotency import IdempotencyRecord
from app.ticket.models import Ticket
from tests import server as uvicorn
from tests.conftest import make_settings
from tests.dbutil import DatabaseFactory
from tests.factories import bearer, make_category, make_world

PG_URL = os.environ.get("LINLI_TEST_POSTGRES_URL")
ROOT = Path(__file__).resolve().parent.parent
JWT_SECRET = "crash-safety-test-secret-" + "x" * 32
TICKETS = "/api/v1/tickets"
ROUNDS = 3  # kills per backend
CLIENTS = 8  # concurrent reporting tasks
ACKS_BEFORE_KILL = 12  # per round, then the kill lands a few milliseconds later
Maker = async_sessionmaker[AsyncSession]

BACKENDS = [
    "sqlite",
    pytest.param("postgresql", marks=pytest.mark.skipif(not PG_URL, reason="needs LINLI_TEST_POSTGRES_URL")),
]


class Server:
    """`uvicorn app.main:app` on loopback; a new port on every start."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env, self.logs = env, logs
        self.proc: subprocess.Popen[bytes] | None = None
        self.base = ""
        self.starts = 0

    def start(self) -> None:
        port = uvicorn.free_port()
        self.starts += 1
        log = self.logs / f"server-{self.starts}.log"
        self.proc = uvicorn.start(port, self.env, log)
        self.base = f"http://127.0.0.1:{port}"
        uvicorn.wait_ready(self.base, self.proc, log)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)
        assert self.proc.returncode == -signal.SIGKILL

    def stop(self) -> None:
        if self.proc is not None:
            uvicorn.stop(self.proc)


@dataclass
class Report:
    key: str
    user: str
    body: dict[str, Any]
    round: int
    status: int | None = None  # None: no answer (the server died under it)
    ack: dict[str, Any] | None = None


@dataclass
class Stats:
    kills: int = 0
    sent: int = 0
    acked: int = 0
    in_flight_at_kill: list[int] = field(default_factory=list)
    committed_unacked: int = 0
    retry_answers: Counter = field(default_factory=Counter)  # type: ignore[type-arg]  # status -> count
    rows_checked: int = 0
    seconds: Counter = field(default_factory=Counter)  # type: ignore[type-arg]


@pytest.fixture(params=BACKENDS)
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    dbs = DatabaseFactory(request.param, workdir=tmp_path / "db", pg_url=PG_URL, worker=f"crash_{worker}")
    try:
        yield request.param, dbs.copy()
    finally:
        dbs.drop_all()


def _point() -> dict[str, Any]:
    # Spread over grid G1 of make_world (SW corner 108.950, 34.270; 0.004° square).
    return {"lat": 34.2705 + random.random() * 0.003, "lng": 108.9505 + random.random() * 0.003}


async def _fire(
    server: Server, headers: dict[str, dict[str, str]], category_id: str, rnd: int, stats: Stats
) -> list[Report]:
    """Several tasks report tickets until the server is killed under them; returns every attempt."""
    reports: list[Report] = []
    acked = asyncio.Event()
    dead = asyncio.Event()
    acks = 0

    async def client(n: int, http: httpx.AsyncClient) -> None:
        nonlocal acks
        i = 0
        while not dead.is_set():
            i += 1
            user = "resident" if n % 2 else "other"
            key = f"crash-{rnd}-{n}-{i}-{uuid.uuid4().hex[:8]}"
            body = {
                "category_id": category_id,
                "description": f"路灯不亮 {key}",
                "location": {**_point(), "coord_system": "wgs84"},
            }
            report = Report(key, user, body, rnd)
            reports.append(report)
            try:
                r = await http.post(TICKETS, json=body, headers={**headers[user], "Idempotency-Key": key})
            except httpx.TransportError:
                return  # killed under us: unacknowledged
            report.status = r.status_code
            assert r.status_code == 201, r.text  # a first attempt with a fresh key never fails
            report.ack = r.json()
            acks += 1
            if acks >= ACKS_BEFORE_KILL:
                acked.set()

    async def killer() -> None:
        await asyncio.wait_for(acked.wait(), 60)
        await asyncio.sleep(random.uniform(0.0, 0.03))
        stats.in_flight_at_kill.append(sum(1 for r in reports if r.status is None))
        await asyncio.to_thread(server.kill)
        dead.set()

    limits = httpx.Limits(max_connections=CLIENTS)
    async with httpx.AsyncClient(base_url=server.base, timeout=30, limits=limits, trust_env=False) as http:
        await asyncio.gather(killer(), *(client(n, http) for n in range(CLIENTS)))
    stats.kills += 1
    stats.sent += len(reports)
    stats.acked += sum(1 for r in reports if r.ack is not None)
    return reports


async def _tickets_by_description(maker: Maker, reports: list[Report]) -> dict[str, list[Ticket]]:
    wanted = {r.body["description"] for r in reports}
    async with maker() as session:
        rows = list(await session.scalars(select(Ticket).where(Ticket.description.like("路灯不亮 crash-%"))))
    found: dict[str, list[Ticket]] = {}
    for t in rows:
        assert t.description in wanted, f"a ticket nobody sent: {t.description}"
        found.setdefault(t.description, []).append(t)
    return found


async def _check_intact(
    server: Server, maker: Maker, headers: dict[str, dict[str, str]], reports: list[Report], stats: Stats
) -> None:
    """After a restart: every acknowledged report is stored as acknowledged, nothing twice."""
    found = await _tickets_by_description(maker, reports)
    assert all(len(ts) == 1 for ts in found.values()), {d: len(ts) for d, ts in found.items() if len(ts) > 1}
    async with httpx.AsyncClient(base_url=server.base, timeout=30, trust_env=False) as http:
        for report in reports:
            if report.ack is None:
                continue
            (ticket,) = found[report.body["description"]]
            assert str(ticket.id) == report.ack["id"]
            assert ticket.number == report.ack["number"]
            assert ticket.description == report.ack["description"] == report.body["description"]
            r = await http.get(f"{TICKETS}/{report.ack['id']}", headers=headers[report.user])
            assert r.status_code == 200, r.text
            got = r.json()
            assert (got["id"], got["number"], got["description"]) == (
                report.ack["id"],
                report.ack["number"],
                report.ack["description"],
            )
            stats.rows_checked += 1


async def _retry_all(
    server: Server, headers: dict[str, dict[str, str]], reports: list[Report], stats: Stats
) -> dict[str, set[str]]:
    """Send every report again with its key, twice at once, each once (no retrying of the retry)."""
    answers: dict[str, set[str]] = {}
    bodies: dict[str, set[str]] = {}
    gate = asyncio.Semaphore(16)

    async def once(http: httpx.AsyncClient, report: Report) -> None:
        async with gate:
            r = await http.post(
                TICKETS, json=report.body, headers={**headers[report.user], "Idempotency-Key": report.key}
            )
        stats.retry_answers[r.status_code] += 1
        if r.status_code == 201:
            answers.setdefault(report.key, set()).add(r.json()["id"])
            bodies.setdefault(report.key, set()).add(r.text)
            if report.ack is not None:
                assert r.json() == report.ack  # the original answer, not just the same ticket

    async with httpx.AsyncClient(base_url=server.base, timeout=60, trust_env=False) as http:
        await asyncio.gather(*(once(http, r) for r in reports for _ in range(2)))
    # Every retry was answered 201 (no 409 for the twin that found the key in flight), and both
    # twins got the same answer, byte for byte.
    assert stats.retry_answers == Counter({201: 2 * len(reports)}), stats.retry_answers
    assert all(len(b) == 1 for b in bodies.values())
    return answers


@pytest.mark.parametrize("rounds", [ROUNDS])
async def test_reports_survive_sigkill_and_retries_never_duplicate(
    database: tuple[str, str], tmp_path: Path, rounds: int, capsys: pytest.CaptureFixture[str]
) -> None:
    backend, url = database
    settings = make_settings(url, tmp_path, jwt={"secret": JWT_SECRET})
    engine = create_engine(settings.database)
    maker = async_sessionmaker(engine, expire_on_commit=False)
    async with maker() as session:
        world = await make_world(session)
        category = await make_category(session, world.s1, name="路灯", respond_minutes=10)
        await session.commit()
    headers = {
        "resident": bearer(settings, SystemClock(), world.resident),  # type: ignore[arg-type]
        "other": bearer(settings, SystemClock(), world.other_resident),  # type: ignore[arg-type]
    }
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "LINLI_ENV": "dev",
        "LINLI_JWT__SECRET": JWT_SECRET,
        "LINLI_RATE_LIMIT__ENABLED": "false",
        "LINLI_MEDIA__ROOT": str(tmp_path / "media"),
    }
    env.pop("REDIS_URL", None)
    server = Server(env, tmp_path)
    stats = Stats()
    reports: list[Report] = []
    try:
        await asyncio.to_thread(server.start)
        for rnd in range(rounds):
            t0 = time.monotonic()
            reports += await _fire(server, headers, str(category.id), rnd, stats)
            t1 = time.monotonic()
            await asyncio.to_thread(server.start)  # same database, after the SIGKILL
            t2 = time.monotonic()
            await _check_intact(server, maker, headers, reports, stats)
            stats.seconds.update(fire=t1 - t0, restart=t2 - t1, check=time.monotonic() - t2)

        before = await _tickets_by_description(maker, reports)
        acked_descriptions = {r.body["description"] for r in reports if r.ack is not None}
        stats.committed_unacked = len(set(before) - acked_descriptions)

        t0 = time.monotonic()
        answers = await _retry_all(server, headers, reports, stats)
        stats.seconds.update(retry=time.monotonic() - t0)
        for report in reports:
            ids = answers[report.key]
            assert len(ids) == 1, (report.key, ids)  # both concurrent retries got the same ticket
            if report.ack is not None:
                assert ids == {report.ack["id"]}
            elif report.body["description"] in before:
                # Committed but the answer was lost in the crash: the retry returns that ticket.
                assert ids == {str(before[report.body["description"]][0].id)}

        after = await _tickets_by_description(maker, reports)
        assert set(after) == {r.body["description"] for r in reports}  # every report exists ...
        assert all(len(ts) == 1 for ts in after.values())  # ... exactly once
        assert {str(ts[0].id) for ts in after.values()} == {i for ids in answers.values() for i in ids}
        numbers = [ts[0].number for ts in after.values()]
        assert len(set(numbers)) == len(numbers)
        async with maker() as session:
            keys = Counter(
                await session.scalars(
                    select(IdempotencyRecord.key).where(IdempotencyRecord.key.like("crash-%"))
                )
            )
            total = await session.scalar(select(func.count(Ticket.id)))
        assert keys == Counter({r.key: 1 for r in reports})
        assert total == len(reports)
        stats.rows_checked += len(after)
    finally:
        await asyncio.to_thread(server.stop)
        await engine.dispose()

    seconds = {k: round(v, 1) for k, v in stats.seconds.items()}
    with capsys.disabled():
        sys.stdout.write(
            f"\n[crash-safety {backend}] kills survived: {stats.kills}; reports sent: {stats.sent}, "
            f"acknowledged: {stats.acked}, in flight at each kill: {stats.in_flight_at_kill}, "
            f"committed but unacknowledged: {stats.committed_unacked}; rows checked: {stats.rows_checked}; "
            f"retry answers by status: {dict(stats.retry_answers)}; "
            f"seconds: {seconds}\n"
        )
    assert stats.kills == rounds and all(n > 0 for n in stats.in_flight_at_kill)
