"""Photo uploads (one file per call, as wx.uploadFile sends) and signed photo links."""

import uuid
from typing import Annotated

from fastapi import APIRouter, File, Query, Request, Response, UploadFile, status
from fastapi.responses import RedirectResponse

from app.auth.dependencies import CurrentActor
from app.core.clock import ClockDep
from app.core.db import SessionDep
from app.core.deps import SettingsDep
from app.core.errors import responses
from app.core.ratelimit import limited
from app.media import exceptions as exc
from app.media import service
from app.media.schemas import PhotoRead
from app.media.storage import S3Storage
from app.wechat import identity, moderation

router = APIRouter(prefix="/uploads", tags=["uploads"])
file_router = APIRouter(prefix="/media", tags=["media"])

_CHUNK = 256 * 1024
# A presigned URL of the object store lives at most this long, however long our own link does.
_MAX_PRESIGNED_SECONDS = 600


class _KeyOnly:
    """Stands in for the storage in service.open_signed when redirecting to the object store: the
    signature check stays open_signed's own, and the object's key comes back instead of its bytes."""

    async def get(self, key: str) -> bytes:
        return key.encode()


async def _read_capped(upload: UploadFile, max_bytes: int) -> bytes:
    chunks, total = [], 0
    while chunk := await upload.read(_CHUNK):
        total += len(chunk)
        if total > max_bytes:
            raise exc.UploadTooLarge(max_bytes=max_bytes)
        chunks.append(chunk)
    return b"".join(chunks)


@router.post(
    "",
    dependencies=[limited("upload")],
    response_model=PhotoRead,
    status_code=status.HTTP_201_CREATED,
    summary="上传照片",
    description="multipart/form-data，字段名 file，每次一张（与 wx.uploadFile 一致）。"
    "支持 JPEG、PNG、WebP、HEIC，"
    "不超过 10 MB；按内容识别格式，自动转正方向并去除 EXIF（含定位），生成缩略图。"
    "网络不好重传同一张照片时返回已保存的那张，不会重复保存。",
    responses=responses(
        exc.UploadEmpty,
        exc.UploadTooLarge,
        exc.UploadTooManyPixels,
        exc.UploadUnsupportedType,
        exc.UploadCorrupt,
    ),
)
async def upload_photo(
    file: Annotated[UploadFile, File(description="照片文件")],
    actor: CurrentActor,
    request: Request,
    session: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
) -> PhotoRead:
    data = await _read_capped(file, settings.media.max_bytes)
    now = clock.now()
    photo = await service.store_photo(
        session,
        owner_id=actor.user_id,
        storage=request.app.state.storage,
        cfg=settings.media,
        now=now,
        data=data,
    )
    openid = await identity.openid_of(session, actor.user_id)
    if openid and photo.check_status == moderation.PhotoCheck.NONE:
        # WeChat checks photos from mini-program users; the verdict is pushed within 30 minutes.
        moderation.queue_media_check(session, photo, openid=openid, now=now)
    return service.photo_read(photo, cfg=settings.media, now=now)


@router.get(
    "/{photo_id}",
    response_model=PhotoRead,
    summary="照片信息和新的访问地址",
    responses=responses(service.PhotoNotFound),
)
async def get_photo(
    photo_id: uuid.UUID, actor: CurrentActor, session: SessionDep, clock: ClockDep, settings: SettingsDep
) -> PhotoRead:
    photo = await service.get_visible_photo(session, actor=actor, photo_id=photo_id)
    return service.photo_read(photo, cfg=settings.media, now=clock.now())


@file_router.get(
    "/{photo_id}/{variant}.jpg",
    summary="照片文件（签名链接）",
    response_class=Response,
    responses={
        200: {"content": {"image/jpeg": {}}, "description": "JPEG"},
        307: {"description": "照片存放在对象存储且开启直链时：跳转到有效期不超过 10 分钟的存储地址"},
        **responses(service.PhotoLinkInvalid, service.PhotoNotFound),
    },
)
async def photo_file(
    photo_id: uuid.UUID,
    variant: service.Variant,
    request: Request,
    clock: ClockDep,
    settings: SettingsDep,
    exp: Annotated[int, Query(description="过期时间（Unix 秒）")],
    sig: Annotated[str, Query(max_length=64)],
) -> Response:
    storage = request.app.state.storage
    if settings.media.s3_redirect and isinstance(storage, S3Storage):
        key, remaining = await service.open_signed(
            storage=_KeyOnly(),  # type: ignore[arg-type]
            cfg=settings.media,
            now=clock.now(),
            photo_id=photo_id,
            variant=variant,
            expires=exp,
            signature=sig,
        )
        ttl = min(remaining, _MAX_PRESIGNED_SECONDS)
        # The redirect may be reused for half the URL's life, so a cached one never leads to an expired URL.
        return RedirectResponse(
            storage.presigned_url(key.decode(), ttl),
            status_code=status.HTTP_307_TEMPORARY_REDIRECT,
            headers={"Cache-Control": f"private, max-age={ttl // 2}"},
        )
    data, remaining = await service.open_signed(
        storage=storage,
        cfg=settings.media,
        now=clock.now(),
        photo_id=photo_id,
        variant=variant,
        expires=exp,
        signature=sig,
    )
    return Response(
        content=data, media_type="image/jpeg", headers={"Cache-Control": f"private, max-age={remaining}"}
    )
