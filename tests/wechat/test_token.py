"""AccessTokenProvider: stable_token in normal mode, cached, single-flight within and across processes."""

import asyncio
import logging
import os
import uuid
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr
from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.core.config import WeChatSettings
from app.wechat.client import WeChatApiError, WeChatTransientError
from app.wechat.token import AccessTokenProvider, MemoryTokenStore, RedisTokenStore, StoredToken
from tests.fake_wechat import FAKE_APP_ID, FAKE_APP_SECRET, create_fake_wechat_app

FAKE_BASE = "https://fake-wechat.test"
# CI sets LINLI_TEST_REDIS_URL (and starts Redis); there an unreachable Redis fails the run.
REDIS_URL = os.environ.get("LINLI_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
REDIS_REQUIRED = "LINLI_TEST_REDIS_URL" in os.environ
NORMAL_MODE_BODY = {
    "grant_type": "client_credential",
    "appid": FAKE_APP_ID,
    "secret": FAKE_APP_SECRET,
    "force_refresh": False,
}


def settings(**overrides: object) -> WeChatSettings:
    values: dict[str, object] = {
        "client": "http",
        "app_id": FAKE_APP_ID,
        "app_secret": SecretStr(FAKE_APP_SECRET),
        "api_base": FAKE_BASE,
        "timeout_seconds": 2.0,
    }
    values.update(overrides)
    return WeChatSettings.model_validate(values)


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def fake_app() -> FastAPI:
    return create_fake_wechat_app()


@pytest.fixture
async def http(fake_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=fake_app), base_url=FAKE_BASE) as client:
        yield client


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def provider(http: httpx.AsyncClient, clock: Clock) -> AccessTokenProvider:
    return AccessTokenProvider(settings(), http, store=MemoryTokenStore(clock=clock), clock=clock)


def mock_http(handler: Callable) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.MockTransport(handler))


def answering(payload: dict | bytes, status: int = 200) -> Callable[[httpx.Request], httpx.Response]:
    def respond(request: httpx.Request) -> httpx.Response:
        if isinstance(payload, bytes):
            return httpx.Response(status, content=payload)
        return httpx.Response(status, json=payload)

    return respond


class TestFetch:
    async def test_first_get_asks_stable_token_in_normal_mode(
        self, provider: AccessTokenProvider, fake_app: FastAPI
    ) -> None:
        assert await provider.get() == "fake-1"

        assert fake_app.state.token_calls == 1
        assert fake_app.state.token_requests == [NORMAL_MODE_BODY]

    async def test_fifty_concurrent_gets_make_exactly_one_call(
        self, provider: AccessTokenProvider, fake_app: FastAPI
    ) -> None:
        fake_app.state.token_delay_seconds = 0.02

        tokens = await asyncio.gather(*(provider.get() for _ in range(50)))

        assert set(tokens) == {"fake-1"}
        assert fake_app.state.token_calls == 1

    async def test_token_is_reused_until_expires_in_minus_the_margin(
        self, provider: AccessTokenProvider, fake_app: FastAPI, clock: Clock
    ) -> None:
        await provider.get()
        clock.now += 7200 - 120 - 1
        await provider.get()
        assert fake_app.state.token_calls == 1

        clock.now += 2
        assert await provider.get() == "fake-1"  # normal mode: WeChat answers the same token again
        assert fake_app.state.token_calls == 2

    async def test_a_short_expires_in_is_honoured(
        self, provider: AccessTokenProvider, fake_app: FastAPI, clock: Clock
    ) -> None:
        fake_app.state.token_expires_in = 300

        await provider.get()
        clock.now += 179
        await provider.get()
        assert fake_app.state.token_calls == 1
        clock.now += 2
        await provider.get()
        assert fake_app.state.token_calls == 2

    async def test_expires_in_under_the_margin_still_caches_for_half_its_life(
        self, provider: AccessTokenProvider, fake_app: FastAPI, clock: Clock
    ) -> None:
        fake_app.state.token_expires_in = 100

        await provider.get()
        clock.now += 49
        await provider.get()
        assert fake_app.state.token_calls == 1
        clock.now += 2
        await provider.get()
        assert fake_app.state.token_calls == 2

    async def test_the_memory_cache_rereads_the_store_after_a_few_seconds(
        self, http: httpx.AsyncClient, clock: Clock
    ) -> None:
        store = CountingStore(MemoryTokenStore(clock=clock))
        provider = AccessTokenProvider(settings(), http, store=store, clock=clock, local_ttl_seconds=5)

        await provider.get()
        reads = store.reads
        clock.now += 4
        await provider.get()
        assert store.reads == reads
        clock.now += 2
        await provider.get()
        assert store.reads == reads + 1

    async def test_force_refresh_is_never_sent(
        self, provider: AccessTokenProvider, fake_app: FastAPI, clock: Clock
    ) -> None:
        for _ in range(3):
            token = await provider.get()
            await provider.invalidate(token)
            clock.now += 8000

        assert fake_app.state.token_calls == 3
        assert all(body["force_refresh"] is False for body in fake_app.state.token_requests)


class CountingStore:
    def __init__(self, inner: MemoryTokenStore) -> None:
        self.inner = inner
        self.reads = 0

    async def get(self) -> StoredToken | None:
        self.reads += 1
        return await self.inner.get()

    async def set(self, token: str, ttl_seconds: float) -> None:
        await self.inner.set(token, ttl_seconds)

    async def delete_if(self, token: str) -> None:
        await self.inner.delete_if(token)

    async def acquire_lock(self, ttl_ms: int) -> str | None:
        return await self.inner.acquire_lock(ttl_ms)

    async def release_lock(self, lock_id: str) -> None:
        await self.inner.release_lock(lock_id)


class TestInvalidate:
    async def test_invalidating_the_current_token_makes_the_next_get_fetch(
        self, provider: AccessTokenProvider, fake_app: FastAPI
    ) -> None:
        await provider.invalidate(await provider.get())

        await provider.get()
        assert fake_app.state.token_calls == 2

    async def test_invalidating_another_token_keeps_the_current_one(
        self, provider: AccessTokenProvider, fake_app: FastAPI
    ) -> None:
        await provider.get()

        await provider.invalidate("some-older-token")

        assert await provider.get() == "fake-1"
        assert fake_app.state.token_calls == 1

    async def test_a_fresher_token_in_the_store_survives_invalidating_the_stale_one(
        self, http: httpx.AsyncClient, fake_app: FastAPI, clock: Clock
    ) -> None:
        store = MemoryTokenStore(clock=clock)
        provider = AccessTokenProvider(settings(), http, store=store, clock=clock)
        await store.set("stale", 100)
        assert await provider.get() == "stale"
        # Another process replaced it meanwhile.
        await store.set("fresh", 100)

        await provider.invalidate("stale")

        assert await provider.get() == "fresh"
        assert fake_app.state.token_calls == 0


class TestErrors:
    @pytest.mark.parametrize(("knob", "errcode"), [("token_busy_next", -1), ("token_rate_limit_next", 45011)])
    async def test_busy_and_rate_limit_are_transient(
        self, provider: AccessTokenProvider, fake_app: FastAPI, knob: str, errcode: int
    ) -> None:
        setattr(fake_app.state, knob, 1)

        with pytest.raises(WeChatTransientError) as info:
            await provider.get()

        assert info.value.errcode == errcode
        assert fake_app.state.token_calls == 1
        # Nothing was cached: the next call fetches again and succeeds.
        assert await provider.get() == "fake-1"

    async def test_http_502_is_transient(self, provider: AccessTokenProvider, fake_app: FastAPI) -> None:
        fake_app.state.token_fail_next_502 = 1

        with pytest.raises(WeChatTransientError):
            await provider.get()

    async def test_network_error_is_transient_and_names_no_secret(self) -> None:
        def refuse(request: httpx.Request) -> httpx.Response:
            raise httpx.ConnectError(f"cannot reach {request.url} {request.content!r}", request=request)

        async with mock_http(refuse) as http:
            with pytest.raises(WeChatTransientError) as info:
                await AccessTokenProvider(settings(), http).get()

        assert FAKE_APP_SECRET not in str(info.value)
        assert info.value.__cause__ is None

    async def test_timeout_is_transient(self) -> None:
        async def hang(request: httpx.Request) -> httpx.Response:
            await asyncio.sleep(1)
            return httpx.Response(200, json={"access_token": "late", "expires_in": 7200})

        async with mock_http(hang) as http:
            with pytest.raises(WeChatTransientError, match="timed out"):
                await AccessTokenProvider(settings(timeout_seconds=0.05), http).get()

    @pytest.mark.parametrize(
        "payload",
        [b"<html>gateway</html>", b"[1, 2]", {"errcode": 0, "errmsg": "ok"}, {"access_token": ""}],
    )
    async def test_unusable_answer_is_transient(self, payload: dict | bytes) -> None:
        async with mock_http(answering(payload)) as http:
            with pytest.raises(WeChatTransientError):
                await AccessTokenProvider(settings(), http).get()

    @pytest.mark.parametrize("errcode", [40001, 40013, 40125, 40243, 41002, 41004])
    async def test_credential_errors_raise_api_error_and_log_the_errcode(
        self, errcode: int, caplog: pytest.LogCaptureFixture
    ) -> None:
        caplog.set_level(logging.DEBUG)

        async with mock_http(answering({"errcode": errcode, "errmsg": "invalid credential"})) as http:
            with pytest.raises(WeChatApiError) as info:
                await AccessTokenProvider(settings(), http).get()

        assert info.value.errcode == errcode
        errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
        assert len(errors) == 1
        assert str(errcode) in errors[0]
        assert FAKE_APP_SECRET not in caplog.text

    async def test_wrong_secret_against_the_fake_is_40125_without_the_secret_in_logs(
        self, http: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
    ) -> None:
        caplog.set_level(logging.DEBUG)
        provider = AccessTokenProvider(settings(app_secret=SecretStr("wrong-secret-value")), http)

        with pytest.raises(WeChatApiError) as info:
            await provider.get()

        assert info.value.errcode == 40125
        assert "40125" in caplog.text
        assert "wrong-secret-value" not in caplog.text
        assert "wrong-secret-value" not in str(info.value)

    async def test_wrong_appid_is_40013(self, http: httpx.AsyncClient) -> None:
        with pytest.raises(WeChatApiError) as info:
            await AccessTokenProvider(settings(app_id="wx-someone-else"), http).get()

        assert info.value.errcode == 40013

    @pytest.mark.parametrize(("missing", "errcode"), [("app_id", 41002), ("app_secret", 41004)])
    async def test_missing_credentials_fail_without_calling_wechat(
        self, http: httpx.AsyncClient, fake_app: FastAPI, missing: str, errcode: int
    ) -> None:
        empty = SecretStr("") if missing == "app_secret" else ""

        with pytest.raises(WeChatApiError) as info:
            await AccessTokenProvider(settings(**{missing: empty}), http).get()

        assert info.value.errcode == errcode
        assert fake_app.state.token_calls == 0

    async def test_concurrent_waiters_share_a_failed_fetch_instead_of_repeating_it(
        self, provider: AccessTokenProvider, fake_app: FastAPI
    ) -> None:
        fake_app.state.token_busy_next = 1
        fake_app.state.token_delay_seconds = 0.02

        results = await asyncio.gather(*(provider.get() for _ in range(20)), return_exceptions=True)

        assert all(isinstance(r, WeChatTransientError) for r in results)
        assert fake_app.state.token_calls == 1
        assert await provider.get() == "fake-1"
        assert fake_app.state.token_calls == 2


# ---------------------------------------------------------------------------------------------
# Redis: the token shared by several processes (each simulated by its own connection and provider).


@pytest.fixture
async def redis_url() -> str:
    probe = Redis.from_url(REDIS_URL, socket_connect_timeout=0.5, socket_timeout=0.5)
    try:
        await probe.ping()
    except (RedisError, OSError) as exc:
        if REDIS_REQUIRED:
            raise
        pytest.skip(
            f"Redis is not reachable at {REDIS_URL} ({type(exc).__name__}); skipping shared-cache tests"
        )
    finally:
        await probe.aclose()
    return REDIS_URL


@pytest.fixture
def app_id() -> str:
    # A unique app id per test keeps its keys apart from other tests and other users of this Redis.
    return f"wx-test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def redis_clients(redis_url: str, app_id: str) -> AsyncIterator[Callable[[], Redis]]:
    clients: list[Redis] = []

    def connect() -> Redis:
        client = Redis.from_url(redis_url)
        clients.append(client)
        return client

    yield connect

    cleaner = connect()
    await cleaner.delete(f"wechat:atk:{app_id}", f"wechat:atk:{app_id}:lock")
    for client in clients:
        await client.aclose()


@pytest.fixture
def redis_fake_app(app_id: str) -> FastAPI:
    return create_fake_wechat_app(app_id=app_id)


@pytest.fixture
async def redis_http(redis_fake_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=redis_fake_app)
    async with httpx.AsyncClient(transport=transport, base_url=FAKE_BASE) as client:
        yield client


@pytest.fixture
def process(redis_clients: Callable[[], Redis], redis_http: httpx.AsyncClient, app_id: str):
    """A provider as one process would build it: its own Redis connection and memory cache."""

    def make(**kwargs: object) -> AccessTokenProvider:
        store = RedisTokenStore(redis_clients(), app_id)
        return AccessTokenProvider(settings(app_id=app_id), redis_http, store=store, **kwargs)

    return make


class TestRedisStore:
    async def test_token_is_stored_under_the_app_key_for_expires_in_minus_margin(
        self, process, redis_clients, app_id: str
    ) -> None:
        token = await process().get()

        redis = redis_clients()
        assert await redis.get(f"wechat:atk:{app_id}") == token.encode()
        assert 7080 - 5 <= await redis.ttl(f"wechat:atk:{app_id}") <= 7080
        # The fetch lock is released once the token is stored.
        assert await redis.exists(f"wechat:atk:{app_id}:lock") == 0

    async def test_two_processes_share_one_fetch(self, process, redis_fake_app: FastAPI) -> None:
        first, second = process(lock_poll_seconds=0.01), process(lock_poll_seconds=0.01)
        redis_fake_app.state.token_delay_seconds = 0.05

        tokens = await asyncio.gather(*(p.get() for _ in range(25) for p in (first, second)))

        assert set(tokens) == {"fake-1"}
        assert redis_fake_app.state.token_calls == 1

    async def test_a_later_process_reads_the_token_from_redis(self, process, redis_fake_app: FastAPI) -> None:
        assert await process().get() == await process().get()

        assert redis_fake_app.state.token_calls == 1

    async def test_the_lock_loser_gets_the_winners_token(
        self, process, redis_clients, redis_fake_app: FastAPI, app_id: str
    ) -> None:
        redis = redis_clients()
        # Another process holds the fetch lock and is fetching.
        assert await redis.set(f"wechat:atk:{app_id}:lock", "other-process", nx=True, px=10_000)
        loser = asyncio.create_task(process(lock_wait_seconds=2.0, lock_poll_seconds=0.01).get())
        await asyncio.sleep(0.1)
        assert not loser.done()

        await redis.set(f"wechat:atk:{app_id}", "winners-token", px=60_000)

        assert await asyncio.wait_for(loser, 1) == "winners-token"
        assert redis_fake_app.state.token_calls == 0
        # The loser never touches the winner's lock.
        assert await redis.get(f"wechat:atk:{app_id}:lock") == b"other-process"

    async def test_the_lock_loser_fetches_anyway_when_no_token_appears(
        self, process, redis_clients, redis_fake_app: FastAPI, app_id: str
    ) -> None:
        redis = redis_clients()
        await redis.set(f"wechat:atk:{app_id}:lock", "crashed-process", px=10_000)

        token = await process(lock_wait_seconds=0.1, lock_poll_seconds=0.02).get()

        assert token == "fake-1"
        assert redis_fake_app.state.token_calls == 1
        assert await redis.get(f"wechat:atk:{app_id}") == b"fake-1"

    async def test_invalidate_keeps_a_fresher_token_another_process_stored(
        self, process, redis_clients, redis_fake_app: FastAPI, app_id: str
    ) -> None:
        redis = redis_clients()
        first = process()
        stale = await first.get()
        await redis.set(f"wechat:atk:{app_id}", "fresh-from-elsewhere", px=60_000)

        await first.invalidate(stale)

        assert await redis.get(f"wechat:atk:{app_id}") == b"fresh-from-elsewhere"
        assert await first.get() == "fresh-from-elsewhere"
        assert redis_fake_app.state.token_calls == 1

    async def test_invalidate_deletes_the_token_when_it_is_still_the_bad_one(
        self, process, redis_clients, app_id: str
    ) -> None:
        first = process()
        await first.invalidate(await first.get())

        assert await redis_clients().exists(f"wechat:atk:{app_id}") == 0

    async def test_an_unreachable_redis_degrades_to_fetching_directly(
        self, http: httpx.AsyncClient, fake_app: FastAPI, caplog: pytest.LogCaptureFixture
    ) -> None:
        caplog.set_level(logging.WARNING)
        dead = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
        try:
            provider = AccessTokenProvider(settings(), http, store=RedisTokenStore(dead, FAKE_APP_ID))

            assert await provider.get() == "fake-1"
            await provider.invalidate("fake-1")
        finally:
            await dead.aclose()

        assert fake_app.state.token_calls == 1
        assert "access_token cache" in caplog.text
        assert FAKE_APP_SECRET not in caplog.text
