"""SQLite for the async engine without a thread hop per call.

aiosqlite runs every call (cursor, execute, fetch, close) on a helper thread and wakes the event
loop for each: four thread hops per statement, which costs more than the statement itself on
an indexed lookup. This module gives SQLAlchemy's aiosqlite dialect (through
`create_async_engine(..., async_creator=...)`) a connection with the same async interface that
runs sqlite3 on the event-loop thread: an indexed statement takes tens of microseconds, less
than a hop.

Running inline means a connection must never wait for SQLite's write lock while holding the
event loop, or it would block the very coroutine that holds the lock. So writers queue on an
asyncio lock per database file before `BEGIN IMMEDIATE` and release it when the transaction
ends; within one process SQLite's own lock is then always free when asked for. (Other processes
writing the same file are still waited for by SQLite's busy timeout; several processes are the
PostgreSQL profile.)

Statements known to be slow (a month's KPI over a million tickets, a full export) can run on a
worker thread instead: `async with offloaded(): ...` around them.
"""

import asyncio
import contextlib
import contextvars
import sqlite3
import weakref
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from typing import Any

_offload: contextvars.ContextVar[bool] = contextvars.ContextVar("linli_sqlite_offload", default=False)

# One writer queue per (event loop, database file); asyncio locks belong to one loop.
_locks: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Lock]]" = (
    weakref.WeakKeyDictionary()
)


def _writer_lock(path: str) -> asyncio.Lock:
    per_loop = _locks.setdefault(asyncio.get_running_loop(), {})
    lock = per_loop.get(path)
    if lock is None:
        lock = per_loop[path] = asyncio.Lock()
    return lock


@contextlib.asynccontextmanager
async def offloaded() -> AsyncIterator[None]:
    """Run the SQLite statements inside on a worker thread (for long scans)."""
    token = _offload.set(True)
    try:
        yield
    finally:
        _offload.reset(token)


class Cursor:
    def __init__(self, conn: "Connection") -> None:
        self._conn = conn
        self._cursor = conn._connection.cursor()  # type: ignore[union-attr]

    async def __aenter__(self) -> "Cursor":
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._cursor.close()

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value

    async def execute(self, sql: str, parameters: Sequence[Any] | dict[str, Any] = ()) -> "Cursor":
        await self._conn._run_statement(sql, self._cursor.execute, sql, parameters)
        return self

    async def executemany(self, sql: str, seq: Iterable[Any]) -> "Cursor":
        await self._conn._run_statement(sql, self._cursor.executemany, sql, seq)
        return self

    async def fetchone(self) -> Any:
        return await self._conn._call(self._cursor.fetchone)

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        return await self._conn._call(self._cursor.fetchmany, size or self._cursor.arraysize)

    async def fetchall(self) -> list[Any]:
        return await self._conn._call(self._cursor.fetchall)

    async def close(self) -> None:
        self._cursor.close()


class Connection:
    """The subset of aiosqlite.Connection that SQLAlchemy's aiosqlite dialect uses."""

    def __init__(self, raw: sqlite3.Connection, path: str, lock_timeout: float) -> None:
        self._connection: sqlite3.Connection | None = raw
        self._path = path
        self._lock_timeout = lock_timeout
        self._holds_lock: asyncio.Lock | None = None

    @property
    def isolation_level(self) -> str | None:
        return self._connection.isolation_level if self._connection else None

    async def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        if _offload.get():
            return await asyncio.to_thread(fn, *args)
        return fn(*args)

    async def _run_statement(self, sql: str, fn: Callable[..., Any], *args: Any) -> Any:
        head = sql.lstrip()[:16].upper()
        begins_write = head.startswith("BEGIN") and "DEFERRED" not in head
        if begins_write and self._holds_lock is None:
            lock = _writer_lock(self._path)
            if lock.locked():
                try:
                    await asyncio.wait_for(lock.acquire(), self._lock_timeout)
                except TimeoutError:
                    raise sqlite3.OperationalError("database is locked") from None
            else:
                await lock.acquire()  # free: returns at once, without a trip through the loop
            self._holds_lock = lock
        try:
            result = await self._call(fn, *args)
        except BaseException:
            if begins_write or not self._in_transaction():
                self._release()
            raise
        if not self._in_transaction():
            self._release()  # COMMIT / ROLLBACK issued as SQL, or a failed BEGIN
        return result

    def _in_transaction(self) -> bool:
        return self._connection is not None and self._connection.in_transaction

    def _release(self) -> None:
        if self._holds_lock is not None:
            lock, self._holds_lock = self._holds_lock, None
            lock.release()

    def cursor(self) -> Cursor:
        return Cursor(self)

    async def commit(self) -> None:
        try:
            if self._connection is not None:
                await self._call(self._connection.commit)
        finally:
            if not self._in_transaction():
                self._release()

    async def rollback(self) -> None:
        try:
            if self._connection is not None:
                self._connection.rollback()
        finally:
            self._release()

    async def create_function(self, *args: Any, **kw: Any) -> None:
        if self._connection is not None:
            self._connection.create_function(*args, **kw)

    async def close(self) -> None:
        self.stop()

    def stop(self) -> None:
        self._release()
        if self._connection is not None:
            conn, self._connection = self._connection, None
            conn.close()


def creator(path: str, *, busy_timeout_ms: int, pragmas: Sequence[str]) -> Callable[[], Any]:
    """An `async_creator` for create_async_engine: opens `path` with the given pragmas."""

    async def connect() -> Connection:
        raw = sqlite3.connect(
            path,
            timeout=busy_timeout_ms / 1000,
            isolation_level=None,  # SQLAlchemy's begin listener emits BEGIN itself
            check_same_thread=False,  # offloaded statements run on a worker thread, one at a time
            detect_types=0,
        )
        for pragma in pragmas:
            raw.execute(pragma)
        return Connection(raw, path, lock_timeout=busy_timeout_ms / 1000)

    return connect
