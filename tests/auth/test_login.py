"""Logging in, access-token checks, refresh rotation and reuse detection, logout."""

import base64
import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from jose import jwt
from sqlalchemy import func, select

from app.auth.permissions import Role
from app.core.config import WeChatSettings
from app.user.models import User, UserIdentity
from app.wechat.client import HttpxWeChatClient
from tests.factories import bearer, make_user, make_world
from tests.fake_wechat import FAKE_APP_ID, FAKE_APP_SECRET, create_fake_wechat_app

LOGIN = "/api/v1/auth/wechat/login"
TOKEN = "/api/v1/auth/token"
REFRESH = "/api/v1/auth/refresh"
LOGOUT = "/api/v1/auth/logout"
ME = "/api/v1/me"


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _count_users(session) -> int:  # type: ignore[no-untyped-def]
    return await session.scalar(select(func.count(User.id)))


class TestWeChatLogin:
    async def test_first_login_creates_a_resident_and_never_returns_session_key(
        self, client, session
    ) -> None:
        r = await client.post(LOGIN, json={"code": "ok:openid-new-1"})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["is_new_user"] is True
        assert [g["role"] for g in body["user"]["roles"]] == ["resident"]
        assert "session_key" not in r.text and "fake==" not in r.text
        me = await client.get(ME, headers=_auth(body["access_token"]))
        assert me.status_code == 200 and me.json()["id"] == body["user"]["id"]
        identity = await session.scalar(select(UserIdentity).where(UserIdentity.subject == "openid-new-1"))
        assert identity is not None and str(identity.user_id) == body["user"]["id"]

    async def test_second_login_finds_the_same_account(self, client, session) -> None:
        first = (await client.post(LOGIN, json={"code": "ok:openid-again"})).json()
        second = (await client.post(LOGIN, json={"code": "ok:openid-again"})).json()
        assert second["user"]["id"] == first["user"]["id"]
        assert second["is_new_user"] is False

    async def test_a_retried_code_logs_in_the_same_account_instead_of_failing(
        self, client, app, clock
    ) -> None:
        r1 = await client.post(LOGIN, json={"code": "ok:weak-network"})
        r2 = await client.post(LOGIN, json={"code": "ok:weak-network"})
        assert r1.status_code == r2.status_code == 200
        assert r1.json()["user"]["id"] == r2.json()["user"]["id"]
        assert r2.json()["access_token"] != r1.json()["access_token"]

    async def test_a_code_reused_after_the_grace_window_is_refused(self, client, clock) -> None:
        assert (await client.post(LOGIN, json={"code": "ok:late-retry"})).status_code == 200
        clock.advance(timedelta(minutes=6))
        r = await client.post(LOGIN, json={"code": "ok:late-retry"})
        assert r.status_code == 401
        assert r.json()["code"] == "auth.wechat_code_used"

    async def test_a_pre_provisioned_grid_worker_logs_in_to_their_account(self, client, session) -> None:
        w = await make_world(session)
        worker = await make_user(session, (Role.GRID_WORKER, w.c1), openid="worker-openid")
        await session.commit()
        r = await client.post(LOGIN, json={"code": "ok:worker-openid"})
        assert r.status_code == 200
        assert r.json()["user"]["id"] == str(worker.id)
        assert [g["role"] for g in r.json()["user"]["roles"]] == ["grid_worker"]

    @pytest.mark.parametrize(
        ("code", "status", "error"),
        [
            ("bad", 401, "auth.wechat_code_invalid"),
            ("used", 401, "auth.wechat_code_used"),
            ("risky", 403, "auth.wechat_user_blocked"),
            ("rl", 429, "auth.wechat_rate_limited"),
            ("busy", 503, "auth.wechat_unavailable"),
        ],
    )
    async def test_wechat_errors_become_clear_codes_and_create_nothing(
        self, client, session, code, status, error
    ) -> None:
        before = await _count_users(session)
        r = await client.post(LOGIN, json={"code": code})
        assert r.status_code == status
        assert r.json()["code"] == error
        assert r.json()["message"]  # plain Chinese for the user
        assert await _count_users(session) == before

    async def test_rate_limit_answer_tells_the_client_when_to_retry(self, client) -> None:
        r = await client.post(LOGIN, json={"code": "rl"})
        assert r.headers["Retry-After"] == "60"

    async def test_empty_code_is_a_validation_error(self, client) -> None:
        r = await client.post(LOGIN, json={"code": ""})
        assert r.status_code == 422
        assert r.json()["code"] == "request.invalid"
        assert r.json()["details"]["errors"][0]["field"] == "code"

    async def test_inactive_account_cannot_log_in(self, client, session) -> None:
        await make_user(session, Role.RESIDENT, openid="gone-away", is_active=False)
        await session.commit()
        r = await client.post(LOGIN, json={"code": "ok:gone-away"})
        assert r.status_code == 403
        assert r.json()["code"] == "auth.user_inactive"


class TestRealWeChatClientInTheApp:
    """The httpx client wired into the app, talking to a fake WeChat server (no network)."""

    @pytest.fixture
    def fake_wechat(self):  # type: ignore[no-untyped-def]
        return create_fake_wechat_app()

    @pytest.fixture
    def wired(self, app, fake_wechat):  # type: ignore[no-untyped-def]
        cfg = WeChatSettings(
            client="http",
            app_id=FAKE_APP_ID,
            app_secret=FAKE_APP_SECRET,
            api_base="https://api.weixin.qq.com",
        )
        http = httpx.AsyncClient(transport=httpx.ASGITransport(app=fake_wechat))

        async def no_sleep(_: float) -> None:
            return None

        app.state.wechat = HttpxWeChatClient(cfg, http, sleep=no_sleep)
        return app

    async def test_login_through_the_real_client(self, wired, client, fake_wechat) -> None:
        r = await client.post(LOGIN, json={"code": "ok:real-client-user"})
        assert r.status_code == 200, r.text
        assert fake_wechat.state.calls == 1
        assert fake_wechat.state.requests[0]["appid"] == FAKE_APP_ID

    async def test_invalid_code_from_wechat_is_a_401(self, wired, client) -> None:
        r = await client.post(LOGIN, json={"code": "bad"})
        assert r.status_code == 401 and r.json()["code"] == "auth.wechat_code_invalid"

    async def test_wechat_down_twice_is_a_503(self, wired, client, fake_wechat) -> None:
        fake_wechat.state.fail_next_502 = 2
        r = await client.post(LOGIN, json={"code": "ok:unlucky"})
        assert r.status_code == 503 and r.json()["code"] == "auth.wechat_unavailable"
        assert fake_wechat.state.calls == 2

    async def test_retry_answer_within_the_grace_window_skips_wechat(
        self, wired, client, fake_wechat
    ) -> None:
        await client.post(LOGIN, json={"code": "ok:retry-me"})
        r = await client.post(LOGIN, json={"code": "ok:retry-me"})
        assert r.status_code == 200
        assert fake_wechat.state.calls == 1


class TestPasswordLogin:
    async def test_staff_log_in_with_username_and_password(self, client, session, app) -> None:
        user = await make_user(
            session, Role.SUPERADMIN, hasher=app.state.hasher, password="s3cret-pass", username="boss"
        )
        await session.commit()
        r = await client.post(TOKEN, data={"username": "boss", "password": "s3cret-pass"})
        assert r.status_code == 200, r.text
        assert r.json()["token_type"] == "bearer"
        me = await client.get(ME, headers=_auth(r.json()["access_token"]))
        assert me.json()["id"] == str(user.id)

    @pytest.mark.parametrize(("username", "password"), [("boss", "wrong-pass"), ("nobody", "s3cret-pass")])
    async def test_wrong_password_and_unknown_user_look_the_same(
        self, client, session, app, username, password
    ) -> None:
        await make_user(
            session, Role.SUPERADMIN, hasher=app.state.hasher, password="s3cret-pass", username="boss"
        )
        await session.commit()
        r = await client.post(TOKEN, data={"username": username, "password": password})
        assert r.status_code == 401
        assert r.json()["code"] == "auth.invalid_credentials"

    async def test_wechat_only_accounts_have_no_password(self, client, session) -> None:
        await make_user(session, Role.RESIDENT, openid="no-pass", username="nopass")
        await session.commit()
        r = await client.post(TOKEN, data={"username": "nopass", "password": "anything-at-all"})
        assert r.status_code == 401


class TestAccessTokens:
    async def test_missing_token_is_401_with_bearer_challenge(self, client) -> None:
        r = await client.get(ME)
        assert r.status_code == 401
        assert r.headers["WWW-Authenticate"] == "Bearer"
        assert r.json()["code"] == "auth.token_missing"

    async def test_token_expires_after_its_lifetime_by_the_injected_clock(
        self, client, session, settings, clock
    ) -> None:
        user = await make_user(session, Role.RESIDENT)
        await session.commit()
        headers = bearer(settings, clock, user)
        clock.advance(timedelta(seconds=settings.jwt.access_ttl_seconds - 1))
        assert (await client.get(ME, headers=headers)).status_code == 200
        clock.advance(timedelta(seconds=1))
        r = await client.get(ME, headers=headers)
        assert r.status_code == 401
        assert r.json()["code"] == "auth.token_expired"
        assert r.headers["WWW-Authenticate"] == "Bearer"

    async def test_expiry_follows_the_injected_clock_not_the_wall_clock(
        self, client, session, settings, clock
    ) -> None:
        # A token minted long ago by the wall clock is still valid while the injected clock says so
        # (python-jose must not check expiry against the real time).
        user = await make_user(session, Role.RESIDENT)
        await session.commit()
        clock.set(datetime(2020, 1, 1, 8, 0, tzinfo=UTC))
        headers = bearer(settings, clock, user)
        assert (await client.get(ME, headers=headers)).status_code == 200
        clock.advance(timedelta(seconds=settings.jwt.access_ttl_seconds))
        assert (await client.get(ME, headers=headers)).json()["code"] == "auth.token_expired"

    async def test_tampered_token_is_rejected(self, client, session, settings, clock) -> None:
        user = await make_user(session, Role.RESIDENT)
        await session.commit()
        token = bearer(settings, clock, user)["Authorization"].split()[1]
        header, payload, signature = token.split(".")
        claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
        claims["sub"] = "00000000-0000-0000-0000-000000000000"
        forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
        r = await client.get(ME, headers=_auth(f"{header}.{forged}.{signature}"))
        assert r.status_code == 401 and r.json()["code"] == "auth.token_invalid"

    async def test_alg_none_and_other_algorithms_are_rejected(self, client, session, settings, clock) -> None:
        user = await make_user(session, Role.RESIDENT)
        await session.commit()
        now = int(clock.now().timestamp())
        claims = {
            "sub": str(user.id),
            "ver": 1,
            "typ": "access",
            "iss": "linli",
            "iat": now,
            "exp": now + 600,
        }
        unsigned = (
            base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').decode().rstrip("=")
            + "."
            + base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
            + "."
        )
        hs512 = jwt.encode(claims, settings.jwt.secret.get_secret_value(), algorithm="HS512")
        wrong_key = jwt.encode(claims, "not-the-secret", algorithm="HS256")
        for token in (unsigned, hs512, wrong_key, "not-a-jwt"):
            r = await client.get(ME, headers=_auth(token))
            assert r.status_code == 401, token
            assert r.json()["code"] == "auth.token_invalid"

    async def test_a_refresh_token_is_not_an_access_token(self, client) -> None:
        body = (await client.post(LOGIN, json={"code": "ok:mixup"})).json()
        r = await client.get(ME, headers=_auth(body["refresh_token"]))
        assert r.status_code == 401


class TestRefresh:
    async def test_refresh_rotates_the_pair(self, client) -> None:
        first = (await client.post(LOGIN, json={"code": "ok:rotator"})).json()
        r = await client.post(REFRESH, json={"refresh_token": first["refresh_token"]})
        assert r.status_code == 200, r.text
        second = r.json()
        assert second["refresh_token"] != first["refresh_token"]
        assert (await client.get(ME, headers=_auth(second["access_token"]))).status_code == 200

    async def test_reusing_a_rotated_token_revokes_the_whole_family(self, client) -> None:
        first = (await client.post(LOGIN, json={"code": "ok:victim"})).json()
        second = (await client.post(REFRESH, json={"refresh_token": first["refresh_token"]})).json()
        stolen = await client.post(REFRESH, json={"refresh_token": first["refresh_token"]})
        assert stolen.status_code == 401
        assert stolen.json()["code"] == "auth.refresh_reused"
        # The revocation was committed although the request failed: the legitimate newer token is dead too.
        r = await client.post(REFRESH, json={"refresh_token": second["refresh_token"]})
        assert r.status_code == 401
        assert r.json()["code"] == "auth.refresh_invalid"

    async def test_other_logins_of_the_same_user_survive_a_reuse(self, client) -> None:
        phone = (await client.post(LOGIN, json={"code": "ok:two-devices"})).json()
        tablet = (await client.post(LOGIN, json={"code": "ok:two-devices"})).json()
        await client.post(REFRESH, json={"refresh_token": phone["refresh_token"]})
        await client.post(REFRESH, json={"refresh_token": phone["refresh_token"]})
        r = await client.post(REFRESH, json={"refresh_token": tablet["refresh_token"]})
        assert r.status_code == 200

    async def test_expired_refresh_token_is_refused(self, client, clock, settings) -> None:
        first = (await client.post(LOGIN, json={"code": "ok:sleepy"})).json()
        clock.advance(timedelta(days=settings.jwt.refresh_ttl_days, seconds=1))
        r = await client.post(REFRESH, json={"refresh_token": first["refresh_token"]})
        assert r.status_code == 401 and r.json()["code"] == "auth.refresh_invalid"

    async def test_unknown_refresh_token_is_refused(self, client) -> None:
        r = await client.post(REFRESH, json={"refresh_token": "x" * 43})
        assert r.status_code == 401 and r.json()["code"] == "auth.refresh_invalid"


class TestLogout:
    async def test_logout_revokes_the_refresh_token_and_is_idempotent(self, client) -> None:
        body = (await client.post(LOGIN, json={"code": "ok:leaving"})).json()
        assert (await client.post(LOGOUT, json={"refresh_token": body["refresh_token"]})).status_code == 204
        assert (await client.post(LOGOUT, json={"refresh_token": body["refresh_token"]})).status_code == 204
        r = await client.post(REFRESH, json={"refresh_token": body["refresh_token"]})
        assert r.status_code == 401
