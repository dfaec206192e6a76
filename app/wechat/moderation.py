"""Content security (WECHAT.md §5): user text checked with msgSecCheck when it is submitted,
photos checked with mediaCheckAsync, verdicts applied, and staff review of what was held.

Text (tickets, repair orders): risky → refused (ContentRisky); review → accepted but held,
off the public board until staff look; a failed check → held too (fail closed for what the
public sees, open for the report itself: a broken street light still gets fixed).

Photos: pending (check requested) → pass | review (staff to look) | risky (quarantined: only the
community's staff see it). A verdict that never comes moves the photo to review after
wechat.media_check_timeout_minutes. Photos of users without a WeChat account (staff on the
web console) are not checked ("none").
"""

import logging
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.auth.permissions import Actor, Role, Scope, administers
from app.core.clock import Clock
from app.core.config import Settings
from app.core.errors import Forbidden, NotFound, Unprocessable
from app.core.timeline import append_event
from app.media.models import Photo
from app.media.service import photo_read
from app.notification.models import OutboxMessage
from app.notification.outbox import Claimed, Skipped
from app.notification.service import OUTBOX_PENDING_KEY, notify
from app.ticket.models import Ticket, TicketEvent, TicketPhoto
from app.user.service import role_holder_ids
from app.wechat import identity
from app.wechat.client import WeChatClient

log = logging.getLogger("linli.wechat.moderation")

MEDIA_CHECK = "media_check"  # outbox topic of the WeChat channel
MAX_TEXT = 2500  # msgSecCheck's content limit


class TextVerdict(StrEnum):
    VISIBLE = "visible"
    HELD = "held"
    HIDDEN = "hidden"


class PhotoCheck(StrEnum):
    NONE = "none"
    PENDING = "pending"
    PASS = "pass"
    REVIEW = "review"
    RISKY = "risky"


# Photos the public board may show (once staff also made the ticket's photos public).
PUBLIC_PHOTO_CHECKS = frozenset({PhotoCheck.NONE, PhotoCheck.PASS})


class ContentRisky(Unprocessable):
    code = "content.risky"
    message = "内容包含不当信息，未能提交。请修改文字后重试"


class TicketNotFoundForReview(NotFound):
    code = "ticket.not_found"
    message = "没有找到该工单"


class ReviewForbidden(Forbidden):
    code = "content.review_forbidden"
    message = "只有本社区的工作人员可以审核内容"


def photo_shown(photo: Photo, *, staff: bool) -> bool:
    """Quarantined photos reach the community's staff only."""
    return staff or photo.check_status != PhotoCheck.RISKY


# --- text -------------------------------------------------------------------------------


async def check_text(
    wechat: WeChatClient, *, openid: str | None, text: str, scene: int
) -> tuple[TextVerdict, str | None]:
    """Check submitted text; returns how it may be shown and msgSecCheck's trace_id.

    Raises ContentRisky for risky text. Without a WeChat author (staff on the web console)
    there is nothing to check against (the API needs the author's openid).
    """
    if not openid or not text.strip():
        return TextVerdict.VISIBLE, None
    try:
        verdict = await wechat.msg_sec_check(openid=openid, content=text[:MAX_TEXT], scene=scene)
    except Exception as err:
        log.warning("msgSecCheck failed, holding the text for review: %r", err)
        return TextVerdict.HELD, None
    if verdict.suggest == "risky":
        log.info("msgSecCheck refused text: label=%s trace_id=%s", verdict.label, verdict.trace_id)
        raise ContentRisky(trace_id=verdict.trace_id)
    return (TextVerdict.HELD if verdict.suggest == "review" else TextVerdict.VISIBLE), verdict.trace_id


async def screen_text(
    session: AsyncSession,
    wechat: WeChatClient,
    *,
    user_id: uuid.UUID,
    texts: Iterable[str | None],
    settings: Settings,
) -> tuple[TextVerdict, str | None]:
    """check_text for the free texts this user submits, in one call (with their openid, if they
    have one). Reports and orders pass their description and their address: the address is free
    text too, and the public board shows part of it."""
    openid = await identity.openid_of(session, user_id)
    text = "\n".join(t for t in texts if t)
    return await check_text(wechat, openid=openid, text=text, scene=settings.wechat.sec_check_scene)


# --- photos -----------------------------------------------------------------------------


def queue_media_check(session: AsyncSession, photo: Photo, *, openid: str, now: datetime) -> None:
    """Mark a new photo pending and queue its mediaCheckAsync call (sent after commit)."""
    photo.check_status = PhotoCheck.PENDING
    session.add(
        OutboxMessage(
            channel="wechat",
            topic=MEDIA_CHECK,
            user_id=photo.owner_id,
            available_at=now,
            created_at=now,
            payload={"photo_id": str(photo.id), "openid": openid},
        )
    )
    session.info[OUTBOX_PENDING_KEY] = True


async def run_media_check(
    session_maker: async_sessionmaker[AsyncSession],
    wechat: WeChatClient,
    settings: Settings,
    clock: Clock,
    row: Claimed,
) -> None:
    """Outbox delivery of a media check: ask WeChat, remember the trace_id the verdict will carry."""
    photo_id = uuid.UUID(row.payload["photo_id"])
    async with session_maker() as session:
        photo = await session.get(Photo, photo_id)
        if photo is None or photo.check_status != PhotoCheck.PENDING:
            raise Skipped("photo gone or already decided")
        link = photo_read(photo, cfg=settings.media, now=clock.now()).url
    base = settings.wechat.public_base_url.rstrip("/") or "http://localhost"
    trace_id = await wechat.media_check_async(openid=row.payload["openid"], media_url=base + link)
    async with session_maker() as session, session.begin():
        await session.execute(
            update(Photo)
            .where(Photo.id == photo_id, Photo.check_status == PhotoCheck.PENDING)
            .values(check_trace_id=trace_id, check_requested_at=clock.now())
            .execution_options(synchronize_session=False)
        )


async def apply_media_verdict(
    session: AsyncSession, *, trace_id: str, suggest: str, label: int | None, now: datetime
) -> bool:
    """Apply a pushed wxa_media_check verdict; False if no photo waits for this trace_id."""
    photo = await session.scalar(select(Photo).where(Photo.check_trace_id == trace_id))
    if photo is None:
        return False
    # A late verdict still applies to a photo moved to review by the timeout (label None), never
    # over a staff decision.
    undecided = photo.check_status == PhotoCheck.PENDING or (
        photo.check_status == PhotoCheck.REVIEW and photo.check_label is None
    )
    if not undecided:
        return True
    status = {"pass": PhotoCheck.PASS, "risky": PhotoCheck.RISKY}.get(suggest, PhotoCheck.REVIEW)
    photo.check_status = status
    photo.check_label = label if label is not None else -1
    if status is not PhotoCheck.PASS:
        await _flag_tickets(session, photo, status, now=now)
    return True


async def _flag_tickets(session: AsyncSession, photo: Photo, status: PhotoCheck, *, now: datetime) -> None:
    """Tell the tickets showing this photo, and their community's staff, that it needs a look."""
    tickets = list(
        await session.scalars(
            select(Ticket)
            .join(TicketPhoto, TicketPhoto.ticket_id == Ticket.id)
            .where(TicketPhoto.photo_id == photo.id)
        )
    )
    for t in tickets:
        if status is PhotoCheck.RISKY:
            t.photos_public = False
        append_event(
            session,
            t,
            TicketEvent,
            ticket_id=t.id,
            action="photo_check",
            actor_id=None,
            from_status=t.status,
            to_status=t.status,
            note="照片未通过内容安全检测，已隔离" if status is PhotoCheck.RISKY else "照片需要人工审核",
            data={"photo_id": str(photo.id), "check": status.value},
            at=now,
        )
        admins = await role_holder_ids(session, Role.COMMUNITY_ADMIN, community_id=t.community_id)
        await notify(
            session,
            user_ids=admins,
            kind="content.photo_review",
            title="随手拍照片需要审核",
            now=now,
            ticket_id=t.id,
            body=f"{t.number} 的照片{'未通过内容安全检测' if status is PhotoCheck.RISKY else '需要人工审核'}",
            data={"number": t.number, "photo_id": photo.id},
        )


async def expire_media_checks(session: AsyncSession, *, now: datetime, timeout: timedelta) -> int:
    """Photos whose verdict never came go to staff review, and their tickets' staff are told
    (the sweeper calls this)."""
    expired = list(
        await session.scalars(
            update(Photo)
            .where(
                Photo.check_status == PhotoCheck.PENDING,
                or_(
                    Photo.check_requested_at < now - timeout,
                    # The request itself never went out (WeChat unreachable for hours).
                    and_(Photo.check_requested_at.is_(None), Photo.uploaded_at < now - timeout),
                ),
            )
            .values(check_status=PhotoCheck.REVIEW)
            .returning(Photo.id)
            .execution_options(synchronize_session=False)
        )
    )
    if expired:
        log.warning("%d photo check(s) timed out and went to staff review", len(expired))
    for photo_id in expired:
        photo = await session.get(Photo, photo_id)
        if photo is not None:
            await _flag_tickets(session, photo, PhotoCheck.REVIEW, now=now)
    return len(expired)


# --- staff review -----------------------------------------------------------------------


class ReviewDecision(StrEnum):
    APPROVE = "approve"  # the text and the photos waiting for review may be shown
    HIDE = "hide"  # keep the ticket off the public board; quarantine the photos waiting for review


async def review_ticket(
    session: AsyncSession, *, actor: Actor, ticket_id: uuid.UUID, decision: ReviewDecision, now: datetime
) -> Ticket:
    """A community's staff decide on a ticket held by the content check."""
    ticket = await session.get(Ticket, ticket_id)
    if ticket is None:
        raise TicketNotFoundForReview()
    if not administers(actor, Scope(subdistrict_id=ticket.subdistrict_id, community_id=ticket.community_id)):
        raise ReviewForbidden()
    ticket.moderation = TextVerdict.VISIBLE if decision is ReviewDecision.APPROVE else TextVerdict.HIDDEN
    photo_ids = select(TicketPhoto.photo_id).where(TicketPhoto.ticket_id == ticket.id)
    await session.execute(
        update(Photo)
        .where(Photo.id.in_(photo_ids), Photo.check_status.in_((PhotoCheck.PENDING, PhotoCheck.REVIEW)))
        .values(
            check_status=PhotoCheck.PASS if decision is ReviewDecision.APPROVE else PhotoCheck.RISKY,
            check_label=0,  # a staff decision: never overridden by a late verdict
        )
        .execution_options(synchronize_session=False)
    )
    append_event(
        session,
        ticket,
        TicketEvent,
        ticket_id=ticket.id,
        action="content_review",
        actor_id=actor.user_id,
        from_status=ticket.status,
        to_status=ticket.status,
        note="内容审核通过" if decision is ReviewDecision.APPROVE else "内容不予公开",
        data={"decision": decision.value},
        at=now,
    )
    return ticket
