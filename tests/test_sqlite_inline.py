"""The inline SQLite connection: writers queue on an asyncio lock instead of blocking the loop."""

import asyncio
import threading
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core import sqlite_inline
from app.core.config import DatabaseSettings
from app.core.db import create_engine


@pytest.fixture
async def sqlite_engine(tmp_path: Path) -> AsyncEngine:
    eng = create_engine(
        DatabaseSettings(url=f"sqlite+aiosqlite:///{tmp_path / 'x.db'}", sqlite_busy_timeout_ms=2000)
    )
    async with eng.begin() as conn:
        await conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"))
    yield eng
    await eng.dispose()


async def test_a_second_writer_waits_for_the_first_without_blocking_the_loop(
    sqlite_engine: AsyncEngine,
) -> None:
    order: list[str] = []
    first_in = asyncio.Event()
    release_first = asyncio.Event()

    async def first() -> None:
        async with sqlite_engine.begin() as conn:
            await conn.execute(text("INSERT INTO t (v) VALUES ('a')"))
            order.append("a-wrote")
            first_in.set()
            await release_first.wait()  # holds the write transaction across an await
            order.append("a-commits")

    async def second() -> None:
        await first_in.wait()
        async with sqlite_engine.begin() as conn:
            order.append("b-began")
            await conn.execute(text("INSERT INTO t (v) VALUES ('b')"))

    t1, t2 = asyncio.create_task(first()), asyncio.create_task(second())
    await first_in.wait()
    for _ in range(20):
        await asyncio.sleep(0)  # the loop keeps running while the second writer waits
    assert not t2.done() and order == ["a-wrote"]
    release_first.set()
    await asyncio.gather(t1, t2)
    assert order == ["a-wrote", "a-commits", "b-began"]
    async with sqlite_engine.connect() as conn:
        assert (await conn.execute(text("SELECT v FROM t ORDER BY id"))).scalars().all() == ["a", "b"]


async def test_readers_do_not_wait_for_a_writer(sqlite_engine: AsyncEngine) -> None:
    async with sqlite_engine.begin() as writer:
        await writer.execute(text("INSERT INTO t (v) VALUES ('w')"))
        ro = {"linli_readonly": True}
        async with sqlite_engine.connect() as reader:
            await reader.execution_options(**ro)
            # WAL: the reader sees the last committed state, not the open write.
            assert (await reader.execute(text("SELECT count(*) FROM t"))).scalar() == 0


async def test_a_failed_transaction_releases_the_lock(sqlite_engine: AsyncEngine) -> None:
    with pytest.raises(OperationalError):
        async with sqlite_engine.begin() as conn:
            await conn.execute(text("INSERT INTO t (v) VALUES ('x')"))
            await conn.execute(text("INSERT INTO no_such_table VALUES (1)"))
    async with asyncio.timeout(5):
        async with sqlite_engine.begin() as conn:
            await conn.execute(text("INSERT INTO t (v) VALUES ('y')"))
    async with sqlite_engine.connect() as conn:
        assert (await conn.execute(text("SELECT v FROM t"))).scalars().all() == ["y"]


async def test_waiting_longer_than_the_busy_timeout_fails_like_sqlite(tmp_path: Path) -> None:
    eng = create_engine(
        DatabaseSettings(url=f"sqlite+aiosqlite:///{tmp_path / 'y.db'}", sqlite_busy_timeout_ms=100)
    )
    try:
        async with eng.begin() as holder:
            await holder.execute(text("CREATE TABLE t (v TEXT)"))
            with pytest.raises(OperationalError, match="database is locked"):
                async with eng.begin() as conn:
                    await conn.execute(text("INSERT INTO t VALUES ('late')"))
    finally:
        await eng.dispose()


async def test_offloaded_statements_run_on_a_worker_thread(sqlite_engine: AsyncEngine) -> None:
    seen: list[int] = []

    async with sqlite_engine.connect() as conn:
        raw = await conn.get_raw_connection()
        raw.driver_connection._connection.create_function(  # type: ignore[union-attr]
            "where_am_i", 0, lambda: seen.append(threading.get_ident()) or 1
        )
        await conn.execute(text("SELECT where_am_i()"))
        async with sqlite_inline.offloaded():
            await conn.execute(text("SELECT where_am_i()"))
    assert seen[0] == threading.get_ident()
    assert seen[1] != threading.get_ident()
