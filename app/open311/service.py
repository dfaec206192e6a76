"""Open311 over the ticket domain: lookups, the public request list and filing a request through
app/ticket/service.py (routing, the 10-minute clock, notifications as for any report).

What the public sees follows app/ticket/public.py: no rejected or merged reports, nothing held by
the content check, no reporter or on-behalf person, phone numbers in text masked, the address
masked to its first part, the location rounded to about 100 m, photos only once staff made them
public and the content check passed them. A partner that passes its api_key also sees the status
of the reports it filed itself (rejected or merged included), nothing more.
"""

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.permissions import Actor, administers_subdistrict, mask_address
from app.core import security
from app.core.clock import Clock
from app.core.config import Settings
from app.core.pagination import paginate
from app.core.timeline import append_event, plain
from app.media.models import Photo
from app.media.service import photo_read
from app.open311 import exceptions as exc
from app.open311 import rules
from app.open311.models import Open311ApiKey
from app.org.exceptions import CommunityNotFound, SubdistrictNotFound
from app.org.models import Category, Community, Department, Subdistrict
from app.org.service import GridIndexCache
from app.ticket import service as tickets
from app.ticket import state
from app.ticket.models import Ticket, TicketEvent, TicketPhoto
from app.ticket.public import PUBLIC_STATUSES, mask_phones_in_text
from app.ticket.schemas import OnBehalfIn, PointIn, TicketCreate
from app.user.models import User
from app.wechat import moderation
from app.wechat.client import WeChatClient

KEY_PREFIX = "o311_"
_PUBLIC_DECIMALS = 3  # about 100 m, as on the public board
_DEPARTMENT_STATUSES = frozenset(
    {state.TicketStatus.ESCALATED, state.TicketStatus.DEPARTMENT_HANDLING, state.TicketStatus.DEPARTMENT_DONE}
)


# --- keys and jurisdictions -------------------------------------------------------------------


async def authenticate(session: AsyncSession, api_key: str | None) -> Open311ApiKey:
    """The live key for this api_key; 403 when it is missing, unknown or revoked."""
    if not api_key or len(api_key) > 128:
        raise exc.ApiKeyInvalid()
    key = await session.scalar(
        select(Open311ApiKey).where(Open311ApiKey.key_hash == security.hash_token(api_key))
    )
    if key is None or key.revoked_at is not None:
        raise exc.ApiKeyInvalid()
    return key


async def partner_user_id(session: AsyncSession, api_key: str | None) -> uuid.UUID | None:
    """On read methods the api_key is optional: given, it must be valid."""
    if api_key is None or api_key == "":
        return None
    return (await authenticate(session, api_key)).service_user_id


async def jurisdiction(session: AsyncSession, value: str | None) -> Subdistrict | None:
    """A jurisdiction_id: our subdistrict's id or code."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    sid = rules.parse_uuid(value)
    found = (
        await session.get(Subdistrict, sid)
        if sid is not None
        else await session.scalar(select(Subdistrict).where(Subdistrict.code == value))
    )
    if found is None:
        raise exc.JurisdictionNotFound(jurisdiction_id=value)
    return found


# --- services ---------------------------------------------------------------------------------


def _service(category: Category, subdistrict_name: str) -> dict[str, Any]:
    return {
        "service_code": rules.service_code(category.id),
        "service_name": category.name,
        "description": (
            f"{category.name}（{subdistrict_name}）：{category.respond_minutes} 分钟内响应，"
            f"{category.resolve_hours} 小时内办结"
        ),
        "metadata": True,
        "type": "realtime",
        "keywords": category.code,
        "group": subdistrict_name,
    }


async def services(session: AsyncSession, *, subdistrict: Subdistrict | None) -> list[dict[str, Any]]:
    stmt = (
        select(Category, Subdistrict.name)
        .join(Subdistrict, Subdistrict.id == Category.subdistrict_id)
        .where(Category.is_active.is_(True))
        .order_by(Subdistrict.code, Category.code)
    )
    if subdistrict is not None:
        stmt = stmt.where(Category.subdistrict_id == subdistrict.id)
    return [_service(c, name) for c, name in (await session.execute(stmt)).all()]


async def _category(session: AsyncSession, code: str | None, subdistrict: Subdistrict | None) -> Category:
    if code is None or not code.strip():
        raise exc.MissingParameter("缺少 service_code", parameter="service_code")
    cid = rules.parse_uuid(code.strip())
    category = await session.get(Category, cid) if cid is not None else None
    if (
        category is None
        or not category.is_active
        or (subdistrict is not None and category.subdistrict_id != subdistrict.id)
    ):
        raise exc.ServiceNotFound(service_code=code)
    return category


async def service_definition(
    session: AsyncSession, *, code: str, subdistrict: Subdistrict | None
) -> dict[str, Any]:
    category = await _category(session, code, subdistrict)
    return {"service_code": rules.service_code(category.id), "attributes": rules.ATTRIBUTES}


# --- filing a request -------------------------------------------------------------------------


@dataclass
class RequestForm:
    service_code: str | None = None
    jurisdiction_id: str | None = None
    lat: str | None = None
    long: str | None = None
    address_string: str | None = None
    description: str | None = None
    media_url: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    phone: str | None = None
    attributes: dict[str, str] = field(default_factory=dict)


def _coordinate(value: str | None, name: str, bound: float) -> float | None:
    if value is None or not value.strip():
        return None
    try:
        number = float(value)
    except ValueError:
        raise exc.InvalidParameter(f"{name} 应为数字", parameter=name) from None
    if not -bound <= number <= bound:  # also refuses nan
        raise exc.InvalidParameter(f"{name} 超出范围", parameter=name)
    return number


def _validated(build: Any) -> Any:
    try:
        return build()
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        raise exc.InvalidParameter(f"参数取值不正确：{where} {first.get('msg', '')}".strip()) from None


async def create_request(
    session: AsyncSession,
    *,
    key: Open311ApiKey,
    form: RequestForm,
    clock: Clock,
    settings: Settings,
    cache: GridIndexCache,
    wechat: WeChatClient,
) -> dict[str, Any]:
    """File a report for the partner and return the spec's answer (id, token, notice)."""
    now = clock.now()
    place = await jurisdiction(session, form.jurisdiction_id)
    if place is not None and place.id != key.subdistrict_id:
        raise exc.ServiceNotCovered(jurisdiction_id=form.jurisdiction_id)
    category = await _category(session, form.service_code, None)
    if category.subdistrict_id != key.subdistrict_id:
        raise exc.ServiceNotCovered(service_code=form.service_code)
    lat = _coordinate(form.lat, "lat", 90)
    lng = _coordinate(form.long, "long", 180)
    if (lat is None) != (lng is None):
        raise exc.MissingParameter("lat 与 long 需要同时提供", parameter="lat" if lat is None else "long")
    address = (form.address_string or "").strip()[:200] or None
    if lat is None and address is None:
        raise exc.MissingParameter("需要 lat/long 或 address_string", parameter="lat")
    if lat is None and key.community_id is None:
        raise exc.InvalidParameter("该接入方没有设置默认社区，请提供 lat/long", parameter="lat")
    description = (form.description or "").strip()
    if not description:
        raise exc.MissingParameter("缺少 description（问题描述）", parameter="description")
    media_url = (form.media_url or "").strip() or None
    if media_url is not None and (
        not media_url.lower().startswith(("http://", "https://")) or len(media_url) > 500
    ):
        raise exc.InvalidParameter("media_url 应为 http(s) 地址", parameter="media_url")
    name = rules.person_name(form.first_name, form.last_name)
    phone = (form.phone or "").strip() or None
    on_behalf = None
    if name or phone:
        consent = form.attributes.get("consent_note") or rules.default_consent_note(key.partner_name)
        on_behalf = _validated(
            lambda: OnBehalfIn(name=(name or "（未留姓名）")[:64], phone=phone, consent_note=consent)
        )
    system = form.attributes.get("coord_system") or "wgs84"
    data = _validated(
        lambda: TicketCreate(
            category_id=category.id,
            description=description,
            location=PointIn(lat=lat, lng=lng, coord_system=system) if lat is not None else None,
            address=address,
        )
    )
    reporter = await session.get(User, key.service_user_id)
    assert reporter is not None
    screened = await moderation.screen_text(
        session,
        wechat,
        user_id=reporter.id,
        texts=(data.description, data.address),
        settings=settings,
    )
    # The partner's account files the report like any reporter; it holds no role.
    actor = Actor(user_id=reporter.id, roles=frozenset())
    ticket, _ = await tickets.create_ticket(
        session,
        actor=actor,
        reporter=reporter,
        clock=clock,
        settings=settings,
        cache=cache,
        data=data,
        screened=screened,
    )
    if on_behalf is not None:
        # The resident who contacted the partner (a 12345 caller): the key, issued by the
        # subdistrict, stands for the consent that staff record when they report for someone.
        ticket.on_behalf_name = on_behalf.name
        ticket.on_behalf_phone = on_behalf.phone
        ticket.consent_note = on_behalf.consent_note
    append_event(
        session,
        ticket,
        TicketEvent,
        ticket_id=ticket.id,
        action="open311",
        from_status=None,
        to_status=None,
        actor_id=reporter.id,
        note=None,
        photo_ids=[],
        data=plain({"partner": key.partner_name, "key_id": key.id, "media_url": media_url}),
        at=now,
    )
    return {
        "service_request_id": ticket.number,
        "token": str(ticket.id),
        "service_notice": f"{category.respond_minutes} 分钟内响应",
        "account_id": None,
    }


# --- reading requests -------------------------------------------------------------------------


def _visible(partner: uuid.UUID | None) -> ColumnElement[bool]:
    public = and_(
        Ticket.status.in_(sorted(PUBLIC_STATUSES)), Ticket.moderation == moderation.TextVerdict.VISIBLE
    )
    return or_(public, Ticket.reporter_id == partner) if partner is not None else public


def _id_filter(ids: list[str]) -> ColumnElement[bool]:
    uuids = [u for u in (rules.parse_uuid(i) for i in ids) if u is not None]
    return or_(Ticket.number.in_(ids), Ticket.id.in_(uuids))


async def _first_public_photos(session: AsyncSession, tickets_: list[Ticket]) -> dict[uuid.UUID, Photo]:
    shown = [t.id for t in tickets_ if t.photos_public]
    if not shown:
        return {}
    rows = (
        await session.execute(
            select(TicketPhoto.ticket_id, Photo)
            .join(Photo, Photo.id == TicketPhoto.photo_id)
            .where(
                TicketPhoto.ticket_id.in_(shown),
                TicketPhoto.kind == "report",
                Photo.check_status.in_(sorted(moderation.PUBLIC_PHOTO_CHECKS)),
            )
            .order_by(TicketPhoto.ticket_id, TicketPhoto.position)
        )
    ).all()
    out: dict[uuid.UUID, Photo] = {}
    for tid, photo in rows:
        out.setdefault(tid, photo)
    return out


async def _names(session: AsyncSession, model: Any, ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
    if not ids:
        return {}
    return dict((await session.execute(select(model.id, model.name).where(model.id.in_(ids)))).all())


async def _render_requests(
    session: AsyncSession, rows: list[Ticket], *, settings: Settings, now: datetime, base_url: str
) -> list[dict[str, Any]]:
    categories = await _names(session, Category, {t.category_id for t in rows})
    communities = await _names(session, Community, {t.community_id for t in rows})
    departments = await _names(session, Department, {t.department_id for t in rows if t.department_id})
    photos = await _first_public_photos(session, rows)
    out = []
    for t in rows:
        agency = communities.get(t.community_id, "")
        if t.department_id is not None and t.status in _DEPARTMENT_STATUSES:
            agency = departments.get(t.department_id, agency)
        photo = photos.get(t.id)
        out.append(
            {
                "service_request_id": t.number,
                "status": rules.status_of(t.status),
                "extended_status": rules.extended_status_of(t.status),
                "status_notes": None,
                "service_name": categories.get(t.category_id, ""),
                "service_code": rules.service_code(t.category_id),
                "description": mask_phones_in_text(t.description),
                "agency_responsible": agency,
                "service_notice": None,
                "requested_datetime": rules.iso(t.submitted_at),
                "updated_datetime": rules.iso(t.status_changed_at),
                "expected_datetime": rules.iso(t.resolve_by) if t.status in state.OPEN else None,
                "address": mask_address(t.address) or None,
                "address_id": None,
                "zipcode": None,
                "lat": round(t.lat, _PUBLIC_DECIMALS) if t.lat is not None else None,
                "long": round(t.lng, _PUBLIC_DECIMALS) if t.lng is not None else None,
                "media_url": (
                    base_url + photo_read(photo, cfg=settings.media, now=now).url if photo else None
                ),
                "token": str(t.id),
            }
        )
    return out


@dataclass(frozen=True)
class RequestQuery:
    ids: list[str]
    service_codes: list[str]
    statuses: frozenset[state.TicketStatus] | None
    window: rules.Window
    page: int
    page_size: int


async def find_requests(
    session: AsyncSession,
    *,
    query: RequestQuery,
    subdistrict: Subdistrict | None,
    partner: uuid.UUID | None,
    settings: Settings,
    now: datetime,
    base_url: str,
) -> list[dict[str, Any]]:
    """A page of requests, newest first. service_request_id overrides the other filters."""
    stmt = select(Ticket).where(_visible(partner))
    if subdistrict is not None:
        stmt = stmt.where(Ticket.subdistrict_id == subdistrict.id)
    if query.ids:
        stmt = stmt.where(_id_filter(query.ids))
    else:
        if query.service_codes:
            codes = [rules.parse_uuid(c) for c in query.service_codes]
            if any(c is None for c in codes):
                raise exc.InvalidParameter("service_code 不正确", parameter="service_code")
            stmt = stmt.where(Ticket.category_id.in_(codes))
        if query.statuses is not None:
            stmt = stmt.where(Ticket.status.in_(sorted(query.statuses)))
        stmt = stmt.where(Ticket.submitted_at.between(query.window.start, query.window.end))
    stmt = (
        stmt.order_by(Ticket.submitted_at.desc(), Ticket.id.desc())
        .offset((query.page - 1) * query.page_size)
        .limit(query.page_size)
    )
    rows = list(await session.scalars(stmt))
    return await _render_requests(session, rows, settings=settings, now=now, base_url=base_url)


async def _one(
    session: AsyncSession, value: str, *, subdistrict: Subdistrict | None, partner: uuid.UUID | None
) -> Ticket | None:
    stmt = select(Ticket).where(_visible(partner), _id_filter([value]))
    if subdistrict is not None:
        stmt = stmt.where(Ticket.subdistrict_id == subdistrict.id)
    return await session.scalar(stmt)


async def get_request(
    session: AsyncSession,
    *,
    request_id: str,
    subdistrict: Subdistrict | None,
    partner: uuid.UUID | None,
    settings: Settings,
    now: datetime,
    base_url: str,
) -> list[dict[str, Any]]:
    ticket = await _one(session, request_id, subdistrict=subdistrict, partner=partner)
    if ticket is None:
        raise exc.RequestNotFound(service_request_id=request_id)
    return await _render_requests(session, [ticket], settings=settings, now=now, base_url=base_url)


async def token(
    session: AsyncSession, *, token_id: str, subdistrict: Subdistrict | None, partner: uuid.UUID | None
) -> list[dict[str, Any]]:
    """Requests are created at once, so a token (the ticket's id) always has its request id."""
    tid = rules.parse_uuid(token_id)
    ticket = None
    if tid is not None:
        stmt = select(Ticket).where(Ticket.id == tid, _visible(partner))
        if subdistrict is not None:
            stmt = stmt.where(Ticket.subdistrict_id == subdistrict.id)
        ticket = await session.scalar(stmt)
    if ticket is None:
        raise exc.TokenNotFound(token=token_id)
    return [{"service_request_id": ticket.number, "token": str(ticket.id)}]


async def updates(
    session: AsyncSession,
    *,
    window: rules.Window,
    subdistrict: Subdistrict | None,
    partner: uuid.UUID | None,
    page: int,
    page_size: int,
) -> list[dict[str, Any]]:
    """mySociety's servicerequestupdates: the status changes of the timeline in a date range."""
    stmt = (
        select(TicketEvent, Ticket.number, Ticket.reporter_id)
        .join(Ticket, Ticket.id == TicketEvent.ticket_id)
        .where(
            _visible(partner),
            TicketEvent.to_status.is_not(None),
            TicketEvent.at.between(window.start, window.end),
        )
    )
    if subdistrict is not None:
        stmt = stmt.where(Ticket.subdistrict_id == subdistrict.id)
    stmt = (
        stmt.order_by(TicketEvent.at, TicketEvent.ticket_id, TicketEvent.seq)
        .offset((page - 1) * page_size)
        .limit(page_size)
    )
    out = []
    for event, number, reporter_id in (await session.execute(stmt)).all():
        # Staff notes are on the public timeline; what the reporter and supporters wrote is not.
        staff_side = event.actor_id != reporter_id and event.action != "support"
        out.append(
            {
                "update_id": str(event.id),
                "service_request_id": number,
                "status": rules.extended_status_of(event.to_status),
                "updated_datetime": rules.iso(event.at),
                "description": mask_phones_in_text(event.note) if staff_side and event.note else "",
                "media_url": None,
            }
        )
    return out


# --- key management (staff, under /api/v1) ----------------------------------------------------


async def create_key(
    session: AsyncSession,
    *,
    actor: Actor,
    clock: Clock,
    subdistrict_id: uuid.UUID,
    partner_name: str,
    community_id: uuid.UUID | None,
) -> tuple[Open311ApiKey, str]:
    """Issue a key; returns it with the key itself (shown this once, only its hash is kept)."""
    if not administers_subdistrict(actor, subdistrict_id):
        raise exc.KeyForbidden()
    if await session.get(Subdistrict, subdistrict_id) is None:
        raise SubdistrictNotFound()
    if community_id is not None:
        community = await session.get(Community, community_id)
        if community is None or community.subdistrict_id != subdistrict_id:
            raise CommunityNotFound()
    now = clock.now()
    secret = KEY_PREFIX + security.new_opaque_token()
    user = User(
        id=uuid.uuid4(),
        display_name=f"{partner_name}（Open311）"[:64],
        home_community_id=community_id,
        is_active=False,  # a service account: nobody logs in as it
    )
    session.add(user)
    await session.flush()
    key = Open311ApiKey(
        id=uuid.uuid4(),
        partner_name=partner_name,
        subdistrict_id=subdistrict_id,
        community_id=community_id,
        key_hash=security.hash_token(secret),
        key_prefix=secret[: len(KEY_PREFIX) + 4],
        service_user_id=user.id,
        created_by_id=actor.user_id,
        created_at=now,
    )
    session.add(key)
    await session.flush()
    return key, secret


async def list_keys(
    session: AsyncSession,
    *,
    actor: Actor,
    subdistrict_id: uuid.UUID | None,
    cursor: str | None,
    limit: int,
) -> tuple[list[Open311ApiKey], str | None]:
    stmt = select(Open311ApiKey)
    if subdistrict_id is not None:
        if not administers_subdistrict(actor, subdistrict_id):
            raise exc.KeyForbidden()
        stmt = stmt.where(Open311ApiKey.subdistrict_id == subdistrict_id)
    elif not actor.is_superadmin:
        if not actor.subdistrict_ids:
            raise exc.KeyForbidden()
        stmt = stmt.where(Open311ApiKey.subdistrict_id.in_(sorted(actor.subdistrict_ids)))
    return await paginate(
        session,
        stmt,
        columns=[Open311ApiKey.created_at, Open311ApiKey.id],
        cursor=cursor,
        limit=limit,
        descending=True,
    )


async def revoke_key(session: AsyncSession, *, actor: Actor, clock: Clock, key_id: uuid.UUID) -> None:
    """Revoke at once (idempotent); keys outside the caller's subdistricts look missing."""
    key = await session.scalar(select(Open311ApiKey).where(Open311ApiKey.id == key_id).with_for_update())
    if key is None or not administers_subdistrict(actor, key.subdistrict_id):
        raise exc.KeyNotFound()
    if key.revoked_at is None:
        key.revoked_at = clock.now()
        key.revoked_by_id = actor.user_id
        await session.flush()
