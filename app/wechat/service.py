"""WeChat for our users: openids, one-time subscribe credits, subscribe-message delivery from the
outbox, and phone binding.

Credits (WECHAT.md §4.5): each "accept" in the wx.requestSubscribeMessage popup allows one
message of that template. The mini-program reports the popup's result (or, with
wechat.credits_from = "push", WeChat's subscribe_msg_popup_event does). Delivery spends a
credit before sending (conditional UPDATE, so two processes never spend the same credit),
gives it back when the send fails, and sets it to 0 on 43101. A user without credit still has
the in-app notification, written in the same transaction as its cause.
"""

import logging
import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any, ClassVar, Literal

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.clock import Clock
from app.core.config import Settings, SubscribeTemplate
from app.core.errors import Conflict, ServiceUnavailable, TooManyRequests, Unprocessable
from app.core.numbering import LOCAL_TZ
from app.notification.outbox import Claimed, Deliver, PermanentFailure, Skipped
from app.user.models import User
from app.wechat import moderation, values
from app.wechat.client import (
    InvalidTemplateData,
    NoSubscribeCredit,
    WeChatApiError,
    WeChatClient,
    WeChatTransientError,
)
from app.wechat.identity import openid_of
from app.wechat.models import SubscriptionCredit

log = logging.getLogger("linli.wechat")

ACCEPTED = frozenset({"accept", "acceptWithAudio"})
PopupResult = Literal["accept", "acceptWithAudio", "reject", "ban", "filter"]


class UnknownTemplate(Unprocessable):
    code = "subscription.unknown_template"
    message = "包含本服务未使用的订阅消息模板"


class NoWeChatAccount(Conflict):
    code = "phone.no_wechat"
    message = "请先用微信登录后再绑定手机号"


class PhoneCodeInvalid(Unprocessable):
    code = "phone.code_invalid"
    message = "手机号授权已失效，请重新点击获取手机号"


class PhoneUnavailable(ServiceUnavailable):
    code = "phone.wechat_unavailable"
    message = "微信服务暂时繁忙，请稍后再试"


class PhoneRateLimited(TooManyRequests):
    code = "phone.rate_limited"
    message = "操作太频繁，请一分钟后再试"
    headers: ClassVar[dict[str, str] | None] = {"Retry-After": "60"}


# --- credits ----------------------------------------------------------------------------


def template_ids(settings: Settings) -> dict[str, str]:
    """Template id → the event it is sent for (enabled templates only)."""
    return {t.template_id: kind for kind, t in settings.wechat.templates.items() if t.template_id}


async def add_credits(
    session: AsyncSession, *, user_id: uuid.UUID, accepted: Iterable[str], now: datetime
) -> None:
    """One more credit for each accepted template (an upsert: concurrent popups both count)."""
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    for template_id in accepted:
        stmt = insert(SubscriptionCredit).values(
            user_id=user_id,
            template_id=template_id,
            credits=1,
            accepted_total=1,
            sent_total=0,
            updated_at=now,
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=[SubscriptionCredit.user_id, SubscriptionCredit.template_id],
            set_={
                "credits": SubscriptionCredit.credits + 1,
                "accepted_total": SubscriptionCredit.accepted_total + 1,
                "updated_at": now,
            },
        )
        await session.execute(stmt)


async def record_popup(
    session: AsyncSession, *, user_id: uuid.UUID, results: dict[str, str], settings: Settings, now: datetime
) -> None:
    """Apply a wx.requestSubscribeMessage result ({template_id: accept|reject|ban|filter|…})."""
    known = template_ids(settings)
    unknown = sorted(tid for tid in results if tid not in known)
    if unknown:
        raise UnknownTemplate(template_ids=unknown)
    await add_credits(
        session, user_id=user_id, accepted=[t for t, r in results.items() if r in ACCEPTED], now=now
    )
    banned = [t for t, r in results.items() if r == "ban"]
    if banned:
        # The platform banned the template for this user: nothing more can be sent with it.
        await set_credits(session, user_id, banned, 0, now)


async def set_credits(
    session: AsyncSession, user_id: uuid.UUID, template_ids_: list[str], credits: int, now: datetime
) -> None:
    await session.execute(
        update(SubscriptionCredit)
        .where(SubscriptionCredit.user_id == user_id, SubscriptionCredit.template_id.in_(template_ids_))
        .values(credits=credits, updated_at=now)
        .execution_options(synchronize_session=False)
    )


async def credits_of(session: AsyncSession, user_id: uuid.UUID) -> dict[str, int]:
    rows = await session.execute(
        select(SubscriptionCredit.template_id, SubscriptionCredit.credits).where(
            SubscriptionCredit.user_id == user_id
        )
    )
    return dict(rows.all())


# --- subscribe messages from the outbox --------------------------------------------------


def message_data(template: SubscribeTemplate, payload: dict[str, Any]) -> dict[str, str]:
    """The template's keyword values for one notification, fitted to WeChat's type rules (Unfit
    when a value cannot be made acceptable)."""
    created = datetime.fromisoformat(payload["created_at"])
    source: dict[str, Any] = {
        "title": payload.get("title"),
        "body": payload.get("body"),
        "time": created,
        **(payload.get("data") or {}),
    }
    out = {}
    for keyword, name in template.fields.items():
        raw = name[1:] if name.startswith("=") else source.get(name)
        if raw is None or raw == "":
            raise values.Unfit(f"{keyword}: nothing to put in it ({name})")
        if values.keyword_type(keyword) in ("time", "date"):
            when = raw if isinstance(raw, datetime) else datetime.fromisoformat(str(raw))
            raw = when.astimezone(LOCAL_TZ)
        out[keyword] = values.fit(keyword, raw)
    return out


def message_page(template: SubscribeTemplate, payload: dict[str, Any]) -> str | None:
    """The page to open, or None (no jump) when the notification lacks what the page needs."""
    if not template.page:
        return None
    fields = {k: v for k, v in (payload.get("data") or {}).items() if v is not None}
    if payload.get("ticket_id"):
        fields["ticket_id"] = payload["ticket_id"]
    try:
        page = template.page.format_map(fields)
    except (KeyError, IndexError, ValueError, AttributeError):
        return None
    return page


async def _spend_credit(
    session_maker: async_sessionmaker[AsyncSession], user_id: uuid.UUID, template_id: str, now: datetime
) -> bool:
    async with session_maker() as session, session.begin():
        result = await session.execute(
            update(SubscriptionCredit)
            .where(
                SubscriptionCredit.user_id == user_id,
                SubscriptionCredit.template_id == template_id,
                SubscriptionCredit.credits > 0,
            )
            .values(credits=SubscriptionCredit.credits - 1, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        return (result.rowcount or 0) == 1  # type: ignore[attr-defined]


async def _settle_credit(
    session_maker: async_sessionmaker[AsyncSession],
    user_id: uuid.UUID,
    template_id: str,
    now: datetime,
    *,
    sent: bool = False,
    refund: bool = False,
    zero: bool = False,
) -> None:
    changes: dict[str, Any] = {"updated_at": now}
    if sent:
        changes["sent_total"] = SubscriptionCredit.sent_total + 1
    if refund:
        changes["credits"] = SubscriptionCredit.credits + 1
    if zero:
        changes["credits"] = 0
    async with session_maker() as session, session.begin():
        await session.execute(
            update(SubscriptionCredit)
            .where(SubscriptionCredit.user_id == user_id, SubscriptionCredit.template_id == template_id)
            .values(**changes)
            .execution_options(synchronize_session=False)
        )


async def send_subscribe(
    session_maker: async_sessionmaker[AsyncSession],
    wechat: WeChatClient,
    settings: Settings,
    clock: Clock,
    row: Claimed,
) -> None:
    """Deliver one notification as a subscribe message, if its template is on and the user has credit."""
    template = settings.wechat.templates.get(row.topic)
    if template is None or not template.template_id:
        raise Skipped("no template for this event")
    if row.user_id is None:
        raise PermanentFailure("no recipient")
    async with session_maker() as session:
        openid = await openid_of(session, row.user_id)
    if openid is None:
        raise Skipped("recipient has no WeChat account")
    try:
        data = message_data(template, row.payload)
    except (values.Unfit, ValueError, KeyError) as err:
        raise PermanentFailure(f"template data: {err}") from None
    page = message_page(template, row.payload)
    if not await _spend_credit(session_maker, row.user_id, template.template_id, clock.now()):
        raise Skipped("no subscribe credit")
    tid = template.template_id
    try:
        await wechat.send_subscribe_message(openid=openid, template_id=tid, data=data, page=page)
    except NoSubscribeCredit:
        # Not an error: the user has no credit left on WeChat's side (or unsubscribed).
        log.info("43101 for template %s: credit set to 0", tid)
        await _settle_credit(session_maker, row.user_id, tid, clock.now(), zero=True)
        raise Skipped("43101: no credit on WeChat's side") from None
    except InvalidTemplateData as err:
        await _settle_credit(session_maker, row.user_id, tid, clock.now(), refund=True)
        raise PermanentFailure(f"47003 {err.errmsg}") from None
    except WeChatApiError as err:
        await _settle_credit(session_maker, row.user_id, tid, clock.now(), refund=True)
        raise PermanentFailure(f"errcode {err.errcode} {err.errmsg}") from None
    except BaseException:
        # Transient (retried with backoff by the outbox) or cancelled: the credit was not used.
        await _settle_credit(session_maker, row.user_id, tid, clock.now(), refund=True)
        raise
    await _settle_credit(session_maker, row.user_id, tid, clock.now(), sent=True)


def wechat_deliverer(
    session_maker: async_sessionmaker[AsyncSession], wechat: WeChatClient, settings: Settings, clock: Clock
) -> Deliver:
    """The outbox's WeChat channel: subscribe messages and media-check requests."""

    async def deliver(row: Claimed) -> None:
        if row.topic == moderation.MEDIA_CHECK:
            await moderation.run_media_check(session_maker, wechat, settings, clock, row)
        else:
            await send_subscribe(session_maker, wechat, settings, clock, row)

    return deliver


# --- phone ------------------------------------------------------------------------------


async def bind_phone(
    session: AsyncSession, *, user: User, wechat: WeChatClient, code: str, now: datetime
) -> User:
    """Store the number WeChat vouches for (the getPhoneNumber button's code)."""
    openid = await openid_of(session, user.id)
    if openid is None:
        raise NoWeChatAccount()
    try:
        info = await wechat.get_phone_number(code, openid)
    except WeChatTransientError as err:
        if err.errcode == 45011:
            raise PhoneRateLimited() from None
        raise PhoneUnavailable() from None
    except WeChatApiError as err:
        if err.errcode == 40029:
            raise PhoneCodeInvalid() from None
        log.error("getuserphonenumber failed: errcode=%s errmsg=%r", err.errcode, err.errmsg)
        raise PhoneUnavailable() from None
    # Mainland numbers are stored bare (as typed elsewhere in the app), others with their country code.
    user.phone = (
        info.pure_phone_number
        if info.country_code == "86"
        else f"+{info.country_code}{info.pure_phone_number}"
    )
    user.phone_verified_at = now
    return user
