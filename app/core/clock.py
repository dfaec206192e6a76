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


def get_clock(request: Request) -> Clock:
    """Return the app's clock (tests install a frozen one on app.state)."""
    return request.app.state.clock


ClockDep = Annotated[Clock, Depends(get_clock)]
