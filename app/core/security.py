"""Tokens, password hashing and URL signing. Every time read here comes from the caller's `now`."""

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from jose import JWTError, jwt

from app.core.config import JwtSettings, PasswordSettings

ALGORITHM = "HS256"


@dataclass(frozen=True)
class AccessClaims:
    user_id: uuid.UUID
    token_version: int
    expires_at: datetime


class TokenInvalid(Exception):
    pass


class TokenExpired(TokenInvalid):
    pass


def create_access_token(cfg: JwtSettings, *, user_id: uuid.UUID, token_version: int, now: datetime) -> str:
    claims = {
        "sub": str(user_id),
        "ver": token_version,
        "typ": "access",
        "iss": cfg.issuer,
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(seconds=cfg.access_ttl_seconds)).timestamp()),
        "jti": secrets.token_hex(8),
    }
    return jwt.encode(claims, cfg.secret.get_secret_value(), algorithm=ALGORITHM)


def decode_access_token(cfg: JwtSettings, token: str, *, now: datetime) -> AccessClaims:
    """Verify signature, algorithm and claims; expiry is checked against the injected `now`."""
    try:
        header = jwt.get_unverified_header(token)
        if header.get("alg") != ALGORITHM:
            raise TokenInvalid("algorithm")
        claims = jwt.decode(
            token,
            cfg.secret.get_secret_value(),
            algorithms=[ALGORITHM],
            issuer=cfg.issuer,
            # Expiry is checked below against the injected clock. (python-jose turns
            # "require_exp" into a wall-clock expiry check, so it must stay off.)
            options={"verify_exp": False, "verify_iat": False, "verify_nbf": False, "verify_aud": False},
        )
        if claims.get("typ") != "access":
            raise TokenInvalid("type")
        expires = int(claims["exp"])
        user_id = uuid.UUID(str(claims["sub"]))
        version = int(claims["ver"])
    except (JWTError, KeyError, ValueError, TypeError) as exc:
        raise TokenInvalid(str(exc)) from exc
    if expires <= now.timestamp():
        raise TokenExpired()
    return AccessClaims(
        user_id=user_id, token_version=version, expires_at=datetime.fromtimestamp(expires, tz=now.tzinfo)
    )


def new_opaque_token() -> str:
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def hash_token_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class PasswordHashing:
    def __init__(self, cfg: PasswordSettings) -> None:
        self._hasher = PasswordHasher(
            time_cost=cfg.time_cost, memory_cost=cfg.memory_cost_kib, parallelism=cfg.parallelism
        )
        # Verified against when the account does not exist, so timing does not reveal usernames.
        self._dummy = self._hasher.hash(secrets.token_hex(8))

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, password_hash: str | None, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash or self._dummy, password) and password_hash is not None
        except (VerificationError, InvalidHashError):
            return False


def sign(secret: str, message: str) -> str:
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()[:32]


def constant_time_equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
