"""乐修匠 use cases: the price list, pricing policies, craftsmen, and the order lifecycle."""

import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.permissions import Actor, CareCategory, Role, Scope, administers, administers_subdistrict
from app.core import numbering
from app.core.clock import Clock
from app.core.config import Settings
from app.core.errors import AppError
from app.core.pagination import paginate
from app.core.timeline import append_event, plain
from app.media.models import Photo
from app.media.service import attach_photos, own_photos
from app.notification.service import notify
from app.org.models import Building, Community, Subdistrict
from app.repair import exceptions as exc
from app.repair import policies, pricing, state
from app.repair.models import (
    CATEGORY_LABELS,
    Craftsman,
    PaymentMethod,
    PriceItem,
    PriceItemVersion,
    RepairCategory,
    RepairEvent,
    RepairOrder,
    RepairPhoto,
    RepairPolicy,
    RepairQuoteLine,
)
from app.repair.schemas import (
    CraftsmanIn,
    ForResidentIn,
    MaterialIn,
    OrderCreate,
    PolicyIn,
    PriceItemCreate,
    PriceItemUpdate,
    QuoteItemIn,
)
from app.repair.state import RepairAction, RepairStatus
from app.ticket.models import Ticket
from app.user.models import User, UserRole
from app.user.service import role_holder_ids

A, S = RepairAction, RepairStatus


def _require(ok: bool, error: type[AppError] = exc.ScopeForbidden) -> None:
    if not ok:
        raise error()


# --- price list -------------------------------------------------------------------------


async def list_price_items(
    session: AsyncSession,
    *,
    subdistrict_id: uuid.UUID,
    category: RepairCategory | None,
    include_inactive: bool,
) -> list[PriceItem]:
    stmt = select(PriceItem).where(PriceItem.subdistrict_id == subdistrict_id)
    if category is not None:
        stmt = stmt.where(PriceItem.category == category)
    if not include_inactive:
        stmt = stmt.where(PriceItem.is_active.is_(True))
    return list(await session.scalars(stmt.order_by(PriceItem.category, PriceItem.name)))


def _snapshot(item: PriceItem, actor: Actor, now: datetime) -> PriceItemVersion:
    return PriceItemVersion(
        item_id=item.id,
        version=item.version,
        name=item.name,
        unit=item.unit,
        price_cents=item.price_cents,
        market_price_cents=item.market_price_cents,
        is_active=item.is_active,
        changed_by_id=actor.user_id,
        changed_at=now,
    )


async def _check_unique_name(
    session: AsyncSession,
    subdistrict_id: uuid.UUID,
    category: RepairCategory,
    name: str,
    except_id: Any = None,
) -> None:
    clash = await session.scalar(
        select(PriceItem.id).where(
            PriceItem.subdistrict_id == subdistrict_id,
            PriceItem.category == category,
            PriceItem.name == name,
            PriceItem.id != except_id if except_id else True,
        )
    )
    if clash is not None:
        raise exc.PriceItemExists()


async def create_price_item(
    session: AsyncSession, *, actor: Actor, data: PriceItemCreate, now: datetime
) -> PriceItem:
    _require(administers_subdistrict(actor, data.subdistrict_id))
    if await session.get(Subdistrict, data.subdistrict_id) is None:
        raise exc.PriceItemNotFound()
    await _check_unique_name(session, data.subdistrict_id, data.category, data.name)
    item = PriceItem(id=uuid.uuid4(), **data.model_dump(), is_active=True, version=1)
    session.add(item)
    session.add(_snapshot(item, actor, now))
    await session.flush()
    return item


async def update_price_item(
    session: AsyncSession, *, actor: Actor, item_id: uuid.UUID, data: PriceItemUpdate, now: datetime
) -> PriceItem:
    """Change an item; any change publishes a new version (orders keep the one they were quoted)."""
    item = await session.scalar(select(PriceItem).where(PriceItem.id == item_id).with_for_update())
    if item is None:
        raise exc.PriceItemNotFound()
    _require(administers_subdistrict(actor, item.subdistrict_id))
    # null clears the market reference price; for the other fields it means "unchanged".
    changes = {
        k: v
        for k, v in data.model_dump(exclude_unset=True).items()
        if (v is not None or k == "market_price_cents") and getattr(item, k) != v
    }
    if not changes:
        return item
    if "name" in changes:
        await _check_unique_name(session, item.subdistrict_id, item.category, changes["name"], item.id)
    for key, value in changes.items():
        setattr(item, key, value)
    item.version += 1
    session.add(_snapshot(item, actor, now))
    await session.flush()
    return item


async def price_item_versions(session: AsyncSession, item_id: uuid.UUID) -> list[PriceItemVersion]:
    if await session.get(PriceItem, item_id) is None:
        raise exc.PriceItemNotFound()
    return list(
        await session.scalars(
            select(PriceItemVersion)
            .where(PriceItemVersion.item_id == item_id)
            .order_by(PriceItemVersion.version)
        )
    )


# --- pricing policy ---------------------------------------------------------------------


def default_policy(settings: Settings) -> pricing.PricingPolicy:
    return pricing.PricingPolicy(
        visit_fee_cents=settings.repair.visit_fee_cents,
        rules={
            CareCategory(k): pricing.CareRule(**v.model_dump()) for k, v in settings.repair.care_rules.items()
        },
    )


async def get_policy(
    session: AsyncSession, settings: Settings, subdistrict_id: uuid.UUID
) -> tuple[pricing.PricingPolicy, RepairPolicy | None]:
    row = await session.get(RepairPolicy, subdistrict_id)
    if row is None:
        return default_policy(settings), None
    return (
        pricing.PricingPolicy(
            visit_fee_cents=row.visit_fee_cents,
            rules={CareCategory(k): pricing.CareRule(**v) for k, v in row.rules.items()},
        ),
        row,
    )


async def put_policy(
    session: AsyncSession, *, actor: Actor, subdistrict_id: uuid.UUID, data: PolicyIn, now: datetime
) -> RepairPolicy:
    _require(administers_subdistrict(actor, subdistrict_id))
    if await session.get(Subdistrict, subdistrict_id) is None:
        raise exc.ScopeForbidden()
    row = await session.get(RepairPolicy, subdistrict_id)
    if row is None:
        row = RepairPolicy(subdistrict_id=subdistrict_id)
        session.add(row)
    row.visit_fee_cents = data.visit_fee_cents
    row.rules = {k.value: v.model_dump() for k, v in data.rules.items()}
    row.updated_by_id = actor.user_id
    row.updated_at = now
    await session.flush()
    return row


async def _priced_items(
    session: AsyncSession, subdistrict_id: uuid.UUID, items: list[QuoteItemIn]
) -> list[pricing.ItemLine]:
    ids = {i.price_item_id for i in items}
    found = {
        p.id: p
        for p in await session.scalars(
            select(PriceItem).where(
                PriceItem.id.in_(ids),
                PriceItem.subdistrict_id == subdistrict_id,
                PriceItem.is_active.is_(True),
            )
        )
    }
    unknown = [str(i) for i in ids if i not in found]
    if unknown:
        raise exc.PriceItemNotAvailable(price_item_ids=sorted(unknown))
    return [
        pricing.ItemLine(
            price_item_id=p.id,
            price_version=p.version,
            name=p.name,
            unit=p.unit,
            unit_cents=p.price_cents,
            market_unit_cents=p.market_price_cents,
            quantity=i.quantity,
        )
        for i in items
        for p in (found[i.price_item_id],)
    ]


def _materials(materials: list[MaterialIn]) -> list[pricing.MaterialLine]:
    return [
        pricing.MaterialLine(name=m.name, unit=m.unit, unit_cost_cents=m.unit_cost_cents, quantity=m.quantity)
        for m in materials
    ]


async def estimate(
    session: AsyncSession,
    *,
    user: User,
    settings: Settings,
    subdistrict_id: uuid.UUID,
    items: list[QuoteItemIn],
    materials: list[MaterialIn],
) -> pricing.Quote:
    """What this job would cost the caller's household (their care category applies)."""
    policy, _ = await get_policy(session, settings, subdistrict_id)
    lines = await _priced_items(session, subdistrict_id, items)
    return pricing.quote(policy, user.care_category, lines, _materials(materials))


# --- craftsmen --------------------------------------------------------------------------


async def active_order_counts(session: AsyncSession, user_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, int]:
    ids = list(user_ids)
    if not ids:
        return {}
    rows = await session.execute(
        select(RepairOrder.craftsman_id, func.count())
        .where(RepairOrder.craftsman_id.in_(ids), RepairOrder.status.in_(state.ACTIVE))
        .group_by(RepairOrder.craftsman_id)
    )
    return dict(rows.all())  # type: ignore[arg-type]


async def put_craftsman(
    session: AsyncSession, *, actor: Actor, user_id: uuid.UUID, data: CraftsmanIn, settings: Settings
) -> Craftsman:
    """Create or update a craftsman's profile (subdistrict staff; the user must hold the role)."""
    _require(administers_subdistrict(actor, data.subdistrict_id))
    has_role = await session.scalar(
        select(UserRole.id).where(
            UserRole.user_id == user_id,
            UserRole.role == Role.CRAFTSMAN,
            UserRole.subdistrict_id == data.subdistrict_id,
        )
    )
    if has_role is None:
        raise exc.UserNotCraftsman()
    if data.community_ids:
        known = set(
            await session.scalars(
                select(Community.id).where(
                    Community.id.in_(data.community_ids), Community.subdistrict_id == data.subdistrict_id
                )
            )
        )
        if known != set(data.community_ids):
            raise exc.CraftsmanNotEligible(message="服务社区须是本街道的社区")
    row = await session.get(Craftsman, user_id)
    if row is None:
        row = Craftsman(user_id=user_id)
        session.add(row)
    elif not administers_subdistrict(actor, row.subdistrict_id):
        raise exc.ScopeForbidden()
    row.subdistrict_id = data.subdistrict_id
    row.skills = sorted({s.value for s in data.skills})
    row.community_ids = sorted({str(c) for c in data.community_ids})
    row.organisation = data.organisation
    row.max_active_orders = (
        data.max_active_orders or row.max_active_orders or settings.repair.max_active_orders
    )
    row.is_active = data.is_active
    await session.flush()
    return row


async def list_craftsmen(
    session: AsyncSession, *, actor: Actor, subdistrict_id: uuid.UUID
) -> list[Craftsman]:
    served: set[str] | None = None  # None: the whole subdistrict
    if not administers_subdistrict(actor, subdistrict_id):
        # Community staff see the craftsmen who serve their community (to assign phone orders).
        communities = set(
            await session.scalars(select(Community.id).where(Community.subdistrict_id == subdistrict_id))
        )
        served = {str(c) for c in actor.community_ids & communities}
        _require(bool(served))
    stmt = select(Craftsman).where(Craftsman.subdistrict_id == subdistrict_id)
    rows = list(await session.scalars(stmt.order_by(Craftsman.created_at)))
    if served is not None:
        rows = [r for r in rows if not r.community_ids or served & set(r.community_ids)]
    return rows


async def craftsman_of(session: AsyncSession, user_id: uuid.UUID, *, lock: bool = False) -> Craftsman | None:
    stmt = select(Craftsman).where(Craftsman.user_id == user_id)
    if lock:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    return await session.scalar(stmt)


# --- orders -----------------------------------------------------------------------------


async def _notify(
    session: AsyncSession,
    o: RepairOrder,
    users: Iterable[uuid.UUID | None],
    *,
    kind: str,
    title: str,
    now: datetime,
    skip: uuid.UUID | None = None,
    **data: Any,
) -> None:
    await notify(
        session,
        user_ids=[u for u in users if u is not None and u != skip],
        kind=kind,
        title=title,
        now=now,
        body=f"{o.number} {CATEGORY_LABELS[o.category]}：{o.description[:30]}",
        data={"repair_order_id": o.id, "number": o.number, "status": o.status.value, **plain(data)},
    )


def _household(o: RepairOrder) -> list[uuid.UUID | None]:
    return [o.resident_id, o.requested_by_id]


async def _fitting_craftsmen(session: AsyncSession, o: RepairOrder) -> list[uuid.UUID]:
    rows = await session.scalars(
        select(Craftsman)
        .join(User, User.id == Craftsman.user_id)
        .where(
            Craftsman.subdistrict_id == o.subdistrict_id,
            Craftsman.is_active.is_(True),
            User.is_active.is_(True),
        )
    )
    f = policies.facts_of(o)
    return [c.user_id for c in rows if policies.fits(policies.craftsman_facts(c), f)]


def _event(
    session: AsyncSession,
    o: RepairOrder,
    *,
    action: str,
    now: datetime,
    actor_id: uuid.UUID | None,
    from_status: RepairStatus | None = None,
    to_status: RepairStatus | None = None,
    note: str | None = None,
    photos: list[Photo] = (),  # type: ignore[assignment]
    **data: Any,
) -> None:
    append_event(
        session,
        o,
        RepairEvent,
        order_id=o.id,
        action=action,
        from_status=from_status,
        to_status=to_status,
        actor_id=actor_id,
        note=note,
        photo_ids=[str(p.id) for p in photos],
        data=plain(data),
        at=now,
    )


async def _photos(session: AsyncSession, ids: list[uuid.UUID], owner_id: uuid.UUID) -> list[Photo]:
    return await own_photos(session, ids, owner_id, missing=exc.PhotoNotFound, not_owned=exc.PhotoNotYours)


async def create_order(
    session: AsyncSession,
    *,
    actor: Actor,
    user: User,
    clock: Clock,
    data: OrderCreate,
    ticket: Ticket | None = None,
    screened: tuple[str, str | None] = ("visible", None),
) -> RepairOrder:
    """A resident asks for a repair, or staff enter a phone order for a resident (`screened`: the
    content check of the description, app/wechat/moderation.py)."""
    now = clock.now()
    resident: User | None = user
    contact_name, contact_phone = user.display_name, user.phone
    care = user.care_category
    if data.for_resident is not None:
        if not actor.is_staff:
            raise exc.OrderForOthersNotAllowed()
        fr = data.for_resident
        resident = await session.get(User, fr.resident_id) if fr.resident_id else None
        if fr.resident_id and (resident is None or not resident.is_active):
            raise exc.ResidentNotFound()
        contact_name = fr.name or (resident.display_name if resident else "")
        contact_phone = fr.phone or (resident.phone if resident else None)
        care = resident.care_category if resident else fr.care_category
    building = None
    if data.building_id is not None:
        building = await session.get(Building, data.building_id)
        if building is None:
            raise exc.NoCommunity(message="没有找到该楼栋")
    community_id = (
        data.community_id
        or (building.community_id if building else None)
        or (resident.home_community_id if resident else None)
    )
    community = await session.get(Community, community_id) if community_id else None
    if community is None:
        raise exc.NoCommunity()
    if building is not None and building.community_id != community.id:
        raise exc.NoCommunity(message="楼栋不属于所选社区")
    if data.for_resident is not None:
        _require(
            administers(actor, Scope(subdistrict_id=community.subdistrict_id, community_id=community.id))
        )
        if resident is not None and resident.home_community_id not in (None, community.id):
            raise exc.ResidentNotFound()
    address = data.address or (resident.address if resident else "") or (building.name if building else "")
    if not address:
        raise exc.NoCommunity(message="请填写上门地址")
    photos = await _photos(session, data.photo_ids, user.id)
    order = RepairOrder(
        id=uuid.uuid4(),
        number=await numbering.next_number(session, "R", now),
        moderation=screened[0],
        sec_trace_id=screened[1],
        subdistrict_id=community.subdistrict_id,
        community_id=community.id,
        resident_id=resident.id if resident else None,
        requested_by_id=user.id,
        contact_name=contact_name or "居民",
        contact_phone=contact_phone,
        address=address,
        building_id=building.id if building else None,
        care_category=care,
        category=data.category,
        description=data.description,
        preferred_time=data.preferred_time,
        ticket_id=ticket.id if ticket else None,
        status=S.REQUESTED,
        status_changed_at=now,
        requested_at=now,
        quote_version=0,
        event_count=0,
        handback_count=0,
        no_show_count=0,
        absent_count=0,
    )
    session.add(order)
    await attach_photos(session, RepairPhoto, {"order_id": order.id}, photos, "request")
    _event(
        session,
        order,
        action="create",
        now=now,
        actor_id=user.id,
        to_status=S.REQUESTED,
        photos=photos,
        phone_order=data.for_resident is not None,
        ticket_id=ticket.id if ticket else None,
    )
    await session.flush()
    await _notify(
        session,
        order,
        await _fitting_craftsmen(session, order),
        kind="repair.new",
        title="新的乐修匠维修单",
        now=now,
        skip=user.id,
    )
    return order


async def order_from_ticket(
    session: AsyncSession, *, actor: Actor, user: User, clock: Clock, ticket_id: uuid.UUID, data: OrderCreate
) -> RepairOrder:
    """Staff turn a 随手拍 report about a resident's own home into a repair order (linked both ways)."""
    from app.ticket import policies as ticket_policies
    from app.ticket.service import get_for_update

    ticket = await get_for_update(session, ticket_id)
    if not administers(actor, ticket_policies.facts_of(ticket).scope):
        raise exc.ScopeForbidden()
    taken = await session.scalar(select(RepairOrder.id).where(RepairOrder.ticket_id == ticket.id))
    if taken is not None:
        raise exc.TicketNotEligible()
    reporter = await session.get(User, ticket.reporter_id)
    if data.for_resident is None:
        # The household is whoever reported it: the elder a worker reported for, else the reporter.
        if ticket.on_behalf_name:
            # Filed for someone else: the filer is not the household. Without the elder's phone
            # there is no one to call; staff then name the household themselves (for_resident).
            if not ticket.on_behalf_phone:
                raise exc.TicketNotEligible()
            fr = ForResidentIn(name=ticket.on_behalf_name, phone=ticket.on_behalf_phone)
        elif reporter is not None and reporter.is_active:
            fr = ForResidentIn(resident_id=reporter.id)
        else:
            raise exc.TicketNotEligible()
        data = data.model_copy(update={"for_resident": fr})
    data = data.model_copy(
        update={
            "community_id": data.community_id or ticket.community_id,
            "address": data.address or ticket.address or None,
        }
    )
    order = await create_order(session, actor=actor, user=user, clock=clock, data=data, ticket=ticket)
    from app.ticket.service import _event as ticket_event

    ticket_event(
        session,
        ticket,
        action="repair_order",
        now=clock.now(),
        actor_id=actor.user_id,
        repair_order_id=order.id,
        repair_number=order.number,
    )
    return order


async def get_order(session: AsyncSession, order_id: uuid.UUID, *, lock: bool = False) -> RepairOrder:
    stmt = select(RepairOrder).where(RepairOrder.id == order_id)
    if lock:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    order = await session.scalar(stmt)
    if order is None:
        raise exc.OrderNotFound()
    return order


async def visible_order(session: AsyncSession, *, actor: Actor, order_id: uuid.UUID) -> RepairOrder:
    order = await get_order(session, order_id)
    craftsman = await craftsman_of(session, actor.user_id) if Role.CRAFTSMAN in actor.roles else None
    cf = policies.craftsman_facts(craftsman) if craftsman else None
    if not policies.can_view(actor, policies.facts_of(order), cf):
        raise exc.OrderNotFound()
    return order


async def current_quote_lines(session: AsyncSession, order: RepairOrder) -> list[RepairQuoteLine]:
    if order.quote_version == 0:
        return []
    return list(
        await session.scalars(
            select(RepairQuoteLine)
            .where(RepairQuoteLine.order_id == order.id, RepairQuoteLine.quote_version == order.quote_version)
            .order_by(RepairQuoteLine.position)
        )
    )


async def apply_action(
    session: AsyncSession,
    *,
    actor: Actor,
    clock: Clock,
    settings: Settings,
    order_id: uuid.UUID,
    action: RepairAction,
    body: Any = None,
) -> RepairOrder:
    """Take one lifecycle action: lock, check who and when, move, stamp, record, notify."""
    order = await get_order(session, order_id, lock=True)
    craftsman = None
    if Role.CRAFTSMAN in actor.roles:
        craftsman = await craftsman_of(session, actor.user_id, lock=action is A.ACCEPT)
    cf = policies.craftsman_facts(craftsman) if craftsman else None
    f = policies.facts_of(order)
    if not policies.can_apply(actor, action, f, cf):
        if not policies.can_view(actor, f, cf):
            raise exc.OrderNotFound()
        if action is A.ACCEPT:
            if order.craftsman_id is not None:
                raise exc.AlreadyAccepted()
            raise exc.NotACraftsman() if cf is None or not cf.is_active else exc.CraftsmanNotEligible()
        raise exc.ActionNotAllowed(action=action.value)
    try:
        to_status = state.next_status(order.status, action)
    except state.InvalidTransition:
        if order.status in state.TERMINAL:
            raise exc.OrderFinished(status=order.status.value, action=action.value) from None
        if action is A.ACCEPT and order.craftsman_id is not None:
            raise exc.AlreadyAccepted() from None
        if action is A.SETTLE and order.status in (S.QUOTED, S.ON_SITE):
            raise exc.QuoteNotConfirmed() from None
        raise exc.InvalidTransition(status=order.status.value, action=action.value) from None
    now = clock.now()
    from_status = order.status
    extra: dict[str, Any] = await _HANDLERS[action](session, order, actor, now, settings, body, craftsman)
    order.status = to_status
    order.status_changed_at = now
    _event(
        session,
        order,
        action=action.value,
        now=now,
        actor_id=actor.user_id,
        from_status=from_status,
        to_status=to_status,
        **extra,
    )
    await session.flush()
    await _after(session, order, action, actor, now, extra)
    return order


def _note(body: Any) -> str | None:
    return getattr(body, "note", None) or getattr(body, "reason", None)


async def _active_count(session: AsyncSession, craftsman_id: uuid.UUID, except_order: uuid.UUID) -> int:
    return (
        await session.scalar(
            select(func.count()).where(
                RepairOrder.craftsman_id == craftsman_id,
                RepairOrder.status.in_(state.ACTIVE),
                RepairOrder.id != except_order,
            )
        )
        or 0
    )


async def _accept(session, o, actor, now, settings, body, craftsman):  # type: ignore[no-untyped-def]
    # The craftsman's row is locked (FOR UPDATE / BEGIN IMMEDIATE): two accepts by the same
    # craftsman cannot both pass the cap.
    if await _active_count(session, actor.user_id, o.id) >= craftsman.max_active_orders:
        raise exc.WorkloadCapReached(limit=craftsman.max_active_orders)
    o.craftsman_id = actor.user_id
    o.accepted_at = now
    return {}


async def _assign(session, o, actor, now, settings, body, craftsman):  # type: ignore[no-untyped-def]
    target = await craftsman_of(session, body.craftsman_id, lock=True)
    user = await session.get(User, body.craftsman_id) if target else None
    if (
        target is None
        or user is None
        or not user.is_active
        or target.user_id in (o.resident_id, o.requested_by_id)
        or not policies.fits(policies.craftsman_facts(target), policies.facts_of(o))
    ):
        raise exc.CraftsmanNotEligible()
    if await _active_count(session, target.user_id, o.id) >= target.max_active_orders:
        raise exc.WorkloadCapReached(limit=target.max_active_orders)
    previous = o.craftsman_id
    o.craftsman_id = target.user_id
    o.accepted_at = now
    o.scheduled_for = None
    return {"note": body.note, "craftsman_id": target.user_id, "previous_craftsman_id": previous}


async def _hand_back(session, o, actor, now, settings, body, craftsman):  # type: ignore[no-untyped-def]
    previous = o.craftsman_id
    o.craftsman_id = None
    o.accepted_at = None
    o.scheduled_for = None
    o.handback_count += 1
    return {"note": _note(body), "previous_craftsman_id": previous}


async def _schedule(session, o, actor, now, settings, body, craftsman):  # type: ignore[no-untyped-def]
    if body.visit_at <= now:
        raise exc.ScheduleInPast()
    previous = o.scheduled_for
    o.scheduled_for = body.visit_at
    return {
        "note": body.note,
        "visit_at": body.visit_at.isoformat(),
        "previous": previous.isoformat() if previous else None,
    }


async def _craftsman_no_show(session, o, actor, now, settings, body, craftsman):  # type: ignore[no-untyped-def]
    if o.scheduled_for is None or now < o.scheduled_for + timedelta(
        minutes=settings.repair.no_show_grace_minutes
    ):
        raise exc.TooEarlyForNoShow()
    previous = o.craftsman_id
    o.craftsman_id = None
    o.accepted_at = None
    o.scheduled_for = None
    o.no_show_count += 1
    return {"note": _note(body), "previous_craftsman_id": previous}


async def _resident_absent(session, o, actor, now, settings, body, craftsman):  # type: ignore[no-untyped-def]
    if o.scheduled_for is None or now < o.scheduled_for:
        raise exc.TooEarlyForNoShow()
    missed = o.scheduled_for
    o.scheduled_for = None
    o.absent_count += 1
    return {"note": _note(body), "missed_visit_at": missed.isoformat()}


async def _arrive(session, o, actor, now, settings, body, craftsman):  # type: ignore[no-untyped-def]
    o.arrived_at = now
    return {"note": _note(body)}


async def _quote(session, o, actor, now, settings, body, craftsman):  # type: ignore[no-untyped-def]
    policy, _ = await get_policy(session, settings, o.subdistrict_id)
    q = pricing.quote(
        policy,
        o.care_category,
        await _priced_items(session, o.subdistrict_id, body.items),
        _materials(body.materials),
    )
    o.quote_version += 1
    for i, line in enumerate(q.lines):
        session.add(
            RepairQuoteLine(
                order_id=o.id,
                quote_version=o.quote_version,
                position=i,
                kind=line.kind,
                price_item_id=line.price_item_id,
                price_version=line.price_version,
                name=line.name,
                unit=line.unit,
                quantity=line.quantity,
                list_unit_cents=line.list_unit_cents,
                list_amount_cents=line.list_amount_cents,
                market_amount_cents=line.market_amount_cents,
                discount_pct=line.discount_pct,
                subsidy_cents=line.subsidy_cents,
                due_cents=line.due_cents,
                rule=line.rule,
            )
        )
    o.quoted_at = now
    o.list_total_cents = q.list_total_cents
    o.market_total_cents = q.market_total_cents
    o.subsidy_cents = q.subsidy_cents
    o.due_cents = q.due_cents
    return {
        "note": body.note,
        "quote_version": o.quote_version,
        "due_cents": q.due_cents,
        "subsidy_cents": q.subsidy_cents,
    }


async def _confirm_quote(session, o, actor, now, settings, body, craftsman):  # type: ignore[no-untyped-def]
    o.confirmed_at = now
    return {
        "quote_version": o.quote_version,
        "due_cents": o.due_cents,
        "on_behalf": actor.user_id not in _household(o),
    }


async def _decline_quote(session, o, actor, now, settings, body, craftsman):  # type: ignore[no-untyped-def]
    o.cancelled_at = now
    o.cancel_reason = _note(body) or "居民未接受报价"
    return {"note": o.cancel_reason, "quote_version": o.quote_version}


async def _complete(session, o, actor, now, settings, body, craftsman):  # type: ignore[no-untyped-def]
    photos = await _photos(session, body.photo_ids, actor.user_id)
    await attach_photos(session, RepairPhoto, {"order_id": o.id}, photos, "after")
    o.completed_at = now
    return {"note": body.note, "photos": photos}


async def _settle(session, o, actor, now, settings, body, craftsman):  # type: ignore[no-untyped-def]
    due = o.due_cents or 0
    if body.amount_cents != due:
        raise exc.AmountMismatch(due_cents=due, amount_cents=body.amount_cents)
    if (due == 0) != (body.method is PaymentMethod.FREE) or (
        body.method is PaymentMethod.WECHAT and not body.reference
    ):
        raise exc.PaymentMethodInvalid()
    o.paid_cents = body.amount_cents
    o.payment_method = body.method
    o.payment_reference = body.reference
    o.settled_at = now
    return {"amount_cents": body.amount_cents, "method": body.method.value, "subsidy_cents": o.subsidy_cents}


async def _rate(session, o, actor, now, settings, body, craftsman):  # type: ignore[no-untyped-def]
    o.rating = body.rating
    o.rating_comment = body.comment
    o.rated_at = now
    return {"rating": body.rating}


async def _cancel(session, o, actor, now, settings, body, craftsman):  # type: ignore[no-untyped-def]
    f = policies.facts_of(o)
    if not policies.is_staff_for(actor, f) and o.status not in state.RESIDENT_MAY_CANCEL:
        raise exc.ResidentMayNotCancelNow()
    o.cancelled_at = now
    o.cancel_reason = body.reason
    return {
        "note": body.reason,
        "by_staff": policies.is_staff_for(actor, f) and not policies.is_household(actor, f),
    }


_HANDLERS = {
    A.ACCEPT: _accept,
    A.ASSIGN: _assign,
    A.HAND_BACK: _hand_back,
    A.SCHEDULE: _schedule,
    A.CRAFTSMAN_NO_SHOW: _craftsman_no_show,
    A.RESIDENT_ABSENT: _resident_absent,
    A.ARRIVE: _arrive,
    A.QUOTE: _quote,
    A.CONFIRM_QUOTE: _confirm_quote,
    A.DECLINE_QUOTE: _decline_quote,
    A.COMPLETE: _complete,
    A.SETTLE: _settle,
    A.RATE: _rate,
    A.CANCEL: _cancel,
}

# Who hears about each step (besides the person who took it), and what they are told.
_NOTICES: dict[RepairAction, tuple[str, str]] = {
    A.ACCEPT: ("household", "师傅已接单，稍后会联系您约上门时间"),
    A.ASSIGN: ("household+craftsman", "维修单已安排师傅"),
    A.HAND_BACK: ("household+admins", "师傅退回了维修单，正在重新安排"),
    A.SCHEDULE: ("household+craftsman", "上门时间已确定"),
    A.CRAFTSMAN_NO_SHOW: ("admins+previous", "师傅未按约上门，维修单已重新派发"),
    A.RESIDENT_ABSENT: ("household", "师傅上门时家中无人，请重新约定时间"),
    A.ARRIVE: ("household", "师傅已到达"),
    A.QUOTE: ("household", "师傅已报价，请确认"),
    A.CONFIRM_QUOTE: ("craftsman", "居民已确认报价，可以开始维修"),
    A.DECLINE_QUOTE: ("craftsman", "居民没有接受报价，维修单已取消"),
    A.COMPLETE: ("household", "维修已完成，请结算并评价"),
    A.SETTLE: ("household", "维修单已结算，请为师傅评价"),
    A.RATE: ("craftsman", "居民已评价"),
    A.CANCEL: ("household+craftsman", "维修单已取消"),
}


async def _after(
    session: AsyncSession,
    o: RepairOrder,
    action: RepairAction,
    actor: Actor,
    now: datetime,
    extra: dict[str, Any],
) -> None:
    who, title = _NOTICES[action]
    users: list[uuid.UUID | None] = []
    if "household" in who:
        users += _household(o)
    if "craftsman" in who:
        users.append(o.craftsman_id)
    if "previous" in who:
        users.append(extra.get("previous_craftsman_id"))
    if "admins" in who:
        users += await role_holder_ids(session, Role.COMMUNITY_ADMIN, community_id=o.community_id)
    when = {"scheduled_at": o.scheduled_for.isoformat()} if o.scheduled_for else {}
    await _notify(
        session, o, users, kind=f"repair.{action.value}", title=title, now=now, skip=actor.user_id, **when
    )
    if action in (A.HAND_BACK, A.CRAFTSMAN_NO_SHOW):
        await _notify(
            session,
            o,
            await _fitting_craftsmen(session, o),
            kind="repair.new",
            title="新的乐修匠维修单",
            now=now,
            skip=extra.get("previous_craftsman_id"),
        )


# --- lists ------------------------------------------------------------------------------


async def list_orders(
    session: AsyncSession,
    *,
    actor: Actor,
    view: str,
    statuses: list[RepairStatus] | None,
    community_id: uuid.UUID | None,
    category: RepairCategory | None,
    cursor: str | None,
    limit: int,
) -> tuple[list[RepairOrder], str | None]:
    """mine: my household's orders; open: orders waiting that fit me (craftsman); assigned: my work
    (craftsman); all: every order where I am staff."""
    stmt: Select[Any] = select(RepairOrder)
    if view == "mine":
        stmt = stmt.where(
            or_(RepairOrder.resident_id == actor.user_id, RepairOrder.requested_by_id == actor.user_id)
        )
    elif view == "assigned":
        stmt = stmt.where(RepairOrder.craftsman_id == actor.user_id)
    elif view == "open":
        c = await craftsman_of(session, actor.user_id) if Role.CRAFTSMAN in actor.roles else None
        if c is None or not c.is_active:
            raise exc.NotACraftsman()
        stmt = stmt.where(
            RepairOrder.status == S.REQUESTED,
            RepairOrder.subdistrict_id == c.subdistrict_id,
            RepairOrder.category.in_([RepairCategory(s) for s in c.skills]),
        )
        if c.community_ids:
            stmt = stmt.where(RepairOrder.community_id.in_([uuid.UUID(x) for x in c.community_ids]))
    else:  # all
        if not actor.is_admin:
            raise exc.ScopeForbidden()
        if not actor.is_superadmin:
            stmt = stmt.where(
                or_(
                    RepairOrder.subdistrict_id.in_(actor.subdistrict_ids),
                    RepairOrder.community_id.in_(actor.community_ids),
                )
            )
    if statuses:
        stmt = stmt.where(RepairOrder.status.in_(statuses))
    if community_id is not None:
        stmt = stmt.where(RepairOrder.community_id == community_id)
    if category is not None:
        stmt = stmt.where(RepairOrder.category == category)
    return await paginate(
        session,
        stmt,
        columns=[RepairOrder.requested_at, RepairOrder.id],
        cursor=cursor,
        limit=limit,
        descending=view != "open",  # the pool oldest first, everything else newest first
    )
