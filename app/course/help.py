"""手把手 one-on-one help: a learner (or whoever asks for them) asks, a volunteer teacher of the
community claims it (one winner), agrees a time, and marks it done; the time given is credited
as volunteer hours."""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Select, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.permissions import Actor, Role, administers
from app.core import numbering
from app.core.pagination import paginate
from app.core.timeline import append_event, plain
from app.course import exceptions as exc
from app.course import policies
from app.course.models import (
    TOPIC_LABELS,
    Attendee,
    HelpEvent,
    HelpRequest,
    VolunteerRecord,
    VolunteerSource,
)
from app.course.schemas import HelpCompleteIn, HelpCreate, HelpScheduleIn
from app.course.service import _resolve_attendee, own_attendee, scope_of
from app.course.state import (
    HELP_TERMINAL,
    WITH_HELPER,
    HelpAction,
    HelpStatus,
    InvalidTransition,
    next_help_status,
)
from app.notification.service import notify
from app.org.models import Community
from app.user.models import User
from app.user.service import role_holder_ids

H, HA = HelpStatus, HelpAction


def _event(
    session: AsyncSession,
    r: HelpRequest,
    *,
    action: str,
    now: datetime,
    actor_id: uuid.UUID | None,
    from_status: HelpStatus | None = None,
    to_status: HelpStatus | None = None,
    note: str | None = None,
    **data: Any,
) -> None:
    append_event(
        session,
        r,
        HelpEvent,
        request_id=r.id,
        action=action,
        from_status=from_status,
        to_status=to_status,
        actor_id=actor_id,
        note=note,
        data=plain(data),
        at=now,
    )


async def _notify(
    session: AsyncSession,
    r: HelpRequest,
    users: list[uuid.UUID | None],
    *,
    kind: str,
    title: str,
    now: datetime,
    skip: uuid.UUID | None,
) -> None:
    ids = [u for u in users if u is not None and u != skip]
    if ids:
        await notify(
            session,
            user_ids=ids,
            kind=kind,
            title=title,
            now=now,
            body=f"{r.number} {TOPIC_LABELS[r.topic]}：{r.description[:30]}",
            data={"help_request_id": r.id, "number": r.number, "status": r.status.value},
        )


async def _askers(session: AsyncSession, r: HelpRequest) -> list[uuid.UUID | None]:
    learner = await session.scalar(select(Attendee.user_id).where(Attendee.id == r.attendee_id))
    return [learner, r.requested_by_id]


async def create(
    session: AsyncSession, *, actor: Actor, user: User, data: HelpCreate, now: datetime
) -> HelpRequest:
    community_id = data.community_id
    if data.attendee_id is not None:
        known = await session.get(Attendee, data.attendee_id)
        if known is None:
            raise exc.AttendeeNotFound()
        community_id = community_id or known.community_id
    community_id = community_id or user.home_community_id
    community = await session.get(Community, community_id) if community_id else None
    if community is None:
        raise exc.NoCommunity()
    a = await _resolve_attendee(
        session,
        actor=actor,
        user=user,
        attendee_in=data.attendee,
        attendee_id=data.attendee_id,
        relationship=data.relationship,
        consent=data.consent,
        community_id=community.id,
    )
    r = HelpRequest(
        id=uuid.uuid4(),
        number=await numbering.next_number(session, "H", now),
        subdistrict_id=community.subdistrict_id,
        community_id=community.id,
        attendee_id=a.id,
        requested_by_id=user.id,
        relationship_=data.relationship,
        consent=data.consent or (data.attendee is None and data.attendee_id is None),
        topic=data.topic,
        description=data.description,
        preferred_time=data.preferred_time,
        status=H.OPEN,
        requested_at=now,
        event_count=0,
    )
    session.add(r)
    _event(session, r, action="create", now=now, actor_id=user.id, to_status=H.OPEN)
    await session.flush()
    await _notify(
        session,
        r,
        list(await role_holder_ids(session, Role.TEACHER, community_id=community.id)),
        kind="course.help_new",
        title="有老人需要手把手教",
        now=now,
        skip=user.id,
    )
    return r


async def get(session: AsyncSession, request_id: uuid.UUID, *, lock: bool = False) -> HelpRequest:
    stmt = select(HelpRequest).where(HelpRequest.id == request_id)
    if lock:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    r = await session.scalar(stmt)
    if r is None:
        raise exc.HelpRequestNotFound()
    return r


async def _community(session: AsyncSession, r: HelpRequest) -> Community:
    c = await session.get(Community, r.community_id)
    assert c is not None
    return c


async def role_of(session: AsyncSession, actor: Actor, r: HelpRequest) -> str | None:
    """How the caller relates to the request: asker, helper, volunteer (may claim), staff; None
    if they may not see it."""
    if administers(actor, scope_of(await _community(session, r))):
        return "staff"
    if r.helper_id == actor.user_id:
        return "helper"
    if actor.user_id in await _askers(session, r):
        return "asker"
    if policies.may_claim_help(actor, r.community_id):
        return "volunteer"
    return None


async def visible(session: AsyncSession, *, actor: Actor, request_id: uuid.UUID) -> tuple[HelpRequest, str]:
    r = await get(session, request_id)
    role = await role_of(session, actor, r)
    if role is None:
        raise exc.HelpRequestNotFound()
    return r, role


def _move(r: HelpRequest, action: HelpAction) -> HelpStatus:
    try:
        return next_help_status(r.status, action)
    except InvalidTransition:
        raise exc.InvalidTransition(status=r.status.value, action=action.value) from None


async def claim(session: AsyncSession, *, actor: Actor, request_id: uuid.UUID, now: datetime) -> HelpRequest:
    """First volunteer wins: a conditional UPDATE on status = open, so of any number of
    concurrent claims exactly one matches."""
    r = await get(session, request_id)
    if actor.user_id in await _askers(session, r):
        raise exc.ActionNotAllowed(message="不能认领自己提出（或为自己提出）的求助")
    if not policies.may_claim_help(actor, r.community_id):
        if await role_of(session, actor, r) is None:
            raise exc.HelpRequestNotFound()
        raise exc.NotATeacher()
    won = await session.execute(
        update(HelpRequest)
        .where(HelpRequest.id == r.id, HelpRequest.status == H.OPEN)
        .values(status=H.CLAIMED, helper_id=actor.user_id, claimed_at=now)
        .execution_options(synchronize_session=False)
    )
    r = await get(session, request_id, lock=True)
    if won.rowcount != 1:  # type: ignore[attr-defined]
        if r.helper_id == actor.user_id and r.status in WITH_HELPER:
            return r  # a double tap (or a repeat after scheduling): it is already theirs
        if r.status in HELP_TERMINAL:
            raise exc.InvalidTransition(status=r.status.value, action=HA.CLAIM.value)
        raise exc.HelpAlreadyClaimed()
    _event(
        session, r, action="claim", now=now, actor_id=actor.user_id, from_status=H.OPEN, to_status=H.CLAIMED
    )
    await session.flush()
    await _notify(
        session,
        r,
        await _askers(session, r),
        kind="course.help_claimed",
        title="志愿者已认领您的求助",
        now=now,
        skip=None,
    )
    return r


async def _for_helper(session: AsyncSession, actor: Actor, request_id: uuid.UUID) -> HelpRequest:
    r = await get(session, request_id, lock=True)
    role = await role_of(session, actor, r)
    if role is None:
        raise exc.HelpRequestNotFound()
    if role != "helper" and not (role == "staff" and r.helper_id is not None):
        raise exc.ActionNotAllowed()
    return r


async def schedule(
    session: AsyncSession, *, actor: Actor, request_id: uuid.UUID, data: HelpScheduleIn, now: datetime
) -> HelpRequest:
    r = await _for_helper(session, actor, request_id)
    to = _move(r, HA.SCHEDULE)
    if data.scheduled_for <= now:
        raise exc.ScheduleInPast()
    before = r.status
    r.status, r.scheduled_for, r.place = to, data.scheduled_for, data.place
    _event(
        session,
        r,
        action="schedule",
        now=now,
        actor_id=actor.user_id,
        from_status=before,
        to_status=to,
        scheduled_for=data.scheduled_for.isoformat(),
        place=data.place,
    )
    await session.flush()
    await _notify(
        session,
        r,
        await _askers(session, r),
        kind="course.help_scheduled",
        title="手把手帮扶已约好时间",
        now=now,
        skip=None,
    )
    return r


async def complete(
    session: AsyncSession, *, actor: Actor, request_id: uuid.UUID, data: HelpCompleteIn, now: datetime
) -> HelpRequest:
    r = await _for_helper(session, actor, request_id)
    to = _move(r, HA.COMPLETE)
    before = r.status
    r.status, r.done_at, r.minutes, r.outcome = to, now, data.minutes, data.outcome or None
    assert r.helper_id is not None
    session.add(
        VolunteerRecord(
            id=uuid.uuid4(),
            user_id=r.helper_id,
            community_id=r.community_id,
            source=VolunteerSource.HELP,
            source_id=r.id,
            title=f"手把手：{TOPIC_LABELS[r.topic]}",
            minutes=data.minutes,
            served_at=r.scheduled_for if r.scheduled_for and r.scheduled_for <= now else now,
            recorded_at=now,
        )
    )
    _event(
        session,
        r,
        action="complete",
        now=now,
        actor_id=actor.user_id,
        from_status=before,
        to_status=to,
        note=data.outcome or None,
        minutes=data.minutes,
    )
    await session.flush()
    await _notify(
        session,
        r,
        await _askers(session, r),
        kind="course.help_done",
        title="手把手帮扶已完成",
        now=now,
        skip=None,
    )
    return r


async def release(
    session: AsyncSession, *, actor: Actor, request_id: uuid.UUID, now: datetime
) -> HelpRequest:
    """The helper hands it back (or staff take it off them): open for another volunteer."""
    r = await _for_helper(session, actor, request_id)
    to = _move(r, HA.RELEASE)
    before, helper = r.status, r.helper_id
    r.status, r.helper_id, r.claimed_at, r.scheduled_for, r.place = to, None, None, None, None
    _event(
        session,
        r,
        action="release",
        now=now,
        actor_id=actor.user_id,
        from_status=before,
        to_status=to,
        helper_id=helper,
    )
    await session.flush()
    await _notify(
        session,
        r,
        list(await role_holder_ids(session, Role.TEACHER, community_id=r.community_id)),
        kind="course.help_new",
        title="有老人需要手把手教",
        now=now,
        skip=helper,
    )
    return r


async def cancel(
    session: AsyncSession, *, actor: Actor, request_id: uuid.UUID, reason: str, now: datetime
) -> HelpRequest:
    r = await get(session, request_id, lock=True)
    role = await role_of(session, actor, r)
    if role is None:
        raise exc.HelpRequestNotFound()
    if role not in ("asker", "staff"):
        raise exc.ActionNotAllowed()
    to = _move(r, HA.CANCEL)
    before = r.status
    r.status, r.cancelled_at = to, now
    _event(
        session,
        r,
        action="cancel",
        now=now,
        actor_id=actor.user_id,
        from_status=before,
        to_status=to,
        note=reason or None,
    )
    await session.flush()
    await _notify(
        session,
        r,
        [r.helper_id, *await _askers(session, r)],
        kind="course.help_cancelled",
        title="手把手求助已取消",
        now=now,
        skip=actor.user_id,
    )
    return r


async def events(session: AsyncSession, r: HelpRequest) -> list[HelpEvent]:
    return list(
        await session.scalars(select(HelpEvent).where(HelpEvent.request_id == r.id).order_by(HelpEvent.seq))
    )


async def list_requests(
    session: AsyncSession,
    *,
    actor: Actor,
    user: User,
    view: str,
    status: HelpStatus | None,
    community_id: uuid.UUID | None,
    cursor: str | None,
    limit: int,
) -> tuple[list[HelpRequest], str | None]:
    """mine: asked by me or for me; open: waiting in my communities (teachers); assigned: mine to
    help with; all: every request where I am staff."""
    stmt: Select[Any] = select(HelpRequest)
    if view == "mine":
        a = await own_attendee(session, user, create=False)
        who = HelpRequest.requested_by_id == user.id
        stmt = stmt.where(or_(who, HelpRequest.attendee_id == a.id) if a else who)
    elif view == "open":
        if not actor.teacher_community_ids:
            raise exc.NotATeacher()
        stmt = stmt.where(
            HelpRequest.status == H.OPEN, HelpRequest.community_id.in_(actor.teacher_community_ids)
        )
    elif view == "assigned":
        stmt = stmt.where(HelpRequest.helper_id == actor.user_id)
    else:
        if not actor.is_admin:
            raise exc.ScopeForbidden()
        if not actor.is_superadmin:
            stmt = stmt.where(
                or_(
                    HelpRequest.subdistrict_id.in_(actor.subdistrict_ids),
                    HelpRequest.community_id.in_(actor.community_ids),
                )
            )
    if status is not None:
        stmt = stmt.where(HelpRequest.status == status)
    if community_id is not None:
        stmt = stmt.where(HelpRequest.community_id == community_id)
    return await paginate(
        session,
        stmt,
        columns=[HelpRequest.requested_at, HelpRequest.id],
        cursor=cursor,
        limit=limit,
        descending=view != "open",
    )


async def apply_action(
    session: AsyncSession,
    *,
    actor: Actor,
    request_id: uuid.UUID,
    action: HelpAction,
    body: Any,
    now: datetime,
) -> HelpRequest:
    """One lifecycle action on a help request (the body is the action's input model, or None)."""
    if action is HA.CLAIM:
        return await claim(session, actor=actor, request_id=request_id, now=now)
    if action is HA.SCHEDULE:
        return await schedule(session, actor=actor, request_id=request_id, data=body, now=now)
    if action is HA.COMPLETE:
        return await complete(session, actor=actor, request_id=request_id, data=body, now=now)
    if action is HA.RELEASE:
        return await release(session, actor=actor, request_id=request_id, now=now)
    return await cancel(session, actor=actor, request_id=request_id, reason=body.reason, now=now)
