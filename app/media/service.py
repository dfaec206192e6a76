"""Storing uploaded photos and handing out short-lived signed links to them."""

import asyncio
import contextlib
import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.permissions import Actor
from app.core import security
from app.core.config import MediaSettings
from app.core.errors import AppError, Forbidden, NotFound
from app.media import images
from app.media.models import Photo
from app.media.schemas import PhotoRead
from app.media.storage import Storage, StoredObjectMissing, photo_keys


class Variant(StrEnum):
    FULL = "full"
    THUMB = "thumb"


class PhotoNotFound(NotFound):
    code = "photo.not_found"
    message = "没有找到该照片"


class PhotoLinkInvalid(Forbidden):
    code = "photo.link_invalid"
    message = "照片链接无效或已过期，请刷新后重试"


# Links expire on 10-minute boundaries, so the same photo keeps the same URL for a while and
# the mini-program's image cache works.
_LINK_STEP_SECONDS = 600


async def store_photo(
    session: AsyncSession,
    *,
    owner_id: uuid.UUID,
    storage: Storage,
    cfg: MediaSettings,
    now: datetime,
    data: bytes,
) -> Photo:
    """Check, re-encode (orientation applied, all EXIF including GPS dropped) and store an upload.

    The same bytes uploaded again by the same user (wx.uploadFile retried on a weak network)
    return the photo already stored instead of a duplicate.
    """
    digest = security.hash_token_bytes(data)
    existing = await session.scalar(
        select(Photo)
        .where(Photo.owner_id == owner_id, Photo.sha256 == digest)
        .order_by(Photo.uploaded_at)
        .limit(1)
    )
    if existing is not None:
        return existing
    processed = await asyncio.to_thread(images.process_image, data, cfg)
    photo_id = uuid.uuid4()
    full_key, thumb_key = photo_keys(photo_id)
    photo = Photo(
        id=photo_id,
        owner_id=owner_id,
        content_type=processed.content_type,
        source_format=processed.source_format,
        width=processed.width,
        height=processed.height,
        size_bytes=len(processed.full),
        sha256=digest,
        storage_key=full_key,
        thumb_key=thumb_key,
        uploaded_at=now,
    )
    try:
        await storage.put(full_key, processed.full, processed.content_type)
        await storage.put(thumb_key, processed.thumb, processed.content_type)
        session.add(photo)
        await session.flush()
    except BaseException:
        # A failed upload leaves no bytes without a row (the row itself goes with the rollback).
        for key in (full_key, thumb_key):
            with contextlib.suppress(Exception):
                await storage.delete(key)
        raise
    return photo


def can_view_photo(actor: Actor, photo: Photo) -> bool:
    """The uploader and platform administrators read a photo's record here. Photos attached to a
    ticket reach everyone else only as signed links inside the ticket, which app/ticket/views.py
    hands out to those who may see the ticket (or to all once staff made its photos public)."""
    return photo.owner_id == actor.user_id or actor.is_superadmin


async def get_visible_photo(session: AsyncSession, *, actor: Actor, photo_id: uuid.UUID) -> Photo:
    photo = await session.get(Photo, photo_id)
    if photo is None or not can_view_photo(actor, photo):
        raise PhotoNotFound()
    return photo


def _signature(cfg: MediaSettings, photo_id: uuid.UUID, variant: Variant, expires: int) -> str:
    return security.sign(cfg.signing_secret.get_secret_value(), f"{photo_id}:{variant.value}:{expires}")


def photo_read(photo: Photo, *, cfg: MediaSettings, now: datetime) -> PhotoRead:
    """The photo with links valid for at least cfg.url_ttl_seconds."""
    expires = (int(now.timestamp()) // _LINK_STEP_SECONDS + 1) * _LINK_STEP_SECONDS + cfg.url_ttl_seconds

    def link(variant: Variant) -> str:
        sig = _signature(cfg, photo.id, variant, expires)
        return f"/media/{photo.id}/{variant.value}.jpg?exp={expires}&sig={sig}"

    return PhotoRead(
        id=photo.id,
        content_type=photo.content_type,
        width=photo.width,
        height=photo.height,
        size_bytes=photo.size_bytes,
        url=link(Variant.FULL),
        thumbnail_url=link(Variant.THUMB),
        urls_expire_at=datetime.fromtimestamp(expires, tz=now.tzinfo),
        check=photo.check_status or "none",
    )


async def open_signed(
    *,
    storage: Storage,
    cfg: MediaSettings,
    now: datetime,
    photo_id: uuid.UUID,
    variant: Variant,
    expires: int,
    signature: str,
) -> tuple[bytes, int]:
    """Return the bytes behind a signed link and how many seconds the link stays valid."""
    expected = _signature(cfg, photo_id, variant, expires)
    remaining = expires - int(now.timestamp())
    if remaining <= 0 or not security.constant_time_equal(expected, signature):
        raise PhotoLinkInvalid()
    full_key, thumb_key = photo_keys(photo_id)
    try:
        return await storage.get(full_key if variant is Variant.FULL else thumb_key), remaining
    except StoredObjectMissing:
        raise PhotoNotFound() from None


async def own_photos(
    session: AsyncSession,
    photo_ids: list[uuid.UUID],
    owner_id: uuid.UUID,
    *,
    missing: type[AppError],
    not_owned: type[AppError],
) -> list[Photo]:
    """The caller's own uploaded photos, in the order given (each domain names its errors)."""
    if not photo_ids:
        return []
    photos = {p.id: p for p in await session.scalars(select(Photo).where(Photo.id.in_(photo_ids)))}
    absent = [str(pid) for pid in photo_ids if pid not in photos]
    if absent:
        raise missing(photo_ids=absent)
    if any(p.owner_id != owner_id for p in photos.values()):
        raise not_owned()
    return [photos[pid] for pid in photo_ids]


async def attach_photos(
    session: AsyncSession, link_cls: type, owner: dict[str, uuid.UUID], photos: list[Photo], kind: str
) -> None:
    """Link photos to a ticket, an order, ... after the ones it has (`owner`: its key column)."""
    if not photos:
        return
    start = await session.scalar(select(func.count()).select_from(link_cls).filter_by(**owner)) or 0
    for i, photo in enumerate(photos):
        session.add(link_cls(**owner, photo_id=photo.id, kind=kind, position=start + i))
