"""Who is calling: the bearer token → the user → an Actor with their scopes."""

import uuid
from typing import Annotated

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer, OAuth2PasswordBearer
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import exceptions as exc
from app.auth.permissions import Actor, Role
from app.core import security
from app.core.clock import ClockDep
from app.core.db import SessionDep
from app.core.deps import SettingsDep
from app.core.errors import Forbidden
from app.user.models import GridMember, User, UserRole

# Two ways to authorize in /docs: staff log in with a password; anyone can paste an access
# token (for example one returned by the WeChat login). Both read the same Authorization header.
password_scheme = OAuth2PasswordBearer(
    tokenUrl="/api/v1/auth/token",
    auto_error=False,
    scheme_name="PasswordLogin",
    description="工作人员用户名和密码登录",
)
bearer_scheme = HTTPBearer(
    auto_error=False, scheme_name="AccessToken", description="粘贴登录接口返回的 access_token（例如微信登录）"
)


async def get_auth(
    session: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
    _password_token: Annotated[str | None, Depends(password_scheme)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> tuple[User, Actor]:
    """Check the access token and load the user with every role grant and grid in one query;
    401 for a missing or bad token, 403 if the account is inactive."""
    if bearer is None or not bearer.credentials:
        raise exc.TokenMissing()
    try:
        claims = security.decode_access_token(settings.jwt, bearer.credentials, now=clock.now())
    except security.TokenExpired:
        raise exc.TokenExpired() from None
    except security.TokenInvalid:
        raise exc.TokenInvalid() from None
    loaded = await load_user_and_actor(session, claims.user_id)
    if loaded is None or loaded[0].token_version != claims.token_version:
        raise exc.TokenInvalid()
    if not loaded[0].is_active:
        raise exc.UserInactive()
    return loaded


async def load_user_and_actor(session: AsyncSession, user_id: uuid.UUID) -> tuple[User, Actor] | None:
    """A user with every role grant and grid, in one query, as the Actor the policies take."""
    rows = (
        await session.execute(
            select(User, UserRole, GridMember.grid_id)
            .outerjoin(UserRole, UserRole.user_id == User.id)
            .outerjoin(GridMember, GridMember.user_id == User.id)
            .where(User.id == user_id)
        )
    ).all()
    if not rows:
        return None
    user = rows[0][0]
    grants = list({g.id: g for _, g, _ in rows if g is not None}.values())
    grid_ids = frozenset(gid for _, _, gid in rows if gid is not None)

    def ids(role: Role, attr: str) -> frozenset:
        return frozenset(getattr(g, attr) for g in grants if g.role is role and getattr(g, attr) is not None)

    return user, Actor(
        user_id=user.id,
        roles=frozenset(g.role for g in grants),
        subdistrict_ids=ids(Role.SUBDISTRICT_ADMIN, "subdistrict_id"),
        community_ids=ids(Role.COMMUNITY_ADMIN, "community_id"),
        department_ids=ids(Role.DEPARTMENT_STAFF, "department_id"),
        worker_community_ids=ids(Role.GRID_WORKER, "community_id") | ids(Role.TEACHER, "community_id"),
        grid_ids=grid_ids,
        craftsman_subdistrict_ids=ids(Role.CRAFTSMAN, "subdistrict_id"),
        teacher_community_ids=ids(Role.TEACHER, "community_id"),
    )


AuthDep = Annotated[tuple[User, Actor], Depends(get_auth)]


async def get_current_user(auth: AuthDep) -> User:
    """The authenticated user."""
    return auth[0]


CurrentUser = Annotated[User, Depends(get_current_user)]


async def get_current_actor(auth: AuthDep) -> Actor:
    """The caller with the scopes of every role they hold."""
    return auth[1]


CurrentActor = Annotated[Actor, Depends(get_current_actor)]


class NotStaff(Forbidden):
    code = "auth.staff_only"
    message = "仅限社区、街道工作人员使用"


async def require_admin(actor: CurrentActor) -> Actor:
    """Community, subdistrict or super administrators only."""
    if not actor.is_admin:
        raise NotStaff()
    return actor


AdminActor = Annotated[Actor, Depends(require_admin)]
