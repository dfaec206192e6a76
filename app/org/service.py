"""The organisation tree: scoped management, grid lookup by location, grid workers."""

import asyncio
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.exceptions import OutOfScope
from app.auth.permissions import (
    Actor,
    Role,
    Scope,
    administers,
    administers_subdistrict,
    can_see_person,
    mask_phone,
)
from app.core.pagination import paginate
from app.org import exceptions as exc
from app.org import geo
from app.org.models import (
    Building,
    Category,
    Community,
    Department,
    DepartmentCategory,
    Grid,
    Subdistrict,
    new_shape_tag,
)
from app.org.schemas import (
    BuildingCreate,
    BuildingUpdate,
    CategoryCreate,
    CategoryUpdate,
    CommunityCreate,
    CommunityUpdate,
    DepartmentCreate,
    DepartmentRead,
    DepartmentUpdate,
    GridCreate,
    GridRead,
    GridUpdate,
    GridWorkerRead,
    SubdistrictCreate,
    SubdistrictUpdate,
)
from app.privacy import audit
from app.user.exceptions import NotGridWorker, UserNotFound
from app.user.models import GridMember, User, UserRole


def _require(allowed: bool) -> None:
    if not allowed:
        raise OutOfScope()


def _apply(obj: Any, changes: dict[str, Any]) -> None:
    for key, value in changes.items():
        if value is not None:
            setattr(obj, key, value)


async def _unique(session: AsyncSession, stmt: Any) -> None:
    if await session.scalar(stmt) is not None:
        raise exc.CodeTaken()


# --- subdistricts -----------------------------------------------------------------------


async def get_subdistrict(session: AsyncSession, subdistrict_id: uuid.UUID) -> Subdistrict:
    found = await session.get(Subdistrict, subdistrict_id)
    if found is None:
        raise exc.SubdistrictNotFound()
    return found


async def list_subdistricts(
    session: AsyncSession, *, cursor: str | None, limit: int
) -> tuple[list, str | None]:
    return await paginate(
        session, select(Subdistrict), columns=[Subdistrict.code], cursor=cursor, limit=limit
    )


async def create_subdistrict(session: AsyncSession, *, actor: Actor, data: SubdistrictCreate) -> Subdistrict:
    """Only the platform's super administrator opens a new subdistrict."""
    _require(actor.is_superadmin)
    await _unique(session, select(Subdistrict.id).where(Subdistrict.code == data.code))
    row = Subdistrict(**data.model_dump())
    session.add(row)
    await session.flush()
    return row


async def update_subdistrict(
    session: AsyncSession, *, actor: Actor, subdistrict_id: uuid.UUID, data: SubdistrictUpdate
) -> Subdistrict:
    row = await get_subdistrict(session, subdistrict_id)
    _require(administers_subdistrict(actor, row.id))
    _apply(row, data.model_dump(exclude_unset=True))
    await session.flush()
    return row


# --- communities ------------------------------------------------------------------------


async def get_community(session: AsyncSession, community_id: uuid.UUID) -> Community:
    found = await session.get(Community, community_id)
    if found is None:
        raise exc.CommunityNotFound()
    return found


def community_scope(community: Community) -> Scope:
    return Scope(subdistrict_id=community.subdistrict_id, community_id=community.id)


async def list_communities(
    session: AsyncSession, *, subdistrict_id: uuid.UUID | None, cursor: str | None, limit: int
) -> tuple[list, str | None]:
    stmt = select(Community)
    if subdistrict_id is not None:
        stmt = stmt.where(Community.subdistrict_id == subdistrict_id)
    return await paginate(session, stmt, columns=[Community.code], cursor=cursor, limit=limit)


async def create_community(session: AsyncSession, *, actor: Actor, data: CommunityCreate) -> Community:
    await get_subdistrict(session, data.subdistrict_id)
    _require(administers_subdistrict(actor, data.subdistrict_id))
    await _unique(session, select(Community.id).where(Community.code == data.code))
    row = Community(**data.model_dump())
    session.add(row)
    await session.flush()
    return row


async def update_community(
    session: AsyncSession, *, actor: Actor, community_id: uuid.UUID, data: CommunityUpdate
) -> Community:
    row = await get_community(session, community_id)
    _require(administers(actor, community_scope(row)))
    _apply(row, data.model_dump(exclude_unset=True))
    await session.flush()
    return row


# --- grids ------------------------------------------------------------------------------


async def get_grid(session: AsyncSession, grid_id: uuid.UUID) -> Grid:
    found = await session.get(Grid, grid_id)
    if found is None:
        raise exc.GridNotFound()
    return found


def grid_read(grid: Grid, system: geo.CoordSystem = geo.CoordSystem.WGS84) -> GridRead:
    """A grid with its boundary in the coordinate system the client asked for."""
    return GridRead(
        id=grid.id,
        community_id=grid.community_id,
        code=grid.code,
        name=grid.name,
        is_active=grid.is_active,
        boundary=geo.boundary_in(grid.boundary, system),
        coord_system=system,
    )


def _boundary(raw: dict[str, Any], system: geo.CoordSystem) -> dict[str, Any]:
    try:
        return geo.parse_boundary(raw, system)
    except geo.InvalidBoundary as err:
        raise exc.InvalidBoundary(str(err)) from None


async def list_grids(
    session: AsyncSession,
    *,
    community_id: uuid.UUID | None,
    include_inactive: bool,
    cursor: str | None,
    limit: int,
) -> tuple[list[Grid], str | None]:
    stmt = select(Grid)
    if community_id is not None:
        stmt = stmt.where(Grid.community_id == community_id)
    if not include_inactive:
        stmt = stmt.where(Grid.is_active.is_(True))
    return await paginate(session, stmt, columns=[Grid.code], cursor=cursor, limit=limit)


async def create_grid(session: AsyncSession, *, actor: Actor, data: GridCreate) -> Grid:
    """A community administrator draws a grid in their community."""
    community = await get_community(session, data.community_id)
    _require(administers(actor, community_scope(community)))
    await _unique(session, select(Grid.id).where(Grid.code == data.code))
    row = Grid(
        community_id=community.id,
        code=data.code,
        name=data.name,
        boundary=_boundary(data.boundary, data.coord_system),
    )
    session.add(row)
    await session.flush()
    return row


async def update_grid(session: AsyncSession, *, actor: Actor, grid_id: uuid.UUID, data: GridUpdate) -> Grid:
    row = await get_grid(session, grid_id)
    _require(administers(actor, community_scope(await get_community(session, row.community_id))))
    changes = data.model_dump(exclude_unset=True, exclude={"coord_system"})
    if changes.get("boundary") is not None:
        changes["boundary"] = _boundary(changes["boundary"], data.coord_system)
    _apply(row, changes)
    row.shape_tag = new_shape_tag()
    await session.flush()
    return row


class GridIndexCache:
    """This process's spatial index, rebuilt when any grid changed (in any process)."""

    def __init__(self) -> None:
        self._key: tuple[int, int] | None = None
        self._index = geo.GridIndex([])
        self._lock = asyncio.Lock()

    async def get(self, session: AsyncSession) -> geo.GridIndex:
        count, tags = (
            await session.execute(select(func.count(Grid.id), func.coalesce(func.sum(Grid.shape_tag), 0)))
        ).one()
        key = (int(count), int(tags))
        if key != self._key:
            async with self._lock:
                if key != self._key:
                    rows = await session.execute(
                        select(Grid.id, Grid.code, Grid.boundary).where(Grid.is_active.is_(True))
                    )
                    shapes = [geo.GridShape(gid, code, boundary) for gid, code, boundary in rows]
                    self._index = await asyncio.to_thread(geo.GridIndex, shapes)
                    self._key = key
        return self._index


async def locate_grid(
    session: AsyncSession,
    *,
    cache: GridIndexCache,
    lat: float,
    lng: float,
    system: geo.CoordSystem,
    max_distance_m: float,
) -> tuple[Grid, geo.GridMatch]:
    """The grid containing a point, else the nearest one within `max_distance_m`."""
    if not (-90 <= lat <= 90 and -180 <= lng <= 180):
        raise exc.InvalidPoint()
    wlat, wlng = geo.to_wgs84(lat, lng, system)
    index = await cache.get(session)
    match = index.locate(wlat, wlng, max_distance_m=max_distance_m)
    if match is None:
        raise exc.NoGridAtPoint(lat=lat, lng=lng, max_distance_m=max_distance_m)
    return await get_grid(session, match.grid_id), match


# --- grid workers -----------------------------------------------------------------------


async def list_grid_workers(
    session: AsyncSession, *, actor: Actor, grid_id: uuid.UUID, now: datetime
) -> list[GridWorkerRead]:
    """Who serves a grid; full phone numbers for the community's administrators only.

    Those full numbers are logged like any other (app/privacy/audit.py): a grid worker's number
    here is their own mobile, the one they log in and verify with, not a published service line
    (everyone else sees it masked), so an administrator reading it is an access to personal data."""
    grid = await get_grid(session, grid_id)
    scope = community_scope(await get_community(session, grid.community_id))
    full = can_see_person(actor, [scope])
    rows = await session.execute(
        select(User, UserRole.is_part_time)
        .join(GridMember, GridMember.user_id == User.id)
        .join(
            UserRole,
            (UserRole.user_id == User.id)
            & (UserRole.role == Role.GRID_WORKER)
            & (UserRole.community_id == grid.community_id),
        )
        .where(GridMember.grid_id == grid.id, User.is_active.is_(True))
        .order_by(User.display_name, User.id)
    )
    workers = list(rows)
    if full:
        shown = [audit.phone(u.id, u.phone, grid.id) for u, _ in workers]
        await audit.shown(session, actor, shown, resource="grid", now=now)
    return [
        GridWorkerRead(
            user_id=u.id,
            display_name=u.display_name,
            phone=u.phone if full else mask_phone(u.phone),
            is_part_time=part_time,
        )
        for u, part_time in workers
    ]


async def add_grid_worker(
    session: AsyncSession, *, actor: Actor, grid_id: uuid.UUID, user_id: uuid.UUID
) -> None:
    """Bind a grid worker of the grid's community to the grid (idempotent)."""
    grid = await get_grid(session, grid_id)
    _require(administers(actor, community_scope(await get_community(session, grid.community_id))))
    if await session.get(User, user_id) is None:
        raise UserNotFound()
    is_worker = await session.scalar(
        select(UserRole.id).where(
            UserRole.user_id == user_id,
            UserRole.role == Role.GRID_WORKER,
            UserRole.community_id == grid.community_id,
        )
    )
    if is_worker is None:
        raise NotGridWorker()
    if await session.get(GridMember, (user_id, grid.id)) is None:
        session.add(GridMember(user_id=user_id, grid_id=grid.id))
        await session.flush()


async def remove_grid_worker(
    session: AsyncSession, *, actor: Actor, grid_id: uuid.UUID, user_id: uuid.UUID
) -> None:
    """Unbind a grid worker from a grid (idempotent)."""
    grid = await get_grid(session, grid_id)
    _require(administers(actor, community_scope(await get_community(session, grid.community_id))))
    await session.execute(
        delete(GridMember).where(GridMember.grid_id == grid.id, GridMember.user_id == user_id)
    )


# --- buildings --------------------------------------------------------------------------


async def list_buildings(
    session: AsyncSession,
    *,
    community_id: uuid.UUID | None,
    grid_id: uuid.UUID | None,
    cursor: str | None,
    limit: int,
) -> tuple[list, str | None]:
    stmt = select(Building)
    if community_id is not None:
        stmt = stmt.where(Building.community_id == community_id)
    if grid_id is not None:
        stmt = stmt.where(Building.grid_id == grid_id)
    return await paginate(session, stmt, columns=[Building.id], cursor=cursor, limit=limit)


async def _check_grid_in(session: AsyncSession, grid_id: uuid.UUID | None, community_id: uuid.UUID) -> None:
    if grid_id is not None and (await get_grid(session, grid_id)).community_id != community_id:
        raise exc.ScopeMismatch("网格不属于该社区")


async def create_building(session: AsyncSession, *, actor: Actor, data: BuildingCreate) -> Building:
    community = await get_community(session, data.community_id)
    _require(administers(actor, community_scope(community)))
    await _check_grid_in(session, data.grid_id, community.id)
    await _unique(
        session, select(Building.id).where(Building.community_id == community.id, Building.name == data.name)
    )
    lat, lng = data.lat, data.lng
    if lat is not None and lng is not None:
        lat, lng = geo.to_wgs84(lat, lng, data.coord_system)
    row = Building(
        community_id=community.id,
        grid_id=data.grid_id,
        name=data.name,
        compound=data.compound,
        lat=lat,
        lng=lng,
    )
    session.add(row)
    await session.flush()
    return row


async def update_building(
    session: AsyncSession, *, actor: Actor, building_id: uuid.UUID, data: BuildingUpdate
) -> Building:
    row = await session.get(Building, building_id)
    if row is None:
        raise exc.BuildingNotFound()
    _require(administers(actor, community_scope(await get_community(session, row.community_id))))
    changes = data.model_dump(exclude_unset=True)
    if "grid_id" in changes:
        await _check_grid_in(session, changes["grid_id"], row.community_id)
        row.grid_id = changes.pop("grid_id")
    _apply(row, changes)
    await session.flush()
    return row


# --- departments and categories ---------------------------------------------------------


async def _department_read(session: AsyncSession, dept: Department) -> DepartmentRead:
    ids = list(
        await session.scalars(
            select(DepartmentCategory.category_id)
            .where(DepartmentCategory.department_id == dept.id)
            .order_by(DepartmentCategory.category_id)
        )
    )
    return DepartmentRead(
        id=dept.id, subdistrict_id=dept.subdistrict_id, name=dept.name, phone=dept.phone, category_ids=ids
    )


async def list_departments(
    session: AsyncSession, *, subdistrict_id: uuid.UUID | None, cursor: str | None, limit: int
) -> tuple[list[DepartmentRead], str | None]:
    stmt = select(Department)
    if subdistrict_id is not None:
        stmt = stmt.where(Department.subdistrict_id == subdistrict_id)
    rows, next_cursor = await paginate(session, stmt, columns=[Department.id], cursor=cursor, limit=limit)
    return [await _department_read(session, d) for d in rows], next_cursor


async def _set_categories(session: AsyncSession, dept: Department, category_ids: list[uuid.UUID]) -> None:
    wanted = set(category_ids)
    if wanted:
        found = set(
            await session.scalars(
                select(Category.id).where(
                    Category.id.in_(wanted), Category.subdistrict_id == dept.subdistrict_id
                )
            )
        )
        if found != wanted:
            raise exc.CategoryNotFound(missing=sorted(str(i) for i in wanted - found))
    await session.execute(delete(DepartmentCategory).where(DepartmentCategory.department_id == dept.id))
    session.add_all(DepartmentCategory(department_id=dept.id, category_id=cid) for cid in sorted(wanted))
    await session.flush()


async def create_department(session: AsyncSession, *, actor: Actor, data: DepartmentCreate) -> DepartmentRead:
    await get_subdistrict(session, data.subdistrict_id)
    _require(administers_subdistrict(actor, data.subdistrict_id))
    await _unique(
        session,
        select(Department.id).where(
            Department.subdistrict_id == data.subdistrict_id, Department.name == data.name
        ),
    )
    dept = Department(subdistrict_id=data.subdistrict_id, name=data.name, phone=data.phone)
    session.add(dept)
    await session.flush()
    await _set_categories(session, dept, data.category_ids)
    return await _department_read(session, dept)


async def update_department(
    session: AsyncSession, *, actor: Actor, department_id: uuid.UUID, data: DepartmentUpdate
) -> DepartmentRead:
    dept = await session.get(Department, department_id)
    if dept is None:
        raise exc.DepartmentNotFound()
    _require(administers_subdistrict(actor, dept.subdistrict_id))
    changes = data.model_dump(exclude_unset=True)
    category_ids = changes.pop("category_ids", None)
    _apply(dept, changes)
    if category_ids is not None:
        await _set_categories(session, dept, category_ids)
    await session.flush()
    return await _department_read(session, dept)


async def list_categories(
    session: AsyncSession,
    *,
    subdistrict_id: uuid.UUID | None,
    include_inactive: bool,
    cursor: str | None,
    limit: int,
) -> tuple[list, str | None]:
    stmt = select(Category)
    if subdistrict_id is not None:
        stmt = stmt.where(Category.subdistrict_id == subdistrict_id)
    if not include_inactive:
        stmt = stmt.where(Category.is_active.is_(True))
    return await paginate(session, stmt, columns=[Category.id], cursor=cursor, limit=limit)


async def create_category(session: AsyncSession, *, actor: Actor, data: CategoryCreate) -> Category:
    await get_subdistrict(session, data.subdistrict_id)
    _require(administers_subdistrict(actor, data.subdistrict_id))
    await _unique(
        session,
        select(Category.id).where(Category.subdistrict_id == data.subdistrict_id, Category.code == data.code),
    )
    row = Category(**data.model_dump())
    session.add(row)
    await session.flush()
    return row


async def update_category(
    session: AsyncSession, *, actor: Actor, category_id: uuid.UUID, data: CategoryUpdate
) -> Category:
    row = await session.get(Category, category_id)
    if row is None:
        raise exc.CategoryNotFound()
    _require(administers_subdistrict(actor, row.subdistrict_id))
    _apply(row, data.model_dump(exclude_unset=True))
    await session.flush()
    return row
