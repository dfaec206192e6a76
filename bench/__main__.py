"""Benchmark the API on loopback: `python -m bench --tickets 100000` (or `make bench`).

Seeds a database with the demo subdistrict and N tickets (SQLite under var/bench/, or with
`--database postgresql` a dedicated PostgreSQL database, linli_bench_<N> by default, loaded with
COPY), starts the server as a separate process and drives it with wrk (installed from Debian's
packages if missing): the /healthz "hello" ceiling, ticket create, ticket detail, a worker's queue
and claim. Prints rps, p50/p95/p99, errors and each endpoint's rps as a ratio of the hello ceiling
measured in the same round. `--workers 1,2` measures every worker count in each round (uvicorn
--workers; each process runs its own sweeper and outbox dispatcher) and prints the scaling factor;
`--rounds 3` repeats the whole set and reports medians.

Then it times, in-process against the seeded database, the worker queue and ticket detail (200
calls each: the auth query plus the handler's queries and views, no HTTP) and the KPI query for a
subdistrict month; one sweeper tick; the server's peak RSS during the load and during a full CSV
export. `--sse N` opens N concurrent SSE streams (GET /api/v1/events) to one server process,
checks each got its `ready` event and a notification fanned out to all of them, and reports the
process's RSS before and after (memory per connection).
"""

import argparse
import asyncio
import contextlib
import json
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
JWT_SECRET = "bench-secret-" + "x" * 32
PG_DEFAULT = "postgresql+asyncpg://postgres@127.0.0.1:5432/linli_bench_{tickets}"
# Databases the benchmark may create, drop and reseed; any other name is only reused if seeded.
PG_OWN_PREFIX = "linli_bench"
PG_REFUSED = frozenset({"test", "postgres", "template0", "template1"})
META_TABLE = "_bench_meta"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("installing wrk from Debian's packages …", flush=True)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env, stdout=subprocess.DEVNULL)
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "wrk"], check=True, env=env, stdout=subprocess.DEVNULL
        )
        found = shutil.which("wrk")
    if not found:
        sys.exit("wrk is needed: apt-get install wrk")
    return found


def _settings(db_url: str):  # type: ignore[no-untyped-def]
    from app.core.config import Settings

    return Settings(
        _env_file=None,
        env="dev",
        DATABASE_URL=db_url,  # type: ignore[call-arg]
        jwt={"secret": JWT_SECRET, "access_ttl_seconds": 6 * 3600},
    )


# --- the database under test -------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    backend: str  # sqlite | postgresql
    url: str
    label: str

    @property
    def pg(self) -> bool:
        return self.backend == "postgresql"


def _target(args: argparse.Namespace) -> Target:
    if args.database == "sqlite":
        path = args.workdir / f"bench-{args.tickets}.db"
        return Target("sqlite", f"sqlite+aiosqlite:///{path}", f"SQLite {path}")
    from sqlalchemy.engine import make_url

    url = make_url(args.pg_url or PG_DEFAULT.format(tickets=args.tickets))
    if url.get_backend_name() != "postgresql":
        sys.exit(f"--pg-url must be a postgresql URL, not {url.get_backend_name()}")
    if url.drivername != "postgresql+asyncpg":
        url = url.set(drivername="postgresql+asyncpg")
    if not url.database or url.database in PG_REFUSED:
        sys.exit(f"refusing to benchmark in the database {url.database!r}: pick a dedicated one")
    return Target("postgresql", url.render_as_string(hide_password=False), f"PostgreSQL {url.database}")


def _pg_dsn(url: str, database: str | None = None) -> str:
    from sqlalchemy.engine import make_url

    u = make_url(url).set(drivername="postgresql")
    if database:
        u = u.set(database=database)
    return u.render_as_string(hide_password=False)


def _migrate(url: str) -> None:
    from alembic import command
    from alembic.config import Config

    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.attributes["database_url"] = url
    cfg.attributes["configure_logging"] = False
    command.upgrade(cfg, "head")


def prepare(target: Target, workdir: Path, n: int, claim_pool: int) -> dict[str, Any]:
    """Migrate and seed (once per database); returns the ids the load scripts use."""
    if target.pg:
        return _prepare_pg(target, n, claim_pool)
    db_path = workdir / f"bench-{n}.db"
    meta_path = db_path.with_suffix(".json")
    if db_path.exists() and meta_path.exists():
        print(f"reusing {db_path}", flush=True)
        _migrate(target.url)
        return json.loads(meta_path.read_text())
    db_path.parent.mkdir(parents=True, exist_ok=True)
    db_path.unlink(missing_ok=True)
    _migrate(target.url)

    async def _seed() -> dict[str, Any]:
        from app.core.db import create_engine, create_sessionmaker
        from app.core.security import PasswordHashing
        from bench.seed import seed

        settings = _settings(target.url)
        engine = create_engine(settings.database)
        try:
            async with create_sessionmaker(engine)() as session:
                meta = await seed(
                    session,
                    PasswordHashing(settings.password),
                    n=n,
                    now=datetime.now(UTC),
                    claim_pool=claim_pool,
                )
                await session.commit()
            async with engine.connect() as conn:
                await conn.exec_driver_sql("ANALYZE")
                await conn.commit()
        finally:
            await engine.dispose()
        return meta

    t0 = time.perf_counter()
    meta = asyncio.run(_seed())
    print(f"seeded {n} tickets (+{claim_pool} to claim) in {time.perf_counter() - t0:.0f} s", flush=True)
    meta_path.write_text(json.dumps(meta))
    return meta


def _prepare_pg(target: Target, n: int, claim_pool: int) -> dict[str, Any]:
    import asyncpg
    from sqlalchemy.engine import make_url

    dbname = make_url(target.url).database
    assert dbname and dbname not in PG_REFUSED

    async def _state() -> tuple[bool, dict[str, Any] | None]:
        admin = await asyncpg.connect(_pg_dsn(target.url, "postgres"))
        try:
            exists = await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", dbname)
        finally:
            await admin.close()
        if not exists:
            return False, None
        conn = await asyncpg.connect(_pg_dsn(target.url))
        try:
            if await conn.fetchval("SELECT to_regclass($1)", META_TABLE) is None:
                return True, None
            row = await conn.fetchrow(f"SELECT tickets, claim_pool, meta FROM {META_TABLE}")
        finally:
            await conn.close()
        if row is None or (row["tickets"], row["claim_pool"]) != (n, claim_pool):
            return True, None
        return True, json.loads(row["meta"])

    async def _recreate(exists: bool) -> None:
        admin = await asyncpg.connect(_pg_dsn(target.url, "postgres"))
        try:
            if exists:
                await admin.execute(f'DROP DATABASE "{dbname}" WITH (FORCE)')
            await admin.execute(f'CREATE DATABASE "{dbname}"')
        finally:
            await admin.close()

    exists, meta = asyncio.run(_state())
    if meta is not None:
        print(f"reusing PostgreSQL database {dbname}", flush=True)
        _migrate(target.url)
        return meta
    if exists and not dbname.startswith(PG_OWN_PREFIX):
        sys.exit(
            f"database {dbname} exists but was not seeded by the benchmark for {n} tickets; "
            f"the benchmark only drops and reseeds databases named {PG_OWN_PREFIX}*"
        )
    print(f"{'re' if exists else ''}creating PostgreSQL database {dbname}", flush=True)
    asyncio.run(_recreate(exists))
    _migrate(target.url)

    async def _seed() -> dict[str, Any]:
        from app.core.db import create_engine, create_sessionmaker
        from app.core.security import PasswordHashing
        from bench.seed import seed_copy

        settings = _settings(target.url)
        engine = create_engine(settings.database)
        try:
            async with create_sessionmaker(engine)() as session:
                meta = await seed_copy(
                    session,
                    PasswordHashing(settings.password),
                    n=n,
                    now=datetime.now(UTC),
                    claim_pool=claim_pool,
                    log=lambda msg: print(msg, flush=True),
                )
                # Written in the seeding transaction: a database without it was never finished.
                pg = (await (await session.connection()).get_raw_connection()).driver_connection
                await pg.execute(
                    f"CREATE TABLE {META_TABLE} (tickets integer NOT NULL, claim_pool integer NOT NULL,"
                    " meta text NOT NULL, seeded_at timestamptz NOT NULL DEFAULT now())"
                )
                await pg.execute(
                    f"INSERT INTO {META_TABLE} (tickets, claim_pool, meta) VALUES ($1, $2, $3)",
                    n,
                    claim_pool,
                    json.dumps(meta),
                )
                await session.commit()
        finally:
            await engine.dispose()
        conn = await asyncpg.connect(_pg_dsn(target.url))
        try:
            await conn.execute("VACUUM (ANALYZE)")
        finally:
            await conn.close()
        return meta

    t0 = time.perf_counter()
    meta = asyncio.run(_seed())
    print(
        f"seeded {n} tickets (+{claim_pool} to claim) with COPY in {time.perf_counter() - t0:.0f} s",
        flush=True,
    )
    return meta


def reset_state(db_url: str, n: int) -> None:
    """Put the claim pool back to fresh, unclaimed reports (a previous round claimed some), and
    close the tickets earlier rounds created, so every round starts from the same queue and the
    sweeper has no breaches of leftovers to alert on."""

    async def _reset() -> None:
        from sqlalchemy import update

        from app.core.db import create_engine
        from app.ticket.models import Ticket
        from app.ticket.state import TicketStatus

        now = datetime.now(UTC)
        t = Ticket.__table__
        engine = create_engine(_settings(db_url).database)
        try:
            async with engine.begin() as conn:
                await conn.execute(
                    update(t)
                    .where(t.c.number >= f"S{n:014d}", t.c.number.like("S%"))
                    .values(
                        status=TicketStatus.SUBMITTED,
                        assignee_id=None,
                        responded_at=None,
                        responded_by_id=None,
                        submitted_at=now - timedelta(minutes=2),
                        status_changed_at=now - timedelta(minutes=2),
                        respond_by=now + timedelta(hours=3),
                        next_due_at=now + timedelta(hours=3),
                        response_alert_level=0,
                        response_breached_at=None,
                    )
                )
                await conn.execute(
                    update(t)
                    .where(
                        t.c.number.not_like("S%"),
                        t.c.status.not_in([TicketStatus.CLOSED, TicketStatus.REJECTED, TicketStatus.MERGED]),
                    )
                    .values(
                        status=TicketStatus.CLOSED,
                        status_changed_at=now,
                        closed_at=now,
                        next_due_at=None,
                        response_alert_level=2,
                        resolve_alert_level=2,
                    )
                )
        finally:
            await engine.dispose()

    asyncio.run(_reset())


def _token(db_url: str, user_id: str) -> str:
    import uuid

    from app.core import security

    return security.create_access_token(
        _settings(db_url).jwt, user_id=uuid.UUID(user_id), token_version=1, now=datetime.now(UTC)
    )


# --- the server ----------------------------------------------------------------------------------


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        # "pid (comm) state ppid ..."; comm may hold spaces, so split after the last ")".
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid and b"resource_tracker" not in cmdline:
            found.append(int(entry.name))
    return found


def _status_kib(pid: int, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


class Server:
    def __init__(self, db_url: str, workdir: Path, workers: int = 1) -> None:
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.workers = workers
        workdir.mkdir(parents=True, exist_ok=True)
        self.log_path = workdir / "server.log"
        self.log = self.log_path.open("a")
        self.log.write(f"--- {datetime.now(UTC).isoformat()} {workers} worker(s), {db_url}\n")
        self.log.flush()
        env = {
            **os.environ,
            "DATABASE_URL": db_url,
            "LINLI_JWT__SECRET": JWT_SECRET,
            "LINLI_JWT__ACCESS_TTL_SECONDS": str(6 * 3600),
            "LINLI_MEDIA__ROOT": str(workdir / "media"),
            # One user and one IP send everything: per-user and per-IP request limits are off.
            "LINLI_RATE_LIMIT__ENABLED": "false",
        }
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "app.main:app",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--workers",
                str(workers),
                "--no-access-log",
                "--log-level",
                "warning",
                "--timeout-graceful-shutdown",
                "3",
            ],
            cwd=ROOT,
            env=env,
            # Shutdown noise (requests wrk left queued are cancelled) stays out of the report.
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.time() + 90
        while time.time() < deadline:
            try:
                if (
                    httpx.get(f"{self.base}/healthz", timeout=1).status_code == 200
                    and len(self.pids()) >= workers
                ):
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        sys.exit(f"server did not start; see {self.log_path}")

    def pids(self) -> list[int]:
        """The processes that serve requests: the server itself, or the workers under uvicorn's
        supervisor."""
        return [self.proc.pid] if self.workers == 1 else _children(self.proc.pid)

    def rss_kib(self, field: str = "VmRSS") -> int:
        """Summed over the serving processes."""
        return sum(_status_kib(pid, field) for pid in self.pids())

    def cpu_seconds(self) -> float:
        """User and system CPU time of the serving processes so far."""
        total = 0
        for pid in self.pids():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
        return total / os.sysconf("SC_CLK_TCK")

    def drain(self, idle_cores: float = 0.15, timeout: float = 15.0) -> None:
        """Wait until the requests wrk left in flight are done (the server's CPU use drops), so
        they do not count against the next endpoint."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            c0 = self.cpu_seconds()
            time.sleep(0.5)
            if (self.cpu_seconds() - c0) / 0.5 < idle_cores:
                return

    def rss_max_kib(self, field: str = "VmHWM") -> int:
        return max((_status_kib(pid, field) for pid in self.pids()), default=0)

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


# --- wrk ------------------------------------------------------------------------------------------

_DONE = r"""
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests": %d, "duration_us": %d, "errors": %d, "non2xx": %d, "timeouts": %d, '
    .. '"p50": %.3f, "p95": %.3f, "p99": %.3f}\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.status + e.timeout,
    e.status, e.timeout,
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000))
end
"""


def _lua(kind: str, token: str, ids_file: Path | None) -> str:
    auth = (
        f'wrk.headers["Authorization"] = "Bearer {token}"\nwrk.headers["Content-Type"] = "application/json"\n'
    )
    load_ids = (
        textwrap.dedent(f"""
        local ids = {{}}
        for line in io.lines("{ids_file}") do ids[#ids + 1] = line end
    """)
        if ids_file
        else ""
    )
    if kind == "hello":
        body = 'wrk.path = "/healthz"\n'
    elif kind == "create":
        body = auth + textwrap.dedent("""
            local n = 0
            request = function()
              n = n + 1
              local lat = 34.2672 + math.random() * 0.0118
              local lng = 108.9468 + math.random() * 0.0150
              local b = string.format('{"category_id": "%s", "description": "压测上报 %d", '
                .. '"location": {"lat": %.6f, "lng": %.6f, "coord_system": "wgs84"}}', CATEGORY, n, lat, lng)
              return wrk.format("POST", "/api/v1/tickets", nil, b)
            end
        """)
    elif kind == "detail":
        body = (
            auth
            + load_ids
            + textwrap.dedent("""
            request = function()
              return wrk.format("GET", "/api/v1/tickets/" .. ids[math.random(#ids)])
            end
        """)
        )
    elif kind == "queue":
        body = auth + 'wrk.path = "/api/v1/tickets?view=queue&limit=20"\n'
    elif kind == "claim":
        body = (
            auth
            + textwrap.dedent("""
            local counter = 1
            local threads = {}
            setup = function(thread)
              thread:set("tid", counter)
              counter = counter + 1
            end
        """)
            + load_ids
            + textwrap.dedent("""
            local i = 0
            request = function()
              local k = (i * 2 + tid - 1) % #ids + 1
              i = i + 1
              return wrk.format("POST", "/api/v1/tickets/" .. ids[k] .. "/claim")
            end
        """)
        )
    else:
        raise ValueError(kind)
    return body + _DONE


class PgSampler:
    """Samples pg_stat_activity of the benchmark database while wrk runs: how many of the server's
    sessions are executing, waiting on a lock (row locks: a hot row serialises its writers) or
    idle inside a transaction (waiting for Python), on average."""

    def __init__(self, db_url: str, interval: float = 0.25) -> None:
        from sqlalchemy.engine import make_url

        self.dsn, self.database, self.interval = _pg_dsn(db_url), make_url(db_url).database, interval
        self._stop = threading.Event()
        self._samples: list[tuple[int, int, int]] = []
        self._waiting: dict[str, int] = {}
        self._thread: threading.Thread | None = None

    def __enter__(self) -> "PgSampler":
        self._stop.clear()
        self._samples = []
        self._waiting = {}
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join()

    async def _run(self) -> None:
        import asyncpg

        conn = await asyncpg.connect(self.dsn)
        try:
            while not self._stop.is_set():
                row = await conn.fetchrow(
                    "SELECT count(*) FILTER (WHERE state = 'active' AND wait_event_type IS DISTINCT FROM"
                    " 'Lock') AS active, count(*) FILTER (WHERE wait_event_type = 'Lock') AS lock,"
                    " count(*) FILTER (WHERE state LIKE 'idle in transaction%') AS idle_tx"
                    " FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
                    self.database,
                )
                assert row is not None
                self._samples.append((row["active"], row["lock"], row["idle_tx"]))
                if row["lock"]:
                    for waiting in await conn.fetch(
                        "SELECT left(regexp_replace(query, '\\s+', ' ', 'g'), 90) AS q FROM pg_stat_activity"
                        " WHERE datname = $1 AND wait_event_type = 'Lock'",
                        self.database,
                    ):
                        self._waiting[waiting["q"]] = self._waiting.get(waiting["q"], 0) + 1
                await asyncio.sleep(self.interval)
        finally:
            await conn.close()

    def result(self) -> dict[str, float]:
        n = max(len(self._samples), 1)
        return {
            "db_active": sum(s[0] for s in self._samples) / n,
            "db_lock_wait": sum(s[1] for s in self._samples) / n,
            "db_idle_tx": sum(s[2] for s in self._samples) / n,
            # The statements seen waiting on a lock, most often first.
            "db_lock_statements": sorted(self._waiting.items(), key=lambda kv: -kv[1])[:3],
        }


def run_wrk(
    wrk: str,
    server: Server,
    kind: str,
    token: str,
    ids_file: Path | None,
    *,
    connections: int,
    duration: int,
    category: str,
    sampler: PgSampler | None = None,
) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(_lua(kind, token, ids_file).replace("CATEGORY", json.dumps(category)))
        script = f.name
    threads = min(2, connections)  # wrk needs at least one connection per thread
    cpu0 = server.cpu_seconds()
    with sampler or contextlib.nullcontext():
        out = _wrk_out(wrk, threads, connections, duration, script, server)
    cpu = server.cpu_seconds() - cpu0
    server.drain()
    os.unlink(script)
    line = next(ln for ln in out.splitlines() if ln.startswith("BENCH "))
    stats = json.loads(line[6:])
    stats["rps"] = stats["requests"] / (stats["duration_us"] / 1e6)
    # CPU the server processes got, in cores: on a shared machine, what the rps was bought with.
    stats["cpu"] = cpu / (stats["duration_us"] / 1e6)
    if sampler:
        stats.update(sampler.result())
    return stats


def _wrk_out(wrk: str, threads: int, connections: int, duration: int, script: str, server: Server) -> str:
    return subprocess.run(
        [
            wrk,
            f"-t{threads}",
            f"-c{connections}",
            f"-d{duration}s",
            "--timeout",
            "5s",
            "-s",
            script,
            server.base,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


# --- timings outside the load -------------------------------------------------------------------


def _time_get(url: str, headers: dict[str, str], runs: int = 7) -> tuple[float, int]:
    times, status = [], 0
    with httpx.Client(timeout=60) as client:
        for _ in range(runs):
            t0 = time.perf_counter()
            r = client.get(url, headers=headers)
            times.append((time.perf_counter() - t0) * 1000)
            status = r.status_code
    return statistics.median(times), status


def time_sweep(db_url: str, runs: int = 5) -> float | None:
    try:
        from app.ticket.jobs import sweep
    except ImportError:
        return None

    async def _run() -> float:
        from app.core.clock import SystemClock
        from app.core.db import create_engine, create_sessionmaker

        settings = _settings(db_url)
        engine = create_engine(settings.database)
        try:
            maker = create_sessionmaker(engine)
            times = []
            for _ in range(runs):
                t0 = time.perf_counter()
                await sweep(maker, clock=SystemClock(), settings=settings)
                times.append((time.perf_counter() - t0) * 1000)
            return statistics.median(times)
        finally:
            await engine.dispose()

    return asyncio.run(_run())


def _pct(values: list[float], p: int) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1]


def time_queries(db_url: str, meta: dict[str, Any], runs: int, kpi_runs: int) -> dict[str, Any]:
    """The worker queue, ticket detail and the subdistrict KPI run in this process against the
    seeded database: per call one session, the auth query (as every request makes) and the
    handler's service and view functions, without HTTP, JSON or the load of other requests."""

    async def _run() -> dict[str, Any]:
        import random
        import uuid

        from app.auth.dependencies import load_user_and_actor
        from app.core.db import READONLY_OPTION, create_engine, create_sessionmaker
        from app.org import geo
        from app.ticket import kpi, service, views

        settings = _settings(db_url)
        engine = create_engine(settings.database)
        maker = create_sessionmaker(engine)
        worker_id = uuid.UUID(meta["worker_id"])
        admin_id = uuid.UUID(await _admin_id_async(maker))
        detail_ids = [uuid.UUID(i) for i in meta["detail_ids"]]
        rng = random.Random(7)

        async def queue_call() -> int:
            async with maker() as s:
                await s.connection(execution_options={READONLY_OPTION: True})
                loaded = await load_user_and_actor(s, worker_id)
                assert loaded is not None
                now = datetime.now(UTC)
                rows, _ = await service.list_tickets(
                    s,
                    actor=loaded[1],
                    view="queue",
                    now=now,
                    statuses=None,
                    category_id=None,
                    grid_id=None,
                    community_id=None,
                    overdue=None,
                    date_from=None,
                    date_to=None,
                    bbox=None,
                    cursor=None,
                    limit=20,
                )
                items = await views.briefs(s, rows, actor=loaded[1], now=now, system=geo.CoordSystem.WGS84)
                await s.commit()
                return len(items)

        async def detail_call() -> int:
            async with maker() as s:
                await s.connection(execution_options={READONLY_OPTION: True})
                loaded = await load_user_and_actor(s, worker_id)
                assert loaded is not None
                ticket, name = await service.get_ticket(s, rng.choice(detail_ids))
                read = await views.detail(
                    s, ticket, actor=loaded[1], settings=settings, now=datetime.now(UTC), category_name=name
                )
                await s.commit()
                return 1 if read else 0

        async def kpi_call() -> int:
            async with maker() as s:
                await s.connection(execution_options={READONLY_OPTION: True})
                loaded = await load_user_and_actor(s, admin_id)
                assert loaded is not None
                now = datetime.now(UTC)
                out = await kpi.response_stats(
                    s,
                    actor=loaded[1],
                    scope=kpi.StatsScope.SUBDISTRICT,
                    scope_id=uuid.UUID(meta["subdistrict_id"]),
                    date_from=now - timedelta(days=30),
                    date_to=now,
                    now=now,
                )
                await s.commit()
                return out.tickets

        async def timed(call: Any, count: int) -> dict[str, Any]:
            size = 0
            for _ in range(min(10, count)):  # warm the pool, the statement caches and the buffers
                size = await call()
            times, cpu = [], []
            for _ in range(count):
                t0, c0 = time.perf_counter(), time.process_time()
                size = await call()
                times.append((time.perf_counter() - t0) * 1000)
                cpu.append((time.process_time() - c0) * 1000)
            return {
                "calls": count,
                "p50": _pct(times, 50),
                "p99": _pct(times, 99),
                "max": max(times),
                # This process's CPU per call (Python; SQLite's work too, not PostgreSQL's): less
                # sensitive than the wall time to a busy machine.
                "cpu_p50": _pct(cpu, 50),
                "rows": size,
            }

        try:
            return {
                "queue": await timed(queue_call, runs),
                "detail": await timed(detail_call, runs),
                "kpi": await timed(kpi_call, kpi_runs),
            }
        finally:
            await engine.dispose()

    return asyncio.run(_run())


def measure_export(server: Server, token: str) -> dict[str, Any]:
    peak = [server.rss_kib()]
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak.append(server.rss_kib())
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    rss_before = server.rss_kib()
    sampler.start()
    t0 = time.perf_counter()
    rows = size = 0
    status = 0
    with httpx.stream(
        "GET",
        f"{server.base}/api/v1/tickets/export?format=csv",
        headers={"Authorization": f"Bearer {token}"},
        timeout=3600,
    ) as r:
        status = r.status_code
        for chunk in r.iter_bytes():
            size += len(chunk)
            rows += chunk.count(b"\n")
    stop.set()
    sampler.join()
    return {
        "status": status,
        "rows": max(rows - 1, 0),
        "mb": size / 1e6,
        "seconds": time.perf_counter() - t0,
        "rss_before_mb": rss_before / 1024,
        "rss_peak_mb": max(peak) / 1024,
    }


# --- SSE ------------------------------------------------------------------------------------------


def _pg_backends(db_url: str) -> dict[str, int] | None:
    """The benchmark database's server connections by state (a stream that kept its request's
    session would show as "idle in transaction")."""
    import asyncpg
    from sqlalchemy.engine import make_url

    async def _count() -> dict[str, int]:
        conn = await asyncpg.connect(_pg_dsn(db_url))
        try:
            rows = await conn.fetch(
                "SELECT coalesce(state, '?') AS state, count(*) AS n FROM pg_stat_activity"
                " WHERE datname = $1 AND pid <> pg_backend_pid() GROUP BY 1",
                make_url(db_url).database,
            )
            return {r["state"]: r["n"] for r in rows}
        finally:
            await conn.close()

    try:
        return asyncio.run(_count())
    except Exception:
        return None


def measure_sse(
    server: Server, n: int, *, token: str, claim_token: str, ticket_id: str, hold: float, target: Target
) -> dict[str, Any]:
    """Open n concurrent event streams as one user, check each got `ready`, fan one notification
    out to all of them (a worker claims one of the user's reports), hold them open, close them.
    The endpoint has no per-user limit, so one user's token serves every connection (each stream
    is still its own subscription, task and socket)."""
    out: dict[str, Any] = {"connections": n}
    loop_result: dict[str, Any] = {}

    async def _run() -> None:
        ready_at: list[float | None] = [None] * n
        event_at: list[float | None] = [None] * n
        statuses: list[int | None] = [None] * n
        eof = [False] * n
        writers: list[asyncio.StreamWriter] = []
        all_ready = asyncio.Event()
        all_events = asyncio.Event()
        marker = ticket_id.encode()
        gate = asyncio.Semaphore(100)  # connect in waves so the listen backlog never overflows
        request = (
            "GET /api/v1/events HTTP/1.1\r\n"
            f"Host: 127.0.0.1:{server.port}\r\n"
            f"Authorization: Bearer {token}\r\n"
            "Accept: text/event-stream\r\n\r\n"
        ).encode()

        def check() -> None:
            if all(r is not None for r in ready_at):
                all_ready.set()
            if all(e is not None for e in event_at):
                all_events.set()

        async def client(i: int) -> None:
            released = False
            await gate.acquire()
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
                writers.append(writer)
                writer.write(request)
                await writer.drain()
                head = await reader.readuntil(b"\r\n\r\n")
                statuses[i] = int(head.split(b" ", 2)[1])
                if statuses[i] != 200:
                    return
                tail = b""
                while True:
                    chunk = await reader.read(65536)
                    if not chunk:
                        eof[i] = True
                        return
                    tail = tail[-200:] + chunk
                    if ready_at[i] is None and b"event: ready" in tail:
                        ready_at[i] = time.perf_counter()
                        gate.release()
                        released = True
                        check()
                    if event_at[i] is None and b"ticket.claimed" in tail and marker in tail:
                        event_at[i] = time.perf_counter()
                        check()
            except (OSError, asyncio.IncompleteReadError) as err:
                loop_result.setdefault("client_errors", []).append(repr(err))
            finally:
                if not released:
                    gate.release()

        # Warm the code path (imports, first allocations) so the baseline is a steady state.
        warm = [asyncio.create_task(_warm_stream(server, token)) for _ in range(5)]
        await asyncio.gather(*warm)
        await asyncio.sleep(1.5)
        out["rss_before_mb"] = server.rss_kib() / 1024
        t0 = time.perf_counter()
        tasks = [asyncio.create_task(client(i)) for i in range(n)]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(all_ready.wait(), timeout=120)
        t_ready = time.perf_counter()
        out["connect_seconds"] = t_ready - t0
        out["ready"] = sum(r is not None for r in ready_at)
        await asyncio.sleep(1.0)
        out["rss_connected_mb"] = server.rss_kib() / 1024
        backends = await asyncio.to_thread(_pg_backends, target.url) if target.pg else None
        out["db_backends_while_open"] = backends

        async with httpx.AsyncClient(base_url=server.base, timeout=30) as http:
            t_claim = time.perf_counter()
            r = await http.post(
                f"/api/v1/tickets/{ticket_id}/claim", headers={"Authorization": f"Bearer {claim_token}"}
            )
            out["claim_status"] = r.status_code
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(all_events.wait(), timeout=30)
        got = sorted(e - t_claim for e in event_at if e is not None)
        out["fanout_received"] = len(got)
        out["fanout_p50_ms"] = _pct(got, 50) * 1000 if got else None
        out["fanout_last_ms"] = got[-1] * 1000 if got else None

        peak = out["rss_connected_mb"]
        end = t_ready + hold  # counted from the moment the last stream was ready
        while time.perf_counter() < end:
            peak = max(peak, server.rss_kib() / 1024)
            await asyncio.sleep(0.2)
        out["rss_peak_mb"] = peak
        out["held_seconds"] = time.perf_counter() - t_ready
        out["still_open"] = sum(1 for i in range(n) if ready_at[i] is not None and not eof[i])
        out["statuses"] = {str(s): statuses.count(s) for s in set(statuses)}
        for w in writers:
            w.close()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.sleep(3.0)
        out["rss_after_close_mb"] = server.rss_kib() / 1024
        out["client_errors"] = loop_result.get("client_errors", [])[:5]

    asyncio.run(_run())
    out["kib_per_connection"] = (out["rss_connected_mb"] - out["rss_before_mb"]) * 1024 / max(out["ready"], 1)
    return out


async def _warm_stream(server: Server, token: str) -> None:
    async with (
        httpx.AsyncClient(base_url=server.base, timeout=10) as http,
        http.stream("GET", "/api/v1/events", headers={"Authorization": f"Bearer {token}"}) as r,
    ):
        async for line in r.aiter_lines():
            if line.startswith("event: ready"):
                break


# --- orchestration -------------------------------------------------------------------------------


def _admin_id(db_url: str) -> str:
    async def _get() -> str:
        from app.core.db import create_engine, create_sessionmaker

        engine = create_engine(_settings(db_url).database)
        try:
            return await _admin_id_async(create_sessionmaker(engine))
        finally:
            await engine.dispose()

    return asyncio.run(_get())


async def _admin_id_async(maker: Any) -> str:
    from sqlalchemy import select

    from app.user.models import User

    async with maker() as session:
        return str(await session.scalar(select(User.id).where(User.username == "jd_admin")))


def _workers(value: str) -> list[int]:
    try:
        counts = [int(v) for v in value.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError("a worker count or a list such as 1,2") from None
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError("worker counts are positive")
    return counts


PLAN = ("hello", "detail", "queue", "create", "claim")


def run_load(
    args: argparse.Namespace, wrk: str, target: Target, meta: dict[str, Any], ids_dir: Path
) -> dict[str, Any]:
    resident, worker = _token(target.url, meta["resident_id"]), _token(target.url, meta["worker_id"])
    admin = _token(target.url, _admin_id(target.url))
    tokens = {"hello": "", "detail": worker, "queue": worker, "create": resident, "claim": worker}
    ids = {"detail": ids_dir / "detail.txt", "claim": ids_dir / "pool.txt"}
    rounds: list[dict[str, Any]] = []
    extra: dict[str, Any] = {}
    sampler = PgSampler(target.url) if target.pg else None

    def wrk_run(server: Server, kind: str, connections: int, duration: int) -> dict[str, Any]:
        return run_wrk(
            wrk,
            server,
            kind,
            tokens[kind],
            ids.get(kind),
            connections=connections,
            duration=duration,
            category=meta["category_id"],
            sampler=sampler,
        )

    for rnd in range(args.rounds):
        per_w: dict[str, Any] = {}
        for w in args.workers:
            reset_state(target.url, args.tickets)
            print(f"round {rnd + 1}/{args.rounds}: {w} server process(es) …", flush=True)
            server = Server(target.url, args.workdir, workers=w)
            res: dict[str, Any] = {}
            try:
                for kind in PLAN:
                    if kind == "claim":
                        reset_state(target.url, args.tickets)
                    if kind in ("hello", "detail", "queue"):
                        wrk_run(server, kind, args.connections, 2)  # warm-up
                    res[kind] = wrk_run(server, kind, args.connections, args.duration)
                res["rss_hwm_sum_mb"] = server.rss_kib("VmHWM") / 1024
                res["rss_hwm_max_mb"] = server.rss_max_kib("VmHWM") / 1024
                if rnd == 0 and w == args.workers[0]:
                    # Latency without queueing: one connection at a time.
                    for kind in ("detail", "queue"):
                        extra[f"{kind}@1"] = wrk_run(server, kind, 1, max(5, args.duration // 2))
                    now = datetime.now(UTC)
                    kpi_url = (
                        f"{server.base}/api/v1/stats/response?scope=subdistrict"
                        f"&scope_id={meta['subdistrict_id']}"
                        f"&date_from={(now - timedelta(days=30)).isoformat()}&date_to={now.isoformat()}"
                    )
                    extra["kpi_http_ms"], extra["kpi_http_status"] = _time_get(
                        kpi_url.replace("+00:00", "Z"), {"Authorization": f"Bearer {admin}"}
                    )
                    extra["export_workers"] = w
                    extra["export"] = None if args.skip_export else measure_export(server, admin)
            finally:
                server.stop()
            per_w[str(w)] = res
        rounds.append(per_w)
    return {"rounds": rounds, **extra}


def run_sse(args: argparse.Namespace, target: Target, meta: dict[str, Any]) -> dict[str, Any]:
    reset_state(target.url, args.tickets)
    resident, worker = _token(target.url, meta["resident_id"]), _token(target.url, meta["worker_id"])
    print(f"SSE: {args.sse} streams to one server process …", flush=True)
    server = Server(target.url, args.workdir, workers=1)
    try:
        return measure_sse(
            server,
            args.sse,
            token=resident,
            claim_token=worker,
            # The pool's last ticket: the claim load walks the pool from the front.
            ticket_id=meta["pool_ids"][-1],
            hold=args.sse_hold,
            target=target,
        )
    finally:
        server.stop()


def _med(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def report(args: argparse.Namespace, target: Target, out: dict[str, Any]) -> None:
    load = out.get("load")
    print(
        f"\nLinli benchmark — {target.label}, {args.tickets:,} tickets"
        + (
            f", {args.connections} connections, {args.duration} s per endpoint (wrk), "
            f"{args.rounds} round(s): medians over rounds"
            if load
            else ""
        )
        + "\n"
    )
    if load:
        print(
            "srv CPU: cores the server processes used during the run (the machine is shared); rps/CPU: "
            "requests per server CPU-second"
            + (
                "; db lock / idle tx: server sessions waiting on a row lock / idle inside a transaction, "
                "on average"
                if target.pg
                else ""
            )
            + "\n"
        )
        rounds = load["rounds"]
        for w in args.workers:
            key = str(w)
            print(f"{w} server process{'es' if w > 1 else ''}:")
            print(
                f"  {'endpoint':<10}{'rps':>8}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'errors':>8}"
                f"{'÷ hello':>9}{'srv CPU':>9}{'rps/CPU':>9}"
                + (f"{'db lock':>9}{'idle tx':>9}" if target.pg else "")
                + "   rps per round"
            )
            for kind in PLAN:
                runs = [r[key][kind] for r in rounds]
                ratio = _med([r[key][kind]["rps"] / r[key]["hello"]["rps"] for r in rounds])
                cpu = _med([x.get("cpu", 0.0) for x in runs])
                per_cpu = _med([x["rps"] / x["cpu"] for x in runs if x.get("cpu")])
                db = ""
                if target.pg:
                    lock, idle_tx = (_med([x[f] for x in runs]) for f in ("db_lock_wait", "db_idle_tx"))
                    db = f"{lock:>9.1f}{idle_tx:>9.1f}"
                print(
                    f"  {kind:<10}{_med([x['rps'] for x in runs]):>8.0f}"
                    f"{_med([x['p50'] for x in runs]):>9.1f}{_med([x['p95'] for x in runs]):>9.1f}"
                    f"{_med([x['p99'] for x in runs]):>9.1f}{sum(x['errors'] for x in runs):>8}"
                    f"{ratio:>9.1%}{cpu:>9.2f}{per_cpu:>9.0f}{db}   "
                    + " / ".join(f"{x['rps']:.0f}" for x in runs)
                )
            if w == args.workers[0]:
                for kind in ("detail@1", "queue@1"):
                    x = load.get(kind)
                    if x:
                        print(
                            f"  {kind:<10}{x['rps']:>8.0f}{x['p50']:>9.1f}{x['p95']:>9.1f}{x['p99']:>9.1f}"
                            f"{x['errors']:>8}   (one connection: latency without queueing)"
                        )
            if target.pg:
                for kind in PLAN:
                    seen: dict[str, int] = {}
                    for r in rounds:
                        for stmt, count in r[key][kind].get("db_lock_statements", []):
                            seen[stmt] = seen.get(stmt, 0) + count
                    if seen:
                        top = max(seen, key=lambda k: seen[k])
                        print(f"  {kind}: the statement most often waiting on a lock: {top}")
            print(
                f"  peak RSS under load: {max(r[key]['rss_hwm_max_mb'] for r in rounds):.0f} MB per "
                f"process, {max(r[key]['rss_hwm_sum_mb'] for r in rounds):.0f} MB all processes\n"
            )
        if len(args.workers) > 1:
            base = str(args.workers[0])
            for w in args.workers[1:]:
                key = str(w)
                print(f"scaling {w} processes ÷ {args.workers[0]} (median of per-round ratios):")
                print(f"  {'endpoint':<10}{'rps ×':>8}   per round")
                for kind in PLAN:
                    ratios = [r[key][kind]["rps"] / r[base][kind]["rps"] for r in rounds]
                    print(f"  {kind:<10}{_med(ratios):>8.2f}   " + " / ".join(f"{x:.2f}" for x in ratios))
                print()
        print(
            f"KPI over HTTP (subdistrict, 30 days): median {load['kpi_http_ms']:.1f} ms over 7 runs "
            f"(HTTP {load['kpi_http_status']})"
        )
        export = load.get("export")
        if export:
            print(
                f"CSV export ({load['export_workers']} process): HTTP {export['status']}, "
                f"{export['rows']:,} rows, {export['mb']:.0f} MB in {export['seconds']:.1f} s; RSS "
                f"{export['rss_before_mb']:.0f} MB before, {export['rss_peak_mb']:.0f} MB peak during it"
            )
    sweep_ms = out.get("sweep_ms")
    if "sweep_ms" in out:
        print(f"sweeper tick: {'n/a' if sweep_ms is None else f'median {sweep_ms:.1f} ms over 5 runs'}")
    q = out.get("queries")
    if q:
        print(
            "\nqueries in-process (auth query + the handler's service and view calls, no HTTP; "
            "target p99 < 20 ms, KPI < 100 ms):"
        )
        labels = {"queue": "worker queue", "detail": "ticket detail", "kpi": "KPI subdistrict 30 d"}
        for kind, label in labels.items():
            x = q[kind]
            print(
                f"  {label:<22} p50 {x['p50']:7.1f} ms   p99 {x['p99']:7.1f} ms   max {x['max']:7.1f} ms"
                f"   ({x['calls']} calls; CPU in this process p50 {x.get('cpu_p50', 0):.1f} ms)"
            )
    sse = out.get("sse")
    if sse:
        print(
            f"\nSSE, one server process: {sse['ready']}/{sse['connections']} streams got `ready` in "
            f"{sse['connect_seconds']:.1f} s; {sse['still_open']} still open "
            f"{sse['held_seconds']:.1f} s later; one notification fanned out "
            f"(claim HTTP {sse['claim_status']}): "
            f"{sse['fanout_received']}/{sse['connections']} received"
            + (
                f", p50 {sse['fanout_p50_ms']:.0f} ms, last {sse['fanout_last_ms']:.0f} ms after the claim"
                if sse["fanout_received"]
                else ""
            )
        )
        print(
            f"  RSS {sse['rss_before_mb']:.0f} MB before, {sse['rss_connected_mb']:.0f} MB with the streams "
            f"open (peak {sse['rss_peak_mb']:.0f} MB), {sse['rss_after_close_mb']:.0f} MB after closing: "
            f"{sse['kib_per_connection']:.0f} KiB per connection"
            + (
                f"; database connections while open, by state: {sse['db_backends_while_open']}"
                if sse.get("db_backends_while_open") is not None
                else ""
            )
        )
        if sse["client_errors"]:
            print(f"  client errors (first 5): {sse['client_errors']}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--claim-pool", type=int, default=20_000)
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument(
        "--pg-url",
        help=f"PostgreSQL URL (default {PG_DEFAULT}); databases named {PG_OWN_PREFIX}* are created "
        "and reseeded as needed",
    )
    parser.add_argument(
        "--workers", type=_workers, default=[1], help="server processes, or a list such as 1,2"
    )
    parser.add_argument("--rounds", type=int, default=1, help="repeat the load; medians are reported")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--duration", type=int, default=10, help="seconds per endpoint")
    parser.add_argument("--workdir", type=Path, default=ROOT / "var" / "bench")
    parser.add_argument("--skip-export", action="store_true")
    parser.add_argument("--query-runs", type=int, default=200, help="in-process calls per query; 0 skips")
    parser.add_argument("--kpi-runs", type=int, default=20)
    parser.add_argument("--sse", type=int, default=0, metavar="N", help="also open N SSE streams")
    parser.add_argument("--sse-hold", type=float, default=5.0, help="seconds to hold the SSE streams")
    parser.add_argument("--sse-only", action="store_true", help="skip the load and the timings")
    parser.add_argument("--seed-only", action="store_true", help="prepare the database and stop")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:  # many SSE streams: the server inherits the limit
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    target = _target(args)
    wrk = "" if args.sse_only or args.seed_only else _ensure_wrk()
    meta = prepare(target, args.workdir, args.tickets, args.claim_pool)
    if args.seed_only:
        return
    ids_dir = Path(tempfile.mkdtemp())
    (ids_dir / "detail.txt").write_text("\n".join(meta["detail_ids"]) + "\n")
    (ids_dir / "pool.txt").write_text("\n".join(meta["pool_ids"]) + "\n")

    out: dict[str, Any] = {
        "backend": target.backend,
        "database": target.label,
        "tickets": args.tickets,
        "workers": args.workers,
        "rounds": args.rounds,
        "connections": args.connections,
        "duration": args.duration,
    }
    if not args.sse_only:
        out["load"] = run_load(args, wrk, target, meta, ids_dir)
        out["sweep_ms"] = time_sweep(target.url)
        if args.query_runs > 0:
            reset_state(target.url, args.tickets)
            print("timing the queries in-process …", flush=True)
            out["queries"] = time_queries(target.url, meta, args.query_runs, args.kpi_runs)
    if args.sse:
        out["sse"] = run_sse(args, target, meta)
    shutil.rmtree(ids_dir, ignore_errors=True)
    report(args, target, out)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=1, default=str))


if __name__ == "__main__":
    main()
