"""Engine and session factories, and the request unit of work."""

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from app.core import sqlite_inline
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
    if not url.database or url.database == ":memory:" or url.query.get("mode") == "memory":
        # Only for tools that never query (the OpenAPI export): the app needs a database file.
        return create_async_engine(url, echo=db.echo)
    path = Path(url.database)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Statements run on the event-loop thread, writers queue on an asyncio lock (sqlite_inline).
    engine = create_async_engine(
        url,
        echo=db.echo,
        pool_size=db.pool_size,
        max_overflow=db.max_overflow,
        async_creator=sqlite_inline.creator(
            str(path),
            busy_timeout_ms=db.sqlite_busy_timeout_ms,
            pragmas=(
                "PRAGMA journal_mode=WAL",
                "PRAGMA synchronous=NORMAL",
                "PRAGMA foreign_keys=ON",
                f"PRAGMA busy_timeout={int(db.sqlite_busy_timeout_ms)}",
            ),
        ),
    )
    _configure_sqlite(engine)
    return engine


def _configure_sqlite(engine: AsyncEngine) -> None:
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
