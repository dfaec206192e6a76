"""code2Session clients: the httpx client against the fake WeChat server, the in-process fake, the mapping."""

import dataclasses
import logging
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from app.auth.exceptions import (
    WeChatCodeInvalid,
    WeChatCodeUsed,
    WeChatMisconfigured,
    WeChatRateLimited,
    WeChatUnavailable,
    WeChatUserBlocked,
)
from app.core.config import WeChatSettings
from app.wechat.client import (
    FakeWeChatClient,
    HttpxWeChatClient,
    WeChatSession,
    build_wechat_client,
    fake_jscode2session,
    raise_for_errcode,
)
from tests.fake_wechat import FAKE_APP_ID, FAKE_APP_SECRET, create_fake_wechat_app

FAKE_BASE = "https://fake-wechat.test"


def settings(**overrides: object) -> WeChatSettings:
    values: dict[str, object] = {
        "client": "http",
        "app_id": FAKE_APP_ID,
        "app_secret": SecretStr(FAKE_APP_SECRET),
        "api_base": FAKE_BASE,
        # Generous for in-process calls; the timeout tests lower it.
        "timeout_seconds": 2.0,
    }
    values.update(overrides)
    return WeChatSettings.model_validate(values)


@pytest.fixture
def fake_app() -> FastAPI:
    return create_fake_wechat_app()


@pytest.fixture
async def http(fake_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=fake_app), base_url=FAKE_BASE) as client:
        yield client


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def make_client(http: httpx.AsyncClient, sleeps: list[float]):
    async def record_sleep(seconds: float) -> None:
        sleeps.append(seconds)

    def make(**overrides: object) -> HttpxWeChatClient:
        return HttpxWeChatClient(settings(**overrides), http, sleep=record_sleep)

    return make


@pytest.fixture
def client(make_client) -> HttpxWeChatClient:
    return make_client()


class TestHttpxCodeToSession:
    async def test_ok_code_returns_the_openid_from_wechat(self, client: HttpxWeChatClient) -> None:
        session = await client.code_to_session("ok:resident_42")

        assert session == WeChatSession(openid="resident_42", unionid=None)

    async def test_request_carries_appid_secret_js_code_and_grant_type(
        self, client: HttpxWeChatClient, fake_app: FastAPI
    ) -> None:
        await client.code_to_session("ok:alice")

        assert fake_app.state.calls == 1
        assert fake_app.state.requests == [
            {
                "appid": FAKE_APP_ID,
                "secret": FAKE_APP_SECRET,
                "js_code": "ok:alice",
                "grant_type": "authorization_code",
            }
        ]

    async def test_api_base_with_trailing_slash_still_hits_jscode2session(
        self, make_client, fake_app: FastAPI
    ) -> None:
        session = await make_client(api_base=FAKE_BASE + "/").code_to_session("ok:alice")

        assert session.openid == "alice"
        assert fake_app.state.calls == 1

    async def test_returned_session_does_not_keep_the_session_key(self, client: HttpxWeChatClient) -> None:
        session = await client.code_to_session("ok:alice")

        assert not hasattr(session, "session_key")
        assert {f.name for f in dataclasses.fields(session)} == {"openid", "unionid"}
        assert "fake==" not in repr(session)

    async def test_empty_code_is_invalid_without_calling_wechat(
        self, client: HttpxWeChatClient, fake_app: FastAPI
    ) -> None:
        with pytest.raises(WeChatCodeInvalid):
            await client.code_to_session("")

        assert fake_app.state.calls == 0

    @pytest.mark.parametrize("missing", ["app_id", "app_secret"])
    async def test_missing_app_credentials_are_misconfigured_without_calling_wechat(
        self, make_client, fake_app: FastAPI, missing: str
    ) -> None:
        empty = SecretStr("") if missing == "app_secret" else ""
        client = make_client(**{missing: empty})

        with pytest.raises(WeChatMisconfigured):
            await client.code_to_session("ok:alice")

        assert fake_app.state.calls == 0


class TestHttpxErrorMapping:
    @pytest.mark.parametrize(
        ("code", "error"),
        [
            ("bad", WeChatCodeInvalid),
            ("anything-else", WeChatCodeInvalid),
            ("ok:not valid!", WeChatCodeInvalid),
            ("used", WeChatCodeUsed),
            ("risky", WeChatUserBlocked),
            ("rl", WeChatRateLimited),
        ],
    )
    async def test_wechat_errcode_maps_to_app_error_without_retry(
        self, client: HttpxWeChatClient, fake_app: FastAPI, sleeps: list[float], code: str, error: type
    ) -> None:
        with pytest.raises(error):
            await client.code_to_session(code)

        # Only -1 and transport failures are retried; a definite answer is final.
        assert fake_app.state.calls == 1
        assert sleeps == []

    async def test_reusing_an_ok_code_raises_code_used(self, client: HttpxWeChatClient) -> None:
        await client.code_to_session("ok:alice")

        with pytest.raises(WeChatCodeUsed):
            await client.code_to_session("ok:alice")

    async def test_wrong_secret_raises_misconfigured_and_logs_an_error(
        self, make_client, caplog: pytest.LogCaptureFixture
    ) -> None:
        caplog.set_level(logging.INFO)
        client = make_client(app_secret=SecretStr("wrong-secret-value"))

        with pytest.raises(WeChatMisconfigured):
            await client.code_to_session("ok:alice")

        errors = [r for r in caplog.records if r.levelno == logging.ERROR and r.name == "linli.wechat"]
        assert len(errors) == 1
        assert "40125" in errors[0].getMessage()
        assert "wrong-secret-value" not in caplog.text

    async def test_wrong_appid_raises_misconfigured(self, make_client) -> None:
        with pytest.raises(WeChatMisconfigured):
            await make_client(app_id="wx-someone-else").code_to_session("ok:alice")


class TestHttpxRetries:
    async def test_busy_once_then_success_retries_after_a_short_backoff(
        self, client: HttpxWeChatClient, fake_app: FastAPI, sleeps: list[float]
    ) -> None:
        fake_app.state.busy_next = 1

        session = await client.code_to_session("ok:alice")

        assert session.openid == "alice"
        assert fake_app.state.calls == 2
        assert sleeps == [0.2]

    async def test_busy_twice_raises_unavailable_after_exactly_one_retry(
        self, client: HttpxWeChatClient, fake_app: FastAPI, sleeps: list[float]
    ) -> None:
        with pytest.raises(WeChatUnavailable):
            await client.code_to_session("busy")

        assert fake_app.state.calls == 2
        assert sleeps == [0.2]

    async def test_502_then_success_retries(
        self, client: HttpxWeChatClient, fake_app: FastAPI, sleeps: list[float]
    ) -> None:
        fake_app.state.fail_next_502 = 1

        session = await client.code_to_session("ok:alice")

        assert session.openid == "alice"
        assert fake_app.state.calls == 2
        assert sleeps == [0.2]

    async def test_502_twice_raises_unavailable(self, client: HttpxWeChatClient, fake_app: FastAPI) -> None:
        fake_app.state.fail_next_502 = 2

        with pytest.raises(WeChatUnavailable):
            await client.code_to_session("ok:alice")

        assert fake_app.state.calls == 2

    async def test_502_then_busy_raises_unavailable(
        self, client: HttpxWeChatClient, fake_app: FastAPI
    ) -> None:
        fake_app.state.fail_next_502 = 1
        fake_app.state.busy_next = 1

        with pytest.raises(WeChatUnavailable):
            await client.code_to_session("ok:alice")

        assert fake_app.state.calls == 2

    async def test_timeout_twice_raises_unavailable(self, make_client, fake_app: FastAPI) -> None:
        fake_app.state.slow_next = 2

        with pytest.raises(WeChatUnavailable):
            await make_client(timeout_seconds=0.05).code_to_session("ok:alice")

        assert fake_app.state.calls == 2

    async def test_timeout_once_then_success(self, make_client, fake_app: FastAPI) -> None:
        fake_app.state.slow_next = 1

        session = await make_client(timeout_seconds=0.05).code_to_session("ok:alice")

        assert session.openid == "alice"
        assert fake_app.state.calls == 2


def mock_http(handler) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.MockTransport(handler))


class TestHttpxTransportFailures:
    """Failures the fake server cannot produce: connection errors and unreadable bodies."""

    async def test_connection_error_twice_raises_unavailable(self, sleeps: list[float]) -> None:
        attempts = []

        def refuse(request: httpx.Request) -> httpx.Response:
            attempts.append(request)
            raise httpx.ConnectError("connection refused", request=request)

        async def record_sleep(seconds: float) -> None:
            sleeps.append(seconds)

        async with mock_http(refuse) as http:
            with pytest.raises(WeChatUnavailable):
                await HttpxWeChatClient(settings(), http, sleep=record_sleep).code_to_session("ok:alice")

        assert len(attempts) == 2
        assert sleeps == [0.2]

    async def test_non_json_body_is_retried_then_succeeds(self) -> None:
        bodies = iter([b"<html>gateway page</html>", b'{"openid": "alice", "session_key": "k=="}'])

        def respond(request: httpx.Request) -> httpx.Response:
            return httpx.Response(200, content=next(bodies))

        async def no_sleep(seconds: float) -> None:
            pass

        async with mock_http(respond) as http:
            session = await HttpxWeChatClient(settings(), http, sleep=no_sleep).code_to_session("ok:alice")

        assert session == WeChatSession(openid="alice")

    async def test_unionid_is_returned_when_wechat_sends_it(self) -> None:
        def respond(request: httpx.Request) -> httpx.Response:
            return httpx.Response(200, json={"openid": "alice", "session_key": "k==", "unionid": "u-1"})

        async with mock_http(respond) as http:
            session = await HttpxWeChatClient(settings(), http).code_to_session("ok:alice")

        assert session == WeChatSession(openid="alice", unionid="u-1")


class TestSecretHygiene:
    async def test_secret_and_session_key_never_reach_the_logs(
        self, client: HttpxWeChatClient, fake_app: FastAPI, caplog: pytest.LogCaptureFixture
    ) -> None:
        caplog.set_level(logging.DEBUG)
        fake_app.state.fail_next_502 = 1

        await client.code_to_session("ok:alice")
        with pytest.raises(WeChatCodeUsed):
            await client.code_to_session("ok:alice")

        # httpx logs each request URL at INFO; the secret query parameter must be masked there.
        request_lines = [r.getMessage() for r in caplog.records if r.name == "httpx"]
        assert len(request_lines) == 3
        assert all("secret=%2A%2A%2A" in line for line in request_lines)
        assert FAKE_APP_SECRET not in caplog.text
        assert "fake==" not in caplog.text

    async def test_unavailable_error_carries_no_secret(self, make_client, fake_app: FastAPI) -> None:
        fake_app.state.slow_next = 2

        with pytest.raises(WeChatUnavailable) as info:
            await make_client(timeout_seconds=0.05).code_to_session("ok:alice")

        assert FAKE_APP_SECRET not in repr(info.value.details)
        assert FAKE_APP_SECRET not in str(info.value)
        assert info.value.__cause__ is None


class TestRaiseForErrcode:
    def test_missing_errcode_with_openid_is_success(self) -> None:
        assert raise_for_errcode({"openid": "o1", "session_key": "k"}) == WeChatSession(openid="o1")

    def test_errcode_zero_with_openid_and_unionid_is_success(self) -> None:
        session = raise_for_errcode({"errcode": 0, "errmsg": "ok", "openid": "o1", "unionid": "u1"})

        assert session == WeChatSession(openid="o1", unionid="u1")

    @pytest.mark.parametrize("payload", [{}, {"errcode": 0, "errmsg": "ok"}, {"openid": ""}, {"openid": 7}])
    def test_success_without_an_openid_is_unavailable(self, payload: dict) -> None:
        with pytest.raises(WeChatUnavailable):
            raise_for_errcode(payload)

    @pytest.mark.parametrize(
        ("errcode", "error"),
        [
            (40029, WeChatCodeInvalid),
            (40163, WeChatCodeUsed),
            (40226, WeChatUserBlocked),
            (45011, WeChatRateLimited),
            (-1, WeChatUnavailable),
            (40125, WeChatMisconfigured),
            (40013, WeChatMisconfigured),
            (41002, WeChatMisconfigured),
            (41004, WeChatMisconfigured),
        ],
    )
    def test_known_errcode_maps_to_its_error(self, errcode: int, error: type) -> None:
        with pytest.raises(error):
            raise_for_errcode({"errcode": errcode, "errmsg": "x", "openid": "ignored-on-error"})

    def test_unknown_errcode_is_unavailable_with_the_errcode_in_details(self) -> None:
        with pytest.raises(WeChatUnavailable) as info:
            raise_for_errcode({"errcode": 40002, "errmsg": "invalid grant_type"})

        assert info.value.details == {"errcode": 40002}

    def test_non_integer_errcode_is_unavailable(self) -> None:
        with pytest.raises(WeChatUnavailable):
            raise_for_errcode({"errcode": "40029", "openid": "o1"})


class TestFakeJscode2Session:
    def test_ok_code_returns_openid_and_a_session_key(self) -> None:
        assert fake_jscode2session("ok:alice", set()) == {"openid": "alice", "session_key": "fake=="}

    @pytest.mark.parametrize(
        ("code", "errcode", "errmsg"),
        [
            ("bad", 40029, "invalid code"),
            ("used", 40163, "code been used"),
            ("busy", -1, "system error"),
            ("risky", 40226, "code blocked"),
            ("something-else", 40029, "invalid code"),
        ],
    )
    def test_error_code_convention(self, code: str, errcode: int, errmsg: str) -> None:
        assert fake_jscode2session(code, set()) == {"errcode": errcode, "errmsg": errmsg}

    def test_rl_is_the_rate_limit_errcode(self) -> None:
        assert fake_jscode2session("rl", set())["errcode"] == 45011

    def test_presenting_a_code_twice_answers_code_been_used(self) -> None:
        used: set[str] = set()

        assert "openid" in fake_jscode2session("ok:alice", used)
        assert "ok:alice" in used
        assert fake_jscode2session("ok:alice", used) == {"errcode": 40163, "errmsg": "code been used"}

    def test_a_failed_code_is_consumed_too(self) -> None:
        used: set[str] = set()
        fake_jscode2session("bad", used)

        assert fake_jscode2session("bad", used)["errcode"] == 40163

    def test_busy_does_not_consume_the_code(self) -> None:
        used: set[str] = set()

        assert fake_jscode2session("busy", used)["errcode"] == -1
        assert fake_jscode2session("busy", used)["errcode"] == -1
        assert used == set()

    @pytest.mark.parametrize("openid", ["a", "A-z_0-9", "x" * 64])
    def test_valid_openids_are_accepted(self, openid: str) -> None:
        assert fake_jscode2session(f"ok:{openid}", set())["openid"] == openid

    @pytest.mark.parametrize("openid", ["", "x" * 65, "with space", "a.b", "中文", "a\n"])
    def test_invalid_openids_are_an_invalid_code(self, openid: str) -> None:
        assert fake_jscode2session(f"ok:{openid}", set())["errcode"] == 40029


class TestFakeWeChatClient:
    async def test_ok_code_returns_the_openid(self) -> None:
        assert await FakeWeChatClient().code_to_session("ok:bob") == WeChatSession(openid="bob")

    @pytest.mark.parametrize(
        ("code", "error"),
        [
            ("bad", WeChatCodeInvalid),
            ("used", WeChatCodeUsed),
            ("risky", WeChatUserBlocked),
            ("rl", WeChatRateLimited),
            ("busy", WeChatUnavailable),
        ],
    )
    async def test_error_conventions_raise_app_errors(self, code: str, error: type) -> None:
        with pytest.raises(error):
            await FakeWeChatClient().code_to_session(code)

    async def test_reusing_a_code_raises_code_used(self) -> None:
        client = FakeWeChatClient()
        await client.code_to_session("ok:bob")

        with pytest.raises(WeChatCodeUsed):
            await client.code_to_session("ok:bob")

    async def test_each_instance_tracks_its_own_used_codes(self) -> None:
        await FakeWeChatClient().code_to_session("ok:bob")

        assert (await FakeWeChatClient().code_to_session("ok:bob")).openid == "bob"


class TestBuildWeChatClient:
    def test_fake_setting_builds_the_in_process_fake(self) -> None:
        assert isinstance(build_wechat_client(settings(client="fake")), FakeWeChatClient)

    async def test_http_setting_uses_the_given_httpx_client(
        self, http: httpx.AsyncClient, fake_app: FastAPI
    ) -> None:
        client = build_wechat_client(settings(), http)

        assert isinstance(client, HttpxWeChatClient)
        assert (await client.code_to_session("ok:carol")).openid == "carol"
        assert fake_app.state.calls == 1

    async def test_http_setting_without_a_client_creates_and_closes_its_own(self) -> None:
        client = build_wechat_client(settings())

        assert isinstance(client, HttpxWeChatClient)
        await client.aclose()
        assert client._http.is_closed
