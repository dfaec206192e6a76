"""随手拍: reporting, routing to a grid, the lifecycle actions and their timeline and notifications."""

import math
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.permissions import Actor, Role, administers
from app.core import numbering
from app.core.clock import Clock
from app.core.config import Settings
from app.core.pagination import paginate_buckets
from app.core.timeline import append_event, plain
from app.media.models import Photo
from app.media.service import attach_photos, own_photos
from app.notification.service import notify
from app.org import exceptions as org_exc
from app.org import geo
from app.org.models import Building, Category, Community, Department, Grid
from app.org.service import GridIndexCache
from app.ticket import exceptions as exc
from app.ticket import policies, sla, state
from app.ticket.models import (
    PointsEntry,
    Ticket,
    TicketEvent,
    TicketPhoto,
    TicketSupporter,
)
from app.ticket.schemas import (
    TicketCreate,
)
from app.ticket.state import TicketAction, TicketStatus
from app.user.models import GridMember, User, UserRole
from app.user.service import role_holder_ids

A = TicketAction


facts = policies.facts_of


# --- recipients -------------------------------------------------------------------------


async def grid_worker_ids(session: AsyncSession, t: Ticket) -> list[uuid.UUID]:
    """Grid workers of the ticket's grid, or of its community for the duty queue."""
    if t.grid_id is None:
        return await role_holder_ids(session, Role.GRID_WORKER, community_id=t.community_id)
    stmt = (
        select(GridMember.user_id)
        .join(User, User.id == GridMember.user_id)
        .where(GridMember.grid_id == t.grid_id, User.is_active.is_(True))
    )
    return sorted(set(await session.scalars(stmt)))


async def _notify_ticket(
    session: AsyncSession,
    t: Ticket,
    users: Iterable[uuid.UUID | None],
    *,
    kind: str,
    title: str,
    now: datetime,
    skip: uuid.UUID | None = None,
    **data: Any,
) -> None:
    recipients = [u for u in users if u is not None and u != skip]
    await notify(
        session,
        user_ids=recipients,
        kind=kind,
        title=title,
        now=now,
        ticket_id=t.id,
        body=f"{t.number} {t.description[:40]}",
        data={"number": t.number, "status": t.status.value, "grid_id": t.grid_id, **data},
    )


# --- numbers, routing, photos -----------------------------------------------------------


async def _route(
    session: AsyncSession, *, cache: GridIndexCache, settings: Settings, reporter: User, data: TicketCreate
) -> tuple[Community, Grid | None, str, tuple[float, float] | None, Building | None]:
    point = None
    if data.location is not None:
        point = geo.to_wgs84(data.location.lat, data.location.lng, data.location.coord_system)
    building = None
    if data.building_id is not None:
        building = await session.get(Building, data.building_id)
        if building is None:
            raise org_exc.BuildingNotFound()
    if point is not None:
        match = (await cache.get(session)).locate(*point, max_distance_m=settings.geo.nearest_grid_max_meters)
        if match is not None:
            grid = await session.get(Grid, match.grid_id)
            assert grid is not None
            community = await session.get(Community, grid.community_id)
            assert community is not None
            return community, grid, "grid" if match.inside else "nearest_grid", point, building
    if building is not None:
        community = await session.get(Community, building.community_id)
        grid = await session.get(Grid, building.grid_id) if building.grid_id else None
        assert community is not None
        return community, grid, "building", point, building
    if reporter.home_community_id is not None:
        community = await session.get(Community, reporter.home_community_id)
        assert community is not None
        return community, None, "duty_queue", point, None
    raise exc.NoGridForLocation()


async def _own_photos(session: AsyncSession, photo_ids: list[uuid.UUID], owner_id: uuid.UUID) -> list[Photo]:
    return await own_photos(
        session, photo_ids, owner_id, missing=exc.PhotoNotFound, not_owned=exc.PhotoNotYours
    )


def _event(
    session: AsyncSession,
    t: Ticket,
    *,
    action: str,
    now: datetime,
    actor_id: uuid.UUID | None,
    from_status: TicketStatus | None = None,
    to_status: TicketStatus | None = None,
    note: str | None = None,
    photos: list[Photo] = (),
    point: tuple[float, float] | None = None,
    **data: Any,
) -> None:
    append_event(
        session,
        t,
        TicketEvent,
        ticket_id=t.id,
        action=action,
        from_status=from_status,
        to_status=to_status,
        actor_id=actor_id,
        note=note,
        photo_ids=[str(p.id) for p in photos],
        lat=point[0] if point else None,
        lng=point[1] if point else None,
        data=plain(data),
        at=now,
    )


# --- reporting --------------------------------------------------------------------------


async def create_ticket(
    session: AsyncSession,
    *,
    actor: Actor,
    reporter: User,
    clock: Clock,
    settings: Settings,
    cache: GridIndexCache,
    data: TicketCreate,
    screened: tuple[str, str | None] = ("visible", None),
) -> tuple[Ticket, list[tuple[Ticket, float]]]:
    """File a report, route it to a grid and start the 10-minute clock; returns it and possible duplicates.

    `screened` is the content check of the description (app/wechat/moderation.py): held text is
    handled like any report but stays off the public board until staff review it."""
    now = clock.now()
    if data.on_behalf is not None and not policies.may_report_for_others(actor):
        raise exc.ReportForOthersNotAllowed()
    community, grid, routed_by, point, building = await _route(
        session, cache=cache, settings=settings, reporter=reporter, data=data
    )
    category = await session.get(Category, data.category_id)
    if category is None or not category.is_active or category.subdistrict_id != community.subdistrict_id:
        raise exc.UnknownCategory()
    photos = await _own_photos(session, data.photo_ids, reporter.id)
    due = sla.deadlines(
        submitted_at=now, respond_minutes=category.respond_minutes, resolve_hours=category.resolve_hours
    )
    ticket = Ticket(
        id=uuid.uuid4(),
        number=await numbering.next_number(session, "T", now),
        subdistrict_id=community.subdistrict_id,
        community_id=community.id,
        grid_id=grid.id if grid else None,
        category_id=category.id,
        building_id=building.id if building else None,
        priority=category.priority,
        description=data.description,
        lat=point[0] if point else None,
        lng=point[1] if point else None,
        address=data.address or (building.name if building else ""),
        routed_by=routed_by,
        reporter_id=reporter.id,
        on_behalf_name=data.on_behalf.name if data.on_behalf else None,
        on_behalf_phone=data.on_behalf.phone if data.on_behalf else None,
        consent_note=data.on_behalf.consent_note if data.on_behalf else None,
        status=TicketStatus.SUBMITTED,
        status_changed_at=now,
        submitted_at=now,
        respond_by=due.respond_by,
        resolve_by=due.resolve_by,
        next_due_at=due.respond_by,
        moderation=screened[0],
        sec_trace_id=screened[1],
    )
    session.add(ticket)
    # No flush yet: the unit of work inserts the ticket before its event, photos and
    # notifications (their `ticket` relationships order the inserts), and the ticket row goes in
    # with its event count already set.
    await attach_photos(session, TicketPhoto, {"ticket_id": ticket.id}, photos, "report")
    _event(
        session,
        ticket,
        action="create",
        now=now,
        actor_id=reporter.id,
        to_status=TicketStatus.SUBMITTED,
        photos=photos,
        point=point,
        routed_by=routed_by,
    )
    workers = await grid_worker_ids(session, ticket)
    admins = [] if grid else await role_holder_ids(session, Role.COMMUNITY_ADMIN, community_id=community.id)
    await _notify_ticket(
        session,
        ticket,
        [*workers, *admins],
        kind="ticket.new",
        title="新的随手拍问题",
        now=now,
        skip=reporter.id,
    )
    duplicates = await possible_duplicates(session, ticket=ticket, settings=settings, now=now)
    return ticket, duplicates


async def possible_duplicates(
    session: AsyncSession, *, ticket: Ticket, settings: Settings, now: datetime
) -> list[tuple[Ticket, float]]:
    """Open tickets of the same category reported nearby in the last day (nearest first)."""
    if ticket.lat is None or ticket.lng is None:
        return []
    radius = settings.ticket.duplicate_radius_meters
    dlat = radius / 110_574.0
    dlng = radius / (111_320.0 * max(math.cos(math.radians(ticket.lat)), 0.01))
    # Candidates come from the index alone (id and position), the most recent first so that a
    # burst of reports in one place stops the scan early; only the nearest few are loaded.
    candidates = (
        await session.execute(
            select(Ticket.id, Ticket.lat, Ticket.lng)
            .where(
                Ticket.category_id == ticket.category_id,
                Ticket.submitted_at >= now - timedelta(hours=settings.ticket.duplicate_window_hours),
                Ticket.lat.between(ticket.lat - dlat, ticket.lat + dlat),
                Ticket.lng.between(ticket.lng - dlng, ticket.lng + dlng),
                Ticket.status.in_(state.OPEN),
                Ticket.moderation == "visible",
                Ticket.id != ticket.id,
            )
            .order_by(Ticket.submitted_at.desc())
            .limit(100)
        )
    ).all()
    near = sorted(
        (d, tid)
        for tid, lat, lng in candidates
        if (d := sla.haversine_m(ticket.lat, ticket.lng, lat, lng)) <= radius
    )[:10]
    if not near:
        return []
    loaded = {
        t.id: t for t in await session.scalars(select(Ticket).where(Ticket.id.in_([i for _, i in near])))
    }
    return [(loaded[tid], round(d, 1)) for d, tid in near if tid in loaded]


async def support(session: AsyncSession, *, actor: Actor, clock: Clock, ticket_id: uuid.UUID) -> Ticket:
    """ "+1" a ticket instead of filing the same problem again (idempotent per user)."""
    ticket = await get_for_update(session, ticket_id)
    if ticket.reporter_id == actor.user_id:
        raise exc.CannotSupportOwn()
    if ticket.status in state.TERMINAL:
        raise exc.TicketFinished(status=ticket.status.value)
    if await session.get(TicketSupporter, (ticket.id, actor.user_id)) is None:
        now = clock.now()
        session.add(TicketSupporter(ticket_id=ticket.id, user_id=actor.user_id, at=now))
        ticket.supporter_count += 1
        _event(session, ticket, action="support", now=now, actor_id=actor.user_id)
        await session.flush()
    return ticket


# --- the lifecycle ----------------------------------------------------------------------


async def get_for_update(session: AsyncSession, ticket_id: uuid.UUID) -> Ticket:
    """Load a ticket locked for this transaction (FOR UPDATE on PostgreSQL; SQLite writers are
    already serialised by BEGIN IMMEDIATE)."""
    ticket = await session.scalar(
        select(Ticket)
        .where(Ticket.id == ticket_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if ticket is None:
        raise exc.TicketNotFound()
    return ticket


async def apply_action(
    session: AsyncSession,
    *,
    actor: Actor,
    clock: Clock,
    settings: Settings,
    ticket_id: uuid.UUID,
    action: TicketAction,
    body: Any = None,
) -> Ticket:
    """Take one lifecycle action: lock, check who and when, move, stamp, record, notify."""
    ticket = await get_for_update(session, ticket_id)
    f = facts(ticket)
    if not policies.can_apply(actor, action, f):
        if not policies.can_view(actor, f):
            raise exc.TicketNotFound()
        raise exc.ActionNotAllowed(action=action.value)
    try:
        to_status = state.next_status(ticket.status, action)
    except state.InvalidTransition:
        # Finished first: a closed ticket still has its assignee, but is not "already claimed".
        if ticket.status in state.TERMINAL:
            raise exc.TicketFinished(status=ticket.status.value, action=action.value) from None
        if action is A.CLAIM and ticket.assignee_id is not None:
            raise exc.AlreadyClaimed() from None
        raise exc.InvalidTransition(status=ticket.status.value, action=action.value) from None
    now = clock.now()
    from_status = ticket.status
    handler = _HANDLERS[action]
    event_extra: dict[str, Any] = await handler(session, ticket, actor, now, settings, body)
    ticket.status = to_status
    ticket.status_changed_at = now
    if action in state.RESPONDING_ACTIONS and ticket.responded_at is None:
        ticket.responded_at = now
        ticket.responded_by_id = actor.user_id
    _event(
        session,
        ticket,
        action=action.value,
        now=now,
        actor_id=actor.user_id,
        from_status=from_status,
        to_status=to_status,
        **event_extra,
    )
    refresh_due(ticket)
    await session.flush()
    await _after(session, ticket, action, actor, now, event_extra, settings)
    return ticket


def refresh_due(t: Ticket) -> None:
    """The deadline the ticket is working towards now (what queues sort by), or None when done."""
    if t.status in state.AWAITING_RESPONSE:
        t.next_due_at = t.respond_by
    elif t.status in state.OPEN:
        t.next_due_at = t.resolve_by
    else:
        t.next_due_at = None


def _note(body: Any) -> str | None:
    return getattr(body, "note", None) or getattr(body, "reason", None)


async def _claim(session, t, actor, now, settings, body):  # type: ignore[no-untyped-def]
    t.assignee_id = actor.user_id
    return {}


async def _assign(session, t, actor, now, settings, body):  # type: ignore[no-untyped-def]
    worker = await session.scalar(
        select(UserRole.user_id)
        .join(User, User.id == UserRole.user_id)
        .where(
            UserRole.user_id == body.worker_id,
            UserRole.role == Role.GRID_WORKER,
            UserRole.community_id == t.community_id,
            User.is_active.is_(True),
        )
    )
    if worker is None:
        raise exc.WorkerNotEligible()
    previous = t.assignee_id
    t.assignee_id = body.worker_id
    return {"note": body.note, "worker_id": body.worker_id, "previous_assignee_id": previous}


async def _arrive(session, t, actor, now, settings, body):  # type: ignore[no-untyped-def]
    point = geo.to_wgs84(body.lat, body.lng, body.coord_system)
    t.arrived_at = now
    if t.lat is not None and t.lng is not None:
        t.arrival_distance_m = round(sla.haversine_m(point[0], point[1], t.lat, t.lng), 1)
        t.arrival_far = t.arrival_distance_m > settings.ticket.arrival_far_meters
    return {"note": body.note, "point": point, "distance_m": t.arrival_distance_m, "far": t.arrival_far}


async def _resolve(session, t, actor, now, settings, body):  # type: ignore[no-untyped-def]
    photos = await _own_photos(session, body.photo_ids, actor.user_id)
    await attach_photos(session, TicketPhoto, {"ticket_id": t.id}, photos, "after")
    t.resolved_at = now
    return {"note": body.note, "photos": photos}


async def _escalate(session, t, actor, now, settings, body):  # type: ignore[no-untyped-def]
    dept = await session.get(Department, body.department_id)
    if dept is None or dept.subdistrict_id != t.subdistrict_id:
        raise exc.DepartmentNotEligible()
    t.department_id = dept.id
    t.escalated_at = now
    t.escalation_count += 1
    if t.assignee_id is None:
        t.assignee_id = actor.user_id  # whoever blew the whistle follows it up for the community
    return {"note": body.note, "department_id": dept.id}


async def _department_resolve(session, t, actor, now, settings, body):  # type: ignore[no-untyped-def]
    photos = await _own_photos(session, body.photo_ids, actor.user_id)
    await attach_photos(session, TicketPhoto, {"ticket_id": t.id}, photos, "after")
    return {"note": body.note, "photos": photos}


async def _recall(session, t, actor, now, settings, body):  # type: ignore[no-untyped-def]
    department = t.department_id
    t.department_id = None
    return {"note": _note(body), "department_id": department}


async def _merge(session, t, actor, now, settings, body):  # type: ignore[no-untyped-def]
    target = await session.scalar(select(Ticket).where(Ticket.id == body.into_ticket_id).with_for_update())
    if (
        target is None
        or target.id == t.id
        or target.community_id != t.community_id
        or target.status in state.TERMINAL
    ):
        raise exc.MergeTargetInvalid()
    t.merged_into_id = target.id
    supporters = set(
        await session.scalars(select(TicketSupporter.user_id).where(TicketSupporter.ticket_id == t.id))
    )
    supporters.add(t.reporter_id)
    existing = set(
        await session.scalars(select(TicketSupporter.user_id).where(TicketSupporter.ticket_id == target.id))
    )
    new = sorted(supporters - existing - {target.reporter_id})
    for user_id in new:
        session.add(TicketSupporter(ticket_id=target.id, user_id=user_id, at=now))
    target.supporter_count += len(new)
    _event(
        session,
        target,
        action="merged_in",
        now=now,
        actor_id=actor.user_id,
        note=_note(body),
        merged_ticket_id=t.id,
        merged_number=t.number,
    )
    return {"note": _note(body), "into_ticket_id": target.id}


async def _confirm(session, t, actor, now, settings, body):  # type: ignore[no-untyped-def]
    t.rating = body.rating
    t.rating_comment = body.comment
    t.closed_at = now
    return {"note": body.comment, "rating": body.rating}


async def _reopen(session, t, actor, now, settings, body):  # type: ignore[no-untyped-def]
    resolved_at = t.resolved_at or t.status_changed_at
    if now > resolved_at + timedelta(hours=settings.ticket.reopen_window_hours):
        raise exc.ReopenWindowPassed()
    category = await session.get(Category, t.category_id)
    assert category is not None
    t.reopen_count += 1
    t.resolve_by = now + timedelta(hours=category.resolve_hours)
    t.resolve_alert_level = 0
    t.resolve_breached_at = None
    t.resolved_at = None
    t.closed_at = None
    t.rating = None
    t.rating_comment = None
    return {"note": _note(body)}


async def _nothing(session, t, actor, now, settings, body):  # type: ignore[no-untyped-def]
    return {"note": _note(body)}


async def _auto_close(session, t, actor, now, settings, body):  # type: ignore[no-untyped-def]
    t.closed_at = now
    return {"note": "居民未在规定时间内确认，系统自动关闭"}


_HANDLERS = {
    A.CLAIM: _claim,
    A.ASSIGN: _assign,
    A.ARRIVE: _arrive,
    A.RESOLVE: _resolve,
    A.ESCALATE: _escalate,
    A.ACCEPT_ESCALATION: _nothing,
    A.DEPARTMENT_RESOLVE: _department_resolve,
    A.RECALL: _recall,
    A.REJECT: _nothing,
    A.MERGE: _merge,
    A.CONFIRM: _confirm,
    A.REOPEN: _reopen,
    A.AUTO_CLOSE: _auto_close,
}


async def _after(
    session: AsyncSession,
    t: Ticket,
    action: TicketAction,
    actor: Actor,
    now: datetime,
    extra: dict[str, Any],
    settings: Settings,
) -> None:
    """Notifications and credit that follow an action."""
    me = actor.user_id
    community_admins = (
        await role_holder_ids(session, Role.COMMUNITY_ADMIN, community_id=t.community_id)
        if action in (A.ESCALATE, A.ACCEPT_ESCALATION, A.DEPARTMENT_RESOLVE, A.REOPEN)
        else []
    )
    if action in (A.CLAIM, A.ASSIGN):
        await _notify_ticket(
            session,
            t,
            [t.reporter_id],
            kind="ticket.claimed",
            title="您反映的问题已有人接单",
            now=now,
            skip=me,
        )
        if action is A.ASSIGN:
            await _notify_ticket(
                session,
                t,
                [t.assignee_id],
                kind="ticket.assigned",
                title="您有新派发的工单",
                now=now,
                skip=me,
            )
    elif action is A.ARRIVE:
        await _notify_ticket(
            session, t, [t.reporter_id], kind="ticket.arrived", title="网格员已到达现场", now=now, skip=me
        )
    elif action is A.RESOLVE:
        await _notify_ticket(
            session,
            t,
            [t.reporter_id],
            kind="ticket.resolved",
            title="您反映的问题已处理，请确认",
            now=now,
            skip=me,
        )
        await _award_points(session, t, now, settings.ticket.report_points)
    elif action is A.ESCALATE:
        assert t.department_id is not None
        staff = await role_holder_ids(session, Role.DEPARTMENT_STAFF, department_id=t.department_id)
        workers = await grid_worker_ids(session, t)
        await _notify_ticket(
            session,
            t,
            [*staff, *workers, *community_admins],
            kind="ticket.escalated",
            title="吹哨：请部门报到处理",
            now=now,
            skip=me,
        )
    elif action in (A.ACCEPT_ESCALATION, A.DEPARTMENT_RESOLVE):
        kind, title = (
            ("ticket.department_accepted", "部门已报到")
            if action is A.ACCEPT_ESCALATION
            else ("ticket.department_done", "部门已处理完毕，请社区销号")
        )
        await _notify_ticket(
            session, t, [t.assignee_id, *community_admins], kind=kind, title=title, now=now, skip=me
        )
    elif action is A.RECALL:
        dept = extra.get("department_id")
        staff = await role_holder_ids(session, Role.DEPARTMENT_STAFF, department_id=dept) if dept else []
        await _notify_ticket(
            session,
            t,
            [*staff, t.assignee_id],
            kind="ticket.recalled",
            title="社区已收回吹哨工单",
            now=now,
            skip=me,
        )
    elif action in (A.REJECT, A.MERGE):
        await _notify_ticket(
            session,
            t,
            [t.reporter_id],
            kind=f"ticket.{action.value}d" if action is A.MERGE else "ticket.rejected",
            title="您反映的问题已合并到其他工单" if action is A.MERGE else "您反映的问题未予受理",
            now=now,
            skip=me,
        )
    elif action is A.CONFIRM:
        await _notify_ticket(
            session, t, [t.assignee_id], kind="ticket.rated", title="居民已确认并评价", now=now, skip=me
        )
    elif action is A.REOPEN:
        await _notify_ticket(
            session,
            t,
            [t.assignee_id, *community_admins],
            kind="ticket.reopened",
            title="居民重新打开了工单",
            now=now,
            skip=me,
        )


async def _award_points(session: AsyncSession, t: Ticket, now: datetime, points: int) -> None:
    """A part-time grid worker's report that was handled (not rejected, not a duplicate) earns credit."""
    part_time = await session.scalar(
        select(UserRole.id).where(
            UserRole.user_id == t.reporter_id,
            UserRole.role == Role.GRID_WORKER,
            UserRole.is_part_time.is_(True),
        )
    )
    if part_time is None or t.merged_into_id is not None:
        return
    if (
        await session.scalar(
            select(PointsEntry.id).where(PointsEntry.user_id == t.reporter_id, PointsEntry.ticket_id == t.id)
        )
        is None
    ):
        session.add(
            PointsEntry(
                user_id=t.reporter_id, ticket_id=t.id, points=points, reason="verified_report", at=now
            )
        )


# --- reading ----------------------------------------------------------------------------


async def get_ticket(session: AsyncSession, ticket_id: uuid.UUID) -> tuple[Ticket, str]:
    """A ticket with its category's name (one query)."""
    row = (
        await session.execute(
            select(Ticket, Category.name)
            .join(Category, Category.id == Ticket.category_id)
            .where(Ticket.id == ticket_id)
        )
    ).first()
    if row is None:
        raise exc.TicketNotFound()
    return row[0], row[1]


def scope_buckets(actor: Actor) -> list[ColumnElement[bool]] | None:
    """The actor's ticket scopes, one indexed condition each (any of them grants the full view);
    an empty list means everything (superadmin), None means no scope by role."""
    if actor.is_superadmin:
        return []
    buckets: list[ColumnElement[bool]] = [Ticket.subdistrict_id == s for s in sorted(actor.subdistrict_ids)]
    buckets += [Ticket.community_id == c for c in sorted(actor.community_ids)]
    buckets += [Ticket.department_id == d for d in sorted(actor.department_ids)]
    if Role.GRID_WORKER in actor.roles:
        buckets += [Ticket.grid_id == g for g in sorted(actor.grid_ids)]
        buckets += [
            (Ticket.community_id == c) & Ticket.grid_id.is_(None) for c in sorted(actor.worker_community_ids)
        ]
        # Work an admin assigned to them in another grid of the community (policies.can_view).
        buckets.append(Ticket.assignee_id == actor.user_id)
    return buckets or None


def visible_to(actor: Actor) -> Select[tuple[Ticket]] | None:
    """Tickets whose private parts the actor may see, as a query; None if they see none by role."""
    buckets = scope_buckets(actor)
    if buckets is None:
        return None
    return select(Ticket).where(or_(*buckets)) if buckets else select(Ticket)


def ticket_filters(
    *,
    now: datetime,
    statuses: list[TicketStatus] | None = None,
    category_id: uuid.UUID | None = None,
    grid_id: uuid.UUID | None = None,
    community_id: uuid.UUID | None = None,
    overdue: bool | None = None,
    date_from: datetime | None = None,
    date_to: datetime | None = None,
    bbox: tuple[float, float, float, float] | None = None,
) -> list[ColumnElement[bool]]:
    """The list filters shared by the lists and the export; "overdue" means the deadline the
    ticket is working towards now has passed."""
    clauses: list[ColumnElement[bool]] = []
    if statuses:
        clauses.append(Ticket.status.in_(statuses))
    if category_id is not None:
        clauses.append(Ticket.category_id == category_id)
    if grid_id is not None:
        clauses.append(Ticket.grid_id == grid_id)
    if community_id is not None:
        clauses.append(Ticket.community_id == community_id)
    if overdue is True:
        clauses.append(Ticket.next_due_at < now)
    elif overdue is False:
        clauses.append(or_(Ticket.next_due_at.is_(None), Ticket.next_due_at >= now))
    if date_from is not None:
        clauses.append(Ticket.submitted_at >= date_from)
    if date_to is not None:
        clauses.append(Ticket.submitted_at < date_to)
    if bbox is not None:
        min_lat, min_lng, max_lat, max_lng = bbox
        clauses += [Ticket.lat.between(min_lat, max_lat), Ticket.lng.between(min_lng, max_lng)]
    return clauses


async def list_tickets(
    session: AsyncSession,
    *,
    actor: Actor,
    view: str,
    now: datetime,
    statuses: list[TicketStatus] | None,
    category_id: uuid.UUID | None,
    grid_id: uuid.UUID | None,
    community_id: uuid.UUID | None,
    overdue: bool | None,
    date_from: datetime | None,
    date_to: datetime | None,
    bbox: tuple[float, float, float, float] | None,
    cursor: str | None,
    limit: int,
    moderation: str | None = None,
) -> tuple[list[Ticket], str | None]:
    """ "mine" (my reports), "queue" (my grids' open work by deadline) or "all" (staff scope);
    moderation="held" is the staff's review queue of reports the content check held."""
    stmt: Select[tuple[Ticket]] = select(Ticket)
    buckets: list[ColumnElement[bool]] = []
    if view == "mine":
        buckets = [Ticket.reporter_id == actor.user_id]
    else:
        scoped = scope_buckets(actor)
        if scoped is None:
            raise exc.ActionNotAllowed("只有网格员和工作人员可以查看此列表")
        buckets = scoped
        if view == "queue":
            stmt = stmt.where(Ticket.next_due_at.is_not(None))
    stmt = stmt.where(
        *ticket_filters(
            now=now,
            statuses=statuses,
            category_id=category_id,
            grid_id=grid_id,
            community_id=community_id,
            overdue=overdue,
            date_from=date_from,
            date_to=date_to,
            bbox=bbox,
        )
    )
    if moderation is not None:
        stmt = stmt.where(Ticket.moderation == moderation)
    if view == "queue":
        return await paginate_buckets(
            session,
            stmt,
            buckets=buckets,
            columns=[Ticket.next_due_at, Ticket.id],
            cursor=cursor,
            limit=limit,
        )
    return await paginate_buckets(
        session,
        stmt,
        buckets=buckets,
        columns=[Ticket.submitted_at, Ticket.id],
        cursor=cursor,
        limit=limit,
        descending=True,
    )


async def set_photos_public(
    session: AsyncSession, *, actor: Actor, ticket_id: uuid.UUID, public: bool, clock: Clock
) -> Ticket:
    """Staff approve (or withdraw) showing a ticket's photos on the public board."""
    ticket = await get_for_update(session, ticket_id)
    if not administers(actor, facts(ticket).scope):
        raise exc.ActionNotAllowed()
    if ticket.photos_public != public:
        ticket.photos_public = public
        _event(
            session,
            ticket,
            action="photos_public" if public else "photos_private",
            now=clock.now(),
            actor_id=actor.user_id,
        )
        await session.flush()
    return ticket


async def auto_close(session: AsyncSession, *, ticket_id: uuid.UUID, now: datetime) -> bool:
    """Close a resolved ticket the reporter never confirmed (the sweeper's action); False if it
    was no longer resolved when locked (another process or the reporter got there first)."""
    ticket = await get_for_update(session, ticket_id)
    if ticket.status is not TicketStatus.RESOLVED:
        return False
    to_status = state.next_status(ticket.status, A.AUTO_CLOSE)
    extra = await _auto_close(session, ticket, None, now, None, None)
    _event(
        session,
        ticket,
        action=A.AUTO_CLOSE.value,
        now=now,
        actor_id=None,
        from_status=ticket.status,
        to_status=to_status,
        **extra,
    )
    ticket.status = to_status
    ticket.status_changed_at = now
    refresh_due(ticket)
    await session.flush()
    return True
