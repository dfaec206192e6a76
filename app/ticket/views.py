"""Read models of tickets: what each caller is shown (private parts only to those who need them)."""

import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.permissions import Actor, administers, mask_address, mask_phone
from app.core.config import Settings
from app.media.models import Photo
from app.media.service import photo_read
from app.org import geo
from app.org.models import Category
from app.privacy import audit
from app.ticket import policies, sla, state
from app.ticket.exceptions import TicketNotFound
from app.ticket.models import Ticket, TicketEvent, TicketPhoto
from app.ticket.schemas import LocationRead, PersonRead, TicketBrief, TicketEventRead, TicketRead
from app.user.models import User
from app.wechat import moderation

# The public sees locations rounded to about 100 m.
_PUBLIC_DECIMALS = 3


def _location(t: Ticket, system: geo.CoordSystem, *, exact: bool) -> LocationRead | None:
    if t.lat is None or t.lng is None:
        return None
    lat, lng = geo.from_wgs84(t.lat, t.lng, system)
    if not exact:
        lat, lng = round(lat, _PUBLIC_DECIMALS), round(lng, _PUBLIC_DECIMALS)
    return LocationRead(lat=lat, lng=lng, coord_system=system)


async def category_names(session: AsyncSession, ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
    if not ids:
        return {}
    return dict((await session.execute(select(Category.id, Category.name).where(Category.id.in_(ids)))).all())


def brief(
    t: Ticket,
    *,
    category_name: str,
    now: datetime,
    exact: bool,
    system: geo.CoordSystem,
    distance_m: float | None = None,
) -> TicketBrief:
    """A list row; `exact` False rounds the location and masks the address."""
    waiting = t.status in state.AWAITING_RESPONSE
    open_ = t.status in state.OPEN
    return TicketBrief(
        id=t.id,
        number=t.number,
        status=t.status,
        category_id=t.category_id,
        category_name=category_name,
        priority=t.priority,
        description=t.description,
        community_id=t.community_id,
        grid_id=t.grid_id,
        address=t.address if exact else (mask_address(t.address) or ""),
        location=_location(t, system, exact=exact),
        submitted_at=t.submitted_at,
        respond_by=t.respond_by,
        resolve_by=t.resolve_by,
        responded_at=t.responded_at,
        resolved_at=t.resolved_at,
        seconds_to_respond=sla.seconds_left(t.respond_by, now) if waiting else None,
        seconds_to_resolve=sla.seconds_left(t.resolve_by, now) if open_ else None,
        response_overdue=(t.responded_at or (now if waiting else t.respond_by)) > t.respond_by,
        resolve_overdue=(t.resolved_at or (now if open_ else t.resolve_by)) > t.resolve_by,
        assignee_id=t.assignee_id,
        supporter_count=t.supporter_count,
        moderation=t.moderation,
        distance_m=distance_m,
    )


async def briefs(
    session: AsyncSession,
    tickets: list[Ticket],
    *,
    actor: Actor,
    now: datetime,
    system: geo.CoordSystem,
    distances: list[float] | None = None,
    names: dict[uuid.UUID, str] | None = None,
) -> list[TicketBrief]:
    wanted = {t.category_id for t in tickets} - set(names or {})
    names = {**(names or {}), **await category_names(session, wanted)}
    return [
        brief(
            t,
            category_name=names.get(t.category_id, ""),
            now=now,
            system=system,
            exact=policies.can_view(actor, policies.facts_of(t)),
            distance_m=distances[i] if distances else None,
        )
        for i, t in enumerate(tickets)
    ]


async def detail(
    session: AsyncSession,
    t: Ticket,
    *,
    actor: Actor,
    settings: Settings,
    now: datetime,
    system: geo.CoordSystem = geo.CoordSystem.WGS84,
    category_name: str | None = None,
) -> TicketRead:
    """The ticket with photos and timeline; private parts only for those who may see them."""
    f = policies.facts_of(t)
    full = policies.can_view(actor, f)
    if not full and t.moderation != moderation.TextVerdict.VISIBLE:
        # Held by the content check: only those who work on it (and the reporter) see it.
        raise TicketNotFound()
    contact = policies.sees_contact(actor, f)
    if category_name is None:
        category_name = (await category_names(session, {t.category_id})).get(t.category_id, "")
    base = brief(t, category_name=category_name, now=now, exact=full, system=system)
    rows = (
        await session.execute(
            select(TicketEvent, User)
            .outerjoin(User, User.id == TicketEvent.actor_id)
            .where(TicketEvent.ticket_id == t.id)
            .order_by(TicketEvent.seq)
        )
    ).all()
    events = [e for e, _ in rows]
    people = {u.id: u for _, u in rows if u is not None}
    missing = {t.reporter_id, t.assignee_id} - set(people) - {None}
    if missing:
        people |= {u.id: u for u in await session.scalars(select(User).where(User.id.in_(missing)))}
    photo_rows = (
        await session.execute(
            select(TicketPhoto.kind, Photo)
            .join(Photo, Photo.id == TicketPhoto.photo_id)
            .where(TicketPhoto.ticket_id == t.id)
            .order_by(TicketPhoto.position)
        )
    ).all()
    staff = administers(actor, f.scope)
    # Quarantined photos reach the community's staff only; the public view (photos made public by
    # staff) shows, like the public board, only photos the content check passed.
    shown = [
        (kind, p)
        for kind, p in photo_rows
        if moderation.photo_shown(p, staff=staff)
        and (full or p.check_status in moderation.PUBLIC_PHOTO_CHECKS)
    ]
    links = [(p.id, kind) for kind, p in shown]
    photos = {p.id: p for _, p in shown}
    show_report_photos = full or t.photos_public

    def pr(pid: uuid.UUID) -> object:
        return photo_read(photos[pid], cfg=settings.media, now=now)

    def person(user_id: uuid.UUID | None, *, staff_side: bool) -> PersonRead | None:
        if user_id is None or user_id not in people:
            return None
        u = people[user_id]
        if not full and not staff_side:
            return None  # the public sees no reporter identity
        return PersonRead(
            id=u.id, display_name=u.display_name, phone=u.phone if contact else mask_phone(u.phone)
        )

    def staff_side(e: TicketEvent) -> bool:
        # Supporters ("+1") are residents affected by the problem: as private as the reporter.
        return e.actor_id != t.reporter_id and e.action != "support"

    timeline = [
        TicketEventRead(
            id=e.id,
            action=e.action,
            from_status=e.from_status,
            to_status=e.to_status,
            actor=person(e.actor_id, staff_side=staff_side(e)),
            note=e.note if full or staff_side(e) else None,
            photos=[pr(uuid.UUID(pid)) for pid in e.photo_ids if full and uuid.UUID(pid) in photos],
            location=(
                LocationRead(lat=e.lat, lng=e.lng, coord_system=geo.CoordSystem.WGS84)
                if full and e.lat is not None and e.lng is not None
                else None
            ),
            data=e.data if full else {},
            at=e.at,
        )
        for e in events
    ]
    on_behalf = None
    if full and t.on_behalf_name:
        on_behalf = PersonRead(
            display_name=t.on_behalf_name,
            phone=t.on_behalf_phone if contact else mask_phone(t.on_behalf_phone),
        )
    if contact:  # everyone above was shown with their full number
        shown = [
            *(audit.phone(u.id, u.phone, t.id) for u in people.values()),
            audit.phone(None, on_behalf and on_behalf.phone, t.id),
        ]
        await audit.shown(session, actor, shown, resource="ticket", now=now)
    return TicketRead(
        **base.model_dump(),
        reporter=person(t.reporter_id, staff_side=False) if full else None,
        on_behalf=on_behalf,
        consent_note=t.consent_note if full else None,
        building_id=t.building_id if full else None,
        routed_by=t.routed_by,
        assignee=person(t.assignee_id, staff_side=True),
        department_id=t.department_id,
        merged_into_id=t.merged_into_id,
        arrived_at=t.arrived_at,
        arrival_distance_m=t.arrival_distance_m if full else None,
        arrival_far=t.arrival_far,
        closed_at=t.closed_at,
        rating=t.rating,
        rating_comment=t.rating_comment if full else None,
        reopen_count=t.reopen_count,
        photos=[pr(pid) for pid, kind in links if kind == "report" and show_report_photos and pid in photos],
        after_photos=[
            pr(pid) for pid, kind in links if kind == "after" and show_report_photos and pid in photos
        ],
        timeline=timeline,
        is_full_view=full,
    )
