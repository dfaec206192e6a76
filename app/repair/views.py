"""Read models of repair orders: the household's contact and address only for those who need them."""

import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.permissions import Actor, Scope, administers, mask_address, mask_phone
from app.core.config import Settings
from app.media.models import Photo
from app.media.service import photo_read
from app.privacy import audit
from app.repair import policies, pricing
from app.repair.models import (
    CATEGORY_LABELS,
    PriceItem,
    RepairEvent,
    RepairOrder,
    RepairPhoto,
    RepairQuoteLine,
)
from app.repair.schemas import (
    OrderBrief,
    OrderRead,
    PriceItemRead,
    QuoteLineRead,
    QuoteRead,
    RepairEventRead,
)
from app.ticket.schemas import PersonRead
from app.user.models import User
from app.wechat import moderation


def price_item(p: PriceItem) -> PriceItemRead:
    return PriceItemRead(
        id=p.id,
        subdistrict_id=p.subdistrict_id,
        category=p.category,
        category_name=CATEGORY_LABELS[p.category],
        name=p.name,
        unit=p.unit,
        price_cents=p.price_cents,
        market_price_cents=p.market_price_cents,
        is_active=p.is_active,
        version=p.version,
    )


def quote_read(q: pricing.Quote, version: int | None = None) -> QuoteRead:
    return QuoteRead(
        version=version,
        care_category=q.care_category,
        lines=[
            QuoteLineRead(
                kind=x.kind,
                name=x.name,
                unit=x.unit,
                quantity=x.quantity,
                price_item_id=x.price_item_id,
                price_version=x.price_version,
                list_unit_cents=x.list_unit_cents,
                list_amount_cents=x.list_amount_cents,
                market_amount_cents=x.market_amount_cents,
                discount_pct=x.discount_pct,
                subsidy_cents=x.subsidy_cents,
                due_cents=x.due_cents,
                rule=x.rule,
            )
            for x in q.lines
        ],
        list_total_cents=q.list_total_cents,
        market_total_cents=q.market_total_cents,
        subsidy_cents=q.subsidy_cents,
        due_cents=q.due_cents,
    )


def _stored_quote(o: RepairOrder, lines: list[RepairQuoteLine], *, private: bool) -> QuoteRead | None:
    """The current quote; `private` False hides which care category earned the subsidy."""
    if not lines:
        return None
    q = pricing.Quote(
        care_category=o.care_category,
        lines=tuple(
            pricing.PricedLine(
                kind=x.kind,
                name=x.name,
                unit=x.unit,
                quantity=x.quantity,
                list_unit_cents=x.list_unit_cents,
                list_amount_cents=x.list_amount_cents,
                market_amount_cents=x.market_amount_cents,
                discount_pct=x.discount_pct,
                subsidy_cents=x.subsidy_cents,
                due_cents=x.due_cents,
                rule=x.rule if private or x.discount_pct == 0 else "按街道政策减免",
                price_item_id=x.price_item_id,
                price_version=x.price_version,
            )
            for x in lines
        ),
    )
    read = quote_read(q, o.quote_version)
    return read if private else read.model_copy(update={"care_category": None})


def brief(o: RepairOrder, *, actor: Actor) -> OrderBrief:
    full = policies.sees_contact(actor, policies.facts_of(o))
    return OrderBrief(
        id=o.id,
        number=o.number,
        status=o.status,
        category=o.category,
        category_name=CATEGORY_LABELS[o.category],
        description=o.description,
        subdistrict_id=o.subdistrict_id,
        community_id=o.community_id,
        address=o.address if full else (mask_address(o.address) or ""),
        preferred_time=o.preferred_time,
        craftsman_id=o.craftsman_id,
        scheduled_for=o.scheduled_for,
        requested_at=o.requested_at,
        due_cents=o.due_cents,
        rating=o.rating,
        moderation=o.moderation,
    )


async def detail(
    session: AsyncSession,
    o: RepairOrder,
    *,
    actor: Actor,
    settings: Settings,
    now: datetime,
    quote_lines: list[RepairQuoteLine],
) -> OrderRead:
    f = policies.facts_of(o)
    full = policies.sees_contact(actor, f)
    household_or_staff = policies.is_household(actor, f) or policies.is_staff_for(actor, f)
    rows = (
        await session.execute(
            select(RepairEvent, User)
            .outerjoin(User, User.id == RepairEvent.actor_id)
            .where(RepairEvent.order_id == o.id)
            .order_by(RepairEvent.seq)
        )
    ).all()
    people = {u.id: u for _, u in rows if u is not None}
    if o.craftsman_id and o.craftsman_id not in people:
        c = await session.get(User, o.craftsman_id)
        if c is not None:
            people[c.id] = c
    photo_rows = (
        await session.execute(
            select(RepairPhoto.kind, Photo)
            .join(Photo, Photo.id == RepairPhoto.photo_id)
            .where(RepairPhoto.order_id == o.id)
            .order_by(RepairPhoto.position)
        )
    ).all()
    staff = administers(actor, Scope(subdistrict_id=o.subdistrict_id, community_id=o.community_id))
    photo_rows = [(kind, p) for kind, p in photo_rows if moderation.photo_shown(p, staff=staff)]
    photos = {p.id: p for _, p in photo_rows}

    def pr(pid: uuid.UUID):  # type: ignore[no-untyped-def]
        return photo_read(photos[pid], cfg=settings.media, now=now)

    def person(user_id: uuid.UUID | None) -> PersonRead | None:
        u = people.get(user_id) if user_id else None
        if u is None:
            return None
        if not full and user_id in (o.resident_id, o.requested_by_id):
            return None  # the household stays anonymous to craftsmen browsing the pool
        phone = u.phone if household_or_staff or user_id == actor.user_id else mask_phone(u.phone)
        return PersonRead(id=u.id, display_name=u.display_name, phone=phone)

    timeline = [
        RepairEventRead(
            id=e.id,
            action=e.action,
            from_status=e.from_status,
            to_status=e.to_status,
            actor=person(e.actor_id),
            note=e.note if full or e.actor_id == actor.user_id else None,
            photos=[pr(uuid.UUID(p)) for p in e.photo_ids if full and uuid.UUID(p) in photos],
            data=e.data if household_or_staff else {},
            at=e.at,
        )
        for e, _ in rows
    ]
    craftsman_person = person(o.craftsman_id)
    if craftsman_person is not None and full:
        # The household calls their craftsman: full number for them and for staff.
        u = people[o.craftsman_id]  # type: ignore[index]
        craftsman_person = PersonRead(id=u.id, display_name=u.display_name, phone=u.phone)
    shown = [audit.phone(o.resident_id, o.contact_phone, o.id)] if full else []
    if household_or_staff:  # every number on the timeline in full, and the care category
        shown += [
            *(audit.phone(u.id, u.phone, o.id) for u in people.values()),
            audit.care(o.resident_id, o.care_category, o.id),
        ]
    await audit.shown(session, actor, shown, resource="repair_order", now=now)
    return OrderRead(
        **brief(o, actor=actor).model_dump(),
        contact=PersonRead(id=o.resident_id, display_name=o.contact_name, phone=o.contact_phone)
        if full
        else None,
        resident_id=o.resident_id if full else None,
        requested_by_id=o.requested_by_id if full else None,
        care_category=o.care_category if household_or_staff else None,
        craftsman=craftsman_person,
        ticket_id=o.ticket_id if household_or_staff else None,
        accepted_at=o.accepted_at,
        arrived_at=o.arrived_at,
        quoted_at=o.quoted_at,
        confirmed_at=o.confirmed_at,
        completed_at=o.completed_at,
        settled_at=o.settled_at,
        cancelled_at=o.cancelled_at,
        cancel_reason=o.cancel_reason if full or policies.is_assigned(actor, f) else None,
        quote=_stored_quote(o, quote_lines, private=household_or_staff)
        if full or policies.is_assigned(actor, f)
        else None,
        list_total_cents=o.list_total_cents,
        subsidy_cents=o.subsidy_cents if household_or_staff else None,
        paid_cents=o.paid_cents,
        payment_method=o.payment_method,
        payment_reference=o.payment_reference if household_or_staff else None,
        rating_comment=o.rating_comment,
        photos=[pr(p.id) for kind, p in photo_rows if kind == "request"],
        after_photos=[pr(p.id) for kind, p in photo_rows if kind == "after"],
        timeline=timeline,
        is_full_view=full,
    )
