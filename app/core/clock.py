"""The one place business code gets the time from."""

from datetime import UTC, datetime
from typing import Annotated, Protocol

from fastapi import Depends, Request


class Clock(Protocol):
    def now(self) -> datetime:
        """Return the current time, timezone-aware UTC."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


def row_timestamp() -> datetime:
    """Wall-clock time for row bookkeeping (created_at/updated_at) only; business times come
    from the injected Clock. Set in Python rather than by the database so SQLite stores it in
    the same format as every other timestamp and keyset pagination compares like with like."""
    return datetime.now(UTC)


async def get_clock(request: Request) -> Clock:
    """Return the app's clock (tests install a frozen one on app.state)."""
    return request.app.state.clock


ClockDep = Annotated[Clock, Depends(get_clock)]
