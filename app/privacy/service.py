"""PIPL rights of the person (export, deletion) and the access log as staff read it.

The export holds what we keep about the caller and nothing of anyone else: on a ticket they
reported, only their own timeline entries; on an order they requested for someone else, not that
household's name, phone, address or care category; on a signup they made for someone else, not
the learner. Deletion anonymises the account (app/wechat/privacy.py anonymise, the same erasure as a WeChat
account cancellation): what they reported stays, tied to the anonymous account, so case histories
and statistics remain whole.
"""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, exists, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.permissions import Actor
from app.core import security
from app.core.config import JwtSettings, Settings
from app.core.pagination import paginate
from app.course.models import (
    Attendee,
    Course,
    CourseSession,
    HelpRequest,
    Signup,
    VolunteerRecord,
)
from app.duty.models import WorkerDuty
from app.media.models import Photo
from app.media.service import photo_read
from app.notification.models import Notification
from app.org.models import Building, Community
from app.privacy import audit
from app.privacy import exceptions as exc
from app.privacy.models import AuditAction, AuditLog
from app.privacy.schemas import (
    AuditLogRead,
    DutyExport,
    HelpRequestExport,
    LearnerExport,
    NotificationExport,
    PersonalDataExport,
    PointsExport,
    ProfileExport,
    RepairOrderExport,
    RoleExport,
    SignupExport,
    SubscriptionExport,
    SupportExport,
    TicketExport,
    TimelineEntryExport,
    VolunteerRecordExport,
    WeChatExport,
)
from app.repair.models import RepairEvent, RepairOrder
from app.ticket.models import PointsEntry, Ticket, TicketEvent, TicketPhoto, TicketSupporter
from app.ticket.public import mask_phones_in_text
from app.ticket.views import category_names
from app.user.models import GridMember, User, UserIdentity, UserRole
from app.user.service import WECHAT_PROVIDER
from app.wechat.models import SubscriptionCredit
from app.wechat.privacy import anonymise

# --- export -------------------------------------------------------------------------------


def _entry(e: Any) -> TimelineEntryExport:
    return TimelineEntryExport(
        action=e.action,
        from_status=e.from_status,
        to_status=e.to_status,
        note=e.note,
        photo_ids=[uuid.UUID(p) for p in e.photo_ids or []],
        at=e.at,
    )


async def _profile(session: AsyncSession, user: User) -> ProfileExport:
    grants = await session.scalars(
        select(UserRole).where(UserRole.user_id == user.id).order_by(UserRole.role, UserRole.id)
    )
    grids = await session.scalars(
        select(GridMember.grid_id).where(GridMember.user_id == user.id).order_by(GridMember.grid_id)
    )
    community = await session.get(Community, user.home_community_id) if user.home_community_id else None
    building = await session.get(Building, user.home_building_id) if user.home_building_id else None
    return ProfileExport(
        id=user.id,
        display_name=user.display_name,
        username=user.username,
        phone=user.phone,
        phone_verified_at=user.phone_verified_at,
        home_community_id=user.home_community_id,
        home_community_name=community.name if community else None,
        home_building_id=user.home_building_id,
        home_building_name=building.name if building else None,
        address=user.address,
        care_category=user.care_category,
        is_active=user.is_active,
        roles=[RoleExport.model_validate(g) for g in grants],
        grid_ids=list(grids),
        created_at=user.created_at,
        last_login_at=user.last_login_at,
    )


async def _tickets(session: AsyncSession, uid: uuid.UUID) -> list[TicketExport]:
    tickets = list(
        await session.scalars(
            select(Ticket).where(Ticket.reporter_id == uid).order_by(Ticket.submitted_at, Ticket.id)
        )
    )
    if not tickets:
        return []
    ids = [t.id for t in tickets]
    names = await category_names(session, {t.category_id for t in tickets})
    entries: dict[uuid.UUID, list[TimelineEntryExport]] = {i: [] for i in ids}
    for e in await session.scalars(
        select(TicketEvent)
        .where(TicketEvent.ticket_id.in_(ids), TicketEvent.actor_id == uid)
        .order_by(TicketEvent.ticket_id, TicketEvent.seq)
    ):
        entries[e.ticket_id].append(_entry(e))
    photos: dict[uuid.UUID, list[uuid.UUID]] = {i: [] for i in ids}
    for ticket_id, photo_id in await session.execute(
        select(TicketPhoto.ticket_id, TicketPhoto.photo_id)
        .join(Photo, Photo.id == TicketPhoto.photo_id)
        .where(TicketPhoto.ticket_id.in_(ids), Photo.owner_id == uid)
        .order_by(TicketPhoto.ticket_id, TicketPhoto.position)
    ):
        photos[ticket_id].append(photo_id)
    return [
        TicketExport(
            id=t.id,
            number=t.number,
            status=t.status,
            category_name=names.get(t.category_id, ""),
            description=t.description,
            address=t.address,
            lat=t.lat,
            lng=t.lng,
            on_behalf=bool(t.on_behalf_name),
            submitted_at=t.submitted_at,
            resolved_at=t.resolved_at,
            closed_at=t.closed_at,
            rating=t.rating,
            rating_comment=t.rating_comment,
            photo_ids=photos[t.id],
            timeline=entries[t.id],
        )
        for t in tickets
    ]


async def _supported(session: AsyncSession, uid: uuid.UUID) -> list[SupportExport]:
    rows = await session.execute(
        select(TicketSupporter.ticket_id, Ticket.number, TicketSupporter.at)
        .join(Ticket, Ticket.id == TicketSupporter.ticket_id)
        .where(TicketSupporter.user_id == uid)
        .order_by(TicketSupporter.at, TicketSupporter.ticket_id)
    )
    return [SupportExport(ticket_id=tid, number=number, at=at) for tid, number, at in rows]


async def _repair_orders(session: AsyncSession, uid: uuid.UUID) -> list[RepairOrderExport]:
    orders = list(
        await session.scalars(
            select(RepairOrder)
            .where(or_(RepairOrder.resident_id == uid, RepairOrder.requested_by_id == uid))
            .order_by(RepairOrder.requested_at, RepairOrder.id)
        )
    )
    if not orders:
        return []
    entries: dict[uuid.UUID, list[TimelineEntryExport]] = {o.id: [] for o in orders}
    for e in await session.scalars(
        select(RepairEvent)
        .where(RepairEvent.order_id.in_(list(entries)), RepairEvent.actor_id == uid)
        .order_by(RepairEvent.order_id, RepairEvent.seq)
    ):
        entries[e.order_id].append(_entry(e))
    out = []
    for o in orders:
        own = o.resident_id == uid  # the household's contact, address and care category are theirs
        out.append(
            RepairOrderExport(
                id=o.id,
                number=o.number,
                role="resident" if own else "requester",
                status=o.status,
                category=o.category,
                description=o.description,
                contact_name=o.contact_name if own else None,
                contact_phone=o.contact_phone if own else None,
                address=o.address if own else None,
                care_category=o.care_category if own else None,
                preferred_time=o.preferred_time,
                requested_at=o.requested_at,
                scheduled_for=o.scheduled_for,
                completed_at=o.completed_at,
                cancelled_at=o.cancelled_at,
                due_cents=o.due_cents,
                paid_cents=o.paid_cents,
                payment_method=o.payment_method,
                rating=o.rating,
                rating_comment=o.rating_comment,
                timeline=entries[o.id],
            )
        )
    return out


async def _signups(session: AsyncSession, uid: uuid.UUID, learner: Attendee | None) -> list[SignupExport]:
    mine: ColumnElement[bool] = Signup.signed_up_by_id == uid
    if learner is not None:
        mine = or_(mine, Signup.attendee_id == learner.id)
    rows = await session.execute(
        select(Signup, CourseSession, Course)
        .join(CourseSession, CourseSession.id == Signup.session_id)
        .join(Course, Course.id == CourseSession.course_id)
        .where(mine)
        .order_by(Signup.signed_up_at, Signup.id)
    )
    return [
        SignupExport(
            id=su.id,
            for_self=learner is not None and su.attendee_id == learner.id,
            session_id=s.id,
            course_title=c.title,
            starts_at=s.starts_at,
            venue=s.venue,
            relationship=su.relationship_,
            status=su.status,
            signed_up_at=su.signed_up_at,
            cancelled_at=su.cancelled_at,
            checked_in_at=su.checked_in_at,
            check_in_method=su.check_in_method,
        )
        for su, s, c in rows
    ]


async def _help_requests(
    session: AsyncSession, uid: uuid.UUID, learner: Attendee | None
) -> list[HelpRequestExport]:
    mine: ColumnElement[bool] = HelpRequest.requested_by_id == uid
    if learner is not None:
        mine = or_(mine, HelpRequest.attendee_id == learner.id)
    rows = await session.scalars(
        select(HelpRequest).where(mine).order_by(HelpRequest.requested_at, HelpRequest.id)
    )
    return [
        HelpRequestExport(
            id=r.id,
            number=r.number,
            for_self=learner is not None and r.attendee_id == learner.id,
            topic=r.topic,
            description=r.description,
            preferred_time=r.preferred_time,
            status=r.status,
            requested_at=r.requested_at,
            scheduled_for=r.scheduled_for,
            place=r.place,
            done_at=r.done_at,
            outcome=r.outcome,
        )
        for r in rows
    ]


async def _all(session: AsyncSession, stmt: Any) -> list[Any]:
    return list(await session.scalars(stmt))


async def export_for(
    session: AsyncSession, *, user: User, settings: Settings, now: datetime
) -> PersonalDataExport:
    """Everything held about `user`, photos as signed links (PIPL Art. 45)."""
    uid = user.id
    learner = await session.scalar(select(Attendee).where(Attendee.user_id == uid))
    identities = await _all(
        session,
        select(UserIdentity)
        .where(UserIdentity.user_id == uid, UserIdentity.provider == WECHAT_PROVIDER)
        .order_by(UserIdentity.created_at),
    )
    photos = [
        photo_read(p, cfg=settings.media, now=now)
        for p in await _all(
            session, select(Photo).where(Photo.owner_id == uid).order_by(Photo.uploaded_at, Photo.id)
        )
    ]
    notifications = await _all(
        session,
        select(Notification)
        .where(Notification.user_id == uid)
        .order_by(Notification.created_at, Notification.id),
    )
    duty = await session.get(WorkerDuty, uid)
    return PersonalDataExport(
        generated_at=now,
        photo_links_expire_at=photos[0].urls_expire_at if photos else None,
        profile=await _profile(session, user),
        wechat=[WeChatExport(openid=i.subject, bound_at=i.created_at) for i in identities],
        tickets=await _tickets(session, uid),
        supported_tickets=await _supported(session, uid),
        repair_orders=await _repair_orders(session, uid),
        learner=LearnerExport.model_validate(learner) if learner else None,
        course_signups=await _signups(session, uid, learner),
        help_requests=await _help_requests(session, uid, learner),
        volunteer_records=[
            VolunteerRecordExport.model_validate(v)
            for v in await _all(
                session,
                select(VolunteerRecord)
                .where(VolunteerRecord.user_id == uid)
                .order_by(VolunteerRecord.served_at, VolunteerRecord.id),
            )
        ],
        points=[
            PointsExport.model_validate(p)
            for p in await _all(
                session,
                select(PointsEntry)
                .where(PointsEntry.user_id == uid)
                .order_by(PointsEntry.at, PointsEntry.id),
            )
        ],
        notifications=[
            # Staff inboxes quote residents' reports: numbers typed into them are not the caller's.
            NotificationExport(
                kind=n.kind,
                title=mask_phones_in_text(n.title),
                body=mask_phones_in_text(n.body or ""),
                ticket_id=n.ticket_id,
                created_at=n.created_at,
                read_at=n.read_at,
            )
            for n in notifications
        ],
        subscription_credits=[
            SubscriptionExport.model_validate(c)
            for c in await _all(
                session,
                select(SubscriptionCredit)
                .where(SubscriptionCredit.user_id == uid)
                .order_by(SubscriptionCredit.template_id),
            )
        ],
        duty=DutyExport.model_validate(duty) if duty else None,
        photos=photos,
    )


# --- deletion -----------------------------------------------------------------------------


async def delete_account(session: AsyncSession, *, user: User, actor: Actor, now: datetime) -> list[str]:
    """Anonymise the caller's own resident account (PIPL Art. 47); staff accounts are refused.

    The erasure is `anonymise`, the same as for a WeChat account cancellation (it also logs the
    deletion, by which a retried request with the same, now stale, token is recognised). Returns
    the storage keys of the photos whose records were deleted, for `delete_files` once this has
    been committed."""
    if audit.has_staff_role(actor):
        raise exc.StaffAccountNotDeletable()
    return await anonymise(session, user, now=now)


async def deleted_since_issued(session: AsyncSession, *, jwt: JwtSettings, token: str, now: datetime) -> bool:
    """True if `token` is a valid access token of an account deleted after it was issued."""
    try:
        claims = security.decode_access_token(jwt, token, now=now)
    except security.TokenInvalid:
        return False
    user = await session.get(User, claims.user_id)
    if user is None or user.is_active or user.token_version <= claims.token_version:
        return False
    deleted = await session.scalar(
        select(AuditLog.id)
        .where(AuditLog.subject_user_id == user.id, AuditLog.action == AuditAction.ACCOUNT_DELETED)
        .limit(1)
    )
    return deleted is not None


# --- the access log -----------------------------------------------------------------------


def _in_subdistricts(ids: frozenset[uuid.UUID]) -> ColumnElement[bool]:
    """Rows about people living or working in these subdistricts, or read by staff working there."""
    communities = select(Community.id).where(Community.subdistrict_id.in_(ids))

    def belongs(user_id: Any) -> ColumnElement[bool]:
        return or_(
            exists().where(User.id == user_id, User.home_community_id.in_(communities)),
            exists().where(UserRole.user_id == user_id, UserRole.subdistrict_id.in_(ids)),
        )

    return or_(belongs(AuditLog.subject_user_id), belongs(AuditLog.actor_id))


async def list_audit_log(
    session: AsyncSession,
    *,
    actor: Actor,
    subject_user_id: uuid.UUID | None,
    actor_id: uuid.UUID | None,
    action: AuditAction | None,
    date_from: datetime | None,
    date_to: datetime | None,
    cursor: str | None,
    limit: int,
) -> tuple[list[AuditLogRead], str | None]:
    """Access-log rows the caller oversees, newest first: all for superadmins, their
    subdistricts' for subdistrict admins; nobody else reads the log."""
    if not (actor.is_superadmin or actor.subdistrict_ids):
        raise exc.AuditLogForbidden()
    if date_from is not None and date_to is not None and date_from >= date_to:
        raise exc.InvalidDateRange(date_from=date_from.isoformat(), date_to=date_to.isoformat())
    stmt = select(AuditLog)
    if not actor.is_superadmin:
        stmt = stmt.where(_in_subdistricts(actor.subdistrict_ids))
    if subject_user_id is not None:
        stmt = stmt.where(AuditLog.subject_user_id == subject_user_id)
    if actor_id is not None:
        stmt = stmt.where(AuditLog.actor_id == actor_id)
    if action is not None:
        stmt = stmt.where(AuditLog.action == action)
    if date_from is not None:
        stmt = stmt.where(AuditLog.at >= date_from)
    if date_to is not None:
        stmt = stmt.where(AuditLog.at < date_to)
    rows, next_cursor = await paginate(
        session, stmt, columns=[AuditLog.at, AuditLog.id], cursor=cursor, limit=limit, descending=True
    )
    people = {r.actor_id for r in rows} | {r.subject_user_id for r in rows if r.subject_user_id}
    names: dict[uuid.UUID, str] = (
        dict((await session.execute(select(User.id, User.display_name).where(User.id.in_(people)))).all())  # type: ignore[arg-type]
        if people
        else {}
    )
    return [
        AuditLogRead(
            id=r.id,
            actor_id=r.actor_id,
            actor_name=names.get(r.actor_id, ""),
            action=r.action,
            subject_user_id=r.subject_user_id,
            subject_name=names.get(r.subject_user_id) if r.subject_user_id else None,
            resource=r.resource,
            resource_id=r.resource_id,
            at=r.at,
        )
        for r in rows
    ], next_cursor
