"""Builders for test data and a helper that logs in as a user with a real JWT."""

import itertools
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.permissions import CareCategory, Role
from app.core import security
from app.core.config import Settings
from app.org.models import Building, Category, Community, Department, Grid, Subdistrict
from app.user.models import GridMember, User, UserIdentity, UserRole
from tests.fakes import FrozenClock

_seq = itertools.count(1)


def square(lng: float, lat: float, size: float = 0.004) -> dict[str, Any]:
    """A square GeoJSON polygon with its south-west corner at (lng, lat), WGS-84."""
    return {
        "type": "Polygon",
        "coordinates": [
            [[lng, lat], [lng + size, lat], [lng + size, lat + size], [lng, lat + size], [lng, lat]]
        ],
    }


async def make_subdistrict(session: AsyncSession, **kw: Any) -> Subdistrict:
    n = next(_seq)
    row = Subdistrict(code=kw.pop("code", f"sd{n}"), name=kw.pop("name", f"测试街道{n}"), **kw)
    session.add(row)
    await session.flush()
    return row


async def make_community(session: AsyncSession, subdistrict: Subdistrict, **kw: Any) -> Community:
    n = next(_seq)
    row = Community(
        subdistrict_id=subdistrict.id, code=kw.pop("code", f"c{n}"), name=kw.pop("name", f"社区{n}"), **kw
    )
    session.add(row)
    await session.flush()
    return row


async def make_grid(
    session: AsyncSession, community: Community, boundary: dict[str, Any] | None = None, **kw: Any
) -> Grid:
    n = next(_seq)
    row = Grid(
        community_id=community.id,
        code=kw.pop("code", f"g{n}"),
        name=kw.pop("name", f"网格{n}"),
        boundary=boundary or square(108.95, 34.27),
        **kw,
    )
    session.add(row)
    await session.flush()
    return row


async def make_building(session: AsyncSession, community: Community, **kw: Any) -> Building:
    row = Building(community_id=community.id, name=kw.pop("name", f"{next(_seq)}号楼"), **kw)
    session.add(row)
    await session.flush()
    return row


async def make_department(session: AsyncSession, subdistrict: Subdistrict, **kw: Any) -> Department:
    row = Department(subdistrict_id=subdistrict.id, name=kw.pop("name", f"部门{next(_seq)}"), **kw)
    session.add(row)
    await session.flush()
    return row


async def make_category(session: AsyncSession, subdistrict: Subdistrict, **kw: Any) -> Category:
    n = next(_seq)
    row = Category(
        subdistrict_id=subdistrict.id, code=kw.pop("code", f"cat{n}"), name=kw.pop("name", f"分类{n}"), **kw
    )
    session.add(row)
    await session.flush()
    return row


async def make_user(
    session: AsyncSession,
    *roles: tuple[Role, Any] | Role,
    hasher: security.PasswordHashing | None = None,
    password: str | None = None,
    openid: str | None = None,
    grids: tuple[Grid, ...] = (),
    phone: str | None = None,
    home: Community | None = None,
    care: CareCategory | None = None,
    part_time: bool = False,
    **kw: Any,
) -> User:
    """A user with role grants; a grant is a Role, or (Role, scope object) where the scope is a
    Subdistrict, Community or Department."""
    n = next(_seq)
    user = User(
        display_name=kw.pop("display_name", f"用户{n}"),
        phone=phone,
        home_community_id=home.id if home else None,
        care_category=care,
        **kw,
    )
    if password is not None:
        assert hasher is not None
        user.username = user.username or f"user{n}"
        user.password_hash = hasher.hash(password)
    session.add(user)
    await session.flush()
    for item in roles:
        role, scope = (item, None) if isinstance(item, Role) else item
        grant = UserRole(user_id=user.id, role=role, is_part_time=part_time and role is Role.GRID_WORKER)
        if isinstance(scope, Subdistrict):
            grant.subdistrict_id = scope.id
        elif isinstance(scope, Community):
            grant.subdistrict_id, grant.community_id = scope.subdistrict_id, scope.id
        elif isinstance(scope, Department):
            grant.subdistrict_id, grant.department_id = scope.subdistrict_id, scope.id
        session.add(grant)
    if openid:
        session.add(UserIdentity(user_id=user.id, provider="wechat_mp", subject=openid))
    for grid in grids:
        session.add(GridMember(user_id=user.id, grid_id=grid.id))
    await session.flush()
    return user


def bearer(settings: Settings, clock: FrozenClock, user: User) -> dict[str, str]:
    """Authorization header with a real access token for `user`, minted at the clock's time."""
    token = security.create_access_token(
        settings.jwt, user_id=user.id, token_version=user.token_version, now=clock.now()
    )
    return {"Authorization": f"Bearer {token}"}


@dataclass
class World:
    """Two subdistricts: S1 with communities C1, C2 (grids G1 in C1, G2 in C2) and S2 with C3/G3,
    and one account per role, so scope rules can be checked against "the other" community."""

    s1: Subdistrict
    s2: Subdistrict
    c1: Community
    c2: Community
    c3: Community
    g1: Grid
    g2: Grid
    g3: Grid
    dept: Department
    superadmin: User
    sub_admin: User
    c1_admin: User
    c2_admin: User
    s2_admin: User
    worker: User
    dept_staff: User
    resident: User
    other_resident: User


async def make_world(session: AsyncSession) -> World:
    s1, s2 = await make_subdistrict(session), await make_subdistrict(session)
    c1, c2 = await make_community(session, s1), await make_community(session, s1)
    c3 = await make_community(session, s2)
    g1 = await make_grid(session, c1, square(108.950, 34.270))
    g2 = await make_grid(session, c2, square(108.954, 34.270))
    g3 = await make_grid(session, c3, square(108.990, 34.300))
    dept = await make_department(session, s1)
    world = World(
        s1=s1,
        s2=s2,
        c1=c1,
        c2=c2,
        c3=c3,
        g1=g1,
        g2=g2,
        g3=g3,
        dept=dept,
        superadmin=await make_user(session, Role.SUPERADMIN, display_name="超管"),
        sub_admin=await make_user(session, (Role.SUBDISTRICT_ADMIN, s1), display_name="街道管理员"),
        c1_admin=await make_user(session, (Role.COMMUNITY_ADMIN, c1), display_name="C1 管理员"),
        c2_admin=await make_user(session, (Role.COMMUNITY_ADMIN, c2), display_name="C2 管理员"),
        s2_admin=await make_user(session, (Role.SUBDISTRICT_ADMIN, s2), display_name="S2 管理员"),
        worker=await make_user(
            session, (Role.GRID_WORKER, c1), grids=(g1,), phone="13700001111", display_name="网格员"
        ),
        dept_staff=await make_user(session, (Role.DEPARTMENT_STAFF, dept), display_name="部门人员"),
        resident=await make_user(
            session,
            Role.RESIDENT,
            home=c1,
            phone="13912345678",
            care=CareCategory.LIVING_ALONE,
            address="西一路小区1号楼2单元301",
            display_name="居民甲",
        ),
        other_resident=await make_user(
            session, Role.RESIDENT, home=c3, phone="13987654321", display_name="居民乙"
        ),
    )
    await session.commit()
    return world


def new_id() -> str:
    return str(uuid.uuid4())
