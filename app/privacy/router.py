"""PIPL endpoints: a person's own data (export, account deletion) and the access log for
subdistrict administrators."""

import uuid
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Depends, Query, Request, Response, status
from fastapi.security import HTTPAuthorizationCredentials

from app.auth import exceptions as auth_exc
from app.auth.dependencies import CurrentActor, CurrentUser, bearer_scheme, get_auth, password_scheme
from app.auth.permissions import Actor
from app.core.clock import ClockDep
from app.core.db import SessionDep
from app.core.deps import SettingsDep
from app.core.errors import responses
from app.core.numbering import LOCAL_TZ
from app.core.pagination import InvalidCursor
from app.core.schemas import ApiDatetime, Limit, Page
from app.privacy import exceptions as exc
from app.privacy import service
from app.privacy.models import AuditAction
from app.privacy.schemas import AuditLogRead, DeleteAccountIn, PersonalDataExport
from app.user.models import User
from app.wechat.privacy import delete_files

me_router = APIRouter(prefix="/me", tags=["privacy"])
audit_router = APIRouter(prefix="/audit-log", tags=["privacy"])


@me_router.get(
    "/export",
    response_model=PersonalDataExport,
    summary="导出我的个人信息",
    description="下载我们保存的关于您的全部信息（JSON 文件）：资料、微信标识（openid）、随手拍、维修单、"
    "菜鸟学堂报名和求助、消息、订阅消息额度和上传的照片（限时链接）。不含其他人的个人信息。",
    responses={200: {"description": "JSON 文件下载（Content-Disposition: attachment）"}},
)
async def export_me(
    user: CurrentUser, session: SessionDep, clock: ClockDep, settings: SettingsDep
) -> Response:
    now = clock.now()
    data = await service.export_for(session, user=user, settings=settings, now=now)
    name = f"linli-export-{now.astimezone(LOCAL_TZ):%Y-%m-%d}.json"
    return Response(
        content=data.model_dump_json(indent=2),
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"},
    )


async def auth_or_deleted(
    session: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
    password_token: Annotated[str | None, Depends(password_scheme)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> tuple[User, Actor] | None:
    """The caller, or None when the account behind this token was deleted since it was issued
    (the response to the deletion got lost and the mini-program sends it again)."""
    try:
        return await get_auth(session, clock, settings, password_token, bearer)
    except auth_exc.TokenInvalid:
        if bearer is not None and await service.deleted_since_issued(
            session, jwt=settings.jwt, token=bearer.credentials, now=clock.now()
        ):
            return None
        raise


@me_router.delete(
    "",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    summary="注销我的账号",
    description='需提交 {"confirm": "注销"}。姓名、手机号、地址、关爱类别、微信绑定、登录状态、消息、'
    "订阅额度和没有用在随手拍、维修单里的照片（连同文件）被删除，账号停用，当前登录立即失效。已上报的随手拍和维修单保留（匿名），"
    "以便问题继续处理、统计完整。重复提交（同一登录凭证）同样返回 204。工作人员账号由管理员停用。",
    responses=responses(auth_exc.TokenMissing, auth_exc.TokenInvalid, exc.StaffAccountNotDeletable),
)
async def delete_me(
    body: DeleteAccountIn,
    auth: Annotated[tuple[User, Actor] | None, Depends(auth_or_deleted)],
    session: SessionDep,
    clock: ClockDep,
    request: Request,
    background: BackgroundTasks,
) -> Response:
    if auth is not None:
        user, actor = auth
        keys = await service.delete_account(session, user=user, actor=actor, now=clock.now())
        # After the response: by then the request's transaction has committed.
        background.add_task(delete_files, request.app.state.storage, keys)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@audit_router.get(
    "",
    response_model=Page[AuditLogRead],
    summary="个人信息访问记录（街道管理员）",
    description="工作人员查看他人完整手机号、关爱类别的记录，以及居民注销账号的记录，最新的在前。"
    "街道管理员看到本街道居民被查看的记录和本街道工作人员的查看记录；平台管理员看到全部。"
    "date_from 含、date_to 不含。",
    responses=responses(exc.AuditLogForbidden, exc.InvalidDateRange, InvalidCursor),
)
async def list_audit_log(
    actor: CurrentActor,
    session: SessionDep,
    subject_user_id: Annotated[uuid.UUID | None, Query(description="被查看的人")] = None,
    actor_id: Annotated[uuid.UUID | None, Query(description="查看的工作人员")] = None,
    action: AuditAction | None = None,
    date_from: ApiDatetime | None = None,
    date_to: ApiDatetime | None = None,
    cursor: str | None = None,
    limit: Limit = 20,
) -> Page[AuditLogRead]:
    items, next_cursor = await service.list_audit_log(
        session,
        actor=actor,
        subject_user_id=subject_user_id,
        actor_id=actor_id,
        action=action,
        date_from=date_from,
        date_to=date_to,
        cursor=cursor,
        limit=limit,
    )
    return Page(items=items, next_cursor=next_cursor)
