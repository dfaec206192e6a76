"""Subdistricts, communities, grids (with lookup by location), buildings, departments, categories."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, status

from app.auth.dependencies import CurrentActor
from app.auth.exceptions import OutOfScope
from app.core.clock import ClockDep
from app.core.db import SessionDep
from app.core.deps import SettingsDep
from app.core.errors import responses
from app.core.ratelimit import limited
from app.core.schemas import Limit, Page
from app.org import exceptions as exc
from app.org import service
from app.org.geo import CoordSystem
from app.org.schemas import (
    BuildingCreate,
    BuildingRead,
    BuildingUpdate,
    CategoryCreate,
    CategoryRead,
    CategoryUpdate,
    CommunityCreate,
    CommunityRead,
    CommunityUpdate,
    DepartmentCreate,
    DepartmentRead,
    DepartmentUpdate,
    GridCreate,
    GridLocation,
    GridRead,
    GridUpdate,
    GridWorkerIn,
    GridWorkerRead,
    SubdistrictCreate,
    SubdistrictRead,
    SubdistrictUpdate,
)
from app.user.exceptions import NotGridWorker, UserNotFound

router = APIRouter(tags=["org"])
Cursor = Annotated[str | None, Query(description="上一页返回的 next_cursor")]
CoordParam = Annotated[CoordSystem, Query(description="坐标系：小程序地图为 gcj02")]


def _page(items: list, next_cursor: str | None) -> Page:
    return Page(items=items, next_cursor=next_cursor)


# --- subdistricts -----------------------------------------------------------------------


@router.get("/subdistricts", response_model=Page[SubdistrictRead], summary="街道列表")
async def list_subdistricts(
    _: CurrentActor, session: SessionDep, cursor: Cursor = None, limit: Limit = 50
) -> Page:
    return _page(*await service.list_subdistricts(session, cursor=cursor, limit=limit))


@router.post(
    "/subdistricts",
    dependencies=[limited("create")],
    response_model=SubdistrictRead,
    status_code=status.HTTP_201_CREATED,
    summary="新建街道",
    responses=responses(OutOfScope, exc.CodeTaken),
)
async def create_subdistrict(body: SubdistrictCreate, actor: CurrentActor, session: SessionDep) -> object:
    return await service.create_subdistrict(session, actor=actor, data=body)


@router.get(
    "/subdistricts/{subdistrict_id}",
    response_model=SubdistrictRead,
    summary="街道详情",
    responses=responses(exc.SubdistrictNotFound),
)
async def get_subdistrict(subdistrict_id: uuid.UUID, _: CurrentActor, session: SessionDep) -> object:
    return await service.get_subdistrict(session, subdistrict_id)


@router.patch(
    "/subdistricts/{subdistrict_id}",
    response_model=SubdistrictRead,
    summary="修改街道",
    responses=responses(OutOfScope, exc.SubdistrictNotFound),
)
async def update_subdistrict(
    subdistrict_id: uuid.UUID, body: SubdistrictUpdate, actor: CurrentActor, session: SessionDep
) -> object:
    return await service.update_subdistrict(session, actor=actor, subdistrict_id=subdistrict_id, data=body)


# --- communities ------------------------------------------------------------------------


@router.get("/communities", response_model=Page[CommunityRead], summary="社区列表")
async def list_communities(
    _: CurrentActor,
    session: SessionDep,
    subdistrict_id: uuid.UUID | None = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> Page:
    return _page(
        *await service.list_communities(session, subdistrict_id=subdistrict_id, cursor=cursor, limit=limit)
    )


@router.post(
    "/communities",
    dependencies=[limited("create")],
    response_model=CommunityRead,
    status_code=status.HTTP_201_CREATED,
    summary="新建社区",
    responses=responses(OutOfScope, exc.CodeTaken, exc.SubdistrictNotFound),
)
async def create_community(body: CommunityCreate, actor: CurrentActor, session: SessionDep) -> object:
    return await service.create_community(session, actor=actor, data=body)


@router.get(
    "/communities/{community_id}",
    response_model=CommunityRead,
    summary="社区详情",
    responses=responses(exc.CommunityNotFound),
)
async def get_community(community_id: uuid.UUID, _: CurrentActor, session: SessionDep) -> object:
    return await service.get_community(session, community_id)


@router.patch(
    "/communities/{community_id}",
    response_model=CommunityRead,
    summary="修改社区",
    responses=responses(OutOfScope, exc.CommunityNotFound),
)
async def update_community(
    community_id: uuid.UUID, body: CommunityUpdate, actor: CurrentActor, session: SessionDep
) -> object:
    return await service.update_community(session, actor=actor, community_id=community_id, data=body)


# --- grids ------------------------------------------------------------------------------


@router.get(
    "/grids/locate",
    response_model=GridLocation,
    summary="按位置查网格",
    description="返回包含该点的网格（边界上也算）；不在任何网格内时返回一定距离内最近的网格。",
    responses=responses(exc.NoGridAtPoint, exc.InvalidPoint),
)
async def locate_grid(
    _: CurrentActor,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    lat: Annotated[float, Query(ge=-90, le=90, examples=[34.2735])],
    lng: Annotated[float, Query(ge=-180, le=180, examples=[108.9563])],
    coord_system: CoordParam = CoordSystem.GCJ02,
) -> GridLocation:
    grid, match = await service.locate_grid(
        session,
        cache=request.app.state.grid_index,
        lat=lat,
        lng=lng,
        system=coord_system,
        max_distance_m=settings.geo.nearest_grid_max_meters,
    )
    return GridLocation(
        grid=service.grid_read(grid, coord_system),
        match="inside" if match.inside else "nearest",
        distance_m=match.distance_m,
    )


@router.get(
    "/grids",
    response_model=Page[GridRead],
    summary="网格列表",
    description="边界按 coord_system 指定的坐标系返回，便于直接画在小程序地图上。",
)
async def list_grids(
    _: CurrentActor,
    session: SessionDep,
    community_id: uuid.UUID | None = None,
    include_inactive: bool = False,
    coord_system: CoordParam = CoordSystem.WGS84,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> Page:
    rows, next_cursor = await service.list_grids(
        session, community_id=community_id, include_inactive=include_inactive, cursor=cursor, limit=limit
    )
    return _page([service.grid_read(g, coord_system) for g in rows], next_cursor)


@router.post(
    "/grids",
    dependencies=[limited("create")],
    response_model=GridRead,
    status_code=status.HTTP_201_CREATED,
    summary="新建网格",
    responses=responses(OutOfScope, exc.CodeTaken, exc.CommunityNotFound, exc.InvalidBoundary),
)
async def create_grid(body: GridCreate, actor: CurrentActor, session: SessionDep) -> GridRead:
    return service.grid_read(await service.create_grid(session, actor=actor, data=body))


@router.get(
    "/grids/{grid_id}", response_model=GridRead, summary="网格详情", responses=responses(exc.GridNotFound)
)
async def get_grid(
    grid_id: uuid.UUID, _: CurrentActor, session: SessionDep, coord_system: CoordParam = CoordSystem.WGS84
) -> GridRead:
    return service.grid_read(await service.get_grid(session, grid_id), coord_system)


@router.patch(
    "/grids/{grid_id}",
    response_model=GridRead,
    summary="修改网格",
    description="可修改名称、边界或停用；修改后按位置查网格立即生效（所有进程）。",
    responses=responses(OutOfScope, exc.GridNotFound, exc.InvalidBoundary),
)
async def update_grid(
    grid_id: uuid.UUID, body: GridUpdate, actor: CurrentActor, session: SessionDep
) -> GridRead:
    return service.grid_read(await service.update_grid(session, actor=actor, grid_id=grid_id, data=body))


@router.get(
    "/grids/{grid_id}/workers",
    response_model=list[GridWorkerRead],
    summary="网格员名单",
    description="社区管理员看到完整手机号（记入个人信息访问记录），其他人看到打码后的号码。",
    responses=responses(exc.GridNotFound),
)
async def list_grid_workers(
    grid_id: uuid.UUID, actor: CurrentActor, session: SessionDep, clock: ClockDep
) -> list[GridWorkerRead]:
    return await service.list_grid_workers(session, actor=actor, grid_id=grid_id, now=clock.now())


@router.post(
    "/grids/{grid_id}/workers",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="把网格员分到网格",
    description="该用户须是本社区的网格员；重复调用无副作用。",
    responses=responses(OutOfScope, exc.GridNotFound, UserNotFound, NotGridWorker),
)
async def add_grid_worker(
    grid_id: uuid.UUID, body: GridWorkerIn, actor: CurrentActor, session: SessionDep
) -> None:
    await service.add_grid_worker(session, actor=actor, grid_id=grid_id, user_id=body.user_id)


@router.delete(
    "/grids/{grid_id}/workers/{user_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="把网格员移出网格",
    responses=responses(OutOfScope, exc.GridNotFound),
)
async def remove_grid_worker(
    grid_id: uuid.UUID, user_id: uuid.UUID, actor: CurrentActor, session: SessionDep
) -> None:
    await service.remove_grid_worker(session, actor=actor, grid_id=grid_id, user_id=user_id)


# --- buildings --------------------------------------------------------------------------


@router.get("/buildings", response_model=Page[BuildingRead], summary="楼栋列表")
async def list_buildings(
    _: CurrentActor,
    session: SessionDep,
    community_id: uuid.UUID | None = None,
    grid_id: uuid.UUID | None = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> Page:
    return _page(
        *await service.list_buildings(
            session, community_id=community_id, grid_id=grid_id, cursor=cursor, limit=limit
        )
    )


@router.post(
    "/buildings",
    dependencies=[limited("create")],
    response_model=BuildingRead,
    status_code=status.HTTP_201_CREATED,
    summary="新建楼栋",
    responses=responses(OutOfScope, exc.CodeTaken, exc.CommunityNotFound, exc.ScopeMismatch),
)
async def create_building(body: BuildingCreate, actor: CurrentActor, session: SessionDep) -> object:
    return await service.create_building(session, actor=actor, data=body)


@router.patch(
    "/buildings/{building_id}",
    response_model=BuildingRead,
    summary="修改楼栋",
    responses=responses(OutOfScope, exc.BuildingNotFound, exc.ScopeMismatch),
)
async def update_building(
    building_id: uuid.UUID, body: BuildingUpdate, actor: CurrentActor, session: SessionDep
) -> object:
    return await service.update_building(session, actor=actor, building_id=building_id, data=body)


# --- departments and categories ---------------------------------------------------------


@router.get("/departments", response_model=Page[DepartmentRead], summary="职能部门列表")
async def list_departments(
    _: CurrentActor,
    session: SessionDep,
    subdistrict_id: uuid.UUID | None = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> Page:
    return _page(
        *await service.list_departments(session, subdistrict_id=subdistrict_id, cursor=cursor, limit=limit)
    )


@router.post(
    "/departments",
    dependencies=[limited("create")],
    response_model=DepartmentRead,
    status_code=status.HTTP_201_CREATED,
    summary="新建职能部门",
    responses=responses(OutOfScope, exc.CodeTaken, exc.SubdistrictNotFound, exc.CategoryNotFound),
)
async def create_department(
    body: DepartmentCreate, actor: CurrentActor, session: SessionDep
) -> DepartmentRead:
    return await service.create_department(session, actor=actor, data=body)


@router.patch(
    "/departments/{department_id}",
    response_model=DepartmentRead,
    summary="修改职能部门",
    description="category_ids 给出时整体替换该部门处理的问题分类。",
    responses=responses(OutOfScope, exc.DepartmentNotFound, exc.CategoryNotFound),
)
async def update_department(
    department_id: uuid.UUID, body: DepartmentUpdate, actor: CurrentActor, session: SessionDep
) -> DepartmentRead:
    return await service.update_department(session, actor=actor, department_id=department_id, data=body)


@router.get("/categories", response_model=Page[CategoryRead], summary="问题分类列表")
async def list_categories(
    _: CurrentActor,
    session: SessionDep,
    subdistrict_id: uuid.UUID | None = None,
    include_inactive: bool = False,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> Page:
    return _page(
        *await service.list_categories(
            session,
            subdistrict_id=subdistrict_id,
            include_inactive=include_inactive,
            cursor=cursor,
            limit=limit,
        )
    )


@router.post(
    "/categories",
    dependencies=[limited("create")],
    response_model=CategoryRead,
    status_code=status.HTTP_201_CREATED,
    summary="新建问题分类",
    responses=responses(OutOfScope, exc.CodeTaken, exc.SubdistrictNotFound),
)
async def create_category(body: CategoryCreate, actor: CurrentActor, session: SessionDep) -> object:
    return await service.create_category(session, actor=actor, data=body)


@router.patch(
    "/categories/{category_id}",
    response_model=CategoryRead,
    summary="修改问题分类",
    responses=responses(OutOfScope, exc.CategoryNotFound),
)
async def update_category(
    category_id: uuid.UUID, body: CategoryUpdate, actor: CurrentActor, session: SessionDep
) -> object:
    return await service.update_category(session, actor=actor, category_id=category_id, data=body)
