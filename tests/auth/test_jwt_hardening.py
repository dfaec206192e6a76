"""Forged, stale and misused tokens: every one is refused with 401, the error envelope and a
Bearer challenge, and a reused refresh token revokes its whole login family."""

import base64
import json
import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jose import jwk, jwt
from sqlalchemy import select

from app.auth.models import RefreshToken
from app.auth.permissions import Role
from app.core import security
from app.user.models import User
from tests.factories import bearer, make_user

ME = "/api/v1/me"
USERS = "/api/v1/users"
LOGIN = "/api/v1/auth/wechat/login"
REFRESH = "/api/v1/auth/refresh"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _assert_rejected(r: httpx.Response, code: str = "auth.token_invalid") -> None:
    assert r.status_code == 401, r.text
    body = r.json()
    assert set(body) == {"code", "message", "details"}
    assert body["code"] == code and body["message"]
    assert r.headers["www-authenticate"] == "Bearer"


@pytest.fixture
async def resident(session) -> User:  # type: ignore[no-untyped-def]
    user = await make_user(session, Role.RESIDENT, openid="jwt-hardening")
    await session.commit()
    return user


@pytest.fixture
def claims(resident: User, settings, clock) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """Exactly what the server puts in a valid access token for the resident."""
    token = bearer(settings, clock, resident)["Authorization"].split()[1]
    return jwt.get_unverified_claims(token)


def _secret(settings) -> str:  # type: ignore[no-untyped-def]
    return settings.jwt.secret.get_secret_value()


def _rsa_pem() -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


class TestForgedTokens:
    async def test_the_genuine_token_works(self, client, settings, claims) -> None:
        r = await client.get(ME, headers=_auth(jwt.encode(claims, _secret(settings), algorithm="HS256")))
        assert r.status_code == 200

    @pytest.mark.parametrize("alg", ["HS384", "HS512"])
    async def test_other_hmac_algorithms_with_the_right_secret(self, client, settings, claims, alg) -> None:
        _assert_rejected(
            await client.get(ME, headers=_auth(jwt.encode(claims, _secret(settings), algorithm=alg)))
        )

    async def test_rs256_with_an_attacker_key(self, client, claims) -> None:
        pem = _rsa_pem()
        _assert_rejected(await client.get(ME, headers=_auth(jwt.encode(claims, pem, algorithm="RS256"))))

    async def test_rs256_with_the_attacker_key_embedded_as_jwk(self, client, claims) -> None:
        # CVE-2018-0114 style: the header carries the key that "verifies" the signature.
        pem = _rsa_pem()
        public = jwk.construct(pem, "RS256").public_key().to_dict()
        token = jwt.encode(claims, pem, algorithm="RS256", headers={"jwk": public})
        _assert_rejected(await client.get(ME, headers=_auth(token)))

    async def test_es256_with_an_attacker_key(self, client, claims) -> None:
        pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        _assert_rejected(await client.get(ME, headers=_auth(jwt.encode(claims, pem, algorithm="ES256"))))

    @pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
    @pytest.mark.parametrize("signature", ["", "AAAA"])
    async def test_alg_none(self, client, claims, alg, signature) -> None:
        header = _b64(json.dumps({"alg": alg, "typ": "JWT"}).encode())
        token = f"{header}.{_b64(json.dumps(claims).encode())}.{signature}"
        _assert_rejected(await client.get(ME, headers=_auth(token)))

    async def test_alg_none_without_the_trailing_dot(self, client, claims) -> None:
        header = _b64(b'{"alg":"none"}')
        _assert_rejected(await client.get(ME, headers=_auth(f"{header}.{_b64(json.dumps(claims).encode())}")))

    async def test_hs256_header_with_a_stripped_signature(self, client, settings, claims) -> None:
        header, payload, _ = jwt.encode(claims, _secret(settings), algorithm="HS256").split(".")
        _assert_rejected(await client.get(ME, headers=_auth(f"{header}.{payload}.")))

    async def test_hs256_signed_with_another_secret(self, client, claims) -> None:
        token = jwt.encode(claims, "a-guessed-secret-" + "x" * 32, algorithm="HS256")
        _assert_rejected(await client.get(ME, headers=_auth(token)))

    async def test_hs256_signed_with_an_empty_secret(self, client, claims) -> None:
        _assert_rejected(await client.get(ME, headers=_auth(jwt.encode(claims, "", algorithm="HS256"))))

    @pytest.mark.parametrize(
        "change",
        [
            {"sub": "00000000-0000-0000-0000-000000000001"},
            {"ver": 2},
            {"exp": 4_102_444_800},  # year 2100
            {"role": "superadmin"},
            {"roles": ["superadmin"], "is_superadmin": True},
            {"typ": "refresh"},
        ],
    )
    async def test_tampered_payload_keeps_the_old_signature(self, client, settings, claims, change) -> None:
        header, _, signature = jwt.encode(claims, _secret(settings), algorithm="HS256").split(".")
        payload = _b64(json.dumps({**claims, **change}).encode())
        _assert_rejected(await client.get(ME, headers=_auth(f"{header}.{payload}.{signature}")))

    async def test_tampered_header_keeps_the_old_signature(self, client, settings, claims) -> None:
        _, payload, signature = jwt.encode(claims, _secret(settings), algorithm="HS256").split(".")
        header = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "../../dev/null"}).encode())
        _assert_rejected(await client.get(ME, headers=_auth(f"{header}.{payload}.{signature}")))

    async def test_a_role_claim_grants_nothing_even_if_signed(self, client, settings, claims) -> None:
        # Roles come from the database, never from the token: a resident stays a resident.
        token = jwt.encode({**claims, "role": "superadmin", "roles": ["superadmin"]}, _secret(settings))
        assert (await client.get(ME, headers=_auth(token))).status_code == 200
        r = await client.get(USERS, headers=_auth(token))
        assert r.status_code == 403 and r.json()["code"] == "auth.staff_only"

    @pytest.mark.parametrize(
        "token",
        ["not-a-jwt", "a.b.c", "....", "", "e30.e30.", "Bearer x", "x" * 5000],
    )
    async def test_garbage(self, client, token) -> None:
        r = await client.get(ME, headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
        assert r.json()["code"] in ("auth.token_invalid", "auth.token_missing")

    async def test_another_auth_scheme_is_not_a_login(self, client, settings, claims) -> None:
        token = jwt.encode(claims, _secret(settings), algorithm="HS256")
        _assert_rejected(
            await client.get(ME, headers={"Authorization": f"Basic {token}"}), code="auth.token_missing"
        )


class TestClaims:
    async def _signed(self, client, settings, claims) -> httpx.Response:  # type: ignore[no-untyped-def]
        return await client.get(ME, headers=_auth(jwt.encode(claims, _secret(settings), algorithm="HS256")))

    async def test_expired(self, client, settings, clock, resident) -> None:
        headers = bearer(settings, clock, resident)
        clock.advance(timedelta(seconds=settings.jwt.access_ttl_seconds))
        _assert_rejected(await client.get(ME, headers=headers), code="auth.token_expired")

    async def test_expired_long_ago(self, client, settings, claims) -> None:
        r = await self._signed(client, settings, {**claims, "exp": claims["exp"] - 86_400})
        _assert_rejected(r, code="auth.token_expired")

    @pytest.mark.parametrize("exp", [None, "soon", "2100-01-01", [1]])
    async def test_missing_or_malformed_expiry(self, client, settings, claims, exp) -> None:
        body = {k: v for k, v in claims.items() if k != "exp"}
        if exp is not None:
            body["exp"] = exp
        _assert_rejected(await self._signed(client, settings, body))

    @pytest.mark.parametrize("issuer", ["evil", "Linli", "", None])
    async def test_wrong_or_missing_issuer(self, client, settings, claims, issuer) -> None:
        body = {k: v for k, v in claims.items() if k != "iss"}
        if issuer is not None:
            body["iss"] = issuer
        _assert_rejected(await self._signed(client, settings, body))

    @pytest.mark.parametrize("typ", [None, "refresh", "id", "ACCESS"])
    async def test_wrong_or_missing_type(self, client, settings, claims, typ) -> None:
        body = {k: v for k, v in claims.items() if k != "typ"}
        if typ is not None:
            body["typ"] = typ
        _assert_rejected(await self._signed(client, settings, body))

    @pytest.mark.parametrize("sub", [None, "admin", "", 42])
    async def test_missing_or_malformed_subject(self, client, settings, claims, sub) -> None:
        body = {k: v for k, v in claims.items() if k != "sub"}
        if sub is not None:
            body["sub"] = sub
        _assert_rejected(await self._signed(client, settings, body))

    async def test_a_user_that_does_not_exist(self, client, settings, claims) -> None:
        _assert_rejected(await self._signed(client, settings, {**claims, "sub": str(uuid.uuid4())}))

    @pytest.mark.parametrize("ver", [None, 0, 2, "x"])
    async def test_wrong_or_missing_token_version(self, client, settings, claims, ver) -> None:
        body = {k: v for k, v in claims.items() if k != "ver"}
        if ver is not None:
            body["ver"] = ver
        _assert_rejected(await self._signed(client, settings, body))

    async def test_our_tokens_carry_no_nbf_and_a_short_life(self, claims, settings) -> None:
        # No "not before" claim is issued (so none needs checking); expiry is the access TTL.
        assert "nbf" not in claims
        assert claims["exp"] - claims["iat"] == settings.jwt.access_ttl_seconds
        assert set(claims) == {"sub", "ver", "typ", "iss", "iat", "exp", "jti"}

    def test_the_decoder_refuses_every_algorithm_but_hs256(self, settings, claims, clock) -> None:
        for alg in ("HS384", "HS512"):
            with pytest.raises(security.TokenInvalid):
                security.decode_access_token(
                    settings.jwt, jwt.encode(claims, _secret(settings), algorithm=alg), now=clock.now()
                )


class TestStaleTokens:
    """token_version: a password change or deactivation logs the account out everywhere."""

    @pytest.fixture
    async def admin(self, session):  # type: ignore[no-untyped-def]
        user = await make_user(session, Role.SUPERADMIN)
        await session.commit()
        return user

    async def _login(self, client) -> dict:  # type: ignore[no-untyped-def]
        r = await client.post(LOGIN, json={"code": "ok:jwt-hardening"})
        assert r.status_code == 200
        return r.json()

    async def test_after_a_password_change(self, client, settings, clock, admin, resident) -> None:
        pair = await self._login(client)
        assert (await client.get(ME, headers=_auth(pair["access_token"]))).status_code == 200
        r = await client.patch(
            f"{USERS}/{resident.id}",
            json={"password": "a-new-password-1"},
            headers=bearer(settings, clock, admin),
        )
        assert r.status_code == 200, r.text
        _assert_rejected(await client.get(ME, headers=_auth(pair["access_token"])))
        _assert_rejected(
            await client.post(REFRESH, json={"refresh_token": pair["refresh_token"]}),
            code="auth.refresh_invalid",
        )
        # A fresh login works again.
        fresh = await self._login(client)
        assert (await client.get(ME, headers=_auth(fresh["access_token"]))).status_code == 200

    async def test_after_deactivation(self, client, settings, clock, admin, resident) -> None:
        pair = await self._login(client)
        r = await client.patch(
            f"{USERS}/{resident.id}", json={"is_active": False}, headers=bearer(settings, clock, admin)
        )
        assert r.status_code == 200, r.text
        _assert_rejected(await client.get(ME, headers=_auth(pair["access_token"])))
        refused = await client.post(REFRESH, json={"refresh_token": pair["refresh_token"]})
        _assert_rejected(refused, code="auth.refresh_invalid")
        # Reactivating does not bring old tokens back (the version only goes up).
        r = await client.patch(
            f"{USERS}/{resident.id}", json={"is_active": True}, headers=bearer(settings, clock, admin)
        )
        assert r.status_code == 200
        _assert_rejected(await client.get(ME, headers=_auth(pair["access_token"])))

    async def test_an_old_version_signed_properly_is_still_refused(
        self, client, session, settings, claims, resident
    ) -> None:
        resident.token_version += 1
        await session.commit()
        _assert_rejected(await client.get(ME, headers=_auth(jwt.encode(claims, _secret(settings)))))


class TestTokenKinds:
    async def test_a_refresh_token_is_not_an_access_token(self, client) -> None:
        pair = (await client.post(LOGIN, json={"code": "ok:kinds"})).json()
        _assert_rejected(await client.get(ME, headers=_auth(pair["refresh_token"])))

    async def test_an_access_token_is_not_a_refresh_token(self, client) -> None:
        pair = (await client.post(LOGIN, json={"code": "ok:kinds"})).json()
        r = await client.post(REFRESH, json={"refresh_token": pair["access_token"]})
        # A JWT is longer than any refresh token (max 128 characters): refused before any lookup.
        assert r.status_code == 422 and r.json()["code"] == "request.invalid"
        assert r.json()["details"]["errors"][0]["field"] == "refresh_token"
        # One cut to a refresh token's length is looked up and not found.
        r = await client.post(REFRESH, json={"refresh_token": pair["access_token"][:43]})
        _assert_rejected(r, code="auth.refresh_invalid")
        # ... and trying did not burn the real refresh token.
        assert (await client.post(REFRESH, json={"refresh_token": pair["refresh_token"]})).status_code == 200

    async def test_a_refresh_token_as_the_bearer_of_the_refresh_call_is_not_enough(self, client) -> None:
        pair = (await client.post(LOGIN, json={"code": "ok:kinds"})).json()
        r = await client.post(REFRESH, json={}, headers=_auth(pair["refresh_token"]))
        assert r.status_code == 422


class TestRefreshReuse:
    async def _family(self, session, token: str) -> list[RefreshToken]:  # type: ignore[no-untyped-def]
        row = await session.scalar(
            select(RefreshToken).where(RefreshToken.token_hash == security.hash_token(token))
        )
        rows = await session.scalars(
            select(RefreshToken)
            .where(RefreshToken.family_id == row.family_id)
            .order_by(RefreshToken.issued_at, RefreshToken.id)
            .execution_options(populate_existing=True)
        )
        return list(rows)

    async def test_a_rotated_token_presented_again_revokes_the_whole_family(
        self, client, session, clock
    ) -> None:
        first = (await client.post(LOGIN, json={"code": "ok:reuse"})).json()
        clock.advance(timedelta(seconds=1))
        second = (await client.post(REFRESH, json={"refresh_token": first["refresh_token"]})).json()
        clock.advance(timedelta(seconds=1))
        third = (await client.post(REFRESH, json={"refresh_token": second["refresh_token"]})).json()
        family = await self._family(session, first["refresh_token"])
        assert len(family) == 3 and all(t.revoked_at is None for t in family)

        clock.advance(timedelta(seconds=1))
        stolen = await client.post(REFRESH, json={"refresh_token": first["refresh_token"]})
        _assert_rejected(stolen, code="auth.refresh_reused")

        # Committed despite the 401: every token of the login is revoked, the newest included.
        family = await self._family(session, first["refresh_token"])
        assert [t.revoked_at for t in family] == [clock.now()] * 3
        for token in (second["refresh_token"], third["refresh_token"]):
            r = await client.post(REFRESH, json={"refresh_token": token})
            _assert_rejected(r, code="auth.refresh_invalid")
        # Presenting the stolen one again stays refused (now as revoked).
        again = await client.post(REFRESH, json={"refresh_token": first["refresh_token"]})
        _assert_rejected(again, code="auth.refresh_invalid")

    async def test_other_logins_of_the_user_are_untouched(self, client, session) -> None:
        phone = (await client.post(LOGIN, json={"code": "ok:reuse-two"})).json()
        tablet = (await client.post(LOGIN, json={"code": "ok:reuse-two"})).json()
        await client.post(REFRESH, json={"refresh_token": phone["refresh_token"]})
        _assert_rejected(
            await client.post(REFRESH, json={"refresh_token": phone["refresh_token"]}),
            code="auth.refresh_reused",
        )
        assert all(t.revoked_at is None for t in await self._family(session, tablet["refresh_token"]))
        assert (
            await client.post(REFRESH, json={"refresh_token": tablet["refresh_token"]})
        ).status_code == 200
