"""The public board (问题清单): a community's reported problems and how they were handled, anonymised.

Shown: what the problem is, where roughly (address masked, location rounded to about 100 m), and
the dates of the response and of the resolution. Never shown: reports held by the content check,
who reported it or handled it, phone numbers, the exact address; photos only once staff approved
them (no faces or number plates) and WeChat's content check passed them.
"""

import re
import uuid
from collections import defaultdict
from datetime import datetime

from pydantic import Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.permissions import mask_phone
from app.core.config import Settings
from app.core.pagination import paginate
from app.core.schemas import OutSchema
from app.media.models import Photo
from app.media.schemas import PhotoRead
from app.media.service import photo_read
from app.org import geo
from app.org.exceptions import CommunityNotFound
from app.org.models import Community
from app.ticket import views
from app.ticket.models import Ticket, TicketPhoto
from app.ticket.schemas import LocationRead
from app.ticket.state import TicketStatus
from app.wechat.moderation import PUBLIC_PHOTO_CHECKS, TextVerdict

# Rejected reports may be abuse or not a community matter; merged ones live on in their survivor.
PUBLIC_STATUSES = frozenset(TicketStatus) - {TicketStatus.REJECTED, TicketStatus.MERGED}

# Mainland mobile numbers typed into a description.
_PHONE_IN_TEXT = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")


class PublicTicket(OutSchema):
    id: uuid.UUID
    number: str
    status: TicketStatus
    category_id: uuid.UUID
    category_name: str
    description: str = Field(description="手机号已打码")
    community_id: uuid.UUID
    address: str = Field(description="已打码，只保留小区一级")
    location: LocationRead | None = Field(description="约 100 米精度")
    submitted_at: datetime
    responded_at: datetime | None
    resolved_at: datetime | None
    response_overdue: bool
    resolve_overdue: bool
    supporter_count: int
    rating: int | None
    photos: list[PhotoRead] = Field(description="仅在工作人员确认可以公开后展示")
    after_photos: list[PhotoRead]


def mask_phones_in_text(text: str) -> str:
    return _PHONE_IN_TEXT.sub(lambda m: mask_phone(m.group()) or "", text)


async def _public_photos(
    session: AsyncSession, tickets: list[Ticket], *, settings: Settings, now: datetime
) -> dict[uuid.UUID, dict[str, list[PhotoRead]]]:
    shown = [t.id for t in tickets if t.photos_public]
    out: dict[uuid.UUID, dict[str, list[PhotoRead]]] = defaultdict(lambda: {"report": [], "after": []})
    if not shown:
        return out
    rows = (
        await session.execute(
            select(TicketPhoto.ticket_id, TicketPhoto.kind, Photo)
            .join(Photo, Photo.id == TicketPhoto.photo_id)
            .where(TicketPhoto.ticket_id.in_(shown), Photo.check_status.in_(sorted(PUBLIC_PHOTO_CHECKS)))
            .order_by(TicketPhoto.ticket_id, TicketPhoto.position)
        )
    ).all()
    for ticket_id, kind, photo in rows:
        if kind in ("report", "after"):
            out[ticket_id][kind].append(photo_read(photo, cfg=settings.media, now=now))
    return out


async def board(
    session: AsyncSession,
    *,
    community_id: uuid.UUID,
    statuses: list[TicketStatus] | None,
    cursor: str | None,
    limit: int,
    now: datetime,
    settings: Settings,
    system: geo.CoordSystem,
) -> tuple[list[PublicTicket], str | None]:
    """One page of a community's public tickets, newest first."""
    if await session.get(Community, community_id) is None:
        raise CommunityNotFound()
    wanted = PUBLIC_STATUSES if not statuses else PUBLIC_STATUSES & set(statuses)
    # Text held by the content check (or kept off by staff) is not shown until staff approve it.
    stmt = select(Ticket).where(
        Ticket.community_id == community_id,
        Ticket.status.in_(sorted(wanted)),
        Ticket.moderation == TextVerdict.VISIBLE,
    )
    tickets, next_cursor = await paginate(
        session, stmt, columns=[Ticket.submitted_at, Ticket.id], cursor=cursor, limit=limit, descending=True
    )
    names = await views.category_names(session, {t.category_id for t in tickets})
    photos = await _public_photos(session, tickets, settings=settings, now=now)
    items = []
    for t in tickets:
        b = views.brief(t, category_name=names.get(t.category_id, ""), now=now, exact=False, system=system)
        items.append(
            PublicTicket(
                id=b.id,
                number=b.number,
                status=b.status,
                category_id=b.category_id,
                category_name=b.category_name,
                description=mask_phones_in_text(b.description),
                community_id=b.community_id,
                address=b.address,
                location=b.location,
                submitted_at=b.submitted_at,
                responded_at=b.responded_at,
                resolved_at=b.resolved_at,
                response_overdue=b.response_overdue,
                resolve_overdue=b.resolve_overdue,
                supporter_count=b.supporter_count,
                rating=t.rating,
                photos=photos[t.id]["report"] if t.photos_public else [],
                after_photos=photos[t.id]["after"] if t.photos_public else [],
            )
        )
    return items, next_cursor
