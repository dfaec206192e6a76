"""Accounts: the caller's own profile, staff-managed accounts, role grants, grid membership."""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Select, delete, exists, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.permissions import (
    ROLE_SCOPE,
    Actor,
    Role,
    Scope,
    ScopeKind,
    can_grant,
    can_see_person,
    mask_address,
    mask_phone,
)
from app.core.pagination import paginate
from app.core.security import PasswordHashing
from app.org.models import Building, Community, Department, Grid, Subdistrict
from app.privacy import audit
from app.user import exceptions as exc
from app.user.models import GridMember, User, UserIdentity, UserRole
from app.user.schemas import MeRead, MeUpdate, RoleGrantIn, RoleGrantRead, UserCreate, UserRead, UserUpdate
from app.wechat.identity import WECHAT_PROVIDER


async def _grants(session: AsyncSession, user_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[UserRole]]:
    out: dict[uuid.UUID, list[UserRole]] = {uid: [] for uid in user_ids}
    if user_ids:
        rows = await session.scalars(
            select(UserRole).where(UserRole.user_id.in_(user_ids)).order_by(UserRole.role, UserRole.id)
        )
        for grant in rows:
            out[grant.user_id].append(grant)
    return out


async def _grid_ids(session: AsyncSession, user_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[uuid.UUID]]:
    out: dict[uuid.UUID, list[uuid.UUID]] = {uid: [] for uid in user_ids}
    if user_ids:
        rows = await session.execute(
            select(GridMember.user_id, GridMember.grid_id)
            .where(GridMember.user_id.in_(user_ids))
            .order_by(GridMember.grid_id)
        )
        for uid, gid in rows:
            out[uid].append(gid)
    return out


async def _home_scope(session: AsyncSession, community_id: uuid.UUID | None) -> Scope | None:
    if community_id is None:
        return None
    subdistrict_id = await session.scalar(
        select(Community.subdistrict_id).where(Community.id == community_id)
    )
    return Scope(subdistrict_id=subdistrict_id, community_id=community_id)


def _person_scopes(home: Scope | None, grants: list[UserRole]) -> list[Scope]:
    scopes = [Scope(g.subdistrict_id, g.community_id, g.department_id) for g in grants]
    return [home, *scopes] if home else scopes


async def me(session: AsyncSession, *, user: User) -> MeRead:
    """The caller's own profile, unmasked (care category is for staff only)."""
    grants = (await _grants(session, [user.id]))[user.id]
    grids = (await _grid_ids(session, [user.id]))[user.id]
    return MeRead(
        id=user.id,
        display_name=user.display_name,
        username=user.username,
        phone=user.phone,
        home_community_id=user.home_community_id,
        home_building_id=user.home_building_id,
        address=user.address,
        roles=[RoleGrantRead.model_validate(g) for g in grants],
        grid_ids=grids,
    )


async def _check_home(
    session: AsyncSession, community_id: uuid.UUID | None, building_id: uuid.UUID | None
) -> None:
    from app.org.exceptions import CommunityNotFound

    if community_id is not None and await session.get(Community, community_id) is None:
        raise CommunityNotFound()
    if building_id is not None:
        building = await session.get(Building, building_id)
        if building is None or building.community_id != community_id:
            raise exc.BuildingMismatch()


def _apply(user: User, changes: dict[str, Any]) -> None:
    if "phone" in changes and changes["phone"] != user.phone:
        # A typed number is not the one WeChat verified.
        user.phone_verified_at = None
    for key, value in changes.items():
        setattr(user, key, "" if key == "address" and value is None else value)


async def update_me(session: AsyncSession, *, user: User, data: MeUpdate) -> MeRead:
    """Let a user edit their own name, phone and home."""
    changes = data.model_dump(exclude_unset=True)
    community = changes.get("home_community_id", user.home_community_id)
    building = changes.get("home_building_id", user.home_building_id)
    if (
        "home_community_id" in changes
        and "home_building_id" not in changes
        and community != user.home_community_id
    ):
        building = changes["home_building_id"] = None
    await _check_home(session, community, building)
    _apply(user, changes)
    await session.flush()
    return await me(session, user=user)


async def resolve_scope(session: AsyncSession, grant: RoleGrantIn) -> Scope:
    """Check that a grant names exactly the scope its role needs and fill in the parent ids."""
    kind = ROLE_SCOPE[grant.role]
    given = {k for k in ("subdistrict_id", "community_id", "department_id") if getattr(grant, k) is not None}
    needed = {
        ScopeKind.NONE: set(),
        ScopeKind.SUBDISTRICT: {"subdistrict_id"},
        ScopeKind.COMMUNITY: {"community_id"},
        ScopeKind.DEPARTMENT: {"department_id"},
    }[kind]
    if given != needed:
        raise exc.RoleScopeInvalid(role=grant.role.value, required=sorted(needed), given=sorted(given))
    if kind is ScopeKind.SUBDISTRICT:
        if await session.get(Subdistrict, grant.subdistrict_id) is None:
            raise exc.RoleScopeInvalid("街道不存在", field="subdistrict_id")
        return Scope(subdistrict_id=grant.subdistrict_id)
    if kind is ScopeKind.COMMUNITY:
        community = await session.get(Community, grant.community_id)
        if community is None:
            raise exc.RoleScopeInvalid("社区不存在", field="community_id")
        return Scope(subdistrict_id=community.subdistrict_id, community_id=community.id)
    if kind is ScopeKind.DEPARTMENT:
        department = await session.get(Department, grant.department_id)
        if department is None:
            raise exc.RoleScopeInvalid("部门不存在", field="department_id")
        return Scope(subdistrict_id=department.subdistrict_id, department_id=department.id)
    return Scope()


async def _add_grant(
    session: AsyncSession, *, actor: Actor, user_id: uuid.UUID, grant: RoleGrantIn
) -> UserRole:
    scope = await resolve_scope(session, grant)
    if not can_grant(actor, grant.role, scope):
        raise exc.RoleNotGrantable(role=grant.role.value)
    duplicate = await session.scalar(
        select(UserRole.id).where(
            UserRole.user_id == user_id,
            UserRole.role == grant.role,
            _is(UserRole.subdistrict_id, scope.subdistrict_id),
            _is(UserRole.community_id, scope.community_id),
            _is(UserRole.department_id, scope.department_id),
        )
    )
    if duplicate is not None:
        raise exc.RoleExists(role=grant.role.value)
    row = UserRole(
        user_id=user_id,
        role=grant.role,
        subdistrict_id=scope.subdistrict_id,
        community_id=scope.community_id,
        department_id=scope.department_id,
        is_part_time=grant.is_part_time and grant.role is Role.GRID_WORKER,
    )
    session.add(row)
    return row


def _is(column, value):  # type: ignore[no-untyped-def]
    return column.is_(None) if value is None else column == value


async def create_user(
    session: AsyncSession, *, actor: Actor, hasher: PasswordHashing, data: UserCreate, now: datetime
) -> UserRead:
    """Create a staff-managed account (staff, grid worker, craftsman, teacher, or a resident)."""
    if data.username and await session.scalar(select(User.id).where(User.username == data.username)):
        raise exc.UsernameTaken()
    if data.wechat_openid and await session.scalar(
        select(UserIdentity.id).where(
            UserIdentity.provider == WECHAT_PROVIDER, UserIdentity.subject == data.wechat_openid
        )
    ):
        raise exc.OpenIdTaken()
    await _check_home(session, data.home_community_id, None)
    if data.home_community_id is not None and not can_see_person(
        actor, [await _home_scope(session, data.home_community_id)]
    ):
        raise exc.RoleNotGrantable("不能为您管辖范围以外社区的居民开通账号")
    user = User(
        display_name=data.display_name,
        username=data.username,
        phone=data.phone,
        password_hash=hasher.hash(data.password) if data.password else None,
        home_community_id=data.home_community_id,
        care_category=data.care_category,
    )
    session.add(user)
    await session.flush()
    for grant in data.roles:
        await _add_grant(session, actor=actor, user_id=user.id, grant=grant)
    if data.wechat_openid:
        session.add(UserIdentity(user_id=user.id, provider=WECHAT_PROVIDER, subject=data.wechat_openid))
    await session.flush()
    return await user_view(session, actor=actor, user=user, now=now)


async def user_view(session: AsyncSession, *, actor: Actor, user: User, now: datetime) -> UserRead:
    """The staff view of one account, masked unless the actor administers where the person lives or works."""
    return (await _views(session, actor=actor, users=[user], now=now))[0]


async def _views(session: AsyncSession, *, actor: Actor, users: list[User], now: datetime) -> list[UserRead]:
    ids = [u.id for u in users]
    grants, grids = await _grants(session, ids), await _grid_ids(session, ids)
    out, shown = [], []
    for u in users:
        full = u.id == actor.user_id or can_see_person(
            actor, _person_scopes(await _home_scope(session, u.home_community_id), grants[u.id])
        )
        if full:
            shown += [
                audit.phone(u.id, u.phone, u.id),
                audit.care(u.id, actor.is_staff and u.care_category, u.id),
            ]
        out.append(
            UserRead(
                id=u.id,
                display_name=u.display_name,
                username=u.username,
                phone=u.phone if full else mask_phone(u.phone),
                home_community_id=u.home_community_id,
                home_building_id=u.home_building_id,
                address=u.address if full else (mask_address(u.address) or ""),
                care_category=u.care_category if full and actor.is_staff else None,
                is_active=u.is_active,
                roles=[RoleGrantRead.model_validate(g) for g in grants[u.id]],
                grid_ids=grids[u.id],
                created_at=u.created_at,
            )
        )
    await audit.shown(session, actor, shown, resource="user", now=now)
    return out


def _visible_users(actor: Actor) -> Select:
    """Accounts an administrator may list: those living in or holding a role in their scope."""
    stmt = select(User)
    if actor.is_superadmin:
        return stmt
    communities = select(Community.id).where(
        or_(Community.id.in_(actor.community_ids), Community.subdistrict_id.in_(actor.subdistrict_ids))
    )
    works_here = exists().where(
        UserRole.user_id == User.id,
        or_(
            UserRole.community_id.in_(actor.community_ids), UserRole.subdistrict_id.in_(actor.subdistrict_ids)
        ),
    )
    return stmt.where(or_(User.home_community_id.in_(communities), works_here))


async def list_users(
    session: AsyncSession,
    *,
    actor: Actor,
    role: Role | None,
    community_id: uuid.UUID | None,
    q: str | None,
    cursor: str | None,
    limit: int,
    now: datetime,
) -> tuple[list[UserRead], str | None]:
    """Accounts visible to the administrator, newest first."""
    stmt = _visible_users(actor)
    if role is not None:
        stmt = stmt.where(exists().where(UserRole.user_id == User.id, UserRole.role == role))
    if community_id is not None:
        stmt = stmt.where(
            or_(
                User.home_community_id == community_id,
                exists().where(UserRole.user_id == User.id, UserRole.community_id == community_id),
            )
        )
    if q:
        # autoescape: a % or _ typed in the search box is text, not a wildcard.
        text = q.strip()
        searched = (User.display_name, User.username, User.phone)
        stmt = stmt.where(or_(*(col.contains(text, autoescape=True) for col in searched)))
    rows, next_cursor = await paginate(
        session, stmt, columns=[User.created_at, User.id], cursor=cursor, limit=limit, descending=True
    )
    return await _views(session, actor=actor, users=rows, now=now), next_cursor


async def get_visible_user(session: AsyncSession, *, actor: Actor, user_id: uuid.UUID) -> User:
    """Load an account the administrator may see; others look the same as missing ones."""
    user = await session.scalar(_visible_users(actor).where(User.id == user_id))
    if user is None:
        raise exc.UserNotFound()
    return user


async def update_user(
    session: AsyncSession,
    *,
    actor: Actor,
    hasher: PasswordHashing,
    now: datetime,
    user_id: uuid.UUID,
    data: UserUpdate,
) -> UserRead:
    """Staff edit an account in their scope; deactivating or a new password logs it out everywhere."""
    from app.auth.service import revoke_all_for_user

    user = await get_visible_user(session, actor=actor, user_id=user_id)
    grants = (await _grants(session, [user.id]))[user.id]
    if not can_see_person(actor, _person_scopes(await _home_scope(session, user.home_community_id), grants)):
        raise exc.RoleNotGrantable("您不能修改该用户")
    changes = data.model_dump(exclude_unset=True)
    if ("password" in changes or "is_active" in changes) and not all(
        can_grant(actor, g.role, Scope(g.subdistrict_id, g.community_id, g.department_id)) for g in grants
    ):
        # Taking over or locking out an account needs authority over every role it holds.
        raise exc.RoleNotGrantable("您不能停用该账号或重设其密码")
    moved = changes.get("home_community_id", user.home_community_id) != user.home_community_id
    if moved and "home_building_id" not in changes:
        changes["home_building_id"] = None  # the old building belongs to the old community
    if "home_community_id" in changes or "home_building_id" in changes:
        community = changes.get("home_community_id", user.home_community_id)
        if community is not None and not can_see_person(actor, [await _home_scope(session, community)]):
            raise exc.RoleNotGrantable("不能把居民迁到您管辖范围以外的社区")
        await _check_home(session, community, changes.get("home_building_id", user.home_building_id))
    password = changes.pop("password", None)
    if password is not None:
        user.password_hash = hasher.hash(password)
    _apply(user, changes)
    if password is not None or changes.get("is_active") is False:
        user.token_version += 1
        await revoke_all_for_user(session, user_id=user.id, now=now)
    await session.flush()
    return await user_view(session, actor=actor, user=user, now=now)


async def grant_role(
    session: AsyncSession, *, actor: Actor, user_id: uuid.UUID, grant: RoleGrantIn, now: datetime
) -> UserRead:
    """Give an account another role within the administrator's scope."""
    user = await get_visible_user(session, actor=actor, user_id=user_id)
    await _add_grant(session, actor=actor, user_id=user.id, grant=grant)
    await session.flush()
    return await user_view(session, actor=actor, user=user, now=now)


async def revoke_role(
    session: AsyncSession, *, actor: Actor, user_id: uuid.UUID, role_id: uuid.UUID, now: datetime
) -> UserRead:
    """Take a role away; the same rule as granting it applies."""
    user = await get_visible_user(session, actor=actor, user_id=user_id)
    grant = await session.scalar(select(UserRole).where(UserRole.id == role_id, UserRole.user_id == user.id))
    if grant is None:
        raise exc.RoleNotFound()
    scope = Scope(grant.subdistrict_id, grant.community_id, grant.department_id)
    if not can_grant(actor, grant.role, scope):
        raise exc.RoleNotGrantable(role=grant.role.value)
    if grant.role is Role.GRID_WORKER:
        # Leaving the community's grid work also leaves its grids.
        await session.execute(
            delete(GridMember).where(
                GridMember.user_id == user.id,
                GridMember.grid_id.in_(select(Grid.id).where(Grid.community_id == grant.community_id)),
            )
        )
    await session.delete(grant)
    await session.flush()
    return await user_view(session, actor=actor, user=user, now=now)


async def role_holder_ids(
    session: AsyncSession,
    role: Role,
    *,
    community_id: uuid.UUID | None = None,
    subdistrict_id: uuid.UUID | None = None,
    department_id: uuid.UUID | None = None,
) -> list[uuid.UUID]:
    """Active users holding `role` in the given scope (whom a notification goes to)."""
    stmt = (
        select(UserRole.user_id)
        .join(User, User.id == UserRole.user_id)
        .where(UserRole.role == role, User.is_active.is_(True))
    )
    if community_id is not None:
        stmt = stmt.where(UserRole.community_id == community_id)
    if subdistrict_id is not None:
        stmt = stmt.where(UserRole.subdistrict_id == subdistrict_id)
    if department_id is not None:
        stmt = stmt.where(UserRole.department_id == department_id)
    return sorted(set(await session.scalars(stmt)))
