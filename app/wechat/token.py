"""The WeChat access_token, shared by every process (WECHAT.md §2.3).

Only getStableAccessToken in normal mode (``force_refresh`` false, never true): asking again
while a token is valid returns the same token, so a process that fetches "unnecessarily" does no
harm. The token is cached in a TokenStore (Redis when several processes run, memory otherwise)
for ``expires_in − token_margin_seconds``, with a per-process memory cache of a few seconds in
front. Fetches are single-flight twice over: an asyncio.Lock within the process, and a Redis
``SET NX PX`` lock across processes whose loser polls briefly for the winner's token and fetches
anyway when it does not appear. ``invalidate(bad)`` drops the cached token only while it still
equals ``bad``, so a fresh token another process stored meanwhile survives.

Neither the AppSecret nor a token is ever logged, or carried by a raised error.
"""

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.core.config import WeChatSettings
from app.wechat.client import WeChatApiError, WeChatTransientError

log = logging.getLogger("linli.wechat")

STABLE_TOKEN_PATH = "/cgi-bin/stable_token"

# stable_token errcodes: worth retrying later, or only an operator can fix them (alerted on).
TOKEN_TRANSIENT_ERRCODES = frozenset({-1, 45011})
TOKEN_CREDENTIAL_ERRCODES = frozenset({40001, 40013, 40125, 40243, 41002, 41004})

# The platform rotates stable tokens 5 minutes early, so expires_in is at least 300 in practice.
_FALLBACK_EXPIRES_IN = 300
_UNLOCK = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end"


@dataclass(frozen=True)
class StoredToken:
    token: str
    ttl_seconds: float  # how much longer the store keeps it


class TokenStore(Protocol):
    """Where the access_token lives between fetches (shared by all processes, or not)."""

    async def get(self) -> StoredToken | None: ...

    async def set(self, token: str, ttl_seconds: float) -> None: ...

    async def delete_if(self, token: str) -> None:
        """Drop the stored token, but only if it is still this one."""
        ...

    async def acquire_lock(self, ttl_ms: int) -> str | None:
        """Take the fetch lock: its id, or None when another process holds it."""
        ...

    async def release_lock(self, lock_id: str) -> None: ...


class MemoryTokenStore:
    """A single process's token (no lock needed beyond the provider's asyncio.Lock)."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._token: str | None = None
        self._expires_at = 0.0

    async def get(self) -> StoredToken | None:
        remaining = self._expires_at - self._clock()
        if self._token is None or remaining <= 0:
            return None
        return StoredToken(self._token, remaining)

    async def set(self, token: str, ttl_seconds: float) -> None:
        self._token, self._expires_at = token, self._clock() + ttl_seconds

    async def delete_if(self, token: str) -> None:
        if self._token == token:
            self._token = None

    async def acquire_lock(self, ttl_ms: int) -> str | None:
        return "local"

    async def release_lock(self, lock_id: str) -> None:
        return None


class RedisTokenStore:
    """The token in Redis under ``wechat:atk:{appid}``, shared by every process of every replica.

    A Redis failure degrades to fetching from WeChat directly (normal mode is idempotent): reads
    miss, writes are dropped, and the lock is granted, each with a warning.
    """

    def __init__(self, redis: Redis, app_id: str) -> None:
        self._redis = redis
        self.key = f"wechat:atk:{app_id}"
        self.lock_key = f"{self.key}:lock"

    async def get(self) -> StoredToken | None:
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                value, pttl = await pipe.get(self.key).pttl(self.key).execute()
        except RedisError as exc:
            log.warning("access_token cache read failed: %s", type(exc).__name__)
            return None
        if value is None:
            return None
        token = value.decode() if isinstance(value, bytes) else str(value)
        # PTTL is -1 for a key without expiry (set by hand): trust it for a short while only.
        ttl = pttl / 1000 if isinstance(pttl, int) and pttl > 0 else 1.0
        return StoredToken(token, ttl) if token else None

    async def set(self, token: str, ttl_seconds: float) -> None:
        try:
            await self._redis.set(self.key, token, px=max(int(ttl_seconds * 1000), 1))
        except RedisError as exc:
            log.warning("access_token cache write failed: %s", type(exc).__name__)

    async def delete_if(self, token: str) -> None:
        try:
            await self._redis.eval(_UNLOCK, 1, self.key, token)  # type: ignore[misc]
        except RedisError as exc:
            log.warning("access_token cache delete failed: %s", type(exc).__name__)

    async def acquire_lock(self, ttl_ms: int) -> str | None:
        lock_id = uuid.uuid4().hex
        try:
            acquired = await self._redis.set(self.lock_key, lock_id, nx=True, px=ttl_ms)
        except RedisError as exc:
            log.warning("access_token lock failed, fetching without it: %s", type(exc).__name__)
            return lock_id
        return lock_id if acquired else None

    async def release_lock(self, lock_id: str) -> None:
        try:
            await self._redis.eval(_UNLOCK, 1, self.lock_key, lock_id)  # type: ignore[misc]
        except RedisError as exc:
            log.warning("access_token lock release failed: %s", type(exc).__name__)


class AccessTokenProvider:
    """The current access_token, fetched with getStableAccessToken in normal mode when needed."""

    def __init__(
        self,
        cfg: WeChatSettings,
        http: httpx.AsyncClient,
        *,
        store: TokenStore | None = None,
        clock: Callable[[], float] = time.monotonic,
        local_ttl_seconds: float = 5.0,
        lock_wait_seconds: float | None = None,
        lock_poll_seconds: float = 0.05,
    ) -> None:
        self._cfg = cfg
        self._http = http
        self.store: TokenStore = store if store is not None else MemoryTokenStore(clock=clock)
        self._clock = clock
        self._local_ttl = local_ttl_seconds
        # The winner's fetch takes at most timeout_seconds; a loser waits that long, then fetches itself.
        self._lock_wait = cfg.timeout_seconds if lock_wait_seconds is None else lock_wait_seconds
        self._lock_poll = lock_poll_seconds
        self._lock_ttl_ms = int((cfg.timeout_seconds + 5) * 1000)
        self._url = cfg.api_base.rstrip("/") + STABLE_TOKEN_PATH
        self._lock = asyncio.Lock()
        self._local: str | None = None
        self._local_until = 0.0
        self._attempts = 0  # fetch attempts finished, so lock waiters can see one failed meanwhile
        self._last_error: Exception | None = None

    async def get(self) -> str:
        """The cached token, or a freshly fetched one (WeChatTransientError / WeChatApiError)."""
        token = self._cached()
        if token is not None:
            return token
        seen = self._attempts
        async with self._lock:
            token = self._cached()
            if token is not None:
                return token
            if self._attempts != seen and self._last_error is not None:
                # The fetch this call waited for failed just now: share its error, do not repeat it.
                raise self._last_error
            return await self._load()

    async def invalidate(self, bad_token: str) -> None:
        """Forget bad_token (WeChat rejected it), unless a fresher token has replaced it already."""
        if self._local == bad_token:
            self._local = None
        await self.store.delete_if(bad_token)

    def _cached(self) -> str | None:
        if self._local is not None and self._clock() < self._local_until:
            return self._local
        return None

    def _remember(self, token: str, ttl_seconds: float) -> str:
        self._local = token
        self._local_until = self._clock() + min(self._local_ttl, ttl_seconds)
        return token

    async def _load(self) -> str:
        stored = await self.store.get()
        if stored is not None:
            return self._remember(stored.token, stored.ttl_seconds)
        lock_id = await self.store.acquire_lock(self._lock_ttl_ms)
        if lock_id is None:
            stored = await self._wait_for_winner()
            if stored is not None:
                return self._remember(stored.token, stored.ttl_seconds)
            log.info("access_token lock holder stored no token in %.1fs; fetching anyway", self._lock_wait)
        try:
            if lock_id is not None:
                # Another process may have stored one between our read and our lock.
                stored = await self.store.get()
                if stored is not None:
                    return self._remember(stored.token, stored.ttl_seconds)
            token, ttl = await self._fetch_counted()
            await self.store.set(token, ttl)
            return self._remember(token, ttl)
        finally:
            if lock_id is not None:
                await self.store.release_lock(lock_id)

    async def _wait_for_winner(self) -> StoredToken | None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._lock_wait
        while loop.time() < deadline:
            await asyncio.sleep(self._lock_poll)
            stored = await self.store.get()
            if stored is not None:
                return stored
        return None

    async def _fetch_counted(self) -> tuple[str, float]:
        try:
            result = await self._fetch()
        except Exception as exc:
            self._last_error = exc
            raise
        else:
            self._last_error = None
            return result
        finally:
            self._attempts += 1

    async def _fetch(self) -> tuple[str, float]:
        """One stable_token call in normal mode: (token, seconds to cache it)."""
        app_id, secret = self._cfg.app_id, self._cfg.app_secret.get_secret_value()
        if not app_id or not secret:
            errcode = 41002 if not app_id else 41004
            log.error("WeChat app_id / app_secret are not configured (errcode=%s)", errcode)
            raise WeChatApiError(errcode, "appid or secret missing")
        body = {"grant_type": "client_credential", "appid": app_id, "secret": secret, "force_refresh": False}
        timeout = self._cfg.timeout_seconds
        try:
            async with asyncio.timeout(timeout):
                response = await self._http.post(self._url, json=body, timeout=timeout)
        except TimeoutError:
            raise WeChatTransientError(f"stable_token timed out after {timeout}s") from None
        except httpx.TransportError as exc:
            # Only the class name: the request (and so the secret in its body) stays out of errors.
            raise WeChatTransientError(f"stable_token: {type(exc).__name__}") from None
        if response.status_code != 200:
            log.warning("stable_token answered HTTP %d", response.status_code)
            raise WeChatTransientError(f"stable_token HTTP {response.status_code}")
        payload = _json_object(response.content)
        if payload is None:
            raise WeChatTransientError("stable_token answered with a non-JSON body")
        return self._parse(payload)

    def _parse(self, payload: dict[str, Any]) -> tuple[str, float]:
        errcode = payload.get("errcode", 0)
        errmsg = str(payload.get("errmsg", ""))
        if errcode in TOKEN_TRANSIENT_ERRCODES:
            log.warning("stable_token errcode=%s errmsg=%r", errcode, errmsg)
            raise WeChatTransientError(f"stable_token errcode {errcode}", errcode=errcode)
        if errcode in TOKEN_CREDENTIAL_ERRCODES:
            # errmsg is WeChat's description ("invalid appsecret"); it never echoes the secret.
            log.error(
                "WeChat rejected our app credentials on stable_token: errcode=%s errmsg=%r", errcode, errmsg
            )
            raise WeChatApiError(errcode, errmsg)
        if errcode != 0:
            log.error("stable_token returned unexpected errcode=%s errmsg=%r", errcode, errmsg)
            if isinstance(errcode, int) and not isinstance(errcode, bool):
                raise WeChatApiError(errcode, errmsg)
            raise WeChatTransientError(f"stable_token non-integer errcode {errcode!r}")
        token = payload.get("access_token")
        if not isinstance(token, str) or not token:
            raise WeChatTransientError("stable_token answered without an access_token")
        expires_in = payload.get("expires_in")
        if not isinstance(expires_in, int) or isinstance(expires_in, bool) or expires_in <= 0:
            log.warning("stable_token answered expires_in=%r; assuming %ds", expires_in, _FALLBACK_EXPIRES_IN)
            expires_in = _FALLBACK_EXPIRES_IN
        ttl = expires_in - self._cfg.token_margin_seconds
        if ttl <= 0:
            # Too close to expiry for the margin: keep it for half its life rather than not at all.
            ttl = max(expires_in / 2, 1)
        return token, ttl


def _json_object(content: bytes) -> dict[str, Any] | None:
    """A JSON object body, whatever the content type says (WeChat's header is not relied on)."""
    try:
        payload = json.loads(content)
    except ValueError:
        return None
    return payload if isinstance(payload, dict) else None
