"""Rate limits per user and per client IP, shared by every process through Redis when REDIS_URL
is set (in-process counters otherwise).

Fixed one-minute windows: simple, one Redis round trip (INCR + EXPIRE in a pipeline), and good
enough against floods and scripted abuse; a burst of twice the limit across a window boundary is
accepted. Limits are per route group (login, upload, create), set in LINLI_RATE_LIMIT__*.
"""

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from fastapi import Depends, Request

from app.auth.dependencies import CurrentActor
from app.core.clock import Clock
from app.core.errors import TooManyRequests

log = logging.getLogger("linli.ratelimit")

WINDOW_SECONDS = 60


class RateLimited(TooManyRequests):
    code = "request.rate_limited"
    message = "操作太频繁，请稍后再试"

    def __init__(self, retry_after: int) -> None:
        super().__init__(retry_after=retry_after)
        self.headers = {"Retry-After": str(retry_after)}  # type: ignore[misc]


class Counter(Protocol):
    async def hit(self, key: str, window_start: int) -> int:
        """Count one hit in this window; returns the window's count so far."""
        ...


class MemoryCounter:
    """One process's counters; windows older than the current one are dropped as time passes."""

    def __init__(self) -> None:
        self._counts: dict[tuple[str, int], int] = {}
        self._window = 0

    async def hit(self, key: str, window_start: int) -> int:
        if window_start != self._window:
            self._counts = {k: v for k, v in self._counts.items() if k[1] >= window_start}
            self._window = window_start
        n = self._counts.get((key, window_start), 0) + 1
        self._counts[(key, window_start)] = n
        return n


class RedisCounter:
    """Counters in Redis, shared by every process."""

    def __init__(self, redis: Any) -> None:
        self.redis = redis

    async def hit(self, key: str, window_start: int) -> int:
        name = f"linli:rl:{key}:{window_start}"
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.incr(name)
            pipe.expire(name, WINDOW_SECONDS * 2)
            count, _ = await pipe.execute()
        return int(count)


@dataclass(frozen=True)
class Limit:
    per_user: int
    per_ip: int


def window(now: datetime) -> tuple[int, int]:
    """The current window's start (epoch seconds) and the seconds until the next one."""
    ts = int(now.timestamp())
    start = ts - ts % WINDOW_SECONDS
    return start, max(start + WINDOW_SECONDS - ts, 1)


async def check(
    counter: Counter, *, group: str, limit: Limit, user_id: uuid.UUID | None, ip: str | None, now: datetime
) -> None:
    """Count a request against its user's and its IP's limits; RateLimited when over either."""
    start, retry_after = window(now)
    keys = []
    if user_id is not None and limit.per_user > 0:
        keys.append((f"{group}:u:{user_id}", limit.per_user))
    if ip and limit.per_ip > 0:
        keys.append((f"{group}:ip:{ip}", limit.per_ip))
    for key, allowed in keys:
        try:
            count = await counter.hit(key, start)
        except Exception as err:
            # A limiter that is down must not take the service down with it.
            log.warning("rate limiter unavailable (%r); request let through", err)
            return
        if count > allowed:
            raise RateLimited(retry_after)


def client_ip(request: Request) -> str | None:
    # uvicorn's --proxy-headers (trusted proxies only) has already put the real client here.
    return request.client.host if request.client else None


def limited(group: str, *, per_user: bool = True) -> Any:
    """A route dependency counting the request against `group`'s limits (settings.rate_limit):
    per user for signed-in routes, per client IP always."""

    async def run(request: Request, user_id: uuid.UUID | None) -> None:
        settings = request.app.state.settings
        if not settings.rate_limit.enabled:
            return
        limit = getattr(settings.rate_limit, group)
        clock: Clock = request.app.state.clock
        await check(
            request.app.state.rate_counter,
            group=group,
            limit=Limit(per_user=limit.per_user, per_ip=limit.per_ip),
            user_id=user_id,
            ip=client_ip(request),
            now=clock.now(),
        )

    if per_user:

        async def signed_in(request: Request, actor: CurrentActor) -> None:
            await run(request, actor.user_id)

        return Depends(signed_in)

    async def anonymous(request: Request) -> None:
        await run(request, None)

    return Depends(anonymous)
