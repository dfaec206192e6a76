"""The caller's own profile, and accounts managed by staff."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, status

from app.auth.dependencies import AdminActor, CurrentUser, NotStaff
from app.auth.exceptions import OutOfScope
from app.auth.permissions import Role
from app.core.clock import ClockDep
from app.core.db import SessionDep
from app.core.errors import responses
from app.core.ratelimit import limited
from app.core.schemas import Limit, Page
from app.org.exceptions import CommunityNotFound
from app.user import exceptions as exc
from app.user import service
from app.user.schemas import MeRead, MeUpdate, RoleGrantIn, UserCreate, UserRead, UserUpdate

me_router = APIRouter(prefix="/me", tags=["me"])
router = APIRouter(prefix="/users", tags=["users"])


@me_router.get("", response_model=MeRead, summary="我的资料")
async def get_me(user: CurrentUser, session: SessionDep) -> MeRead:
    return await service.me(session, user=user)


@me_router.patch(
    "",
    response_model=MeRead,
    summary="修改我的资料",
    responses=responses(CommunityNotFound, exc.BuildingMismatch),
)
async def patch_me(body: MeUpdate, user: CurrentUser, session: SessionDep) -> MeRead:
    return await service.update_me(session, user=user, data=body)


@router.post(
    "",
    dependencies=[limited("create")],
    response_model=UserRead,
    status_code=status.HTTP_201_CREATED,
    summary="开通账号",
    description="工作人员开通工作人员、网格员、乐修匠、教师等账号，只能授予自己辖区内、自己有权授予的角色。",
    responses=responses(
        NotStaff, exc.RoleNotGrantable, exc.UsernameTaken, exc.OpenIdTaken, exc.RoleScopeInvalid
    ),
)
async def create_user(
    body: UserCreate, actor: AdminActor, request: Request, session: SessionDep, clock: ClockDep
) -> UserRead:
    return await service.create_user(
        session, actor=actor, hasher=request.app.state.hasher, data=body, now=clock.now()
    )


@router.get(
    "",
    response_model=Page[UserRead],
    summary="账号列表",
    description="本辖区内居住或任职的账号；手机号、地址和关爱类别只对本辖区工作人员完整显示。",
    responses=responses(NotStaff),
)
async def list_users(
    actor: AdminActor,
    session: SessionDep,
    clock: ClockDep,
    role: Role | None = None,
    community_id: uuid.UUID | None = None,
    q: Annotated[str | None, Query(max_length=32, description="按姓名、用户名或手机号查找")] = None,
    cursor: str | None = None,
    limit: Limit = 20,
) -> Page[UserRead]:
    items, next_cursor = await service.list_users(
        session,
        actor=actor,
        role=role,
        community_id=community_id,
        q=q,
        cursor=cursor,
        limit=limit,
        now=clock.now(),
    )
    return Page(items=items, next_cursor=next_cursor)


@router.get(
    "/{user_id}", response_model=UserRead, summary="账号详情", responses=responses(NotStaff, exc.UserNotFound)
)
async def get_user(user_id: uuid.UUID, actor: AdminActor, session: SessionDep, clock: ClockDep) -> UserRead:
    user = await service.get_visible_user(session, actor=actor, user_id=user_id)
    return await service.user_view(session, actor=actor, user=user, now=clock.now())


@router.patch(
    "/{user_id}",
    response_model=UserRead,
    summary="修改账号",
    description="停用账号或重设密码会让该账号在所有设备上退出登录。",
    responses=responses(NotStaff, exc.UserNotFound, exc.RoleNotGrantable, exc.BuildingMismatch),
)
async def patch_user(
    user_id: uuid.UUID,
    body: UserUpdate,
    actor: AdminActor,
    request: Request,
    session: SessionDep,
    clock: ClockDep,
) -> UserRead:
    return await service.update_user(
        session, actor=actor, hasher=request.app.state.hasher, now=clock.now(), user_id=user_id, data=body
    )


@router.post(
    "/{user_id}/roles",
    dependencies=[limited("create")],
    response_model=UserRead,
    status_code=status.HTTP_201_CREATED,
    summary="授予角色",
    responses=responses(
        NotStaff, exc.UserNotFound, exc.RoleNotGrantable, exc.RoleExists, exc.RoleScopeInvalid, OutOfScope
    ),
)
async def grant_role(
    user_id: uuid.UUID, body: RoleGrantIn, actor: AdminActor, session: SessionDep, clock: ClockDep
) -> UserRead:
    return await service.grant_role(session, actor=actor, user_id=user_id, grant=body, now=clock.now())


@router.delete(
    "/{user_id}/roles/{role_id}",
    response_model=UserRead,
    summary="撤销角色",
    responses=responses(NotStaff, exc.UserNotFound, exc.RoleNotFound, exc.RoleNotGrantable),
)
async def revoke_role(
    user_id: uuid.UUID, role_id: uuid.UUID, actor: AdminActor, session: SessionDep, clock: ClockDep
) -> UserRead:
    return await service.revoke_role(session, actor=actor, user_id=user_id, role_id=role_id, now=clock.now())
