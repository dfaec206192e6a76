"""Engine and session factories, and the request unit of work."""

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from app.core.config import DatabaseSettings
from app.core.errors import AppError

READONLY_OPTION = "linli_readonly"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def create_engine(db: DatabaseSettings) -> AsyncEngine:
    """Create the async engine; SQLite is set up to serve concurrent requests."""
    url = make_url(db.url)
    if url.get_backend_name() != "sqlite":
        return create_async_engine(
            url, echo=db.echo, pool_size=db.pool_size, max_overflow=db.max_overflow, pool_pre_ping=True
        )
    if url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(
        url, echo=db.echo, connect_args={"timeout": db.sqlite_busy_timeout_ms / 1000}
    )
    _configure_sqlite(engine, db.sqlite_busy_timeout_ms)
    return engine


def _configure_sqlite(engine: AsyncEngine, busy_timeout_ms: int) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy emit BEGIN itself (below) instead of the driver's implicit deferred BEGIN.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        # A writing transaction takes the write lock up front (BEGIN IMMEDIATE), so it waits on
        # busy_timeout instead of failing with "database is locked" when it upgrades a read lock
        # mid-transaction. This also serialises read-modify-write rules (one winner of a claim)
        # the way SELECT ... FOR UPDATE does on PostgreSQL. Read-only requests use a deferred
        # transaction and, under WAL, never wait for writers.
        mode = "DEFERRED" if conn.get_execution_options().get(READONLY_OPTION) else "IMMEDIATE"
        conn.exec_driver_sql(f"BEGIN {mode}")


def create_sessionmaker(bind: Any) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(bind=bind, expire_on_commit=False, autoflush=True)


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One transaction per request, committed before the response is sent."""
    maker: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    async with maker() as session:
        if request.method in _SAFE_METHODS and isinstance(maker.kw.get("bind"), AsyncEngine):
            await session.connection(execution_options={READONLY_OPTION: True})
        try:
            yield session
            await session.commit()
            after_commit = getattr(request.app.state, "after_commit", None)
            if after_commit is not None:
                after_commit(session.info)
        except AppError as exc:
            await (session.commit() if exc.commit_on_raise else session.rollback())
            raise
        except BaseException:
            await session.rollback()
            raise


# scope="function": the commit runs right after the endpoint, before the response goes out, so a
# failing commit turns into an error response rather than a 200 for data that was never stored.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
