"""Logging in (WeChat code or password) and the rotating refresh-token families."""

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import exceptions as exc
from app.auth.models import RefreshToken, WeChatLoginCode
from app.auth.permissions import Role
from app.core import security
from app.core.clock import Clock
from app.core.config import Settings
from app.user.models import User, UserIdentity, UserRole
from app.wechat.client import WeChatClient
from app.wechat.identity import WECHAT_PROVIDER


@dataclass(frozen=True)
class IssuedTokens:
    access_token: str
    expires_in: int
    refresh_token: str
    refresh_expires_in: int


async def issue_tokens(
    session: AsyncSession,
    *,
    user: User,
    settings: Settings,
    now: datetime,
    family_id: uuid.UUID | None = None,
) -> IssuedTokens:
    """Mint an access JWT and a new refresh token (a new family unless one is given)."""
    refresh = security.new_opaque_token()
    ttl = timedelta(days=settings.jwt.refresh_ttl_days)
    session.add(
        RefreshToken(
            user_id=user.id,
            family_id=family_id or uuid.uuid4(),
            token_hash=security.hash_token(refresh),
            issued_at=now,
            expires_at=now + ttl,
        )
    )
    access = security.create_access_token(
        settings.jwt, user_id=user.id, token_version=user.token_version, now=now
    )
    return IssuedTokens(access, settings.jwt.access_ttl_seconds, refresh, int(ttl.total_seconds()))


async def login_with_wechat(
    session: AsyncSession, *, wechat: WeChatClient, clock: Clock, settings: Settings, code: str
) -> tuple[User, IssuedTokens, bool]:
    """Exchange a wx.login code for our own tokens; the first login creates a resident.

    A code may be presented again for a few minutes (a phone retrying on a weak network): the
    same account is logged in without asking WeChat, which would answer 40163 "code been used".
    """
    now = clock.now()
    code_hash = security.hash_token(code)
    reuse_after = now - timedelta(seconds=settings.wechat.login_code_reuse_seconds)
    seen = await session.get(WeChatLoginCode, code_hash)
    is_new = False
    if seen is not None and seen.used_at >= reuse_after:
        user = await session.get(User, seen.user_id)
        assert user is not None
    else:
        wx = await wechat.code_to_session(code)
        identity = await session.scalar(
            select(UserIdentity).where(
                UserIdentity.provider == WECHAT_PROVIDER, UserIdentity.subject == wx.openid
            )
        )
        if identity is None:
            user = User(display_name=f"微信用户{wx.openid[-4:]}")
            session.add(user)
            await session.flush()
            session.add_all(
                [
                    UserIdentity(
                        user_id=user.id, provider=WECHAT_PROVIDER, subject=wx.openid, union_id=wx.unionid
                    ),
                    UserRole(user_id=user.id, role=Role.RESIDENT),
                ]
            )
            is_new = True
        else:
            user = await session.get(User, identity.user_id)
            assert user is not None
            if wx.unionid and identity.union_id != wx.unionid:
                identity.union_id = wx.unionid
        if seen is None:
            session.add(WeChatLoginCode(code_hash=code_hash, user_id=user.id, used_at=now))
        else:
            seen.user_id, seen.used_at = user.id, now
    if not user.is_active:
        raise exc.UserInactive()
    user.last_login_at = now
    return user, await issue_tokens(session, user=user, settings=settings, now=now), is_new


async def login_with_password(
    session: AsyncSession,
    *,
    hasher: security.PasswordHashing,
    clock: Clock,
    settings: Settings,
    username: str,
    password: str,
) -> tuple[User, IssuedTokens]:
    """Check a username and password; the same error whether the account exists or not."""
    user = await session.scalar(select(User).where(User.username == username.strip().lower()))
    if not hasher.verify(user.password_hash if user else None, password) or user is None:
        raise exc.InvalidCredentials()
    if not user.is_active:
        raise exc.UserInactive()
    now = clock.now()
    user.last_login_at = now
    return user, await issue_tokens(session, user=user, settings=settings, now=now)


async def refresh_tokens(
    session: AsyncSession, *, clock: Clock, settings: Settings, refresh_token: str
) -> tuple[User, IssuedTokens]:
    """Rotate a refresh token. Presenting an already rotated one revokes its whole family."""
    now = clock.now()
    token = await session.scalar(
        select(RefreshToken).where(RefreshToken.token_hash == security.hash_token(refresh_token))
    )
    if token is None or token.revoked_at is not None or token.expires_at <= now:
        raise exc.RefreshInvalid()
    # A conditional update makes rotation single-use under concurrent requests on both databases.
    won = await session.execute(
        update(RefreshToken)
        .where(
            RefreshToken.id == token.id, RefreshToken.rotated_at.is_(None), RefreshToken.revoked_at.is_(None)
        )
        .values(rotated_at=now)
        .execution_options(synchronize_session=False)
    )
    if won.rowcount != 1:
        await revoke_family(session, family_id=token.family_id, now=now)
        # The revocation must survive the error response, so it is committed by the caller.
        raise exc.RefreshReused()
    user = await session.get(User, token.user_id)
    if user is None or not user.is_active:
        raise exc.UserInactive()
    return user, await issue_tokens(session, user=user, settings=settings, now=now, family_id=token.family_id)


async def revoke_family(session: AsyncSession, *, family_id: uuid.UUID, now: datetime) -> None:
    """Revoke every token of a login (logout, or suspected theft)."""
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )


async def revoke_all_for_user(session: AsyncSession, *, user_id: uuid.UUID, now: datetime) -> None:
    """Revoke every refresh token of a user (deactivation, password reset)."""
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )


async def logout(session: AsyncSession, *, clock: Clock, refresh_token: str) -> None:
    """Revoke the login family of this refresh token; unknown tokens are ignored (idempotent)."""
    token = await session.scalar(
        select(RefreshToken).where(RefreshToken.token_hash == security.hash_token(refresh_token))
    )
    if token is not None:
        await revoke_family(session, family_id=token.family_id, now=clock.now())
