"""WeChat privacy events (WECHAT.md §8.2): a user withdrew an authorization, or deleted their
WeChat account, and we delete what we hold under it.

user_authorization_revoke carries RevokeInfo, the authorizations withdrawn:
  8 phone → the number is erased; 6 nickname/avatar → the display name is reset;
  13 location / 18 chosen location → a grid worker's last position is erased;
  14 selected photos / 7 camera → photos not part of any report or order are deleted.
  Reports already filed keep their photos and place: they are the record of a public matter
  (PIPL Art. 13(3)/(5): public duties), shown only as the app already shows them.
user_authorization_cancellation: the person is anonymised (PIPL Art. 47) by `anonymise`, the
one erasure shared with DELETE /api/v1/me (app/privacy/service.py). Name, phone, address, care
category, WeChat identity, login sessions, subscribe credits, inbox, undelivered messages, stored
Idempotency-Key answers, duty position and the photos no report or order uses go; the account is
deactivated and the deletion is written to the access log. Their tickets, repair orders and course
records stay, tied to the anonymous account, so case histories and statistics remain whole.
"""

import logging
import uuid
from datetime import datetime

from sqlalchemy import delete, exists, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.models import RefreshToken, WeChatLoginCode
from app.core.idempotency import IdempotencyRecord
from app.course.models import Attendee
from app.duty.models import WorkerDuty
from app.media.models import Photo
from app.media.storage import Storage
from app.notification.models import Notification, OutboxMessage
from app.privacy import audit
from app.privacy.models import AuditAction
from app.repair.models import RepairOrder, RepairPhoto
from app.ticket.models import TicketPhoto
from app.user.models import User, UserIdentity
from app.wechat.models import SubscriptionCredit

log = logging.getLogger("linli.wechat.privacy")

ANONYMOUS_NAME = "已注销用户"

REVOKE_PHONE = 8
REVOKE_PROFILE = 6
REVOKE_CAMERA = 7
REVOKE_LOCATION = 13
REVOKE_PHOTOS = 14
REVOKE_CHOSEN_LOCATION = 18


def parse_revoke_info(raw: object) -> set[int]:
    """RevokeInfo as sent: "8", "8,13", 8 or [8, 13]; unknown parts ignored."""
    items = raw if isinstance(raw, list) else str(raw if raw is not None else "").replace(";", ",").split(",")
    out = set()
    for item in items:
        try:
            out.add(int(str(item).strip()))
        except ValueError:
            continue
    return out


async def _erase_location(session: AsyncSession, user_id: uuid.UUID) -> None:
    await session.execute(
        update(WorkerDuty)
        .where(WorkerDuty.user_id == user_id)
        .values(lat=None, lng=None)
        .execution_options(synchronize_session=False)
    )


async def _delete_loose_photos(session: AsyncSession, user_id: uuid.UUID) -> list[str]:
    """Delete the photos the user uploaded that no report or order uses; returns the storage keys
    of exactly the rows deleted (original and thumbnail), for `delete_files` once committed."""
    used_by_ticket = exists().where(TicketPhoto.photo_id == Photo.id)
    used_by_order = exists().where(RepairPhoto.photo_id == Photo.id)
    rows = await session.execute(
        delete(Photo)
        .where(Photo.owner_id == user_id, ~used_by_ticket, ~used_by_order)
        .returning(Photo.storage_key, Photo.thumb_key)
        .execution_options(synchronize_session=False)
    )
    return sorted(key for full, thumb in rows for key in (full, thumb) if key)


async def delete_files(storage: Storage, keys: list[str]) -> None:
    """Remove deleted photos' files (run after the deletion is committed; failures only logged)."""
    for key in keys:
        try:
            await storage.delete(key)
        except Exception:
            log.exception("could not delete stored photo %s", key)


async def revoke(
    session: AsyncSession, user: User, revoked: set[int], *, now: datetime, files: list[str] | None = None
) -> list[str]:
    """Delete what the withdrawn authorizations covered; returns what was done (for the log). The
    storage keys of deleted photos are added to `files`, for `delete_files` once committed."""
    done = []
    if REVOKE_PHONE in revoked:
        user.phone = None
        user.phone_verified_at = None
        done.append("phone")
    if REVOKE_PROFILE in revoked:
        user.display_name = ""
        done.append("profile")
    if revoked & {REVOKE_LOCATION, REVOKE_CHOSEN_LOCATION}:
        await _erase_location(session, user.id)
        done.append("location")
    if revoked & {REVOKE_PHOTOS, REVOKE_CAMERA}:
        keys = await _delete_loose_photos(session, user.id)
        if files is not None:
            files.extend(keys)
        done.append(f"photos:{len(keys) // 2}")
    user.updated_at = now
    return done


async def anonymise(session: AsyncSession, user: User, *, now: datetime) -> list[str]:
    """Erase the person behind an account; what they reported stays, anonymous.

    The one erasure behind both a WeChat account cancellation and DELETE /api/v1/me, so the two
    leave the same result. Returns the storage keys of the deleted photos' files: the caller
    removes them with `delete_files` once the transaction has committed (a rollback must not
    leave photo records whose files are gone)."""
    uid = user.id
    user.display_name = ANONYMOUS_NAME
    user.username = None
    user.password_hash = None
    user.phone = None
    user.phone_verified_at = None
    user.address = ""
    user.home_building_id = None
    user.care_category = None
    user.is_active = False
    user.token_version = (user.token_version or 1) + 1
    user.updated_at = now
    # Sessions, inbox, subscribe credits; the stored answers of their Idempotency-Keys (they quote
    # the person's own data back); messages not yet delivered to them (live or WeChat: the
    # payloads name them and what they reported) and delivered ones still kept for a while.
    for model in (
        UserIdentity,
        RefreshToken,
        WeChatLoginCode,
        SubscriptionCredit,
        Notification,
        IdempotencyRecord,
        OutboxMessage,
    ):
        await session.execute(
            delete(model).where(model.user_id == uid).execution_options(synchronize_session=False)
        )
    await session.execute(delete(WorkerDuty).where(WorkerDuty.user_id == uid))
    keys = await _delete_loose_photos(session, uid)
    # Their own learner record (name, phone, age) and their repair orders' contact details.
    await session.execute(
        update(Attendee)
        .where(Attendee.user_id == uid)
        .values(name=ANONYMOUS_NAME, phone=None, age=None)
        .execution_options(synchronize_session=False)
    )
    await session.execute(
        update(RepairOrder)
        .where(RepairOrder.resident_id == uid)
        .values(contact_name=ANONYMOUS_NAME, contact_phone=None)
        .execution_options(synchronize_session=False)
    )
    # The deletion itself is logged (by the person: nobody else acted). DELETE /me also
    # recognises a retry with the now stale token by it.
    await audit.record(
        session,
        actor_id=uid,
        action=AuditAction.ACCOUNT_DELETED,
        subject_user_id=uid,
        resource="user",
        resource_id=uid,
        now=now,
    )
    log.info("user %s anonymised", uid)
    return keys
