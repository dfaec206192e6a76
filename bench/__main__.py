"""Benchmark the API on loopback: `python -m bench --tickets 100000` (or `make bench`).

Seeds a SQLite database with the demo subdistrict and N tickets, starts the server as a
separate process, and drives it with wrk (installed from Debian's packages if missing): the
/healthz "hello" ceiling, ticket create, ticket detail, a worker's queue and claim. Prints rps,
p50/p95/p99, errors and each endpoint's rps as a ratio of the hello ceiling, then times the KPI
query for a subdistrict month and one sweeper tick, and records the server's peak RSS during the
load and during a full CSV export.
"""

import argparse
import asyncio
import json
import os
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
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
JWT_SECRET = "bench-secret-" + "x" * 32


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


def prepare(db_path: Path, n: int, claim_pool: int) -> dict[str, Any]:
    """Migrate and seed (once per database file); returns the ids the load scripts use."""
    meta_path = db_path.with_suffix(".json")
    if db_path.exists() and meta_path.exists():
        print(f"reusing {db_path} (claim pool reset)", flush=True)
        _reset_pool(db_path, n)
        return json.loads(meta_path.read_text())
    db_path.parent.mkdir(parents=True, exist_ok=True)
    db_path.unlink(missing_ok=True)
    url = f"sqlite+aiosqlite:///{db_path}"
    from alembic import command
    from alembic.config import Config

    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.attributes["database_url"] = url
    cfg.attributes["configure_logging"] = False
    command.upgrade(cfg, "head")

    async def _seed() -> dict[str, Any]:
        from app.core.db import create_engine, create_sessionmaker
        from app.core.security import PasswordHashing
        from bench.seed import seed

        settings = _settings(url)
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


def _reset_pool(db_path: Path, n: int) -> None:
    """Put the claim pool back to fresh, unclaimed reports (a previous run claimed some)."""
    import sqlite3

    fmt = "%Y-%m-%d %H:%M:%S.%f"
    now = datetime.now(UTC)
    with sqlite3.connect(db_path) as conn:
        conn.execute(
            "UPDATE ticket SET status = 'submitted', assignee_id = NULL, responded_at = NULL,"
            " responded_by_id = NULL, submitted_at = ?, status_changed_at = ?,"
            " respond_by = ?, next_due_at = ?, response_alert_level = 0, response_breached_at = NULL"
            " WHERE number >= ? AND number LIKE 'S%'",
            (
                (now - timedelta(minutes=2)).strftime(fmt),
                (now - timedelta(minutes=2)).strftime(fmt),
                (now + timedelta(hours=3)).strftime(fmt),
                (now + timedelta(hours=3)).strftime(fmt),
                f"S{n:014d}",
            ),
        )


def _token(db_url: str, user_id: str) -> str:
    import uuid

    from app.core import security

    return security.create_access_token(
        _settings(db_url).jwt, user_id=uuid.UUID(user_id), token_version=1, now=datetime.now(UTC)
    )


class Server:
    def __init__(self, db_url: str, workdir: Path) -> None:
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "DATABASE_URL": db_url,
            "LINLI_JWT__SECRET": JWT_SECRET,
            "LINLI_JWT__ACCESS_TTL_SECONDS": str(6 * 3600),
            "LINLI_MEDIA__ROOT": str(workdir / "media"),
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
                "--no-access-log",
                "--log-level",
                "warning",
                "--timeout-graceful-shutdown",
                "3",
            ],
            cwd=ROOT,
            env=env,
        )
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                if httpx.get(f"{self.base}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.2)
        self.stop()
        sys.exit("server did not start")

    def rss_kib(self, field: str = "VmRSS") -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
        return 0

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()


_DONE = r"""
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests": %d, "duration_us": %d, "errors": %d, "p50": %.3f, "p95": %.3f, "p99": %.3f}\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.status + e.timeout,
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
) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(_lua(kind, token, ids_file).replace("CATEGORY", json.dumps(category)))
        script = f.name
    threads = min(2, connections)  # wrk needs at least one connection per thread
    out = subprocess.run(
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
    os.unlink(script)
    line = next(ln for ln in out.splitlines() if ln.startswith("BENCH "))
    stats = json.loads(line[6:])
    stats["rps"] = stats["requests"] / (stats["duration_us"] / 1e6)
    return stats


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


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--claim-pool", type=int, default=20_000)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--duration", type=int, default=10, help="seconds per endpoint")
    parser.add_argument("--workdir", type=Path, default=ROOT / "var" / "bench")
    parser.add_argument("--skip-export", action="store_true")
    args = parser.parse_args()

    wrk = _ensure_wrk()
    db_path = args.workdir / f"bench-{args.tickets}.db"
    meta = prepare(db_path, args.tickets, args.claim_pool)
    db_url = f"sqlite+aiosqlite:///{db_path}"
    resident, worker = _token(db_url, meta["resident_id"]), _token(db_url, meta["worker_id"])
    ids_dir = Path(tempfile.mkdtemp())
    (ids_dir / "detail.txt").write_text("\n".join(meta["detail_ids"]) + "\n")
    (ids_dir / "pool.txt").write_text("\n".join(meta["pool_ids"]) + "\n")

    server = Server(db_url, args.workdir)
    results: dict[str, dict[str, Any]] = {}
    try:
        plan = [
            ("hello", None, None),
            ("detail", worker, ids_dir / "detail.txt"),
            ("queue", worker, None),
            ("create", resident, None),
            ("claim", worker, ids_dir / "pool.txt"),
        ]
        for kind, token, ids in plan:
            run_wrk(
                wrk,
                server,
                kind,
                token or "",
                ids,
                connections=args.connections,
                duration=2,
                category=meta["category_id"],
            ) if kind in ("hello", "detail", "queue") else None  # warm-up
            results[kind] = run_wrk(
                wrk,
                server,
                kind,
                token or "",
                ids,
                connections=args.connections,
                duration=args.duration,
                category=meta["category_id"],
            )
        # Latency without queueing: one connection at a time.
        for kind, token, ids in plan[1:3]:
            results[f"{kind}@1"] = run_wrk(
                wrk,
                server,
                kind,
                token or "",
                ids,
                connections=1,
                duration=max(5, args.duration // 2),
                category=meta["category_id"],
            )
        load_hwm = server.rss_kib("VmHWM") / 1024

        admin_id = _admin_id(db_url)
        admin = _token(db_url, admin_id)
        now = datetime.now(UTC)
        kpi_url = (
            f"{server.base}/api/v1/stats/response?scope=subdistrict&scope_id={meta['subdistrict_id']}"
            f"&date_from={(now - timedelta(days=30)).isoformat()}&date_to={now.isoformat()}"
        )
        kpi_ms, kpi_status = _time_get(kpi_url.replace("+00:00", "Z"), {"Authorization": f"Bearer {admin}"})
        export = None if args.skip_export else measure_export(server, admin)
    finally:
        server.stop()
    sweep_ms = time_sweep(db_url)

    hello = results["hello"]["rps"]
    print(
        f"\nLinli benchmark — SQLite, 1 server process, {args.tickets:,} tickets, "
        f"{args.connections} connections, {args.duration} s per endpoint (wrk)\n"
    )
    print("(x@1: the same endpoint with a single connection: latency without queueing)\n")
    print(f"{'endpoint':<10}{'rps':>9}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'errors':>8}{'÷ hello':>9}")
    for kind, r in results.items():
        print(
            f"{kind:<10}{r['rps']:>9.0f}{r['p50']:>9.1f}{r['p95']:>9.1f}{r['p99']:>9.1f}{r['errors']:>8}"
            f"{r['rps'] / hello:>9.1%}"
        )
    print(f"\nKPI (subdistrict, 30 days): median {kpi_ms:.1f} ms over 7 runs (HTTP {kpi_status})")
    print(f"sweeper tick: {'n/a' if sweep_ms is None else f'median {sweep_ms:.1f} ms over 5 runs'}")
    print(f"server peak RSS during the load: {load_hwm:.0f} MB")
    if export:
        print(
            f"CSV export: HTTP {export['status']}, {export['rows']:,} rows, {export['mb']:.0f} MB in "
            f"{export['seconds']:.1f} s; RSS {export['rss_before_mb']:.0f} MB before, "
            f"{export['rss_peak_mb']:.0f} MB peak during the export"
        )


def _admin_id(db_url: str) -> str:
    async def _get() -> str:
        from sqlalchemy import select

        from app.core.db import create_engine, create_sessionmaker
        from app.user.models import User

        engine = create_engine(_settings(db_url).database)
        try:
            async with create_sessionmaker(engine)() as session:
                return str(await session.scalar(select(User.id).where(User.username == "jd_admin")))
        finally:
            await engine.dispose()

    return asyncio.run(_get())


if __name__ == "__main__":
    main()
