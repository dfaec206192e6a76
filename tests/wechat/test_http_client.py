"""HttpxWeChatClient's business APIs against the fake WeChat server: phone number, subscribe messages,
content security, and the access_token they carry (one refetch-and-retry on a rejected token)."""

import asyncio
import hashlib
import json
import logging
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from fastapi import FastAPI, Request, Response
from pydantic import SecretStr
from redis.asyncio import Redis

from app.core.config import WeChatSettings
from app.wechat.client import (
    FakeWeChatClient,
    HttpxWeChatClient,
    InvalidTemplateData,
    NoSubscribeCredit,
    PhoneInfo,
    WeChatApiError,
    WeChatTransientError,
    build_wechat_client,
)
from app.wechat.token import AccessTokenProvider, MemoryTokenStore, RedisTokenStore
from tests.fake_wechat import (
    FAKE_APP_ID,
    FAKE_APP_SECRET,
    FAKE_PUSH_TOKEN,
    create_fake_wechat_app,
    wait_for_pushes,
)

FAKE_BASE = "https://fake-wechat.test"
PHONE = "/wxa/business/getuserphonenumber"
SEND = "/cgi-bin/message/subscribe/send"
SEC = "/wxa/msg_sec_check"
MEDIA = "/wxa/media_check_async"
TICKET_DATA = {
    "character_string1": "T20261122-0001",
    "thing2": "路灯不亮",
    "phrase3": "已受理",
    "time4": "15:01",
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


@pytest.fixture
def fake_app() -> FastAPI:
    return create_fake_wechat_app()


@pytest.fixture
def sent_bodies() -> list[bytes]:
    return []


@pytest.fixture
async def http(fake_app: FastAPI, sent_bodies: list[bytes]) -> AsyncIterator[httpx.AsyncClient]:
    async def record(request: httpx.Request) -> None:
        sent_bodies.append(request.content)

    transport = httpx.ASGITransport(app=fake_app)
    async with httpx.AsyncClient(
        transport=transport, base_url=FAKE_BASE, event_hooks={"request": [record]}
    ) as c:
        yield c


@pytest.fixture
def make_client(http: httpx.AsyncClient):
    def make(*, tokens: AccessTokenProvider | None = None, **overrides: object) -> HttpxWeChatClient:
        return HttpxWeChatClient(settings(**overrides), http, tokens=tokens)

    return make


@pytest.fixture
def client(make_client) -> HttpxWeChatClient:
    return make_client()


async def seeded(http: httpx.AsyncClient, token: str) -> AccessTokenProvider:
    """A provider whose cache already holds token (e.g. one WeChat will reject)."""
    store = MemoryTokenStore()
    await store.set(token, 3600)
    return AccessTokenProvider(settings(), http, store=store)


def tokens_used(fake_app: FastAPI) -> list[str]:
    return [r["access_token"] for r in fake_app.state.api_requests]


def mock_wechat(answer: Callable[[httpx.Request], httpx.Response]) -> httpx.AsyncClient:
    """A mock WeChat: stable_token issues mock-1, mock-2, …; the business APIs answer with answer()."""
    issued = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/cgi-bin/stable_token":
            issued.append(f"mock-{len(issued) + 1}")
            return httpx.Response(200, json={"access_token": issued[-1], "expires_in": 7200})
        return answer(request)

    return httpx.AsyncClient(transport=httpx.MockTransport(handler))


class TestPhoneNumber:
    async def test_phone_code_returns_the_number_with_its_country_code_as_a_string(
        self, client: HttpxWeChatClient, fake_app: FastAPI
    ) -> None:
        info = await client.get_phone_number("phone:13800138000", openid="resident_1")

        assert info == PhoneInfo(
            phone_number="13800138000", pure_phone_number="13800138000", country_code="86"
        )
        assert fake_app.state.api_requests == [
            {
                "path": PHONE,
                "access_token": "fake-1",
                "body": {"code": "phone:13800138000", "openid": "resident_1"},
            }
        ]

    async def test_openid_is_left_out_when_not_given(
        self, client: HttpxWeChatClient, fake_app: FastAPI
    ) -> None:
        await client.get_phone_number("phone:13800138000")

        assert fake_app.state.api_requests[0]["body"] == {"code": "phone:13800138000"}

    async def test_numeric_country_code_is_accepted_as_a_string(self) -> None:
        def answer(request: httpx.Request) -> httpx.Response:
            info = {
                "phoneNumber": "13800138000",
                "purePhoneNumber": "13800138000",
                "countryCode": 86,
                "watermark": {"timestamp": 1, "appid": FAKE_APP_ID},
            }
            return httpx.Response(200, json={"errcode": 0, "errmsg": "ok", "phone_info": info})

        async with mock_wechat(answer) as http:
            info = await HttpxWeChatClient(settings(), http).get_phone_number("any")

        assert info.country_code == "86"

    @pytest.mark.parametrize("code", ["bad", "phone:abc", "13800138000"])
    async def test_an_invalid_code_is_40029(self, client: HttpxWeChatClient, code: str) -> None:
        with pytest.raises(WeChatApiError) as info:
            await client.get_phone_number(code)

        assert info.value.errcode == 40029

    async def test_a_code_used_twice_is_40029(self, client: HttpxWeChatClient) -> None:
        await client.get_phone_number("phone:13800138000")

        with pytest.raises(WeChatApiError) as info:
            await client.get_phone_number("phone:13800138000")

        assert info.value.errcode == 40029

    async def test_an_empty_code_is_40029_without_calling_wechat(
        self, client: HttpxWeChatClient, fake_app: FastAPI
    ) -> None:
        with pytest.raises(WeChatApiError) as info:
            await client.get_phone_number("")

        assert info.value.errcode == 40029
        assert fake_app.state.token_calls == 0
        assert fake_app.state.api_requests == []

    async def test_a_watermark_naming_another_app_is_refused(
        self, client: HttpxWeChatClient, fake_app: FastAPI, caplog: pytest.LogCaptureFixture
    ) -> None:
        fake_app.state.watermark_appid = "wx-someone-else"

        with pytest.raises(WeChatApiError) as info:
            await client.get_phone_number("phone:13800138000")

        assert info.value.errcode == 40013
        assert "wx-someone-else" in caplog.text


class TestSubscribeSend:
    async def test_send_posts_the_documented_body(
        self, client: HttpxWeChatClient, fake_app: FastAPI, sent_bodies: list[bytes]
    ) -> None:
        await client.send_subscribe_message(
            openid="resident_1", template_id="tmpl-1", data=TICKET_DATA, page="pages/ticket/detail?id=7"
        )

        body = {
            "touser": "resident_1",
            "template_id": "tmpl-1",
            "page": "pages/ticket/detail?id=7",
            "miniprogram_state": "formal",
            "lang": "zh_CN",
            "data": {k: {"value": v} for k, v in TICKET_DATA.items()},
        }
        assert fake_app.state.api_requests == [{"path": SEND, "access_token": "fake-1", "body": body}]
        assert fake_app.state.sent == [body]
        # Chinese goes out as UTF-8, not \u escapes.
        assert "路灯不亮".encode() in sent_bodies[-1]

    @pytest.mark.parametrize("page", [None, ""])
    async def test_page_is_omitted_when_empty(
        self, client: HttpxWeChatClient, fake_app: FastAPI, page: str | None
    ) -> None:
        await client.send_subscribe_message(
            openid="resident_1", template_id="tmpl-1", data=TICKET_DATA, page=page
        )

        assert "page" not in fake_app.state.sent[0]

    async def test_miniprogram_state_comes_from_the_settings(self, make_client, fake_app: FastAPI) -> None:
        client = make_client(miniprogram_state="developer")

        await client.send_subscribe_message(openid="resident_1", template_id="tmpl-1", data=TICKET_DATA)

        assert fake_app.state.sent[0]["miniprogram_state"] == "developer"

    async def test_no_credit_is_no_subscribe_credit(
        self, client: HttpxWeChatClient, fake_app: FastAPI
    ) -> None:
        fake_app.state.credits = {("resident_1", "tmpl-1"): 1}
        await client.send_subscribe_message(openid="resident_1", template_id="tmpl-1", data=TICKET_DATA)

        with pytest.raises(NoSubscribeCredit) as info:
            await client.send_subscribe_message(openid="resident_1", template_id="tmpl-1", data=TICKET_DATA)

        assert info.value.errcode == 43101
        assert len(fake_app.state.sent) == 1

    async def test_a_value_breaking_its_keyword_rules_is_invalid_template_data_naming_the_field(
        self, client: HttpxWeChatClient, fake_app: FastAPI
    ) -> None:
        with pytest.raises(InvalidTemplateData) as info:
            await client.send_subscribe_message(
                openid="resident_1", template_id="tmpl-1", data={**TICKET_DATA, "phrase3": "processing"}
            )

        assert info.value.errcode == 47003
        assert "phrase3" in info.value.errmsg
        assert fake_app.state.sent == []

    async def test_a_bad_template_id_is_a_plain_api_error(self, client: HttpxWeChatClient) -> None:
        with pytest.raises(WeChatApiError) as info:
            await client.send_subscribe_message(openid="resident_1", template_id="", data=TICKET_DATA)

        assert info.value.errcode == 40037
        assert not isinstance(info.value, NoSubscribeCredit | InvalidTemplateData)


class TestMsgSecCheck:
    @pytest.mark.parametrize(
        ("content", "suggest", "label"),
        [
            ("路灯坏了三天", "pass", 100),
            ("please REVIEW this", "review", 20001),
            ("RISKY words", "risky", 20006),
        ],
    )
    async def test_verdicts(
        self, client: HttpxWeChatClient, fake_app: FastAPI, content: str, suggest: str, label: int
    ) -> None:
        verdict = await client.msg_sec_check(openid="resident_1", content=content)

        assert (verdict.suggest, verdict.label) == (suggest, label)
        assert verdict.trace_id
        assert fake_app.state.api_requests[0]["body"] == {
            "content": content,
            "version": 2,
            "scene": 3,
            "openid": "resident_1",
        }

    async def test_scene_is_passed_through(self, client: HttpxWeChatClient, fake_app: FastAPI) -> None:
        await client.msg_sec_check(openid="resident_1", content="hello", scene=2)

        assert fake_app.state.api_requests[0]["body"]["scene"] == 2

    async def test_a_bad_scene_is_an_api_error(self, client: HttpxWeChatClient) -> None:
        with pytest.raises(WeChatApiError) as info:
            await client.msg_sec_check(openid="resident_1", content="hello", scene=9)

        assert info.value.errcode == 40129


@pytest.fixture
def receiver() -> FastAPI:
    """Our message-push endpoint, as far as these tests need it: checks the signature, records events."""
    app = FastAPI()
    app.state.events = []
    app.state.fail_next = 0

    @app.post("/wechat/push")
    async def push(request: Request) -> Response:
        q = request.query_params
        expected = hashlib.sha1(
            "".join(sorted([FAKE_PUSH_TOKEN, q["timestamp"], q["nonce"]])).encode()
        ).hexdigest()
        if q["signature"] != expected:
            return Response("bad signature", status_code=403)
        if app.state.fail_next > 0:
            app.state.fail_next -= 1
            return Response("try later", status_code=500)
        app.state.events.append(json.loads(await request.body()))
        return Response("success")

    return app


@pytest.fixture
async def push_wired(fake_app: FastAPI, receiver: FastAPI) -> AsyncIterator[FastAPI]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=receiver), base_url="https://linli.test"
    ) as c:
        fake_app.state.push_client = c
        fake_app.state.push_url = "https://linli.test/wechat/push"
        yield receiver
        await wait_for_pushes(fake_app)


class TestMediaCheckAsync:
    async def test_returns_the_trace_id_and_posts_the_documented_body(
        self, client: HttpxWeChatClient, fake_app: FastAPI
    ) -> None:
        trace_id = await client.media_check_async(openid="resident_1", media_url="https://cdn.test/p.jpg")

        assert [c["trace_id"] for c in fake_app.state.media_checks] == [trace_id]
        assert fake_app.state.api_requests[0]["body"] == {
            "media_url": "https://cdn.test/p.jpg",
            "media_type": 2,
            "version": 2,
            "scene": 3,
            "openid": "resident_1",
        }

    async def test_the_verdict_is_pushed_signed_with_the_same_trace_id(
        self, client: HttpxWeChatClient, fake_app: FastAPI, push_wired: FastAPI
    ) -> None:
        trace_id = await client.media_check_async(openid="resident_1", media_url="https://cdn.test/risky.jpg")
        await wait_for_pushes(fake_app)

        [event] = push_wired.state.events
        assert event["Event"] == "wxa_media_check"
        assert event["trace_id"] == trace_id
        assert event["FromUserName"] == "resident_1"
        assert event["result"] == {"suggest": "risky", "label": 20002}
        assert fake_app.state.push_attempts == [200]

    async def test_a_push_not_answered_200_is_retried(
        self, client: HttpxWeChatClient, fake_app: FastAPI, push_wired: FastAPI
    ) -> None:
        push_wired.state.fail_next = 1

        await client.media_check_async(openid="resident_1", media_url="https://cdn.test/p.jpg")
        await wait_for_pushes(fake_app)

        assert fake_app.state.push_attempts == [500, 200]
        assert len(push_wired.state.events) == 1

    async def test_the_push_gives_up_after_three_attempts(
        self, client: HttpxWeChatClient, fake_app: FastAPI, push_wired: FastAPI
    ) -> None:
        push_wired.state.fail_next = 5

        await client.media_check_async(openid="resident_1", media_url="https://cdn.test/p.jpg")
        await wait_for_pushes(fake_app)

        assert fake_app.state.push_attempts == [500, 500, 500]
        assert push_wired.state.events == []

    async def test_no_push_when_callbacks_are_off(
        self, client: HttpxWeChatClient, fake_app: FastAPI, push_wired: FastAPI
    ) -> None:
        fake_app.state.media_callbacks = False

        assert await client.media_check_async(openid="resident_1", media_url="https://cdn.test/p.jpg")
        await asyncio.sleep(0.05)

        assert fake_app.state.push_attempts == []
        assert push_wired.state.events == []

    async def test_an_answer_without_trace_id_is_transient(self) -> None:
        async with mock_wechat(lambda r: httpx.Response(200, json={"errcode": 0, "errmsg": "ok"})) as http:
            with pytest.raises(WeChatTransientError):
                await HttpxWeChatClient(settings(), http).media_check_async(
                    openid="o", media_url="https://x/p.jpg"
                )


class TestAccessToken:
    async def test_calls_share_one_token_fetched_once(
        self, client: HttpxWeChatClient, fake_app: FastAPI
    ) -> None:
        await client.msg_sec_check(openid="resident_1", content="hello")
        await client.get_phone_number("phone:13800138000")
        await client.send_subscribe_message(openid="resident_1", template_id="tmpl-1", data=TICKET_DATA)

        assert fake_app.state.token_calls == 1
        assert tokens_used(fake_app) == ["fake-1"] * 3

    async def test_concurrent_first_calls_fetch_the_token_once(
        self, client: HttpxWeChatClient, fake_app: FastAPI
    ) -> None:
        fake_app.state.token_delay_seconds = 0.02

        await asyncio.gather(*(client.msg_sec_check(openid="resident_1", content="hi") for _ in range(20)))

        assert fake_app.state.token_calls == 1

    async def test_token_expired_is_refetched_once_and_the_call_retried(
        self, client: HttpxWeChatClient, fake_app: FastAPI
    ) -> None:
        await client.msg_sec_check(openid="resident_1", content="hello")
        fake_app.state.expired_tokens.add("fake-1")

        verdict = await client.msg_sec_check(openid="resident_1", content="hello")

        assert verdict.suggest == "pass"
        assert tokens_used(fake_app) == ["fake-1", "fake-1", "fake-2"]
        assert fake_app.state.token_calls == 2

    async def test_the_expired_token_convention_is_refetched_and_retried(
        self, http: httpx.AsyncClient, make_client, fake_app: FastAPI
    ) -> None:
        client = make_client(tokens=await seeded(http, "expired"))

        info = await client.get_phone_number("phone:13800138000")

        assert info.pure_phone_number == "13800138000"
        assert tokens_used(fake_app) == ["expired", "fake-1"]
        assert fake_app.state.token_calls == 1

    async def test_a_second_token_expired_is_raised_without_looping(
        self, client: HttpxWeChatClient, fake_app: FastAPI
    ) -> None:
        fake_app.state.expired_tokens.update({"fake-1", "fake-2", "fake-3"})

        with pytest.raises(WeChatApiError) as info:
            await client.msg_sec_check(openid="resident_1", content="hello")

        assert info.value.errcode == 42001
        assert tokens_used(fake_app) == ["fake-1", "fake-2"]
        assert fake_app.state.token_calls == 2

    async def test_an_invalid_token_is_refetched_once_and_the_call_retried(
        self, http: httpx.AsyncClient, make_client, fake_app: FastAPI
    ) -> None:
        client = make_client(tokens=await seeded(http, "bogus"))

        await client.send_subscribe_message(openid="resident_1", template_id="tmpl-1", data=TICKET_DATA)

        assert tokens_used(fake_app) == ["bogus", "fake-1"]
        assert len(fake_app.state.sent) == 1

    async def test_a_second_invalid_token_is_raised_without_looping(
        self, http: httpx.AsyncClient, make_client, fake_app: FastAPI
    ) -> None:
        client = make_client(tokens=await seeded(http, "bogus"))
        fake_app.state.invalid_tokens.add("fake-1")

        with pytest.raises(WeChatApiError) as info:
            await client.media_check_async(openid="resident_1", media_url="https://cdn.test/p.jpg")

        assert info.value.errcode == 40001
        assert tokens_used(fake_app) == ["bogus", "fake-1"]
        assert fake_app.state.media_checks == []

    @pytest.mark.parametrize("errcode", [40001, 40014, 42001])
    async def test_each_token_errcode_gets_exactly_one_retry_with_a_new_token(self, errcode: int) -> None:
        seen: list[str] = []

        def answer(request: httpx.Request) -> httpx.Response:
            seen.append(request.url.params["access_token"])
            if len(seen) == 1:
                return httpx.Response(200, json={"errcode": errcode, "errmsg": "token"})
            return httpx.Response(200, json={"errcode": 0, "trace_id": "t", "result": {"suggest": "pass"}})

        async with mock_wechat(answer) as http:
            verdict = await HttpxWeChatClient(settings(), http).msg_sec_check(openid="o", content="c")

        assert verdict.suggest == "pass"
        assert seen == ["mock-1", "mock-2"]

    async def test_concurrent_calls_hitting_an_expired_token_refetch_it_once(
        self, client: HttpxWeChatClient, fake_app: FastAPI
    ) -> None:
        await client.msg_sec_check(openid="resident_1", content="hello")
        fake_app.state.expired_tokens.add("fake-1")
        fake_app.state.api_delay_seconds = 0.01
        fake_app.state.token_delay_seconds = 0.01

        await asyncio.gather(*(client.msg_sec_check(openid="resident_1", content="hi") for _ in range(10)))

        assert fake_app.state.token_calls == 2
        assert tokens_used(fake_app).count("fake-2") == 10

    async def test_force_refresh_is_never_sent(self, client: HttpxWeChatClient, fake_app: FastAPI) -> None:
        await client.msg_sec_check(openid="resident_1", content="hello")
        fake_app.state.expired_tokens.add("fake-1")
        await client.get_phone_number("phone:13800138000")
        fake_app.state.expired_tokens.update({"fake-2", "fake-3"})
        with pytest.raises(WeChatApiError):
            await client.msg_sec_check(openid="resident_1", content="hello")

        assert fake_app.state.token_calls == 3
        assert [b["force_refresh"] for b in fake_app.state.token_requests] == [False, False, False]

    async def test_a_token_fetch_failure_is_raised_before_any_business_call(
        self, client: HttpxWeChatClient, fake_app: FastAPI
    ) -> None:
        fake_app.state.token_busy_next = 1

        with pytest.raises(WeChatTransientError):
            await client.msg_sec_check(openid="resident_1", content="hello")

        assert fake_app.state.api_requests == []


class TestTransientFailures:
    @pytest.mark.parametrize(("knob", "errcode"), [("rate_limit_next", 45011), ("busy_next", -1)])
    async def test_rate_limit_and_busy_are_transient_without_a_hidden_retry(
        self, client: HttpxWeChatClient, fake_app: FastAPI, knob: str, errcode: int
    ) -> None:
        setattr(fake_app.state, knob, 1)

        with pytest.raises(WeChatTransientError) as info:
            await client.send_subscribe_message(openid="resident_1", template_id="tmpl-1", data=TICKET_DATA)

        assert info.value.errcode == errcode
        assert len(fake_app.state.api_requests) == 1
        assert fake_app.state.sent == []

    async def test_http_502_is_transient(self, client: HttpxWeChatClient, fake_app: FastAPI) -> None:
        fake_app.state.fail_next_502 = 1

        with pytest.raises(WeChatTransientError, match="502"):
            await client.msg_sec_check(openid="resident_1", content="hello")

        assert len(fake_app.state.api_requests) == 1

    async def test_a_timeout_is_transient(self, make_client, fake_app: FastAPI) -> None:
        client = make_client(timeout_seconds=0.05)
        await client.msg_sec_check(openid="resident_1", content="hello")
        fake_app.state.slow_next = 1

        with pytest.raises(WeChatTransientError, match="timed out"):
            await client.msg_sec_check(openid="resident_1", content="hello")

    async def test_a_network_error_is_transient_and_carries_no_token(self) -> None:
        def answer(request: httpx.Request) -> httpx.Response:
            raise httpx.ConnectError(f"cannot reach {request.url}", request=request)

        async with mock_wechat(answer) as http:
            with pytest.raises(WeChatTransientError) as info:
                await HttpxWeChatClient(settings(), http).msg_sec_check(openid="o", content="c")

        assert "mock-1" not in str(info.value)
        assert info.value.__cause__ is None

    @pytest.mark.parametrize("content", [b"<html>oops</html>", b"[]"])
    async def test_an_unreadable_body_is_transient(self, content: bytes) -> None:
        async with mock_wechat(lambda r: httpx.Response(200, content=content)) as http:
            with pytest.raises(WeChatTransientError):
                await HttpxWeChatClient(settings(), http).msg_sec_check(openid="o", content="c")


class TestSecretHygiene:
    async def test_token_and_secret_never_reach_the_logs(
        self,
        client: HttpxWeChatClient,
        http: httpx.AsyncClient,
        fake_app: FastAPI,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        caplog.set_level(logging.DEBUG)

        await client.msg_sec_check(openid="resident_1", content="hello")
        fake_app.state.expired_tokens.add("fake-1")
        await client.get_phone_number("phone:13800138000")
        fake_app.state.busy_next = 1
        with pytest.raises(WeChatTransientError):
            await client.media_check_async(openid="resident_1", media_url="https://cdn.test/p.jpg")
        wrong = HttpxWeChatClient(settings(app_secret=SecretStr("wrong-secret-value")), http)
        with pytest.raises(WeChatApiError):
            await wrong.msg_sec_check(openid="resident_1", content="hello")

        request_lines = [r.getMessage() for r in caplog.records if r.name == "httpx"]
        business_lines = [line for line in request_lines if "stable_token" not in line]
        assert len(business_lines) == 4
        assert all("access_token=%2A%2A%2A" in line for line in business_lines)
        for secret in ("fake-1", "fake-2", FAKE_APP_SECRET, "wrong-secret-value"):
            assert secret not in caplog.text
        assert "42001" in caplog.text  # the retry is logged, by errcode


class TestBuildWeChatClient:
    def test_fake_uses_the_configured_app_id(self) -> None:
        client = build_wechat_client(settings(client="fake", app_id="wx-mine"))

        assert isinstance(client, FakeWeChatClient)
        assert client.app_id == "wx-mine"

    def test_fake_defaults_to_wx_dev(self) -> None:
        client = build_wechat_client(settings(client="fake", app_id=""))

        assert isinstance(client, FakeWeChatClient)
        assert client.app_id == "wx-dev"

    async def test_http_without_redis_keeps_the_token_in_memory(self, http: httpx.AsyncClient) -> None:
        client = build_wechat_client(settings(), http)

        assert isinstance(client, HttpxWeChatClient)
        assert isinstance(client.tokens.store, MemoryTokenStore)
        await client.aclose()
        assert not http.is_closed  # not ours to close

    async def test_http_with_redis_shares_the_token_through_redis(self, http: httpx.AsyncClient) -> None:
        redis = Redis.from_url("redis://127.0.0.1:6379/0")  # no connection is made here
        try:
            client = build_wechat_client(settings(), http, redis=redis)

            assert isinstance(client, HttpxWeChatClient)
            assert isinstance(client.tokens.store, RedisTokenStore)
            assert client.tokens.store.key == f"wechat:atk:{FAKE_APP_ID}"
        finally:
            await redis.aclose()

    async def test_http_without_a_client_creates_and_closes_its_own(self) -> None:
        client = build_wechat_client(settings())

        assert isinstance(client, HttpxWeChatClient)
        await client.aclose()
        assert client._http.is_closed

    async def test_a_given_provider_is_used_as_is(self, http: httpx.AsyncClient, fake_app: FastAPI) -> None:
        tokens = await seeded(http, "fake-9")
        fake_app.state.issued_tokens.add("fake-9")

        await HttpxWeChatClient(settings(), http, tokens=tokens).msg_sec_check(openid="o", content="c")

        assert tokens_used(fake_app) == ["fake-9"]
        assert fake_app.state.token_calls == 0
