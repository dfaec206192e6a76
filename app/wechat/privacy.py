"""WeChat privacy events (WECHAT.md §8.2): a user withdrew an authorization, or deleted their
WeChat account, and we delete what we hold under it.

user_authorization_revoke carries RevokeInfo, the authorizations withdrawn:
  8 phone → the number is erased; 6 nickname/avatar → the display name is reset;
  13 location / 18 chosen location → a grid worker's last position is erased;
  14 selected photos / 7 camera → photos not part of any report or order are deleted.
  Reports already filed keep their photos and place: they are the record of a public matter
  (PIPL Art. 13(3)/(5): public duties), shown only as the app already shows them.
user_authorization_cancellation: the person is anonymised (PIPL Art. 47). Name, phone,
address, care category, WeChat identity, login sessions, subscribe credits, inbox and duty
position go; the account is deactivated. Their tickets, repair orders and course records stay,
tied to the anonymous account, so case histories and statistics remain whole.
"""

import logging
import uuid
from datetime import datetime

from sqlalchemy import delete, exists, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.models import RefreshToken, WeChatLoginCode
from app.course.models import Attendee
from app.duty.models import WorkerDuty
from app.media.models import Photo
from app.notification.models import Notification
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


async def _delete_loose_photos(session: AsyncSession, user_id: uuid.UUID) -> int:
    """Photos the user uploaded that no report or order uses (the files are left to storage GC)."""
    used_by_ticket = exists().where(TicketPhoto.photo_id == Photo.id)
    used_by_order = exists().where(RepairPhoto.photo_id == Photo.id)
    result = await session.execute(
        delete(Photo)
        .where(Photo.owner_id == user_id, ~used_by_ticket, ~used_by_order)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0  # type: ignore[attr-defined]


async def revoke(session: AsyncSession, user: User, revoked: set[int], *, now: datetime) -> list[str]:
    """Delete what the withdrawn authorizations covered; returns what was done (for the log)."""
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
        n = await _delete_loose_photos(session, user.id)
        done.append(f"photos:{n}")
    user.updated_at = now
    return done


async def anonymise(session: AsyncSession, user: User, *, now: datetime) -> None:
    """Erase the person behind an account; what they reported stays, anonymous."""
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
    for model in (UserIdentity, RefreshToken, WeChatLoginCode, SubscriptionCredit, Notification):
        await session.execute(
            delete(model).where(model.user_id == uid).execution_options(synchronize_session=False)
        )
    await session.execute(delete(WorkerDuty).where(WorkerDuty.user_id == uid))
    await _delete_loose_photos(session, uid)
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
    log.info("user %s anonymised after WeChat account cancellation", uid)
