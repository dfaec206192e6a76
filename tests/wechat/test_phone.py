"""Binding a phone number from WeChat's getPhoneNumber button (WECHAT.md §3): POST /api/v1/me/phone,
who then sees the number, and the production settings the WeChat integration refuses to start with.

The fake client's convention (app/wechat/fake.py): the code "phone:<number>" yields that number
once; anything else, or the same code again, is errcode 40029.
"""

from datetime import datetime
from typing import Any

import pytest
from pydantic import ValidationError

from app.core.config import SUBSCRIBE_KINDS, Settings
from app.user.models import User, UserIdentity
from app.wechat import fake
from app.wechat.client import (
    FakeWeChatClient,
    PhoneInfo,
    WeChatApiError,
    WeChatTransientError,
    check_api_payload,
    phone_info,
)
from app.wechat.service import NoWeChatAccount, PhoneCodeInvalid, PhoneRateLimited, PhoneUnavailable
from tests.factories import World, bearer, make_category, make_world

PHONE = "/api/v1/me/phone"
ME = "/api/v1/me"
TICKETS = "/api/v1/tickets"
NUMBER = "13800138000"
MASKED = "138****8000"
CODE = f"phone:{NUMBER}"
IN_G1 = {"lat": 34.272, "lng": 108.952, "coord_system": "wgs84"}


class SpyWeChat(FakeWeChatClient):
    """The fake client, remembering each getuserphonenumber call, or failing it with `fail`."""

    def __init__(self, fail: Exception | None = None, app_id: str = "wx-dev") -> None:
        super().__init__(app_id=app_id)
        self.calls: list[tuple[str, str | None]] = []
        self.fail = fail

    async def get_phone_number(self, code: str, openid: str | None = None) -> PhoneInfo:
        self.calls.append((code, openid))
        if self.fail is not None:
            raise self.fail
        return await super().get_phone_number(code, openid)


class OtherAppWeChat(FakeWeChatClient):
    """WeChat answering with a watermark naming another mini-program."""

    async def get_phone_number(self, code: str, openid: str | None = None) -> PhoneInfo:
        payload = check_api_payload(fake.phone_number(code, self.phone_codes, "wx-someone-else"))
        return phone_info(payload, self.app_id)


class HongKongWeChat(FakeWeChatClient):
    """WeChat's real answer for a Hong Kong number: countryCode 852 (a 3-digit code, as a string)."""

    async def get_phone_number(self, code: str, openid: str | None = None) -> PhoneInfo:
        payload = {
            "errcode": 0,
            "errmsg": "ok",
            "phone_info": {
                "phoneNumber": "+85261234567",
                "purePhoneNumber": "61234567",
                "countryCode": "852",
                "watermark": {"timestamp": 1637744274, "appid": self.app_id},
            },
        }
        return phone_info(check_api_payload(payload), self.app_id)


@pytest.fixture
def spy(app) -> SpyWeChat:  # type: ignore[no-untyped-def]
    app.state.wechat = SpyWeChat()
    return app.state.wechat


@pytest.fixture
async def w(session) -> World:  # type: ignore[no-untyped-def]
    """The world; the resident (C1, no phone yet) logged in from the mini-program."""
    world = await make_world(session)
    world.category = await make_category(session, world.s1, name="设施损坏")
    world.resident.phone = None
    session.add(UserIdentity(user_id=world.resident.id, provider="wechat_mp", subject="o-resident"))
    await session.commit()
    return world


@pytest.fixture
def auth(settings, clock):  # type: ignore[no-untyped-def]
    def _auth(user) -> dict[str, str]:  # type: ignore[no-untyped-def]
        return bearer(settings, clock, user)

    return _auth


@pytest.fixture
def bind(client, auth, w):  # type: ignore[no-untyped-def]
    async def _bind(code: Any = CODE, user=None, key: str | None = None):  # type: ignore[no-untyped-def]
        headers = {**auth(user or w.resident), **({"Idempotency-Key": key} if key else {})}
        return await client.post(PHONE, json={"code": code}, headers=headers)

    return _bind


async def stored(session, user: User) -> tuple[str | None, datetime | None]:  # type: ignore[no-untyped-def]
    row = await session.get(User, user.id, populate_existing=True)
    return row.phone, row.phone_verified_at


def error(r, status: int, code: str) -> dict:  # type: ignore[no-untyped-def]
    assert r.status_code == status, r.text
    body = r.json()
    assert body["code"] == code, body
    assert set(body) == {"code", "message", "details"}
    return body


class TestBind:
    async def test_the_number_is_stored_verified_and_returned_to_the_owner(  # type: ignore[no-untyped-def]
        self, bind, spy, session, clock, client, auth, w
    ) -> None:
        r = await bind()
        assert r.status_code == 200, r.text
        assert r.json() == {"phone": NUMBER, "verified_at": clock.now().isoformat().replace("+00:00", "Z")}
        phone, verified_at = await stored(session, w.resident)
        assert phone == NUMBER
        assert verified_at is not None and verified_at == clock.now()
        # WeChat is asked to check that the code belongs to this user's openid (WECHAT.md §3).
        assert spy.calls == [(CODE, "o-resident")]
        me = await client.get(ME, headers=auth(w.resident))
        assert me.status_code == 200 and me.json()["phone"] == NUMBER

    async def test_the_number_replaces_an_older_one(self, bind, session, w) -> None:  # type: ignore[no-untyped-def]
        w.resident.phone = "13912345678"
        await session.commit()
        assert (await bind()).status_code == 200
        assert (await stored(session, w.resident))[0] == NUMBER

    async def test_who_sees_the_number_on_a_ticket(self, bind, client, auth, w) -> None:  # type: ignore[no-untyped-def]
        assert (await bind()).status_code == 200
        r = await client.post(
            TICKETS,
            json={"category_id": str(w.category.id), "description": "井盖破损", "location": IN_G1},
            headers=auth(w.resident),
        )
        assert r.status_code == 201, r.text
        tid = r.json()["id"]

        async def reporter_phone(user) -> str | None:  # type: ignore[no-untyped-def]
            r = await client.get(f"{TICKETS}/{tid}", headers=auth(user))
            assert r.status_code == 200, r.text
            return r.json()["reporter"]["phone"]

        assert await reporter_phone(w.resident) == NUMBER
        assert await reporter_phone(w.c1_admin) == NUMBER
        # The grid's worker sees the ticket, but not the number until taking it on.
        assert await reporter_phone(w.worker) == MASKED
        # Another resident sees the public view: no reporter, no number in any form.
        public = await client.get(f"{TICKETS}/{tid}", headers=auth(w.other_resident))
        assert public.status_code == 200 and public.json()["reporter"] is None
        assert NUMBER not in public.text and MASKED not in public.text
        claimed = await client.post(f"{TICKETS}/{tid}/claim", headers=auth(w.worker))
        assert claimed.status_code == 200, claimed.text
        assert await reporter_phone(w.worker) == NUMBER

    async def test_staff_of_another_community_cannot_see_the_account(self, bind, client, auth, w) -> None:  # type: ignore[no-untyped-def]
        assert (await bind()).status_code == 200
        r = await client.get(f"/api/v1/users/{w.resident.id}", headers=auth(w.c2_admin))
        assert r.status_code == 404
        assert NUMBER not in r.text
        r = await client.get(f"/api/v1/users/{w.resident.id}", headers=auth(w.c1_admin))
        assert r.status_code == 200 and r.json()["phone"] == NUMBER

    async def test_a_non_mainland_number_is_stored_with_its_country_code(self, bind, session, w) -> None:  # type: ignore[no-untyped-def]
        r = await bind("phone:+85261234567")
        assert r.status_code == 200, r.text
        assert r.json()["phone"] == "+85261234567"
        assert (await stored(session, w.resident))[0] == "+85261234567"

    async def test_a_three_digit_country_code_from_wechat_is_kept_whole(self, app, bind, session, w) -> None:  # type: ignore[no-untyped-def]
        app.state.wechat = HongKongWeChat()
        r = await bind("anything")
        assert r.status_code == 200, r.text
        assert (await stored(session, w.resident))[0] == "+85261234567"


class TestOnce:
    async def test_the_same_code_again_is_invalid(self, bind, session, w) -> None:  # type: ignore[no-untyped-def]
        assert (await bind()).status_code == 200
        body = error(await bind(), 422, "phone.code_invalid")
        assert body["message"] == PhoneCodeInvalid.message
        assert (await stored(session, w.resident))[0] == NUMBER

    async def test_a_retry_with_the_same_idempotency_key_gets_the_first_answer(self, bind, spy) -> None:  # type: ignore[no-untyped-def]
        first = await bind(key="phone-1")
        assert first.status_code == 200, first.text
        again = await bind(key="phone-1")
        assert again.status_code == 200, again.text
        assert again.json() == first.json()
        assert len(spy.calls) == 1  # WeChat was not asked again (the code would be refused)
        error(await bind(key="phone-2"), 422, "phone.code_invalid")
        error(await bind(), 422, "phone.code_invalid")

    async def test_the_same_key_with_another_code_is_refused(self, bind, session, w) -> None:  # type: ignore[no-untyped-def]
        assert (await bind(key="k")).status_code == 200
        error(await bind("phone:13900001111", key="k"), 422, "request.idempotency_key_reused")
        assert (await stored(session, w.resident))[0] == NUMBER

    async def test_a_refused_attempt_is_not_remembered_under_its_key(self, bind) -> None:  # type: ignore[no-untyped-def]
        error(await bind("bad", key="k2"), 422, "phone.code_invalid")
        # Nothing was stored for the failed attempt, so the key is still free for a new code.
        r = await bind(key="k2")
        assert r.status_code == 200, r.text


class TestErrors:
    @pytest.mark.parametrize(
        "code", ["bad", "phone:", "phone:12ab", "PHONE:13800138000", "phone:138 0013 8000"]
    )
    async def test_a_bad_code_is_invalid(self, bind, session, w, code) -> None:  # type: ignore[no-untyped-def]
        body = error(await bind(code), 422, "phone.code_invalid")
        assert body["message"] == "手机号授权已失效，请重新点击获取手机号"
        assert await stored(session, w.resident) == (None, None)

    async def test_a_user_without_a_wechat_identity(self, bind, spy, session, w) -> None:  # type: ignore[no-untyped-def]
        body = error(await bind(user=w.c1_admin), 409, "phone.no_wechat")
        assert body["message"] == NoWeChatAccount.message
        assert spy.calls == []  # WeChat is not asked at all
        assert (await stored(session, w.c1_admin))[1] is None

    async def test_rate_limited_by_wechat_is_429(self, app, bind, session, w) -> None:  # type: ignore[no-untyped-def]
        app.state.wechat = SpyWeChat(fail=WeChatTransientError("errcode 45011", errcode=45011))
        r = await bind()
        body = error(r, 429, "phone.rate_limited")
        assert body["message"] == PhoneRateLimited.message
        assert await stored(session, w.resident) == (None, None)

    async def test_rate_limited_says_when_to_retry(self, app, bind) -> None:  # type: ignore[no-untyped-def]
        app.state.wechat = SpyWeChat(fail=WeChatTransientError("errcode 45011", errcode=45011))
        r = await bind()
        assert r.status_code == 429
        assert r.headers.get("Retry-After") == "60"

    @pytest.mark.parametrize(
        "failure",
        [
            WeChatTransientError("errcode -1", errcode=-1),
            WeChatTransientError("timed out after 5.0s"),
            WeChatApiError(40013, "watermark appid mismatch"),
            WeChatApiError(40001, "invalid credential"),
        ],
        ids=["busy", "timeout", "watermark", "token"],
    )
    async def test_wechat_failures_are_503(self, app, bind, session, w, failure) -> None:  # type: ignore[no-untyped-def]
        app.state.wechat = SpyWeChat(fail=failure)
        body = error(await bind(), 503, "phone.wechat_unavailable")
        assert body["message"] == PhoneUnavailable.message
        assert await stored(session, w.resident) == (None, None)

    async def test_a_watermark_naming_another_app_is_not_trusted(self, app, bind, session, w) -> None:  # type: ignore[no-untyped-def]
        app.state.wechat = OtherAppWeChat()
        error(await bind(), 503, "phone.wechat_unavailable")
        assert await stored(session, w.resident) == (None, None)

    @pytest.mark.parametrize(
        "body", [{"code": ""}, {"code": "  "}, {}, {"code": None}, {"code": "x" * 257}, {"code": 1}]
    )
    async def test_a_malformed_body_is_refused_in_the_envelope(self, client, auth, spy, w, body) -> None:  # type: ignore[no-untyped-def]
        r = await client.post(PHONE, json=body, headers=auth(w.resident))
        out = error(r, 422, "request.invalid")
        assert [e["field"] for e in out["details"]["errors"]] == ["code"]
        assert spy.calls == []

    async def test_unauthenticated_is_401(self, client, spy) -> None:  # type: ignore[no-untyped-def]
        r = await client.post(PHONE, json={"code": CODE})
        assert r.status_code == 401
        assert r.json()["code"].startswith("auth.")
        assert spy.calls == []


class TestChangingTheNumberLater:
    async def test_a_typed_number_is_no_longer_verified(self, bind, client, auth, session, w) -> None:  # type: ignore[no-untyped-def]
        assert (await bind()).status_code == 200
        r = await client.patch(ME, json={"phone": "13900001111"}, headers=auth(w.resident))
        assert r.status_code == 200, r.text
        assert await stored(session, w.resident) == ("13900001111", None)

    async def test_editing_other_fields_keeps_the_verified_number(
        self, bind, client, auth, session, w
    ) -> None:  # type: ignore[no-untyped-def]
        assert (await bind()).status_code == 200
        r = await client.patch(ME, json={"display_name": "新名字"}, headers=auth(w.resident))
        assert r.status_code == 200, r.text
        phone, verified_at = await stored(session, w.resident)
        assert phone == NUMBER and verified_at is not None


# --- production settings -----------------------------------------------------------------------


def prod_values(**wechat: Any) -> dict[str, Any]:
    """Production settings that pass, with the WeChat group overridden by `wechat`."""
    return {
        "env": "prod",
        "jwt": {"secret": "j" * 40},
        "media": {"signing_secret": "m" * 40},
        "wechat": {
            "client": "http",
            "app_id": "wx1234567890abcdef",
            "app_secret": "s" * 32,
            "push_token": "token-from-the-mp-console",
            "encoding_aes_key": "a" * 43,
            "public_base_url": "https://linli.example.cn",
            "templates": {
                kind: {
                    "template_id": f"Tpl{i}xYz" if i % 2 == 0 else "",
                    "fields": {"character_string1": "number", "thing2": "title"},
                }
                for i, kind in enumerate(sorted(SUBSCRIBE_KINDS))
            },
            **wechat,
        },
    }


def settings_of(values: dict[str, Any]) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def refusal(values: dict[str, Any]) -> str:
    with pytest.raises(ValueError) as caught:
        settings_of(values)
    assert isinstance(caught.value, ValidationError)
    return str(caught.value)


class TestProductionSettings:
    def test_fully_configured_production_passes(self) -> None:
        s = settings_of(prod_values())
        assert s.env == "prod" and s.wechat.client == "http"
        assert set(s.wechat.templates) == SUBSCRIBE_KINDS
        assert not any(t.template_id.startswith("dev-") for t in s.wechat.templates.values())

    def test_all_templates_turned_off_passes(self) -> None:
        assert settings_of(prod_values(templates={})).wechat.templates == {}

    def test_the_fake_client_is_refused(self) -> None:
        text = refusal(prod_values(client="fake"))
        assert "LINLI_WECHAT__CLIENT" in text
        assert "LINLI_WECHAT__PUSH_TOKEN" not in text and "LINLI_WECHAT__TEMPLATES" not in text

    def test_the_fake_client_is_refused_from_the_environment(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("LINLI_ENV", "prod")
        monkeypatch.setenv("LINLI_WECHAT__CLIENT", "fake")
        values = prod_values()
        del values["env"]
        values["wechat"].pop("client")
        with pytest.raises(ValueError, match="LINLI_WECHAT__CLIENT"):
            settings_of(values)

    @pytest.mark.parametrize("missing", ["app_id", "app_secret"])
    def test_the_http_client_needs_app_credentials(self, missing: str) -> None:
        text = refusal(prod_values(**{missing: ""}))
        assert "LINLI_WECHAT__APP_ID and LINLI_WECHAT__APP_SECRET are required" in text

    @pytest.mark.parametrize("token", ["dev-push-token", ""])
    def test_the_dev_push_token_is_refused(self, token: str) -> None:
        text = refusal(prod_values(push_token=token))
        assert "LINLI_WECHAT__PUSH_TOKEN" in text
        assert "LINLI_WECHAT__PUBLIC_BASE_URL" not in text and "LINLI_WECHAT__CLIENT" not in text

    def test_the_push_token_default_is_refused(self) -> None:
        values = prod_values()
        values["wechat"].pop("push_token")
        assert "LINLI_WECHAT__PUSH_TOKEN" in refusal(values)

    def test_plain_mode_message_push_is_refused(self) -> None:
        values = prod_values()
        values["wechat"].pop("encoding_aes_key")
        assert "LINLI_WECHAT__ENCODING_AES_KEY" in refusal(values)

    @pytest.mark.parametrize("url", ["", "http://linli.example.cn", "linli.example.cn", "ftp://x"])
    def test_a_non_https_public_base_url_is_refused(self, url: str) -> None:
        text = refusal(prod_values(public_base_url=url))
        assert "LINLI_WECHAT__PUBLIC_BASE_URL" in text
        assert "LINLI_WECHAT__PUSH_TOKEN" not in text

    def test_the_default_dev_templates_are_refused_naming_each(self) -> None:
        values = prod_values()
        values["wechat"].pop("templates")
        text = refusal(values)
        assert "LINLI_WECHAT__TEMPLATES" in text
        for kind in SUBSCRIBE_KINDS:
            assert kind in text

    def test_one_dev_template_left_is_named(self) -> None:
        values = prod_values()
        values["wechat"]["templates"]["ticket.claimed"]["template_id"] = "dev-ticket.claimed"
        text = refusal(values)
        assert "LINLI_WECHAT__TEMPLATES" in text and "ticket.claimed" in text
        assert "ticket.resolved" not in text

    def test_every_problem_is_named_at_once(self) -> None:
        values = prod_values(client="fake", push_token="dev-push-token", public_base_url="http://x")
        values["wechat"].pop("templates")
        text = refusal(values)
        for name in (
            "LINLI_WECHAT__CLIENT",
            "LINLI_WECHAT__PUSH_TOKEN",
            "LINLI_WECHAT__PUBLIC_BASE_URL",
            "LINLI_WECHAT__TEMPLATES",
        ):
            assert name in text

    @pytest.mark.parametrize("env", ["dev", "test"])
    def test_development_and_tests_allow_the_defaults(self, env: str) -> None:
        s = settings_of({"env": env})
        assert s.wechat.client == "fake" and s.wechat.push_token.get_secret_value() == "dev-push-token"

    @pytest.mark.parametrize("env", ["dev", "prod"])
    def test_a_template_for_an_unknown_event_is_refused(self, env: str) -> None:
        values = prod_values() if env == "prod" else {"env": env, "wechat": {}}
        values["wechat"]["templates"] = {
            "ticket.claimed": {"template_id": "Tpl1", "fields": {"thing1": "title"}},
            "ticket.deleted": {"template_id": "Tpl2", "fields": {"thing1": "title"}},
        }
        text = refusal(values)
        assert "unknown events ['ticket.deleted']" in text
