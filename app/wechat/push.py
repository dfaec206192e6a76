"""The message-push URL (WECHAT.md §5.4): signatures, safe-mode decryption and the events we act on."""

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.clock import Clock
from app.core.config import Settings, WeChatSettings
from app.media.storage import Storage
from app.wechat import identity, moderation, privacy, service
from app.wechat.push_crypto import MessageCrypto, PushCryptoError, signature_ok

log = logging.getLogger("linli.wechat.push")


class BadSignature(Exception):
    pass


class BadBody(ValueError):
    pass


def url_signature_ok(cfg: WeChatSettings, *, signature: str, timestamp: str, nonce: str) -> bool:
    return signature_ok(cfg.push_token.get_secret_value(), signature, timestamp, nonce)


def fresh(cfg: WeChatSettings, timestamp: str, now: datetime) -> bool:
    """True if the push's timestamp is within push_max_age_seconds of our clock."""
    try:
        sent = int(timestamp)
    except ValueError:
        return False
    return abs(now.timestamp() - sent) <= cfg.push_max_age_seconds


def open_event(
    cfg: WeChatSettings,
    raw: bytes,
    *,
    signature: str,
    timestamp: str,
    nonce: str,
    msg_signature: str | None,
    encrypted: bool,
    now: datetime,
) -> dict[str, Any]:
    """Check a pushed JSON message and return the event (decrypted in safe mode)."""
    token = cfg.push_token.get_secret_value()
    if not signature_ok(token, signature, timestamp, nonce):
        raise BadSignature()
    if not fresh(cfg, timestamp, now):
        # A signature seen before (in a log, say) cannot be replayed later with another body.
        raise BadSignature()
    body = json.loads(raw.decode("utf-8"))
    if not isinstance(body, dict):
        raise BadBody("not a JSON object")
    if encrypted or "Encrypt" in body:
        key = cfg.encoding_aes_key.get_secret_value()
        if not key or not msg_signature or not isinstance(body.get("Encrypt"), str):
            raise BadBody("encrypted message without key, msg_signature or Encrypt")
        try:
            plain = MessageCrypto(token, key, cfg.app_id).decrypt(
                body["Encrypt"], msg_signature=msg_signature, timestamp=timestamp, nonce=nonce
            )
        except PushCryptoError as err:
            if "signature" in str(err):
                raise BadSignature() from None
            raise BadBody(str(err)) from None
        body = json.loads(plain)
        if not isinstance(body, dict):
            raise BadBody("decrypted message is not a JSON object")
    elif cfg.encoding_aes_key.get_secret_value():
        # Safe mode configured: a plain body is not what WeChat sends, so it is not trusted.
        raise BadBody("plain message while safe mode is configured")
    return body


def _label(raw: object) -> int | None:
    try:
        return int(str(raw))
    except (TypeError, ValueError):
        return None


def media_result(event: dict[str, Any]) -> tuple[str, int | None]:
    """suggest and label of a wxa_media_check event (v2; v1's isrisky read as risky/pass)."""
    result = event.get("result")
    if isinstance(result, dict) and result.get("suggest") in ("pass", "review", "risky"):
        return result["suggest"], _label(result.get("label"))
    if "isrisky" in event:
        if str(event["isrisky"]) in ("1", "true", "True"):
            return "risky", None
        if str(event.get("status_code", 0)) not in ("0", ""):
            # v1 status_code -1008 / 4294966288: WeChat could not download the image, so it was never checked.
            return "review", None
        return "pass", None
    return "review", None


async def handle_event(
    session: AsyncSession,
    event: dict[str, Any],
    *,
    settings: Settings,
    now: datetime,
    files: list[str] | None = None,
) -> bool:
    """Act on one pushed event; False asks WeChat to push it again later. The storage keys of photos
    it deleted are added to `files`: the caller removes them once the transaction has committed."""
    files = [] if files is None else files
    name = event.get("Event")
    openid = event.get("OpenID") or event.get("FromUserName")
    if name == "wxa_media_check":
        suggest, label = media_result(event)
        trace_id = str(event.get("trace_id") or "")
        if not trace_id:
            log.warning("wxa_media_check without trace_id ignored")
            return True
        return await moderation.apply_media_verdict(
            session, trace_id=trace_id, suggest=suggest, label=label, now=now
        )
    if name in ("user_authorization_revoke", "user_authorization_cancellation", "user_info_modified"):
        if not isinstance(openid, str) or not openid:
            log.warning("%s without OpenID ignored", name)
            return True
        user = await identity.user_of(session, openid)
        if user is None:
            return True  # nothing held for this person (or already anonymised)
        if name == "user_authorization_cancellation":
            files.extend(await privacy.anonymise(session, user, now=now))
        elif name == "user_info_modified":
            await privacy.revoke(session, user, {privacy.REVOKE_PROFILE}, now=now)
        else:
            revoked = privacy.parse_revoke_info(event.get("RevokeInfo"))
            done = await privacy.revoke(session, user, revoked, now=now, files=files)
            log.info("authorization revoked by user %s: erased %s", user.id, done or "nothing")
        return True
    if name in ("subscribe_msg_popup_event", "subscribe_msg_change_event"):
        if isinstance(openid, str) and openid:
            await _subscription_event(session, event, openid=openid, settings=settings, now=now)
        return True
    log.info("push event %r ignored", name)
    return True


def _popup_items(event: dict[str, Any]) -> list[dict[str, Any]]:
    # JSON pushes carry "List" as one object or a list of them (XML-converted payloads vary).
    items = (
        event.get("List") or event.get("SubscribeMsgPopupEvent") or event.get("SubscribeMsgChangeEvent") or []
    )
    if isinstance(items, dict):
        items = items.get("List", items)
    if isinstance(items, dict):
        items = [items]
    return [i for i in items if isinstance(i, dict)] if isinstance(items, list) else []


async def _subscription_event(
    session: AsyncSession, event: dict[str, Any], *, openid: str, settings: Settings, now: datetime
) -> None:
    user = await identity.user_of(session, openid)
    if user is None:
        return
    known = service.template_ids(settings)
    items = [i for i in _popup_items(event) if i.get("TemplateId") in known]
    if event.get("Event") == "subscribe_msg_popup_event":
        if settings.wechat.credits_from != "push":
            return  # the client's report counts; counting both would double the credits
        accepted = [i["TemplateId"] for i in items if i.get("SubscribeStatusString") == "accept"]
        await service.add_credits(session, user_id=user.id, accepted=accepted, now=now)
    else:
        # The user switched a template off in the settings page: nothing may be sent any more.
        off = [i["TemplateId"] for i in items if i.get("SubscribeStatusString") == "reject"]
        if off:
            await service.set_credits(session, user.id, off, 0, now)


def local_push_hook(
    maker: async_sessionmaker[AsyncSession],
    settings: Settings,
    clock: Clock,
    storage: Storage | None = None,
    *,
    tries: int = 5,
) -> Callable[[dict[str, Any]], Awaitable[None]]:
    """For the in-process fake WeChat: hand its events to handle_event as the push URL would,
    pushing again a little later while the verdict's trace_id is not stored yet."""

    async def push(event: dict[str, Any]) -> None:
        for attempt in range(tries):
            files: list[str] = []
            async with maker() as session, session.begin():
                handled = await handle_event(session, event, settings=settings, now=clock.now(), files=files)
            if handled:
                if storage is not None:
                    await privacy.delete_files(storage, files)
                return
            await asyncio.sleep(0.1 * (attempt + 1))
        log.warning("fake push of %s never matched", event.get("Event"))

    return push
