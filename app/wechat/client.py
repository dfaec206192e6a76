"""Every WeChat server API we use, behind one small client interface (WECHAT.md).

Login (code2Session), phone numbers (getuserphonenumber), subscribe messages, and content
security (msgSecCheck v2, mediaCheckAsync v2). FakeWeChatClient answers in-process with the
deterministic conventions of WECHAT.md Appendix A (dev and most tests); HttpxWeChatClient talks
to the real API (or a fake server in tests) with a shared, single-flight access token.
"""

import asyncio
import json
import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import httpx
from redis.asyncio import Redis

from app.auth.exceptions import (
    WeChatCodeInvalid,
    WeChatCodeUsed,
    WeChatMisconfigured,
    WeChatRateLimited,
    WeChatUnavailable,
    WeChatUserBlocked,
)
from app.core.config import WeChatSettings
from app.wechat import fake

if TYPE_CHECKING:
    from app.wechat.token import AccessTokenProvider

log = logging.getLogger("linli.wechat")

JSCODE2SESSION_PATH = "/sns/jscode2session"

# WeChat errcodes of code2Session (WECHAT.md §1.4).
ERR_SYSTEM_BUSY = -1
ERR_INVALID_CODE = 40029
ERR_CODE_USED = 40163
ERR_CODE_BLOCKED = 40226
ERR_RATE_LIMITED = 45011
# App id / secret problems: only an operator can fix these, so they are alerted on, never retried.
MISCONFIGURED_ERRCODES = frozenset({40125, 40013, 41002, 41004})

_FAKE_OPENID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_SIMPLE_ERRORS: dict[int, type[Exception]] = {
    ERR_INVALID_CODE: WeChatCodeInvalid,
    ERR_CODE_USED: WeChatCodeUsed,
    ERR_CODE_BLOCKED: WeChatUserBlocked,
    ERR_RATE_LIMITED: WeChatRateLimited,
    ERR_SYSTEM_BUSY: WeChatUnavailable,
}


@dataclass(frozen=True)
class WeChatSession:
    """The identity code2Session vouches for; session_key is dropped on purpose (never stored or returned)."""

    openid: str
    unionid: str | None = None


@dataclass(frozen=True)
class PhoneInfo:
    """getuserphonenumber's phone_info, checked against our app id."""

    phone_number: str  # with the country code for numbers outside mainland China
    pure_phone_number: str
    country_code: str


@dataclass(frozen=True)
class SecVerdict:
    """msgSecCheck v2's overall result."""

    suggest: str  # pass | review | risky
    label: int
    trace_id: str


class WeChatApiError(Exception):
    """WeChat answered a business API call with a non-zero errcode (not retryable as is)."""

    def __init__(self, errcode: int, errmsg: str = "") -> None:
        super().__init__(f"errcode={errcode} errmsg={errmsg!r}")
        self.errcode = errcode
        self.errmsg = errmsg


class NoSubscribeCredit(WeChatApiError):
    """43101: the user refused, unsubscribed, or has no one-time credit left. Not an error."""


class InvalidTemplateData(WeChatApiError):
    """47003: a template value broke its keyword type's rules; errmsg names the field."""


class WeChatTransientError(Exception):
    """Worth retrying later: network failure, timeout, HTTP 5xx, errcode -1 (busy) or 45011 (rate limit)."""

    def __init__(self, reason: str, *, errcode: int | None = None) -> None:
        super().__init__(reason)
        self.errcode = errcode


class WeChatClient(Protocol):
    async def code_to_session(self, code: str) -> WeChatSession:
        """Exchange a wx.login code for the user's identity, or raise a WeChat* AppError."""
        ...

    async def get_phone_number(self, code: str, openid: str | None = None) -> PhoneInfo:
        """Exchange a getPhoneNumber button code for the user's number (WeChatApiError 40029 if invalid)."""
        ...

    async def send_subscribe_message(
        self, *, openid: str, template_id: str, data: dict[str, str], page: str | None = None
    ) -> None:
        """Send one subscribe message (NoSubscribeCredit, InvalidTemplateData, WeChatApiError)."""
        ...

    async def msg_sec_check(self, *, openid: str, content: str, scene: int = 3) -> SecVerdict:
        """Check user text synchronously with msgSecCheck v2."""
        ...

    async def media_check_async(self, *, openid: str, media_url: str, media_type: int = 2) -> str:
        """Queue an image check; returns the trace_id its pushed wxa_media_check verdict will carry."""
        ...


def fake_jscode2session(code: str, used: set[str]) -> dict[str, Any]:
    """Answer a jscode2session call with the deterministic test conventions of WECHAT.md Appendix A."""
    if code in used:
        return {"errcode": ERR_CODE_USED, "errmsg": "code been used"}
    # A system error means WeChat did not process the code, so it stays usable; this lets the
    # "busy" code exercise retry-then-unavailable instead of turning into 40163 on the retry.
    if code == "busy":
        return {"errcode": ERR_SYSTEM_BUSY, "errmsg": "system error"}
    used.add(code)
    if code.startswith("ok:"):
        openid = code[3:]
        if _FAKE_OPENID.fullmatch(openid):
            return {"openid": openid, "session_key": "fake=="}
        return {"errcode": ERR_INVALID_CODE, "errmsg": "invalid code"}
    if code == "used":
        return {"errcode": ERR_CODE_USED, "errmsg": "code been used"}
    if code == "rl":
        return {
            "errcode": ERR_RATE_LIMITED,
            "errmsg": "api minute-quota reach limit mustslower retry next minute",
        }
    if code == "risky":
        return {"errcode": ERR_CODE_BLOCKED, "errmsg": "code blocked"}
    return {"errcode": ERR_INVALID_CODE, "errmsg": "invalid code"}


def raise_for_errcode(payload: dict[str, Any]) -> WeChatSession:
    """Turn a code2Session JSON payload into a WeChatSession or raise the matching WeChat* error."""
    # A successful response may omit errcode entirely (WECHAT.md §1.3).
    raw = payload.get("errcode", 0)
    errcode = raw if isinstance(raw, int) and not isinstance(raw, bool) else None
    if errcode is None:
        log.warning("code2Session returned a non-integer errcode: %r", raw)
        raise WeChatUnavailable()
    if errcode == 0:
        openid = payload.get("openid")
        if not isinstance(openid, str) or not openid:
            log.warning("code2Session succeeded without an openid")
            raise WeChatUnavailable()
        unionid = payload.get("unionid")
        return WeChatSession(openid=openid, unionid=unionid if isinstance(unionid, str) and unionid else None)
    if errcode in MISCONFIGURED_ERRCODES:
        # errmsg comes from WeChat and names the problem ("invalid appsecret"); it never echoes the secret.
        log.error("WeChat rejected our app credentials: errcode=%s errmsg=%r", errcode, payload.get("errmsg"))
        raise WeChatMisconfigured()
    if errcode in _SIMPLE_ERRORS:
        raise _SIMPLE_ERRORS[errcode]()
    log.warning("code2Session returned unexpected errcode=%s errmsg=%r", errcode, payload.get("errmsg"))
    raise WeChatUnavailable(errcode=errcode)


# Business API errcodes that mean "the access_token we sent is bad": refetch (normal mode) and retry once.
TOKEN_ERRCODES = frozenset({40001, 40014, 42001})


def check_api_payload(payload: dict[str, Any]) -> dict[str, Any]:
    """Return a business API answer, or raise the error its errcode means (WECHAT.md §3–§5)."""
    raw = payload.get("errcode", 0)
    errcode = raw if isinstance(raw, int) and not isinstance(raw, bool) else None
    errmsg = str(payload.get("errmsg", ""))
    if errcode is None:
        raise WeChatTransientError(f"non-integer errcode {raw!r}")
    if errcode == 0:
        return payload
    if errcode in (ERR_SYSTEM_BUSY, ERR_RATE_LIMITED):
        raise WeChatTransientError(f"errcode {errcode}", errcode=errcode)
    if errcode == fake.ERR_NO_CREDIT:
        raise NoSubscribeCredit(errcode, errmsg)
    if errcode == fake.ERR_TEMPLATE_DATA:
        raise InvalidTemplateData(errcode, errmsg)
    raise WeChatApiError(errcode, errmsg)


def phone_info(payload: dict[str, Any], app_id: str) -> PhoneInfo:
    """phone_info of a getuserphonenumber answer, after checking its watermark names our app."""
    info = payload.get("phone_info")
    if not isinstance(info, dict):
        raise WeChatTransientError("getuserphonenumber answered without phone_info")
    watermark = info.get("watermark") or {}
    if app_id and watermark.get("appid") != app_id:
        log.error("getuserphonenumber watermark names another app: %r", watermark.get("appid"))
        raise WeChatApiError(40013, "watermark appid mismatch")
    pure = str(info.get("purePhoneNumber") or "")
    if not pure:
        raise WeChatTransientError("getuserphonenumber answered without a number")
    # countryCode is documented as a number and seen as a string: accept both.
    return PhoneInfo(
        phone_number=str(info.get("phoneNumber") or pure),
        pure_phone_number=pure,
        country_code=str(info.get("countryCode") or "86"),
    )


def sec_verdict(payload: dict[str, Any]) -> SecVerdict:
    """The overall msgSecCheck v2 result (labels may arrive as strings)."""
    result = payload.get("result") or {}
    suggest = result.get("suggest")
    if suggest not in ("pass", "review", "risky"):
        raise WeChatTransientError(f"msgSecCheck answered suggest={suggest!r}")
    try:
        label = int(result.get("label", 0))
    except (TypeError, ValueError):
        label = 0
    return SecVerdict(suggest=suggest, label=label, trace_id=str(payload.get("trace_id") or ""))


EventHook = Callable[[dict[str, Any]], Awaitable[None]]


class FakeWeChatClient:
    """In-process dev/test client following the Appendix A conventions; never touches the network.

    Subscribe credits are unlimited unless `credits` is set; media-check verdicts are handed to
    `on_event` (wired by the app to the push handler) shortly after the request, as WeChat
    pushes them, unless `media_callbacks` is False (a verdict that never comes).
    """

    def __init__(self, app_id: str = "wx-dev", *, now: Callable[[], float] = time.time) -> None:
        self.app_id = app_id
        self._now = now
        self.used: set[str] = set()
        self.phone_codes: set[str] = set()
        self.credits: dict[tuple[str, str], int] | None = None
        self.sent: list[dict[str, Any]] = []
        self.media_checks: list[dict[str, Any]] = []
        self.media_callbacks = True
        self.on_event: EventHook | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def code_to_session(self, code: str) -> WeChatSession:
        """Exchange a fake code (e.g. "ok:<openid>") for a session."""
        return raise_for_errcode(fake_jscode2session(code, self.used))

    async def get_phone_number(self, code: str, openid: str | None = None) -> PhoneInfo:
        payload = check_api_payload(fake.phone_number(code, self.phone_codes, self.app_id))
        return phone_info(payload, self.app_id)

    async def send_subscribe_message(
        self, *, openid: str, template_id: str, data: dict[str, str], page: str | None = None
    ) -> None:
        body = {
            "touser": openid,
            "template_id": template_id,
            "page": page,
            "data": {k: {"value": v} for k, v in data.items()},
        }
        check_api_payload(fake.subscribe_send(body, self.credits))
        self.sent.append(body)
        log.info("fake WeChat: subscribe message %s to %s: %s", template_id, openid, data)

    async def msg_sec_check(self, *, openid: str, content: str, scene: int = 3) -> SecVerdict:
        body = {"content": content, "version": 2, "scene": scene, "openid": openid}
        return sec_verdict(check_api_payload(fake.msg_sec_check(body)))

    async def media_check_async(self, *, openid: str, media_url: str, media_type: int = 2) -> str:
        trace_id = uuid.uuid4().hex
        self.media_checks.append({"openid": openid, "media_url": media_url, "trace_id": trace_id})
        if self.media_callbacks and self.on_event is not None:
            event = fake.media_check_event(
                app_id=self.app_id, openid=openid, trace_id=trace_id, media_url=media_url, at=int(self._now())
            )
            task = asyncio.create_task(self._push_later(event))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return trace_id

    async def _push_later(self, event: dict[str, Any]) -> None:
        # WeChat answers first and pushes the verdict later; the caller has stored the trace_id by then.
        await asyncio.sleep(0.05)
        if self.on_event is not None:
            try:
                await self.on_event(event)
            except Exception:
                log.exception("fake media-check push failed")

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()


class _Transient(Exception):
    """A failure worth one retry: network error, timeout, 5xx, unreadable body or errcode -1."""


PHONE_NUMBER_PATH = "/wxa/business/getuserphonenumber"
SUBSCRIBE_SEND_PATH = "/cgi-bin/message/subscribe/send"
MSG_SEC_CHECK_PATH = "/wxa/msg_sec_check"
MEDIA_CHECK_ASYNC_PATH = "/wxa/media_check_async"


class HttpxWeChatClient:
    """The real WeChat server API over httpx.

    code2Session retries a transient failure once, then raises WeChatUnavailable. The business
    APIs (phone number, subscribe messages, content security) carry the shared access_token;
    a token WeChat rejects (40001/40014/42001) is refetched and the call retried exactly once.
    Any other failure is raised at once: WeChatTransientError (network, timeout, 5xx, -1, 45011)
    for the caller to retry later, or a WeChatApiError.
    """

    def __init__(
        self,
        cfg: WeChatSettings,
        http: httpx.AsyncClient,
        *,
        tokens: "AccessTokenProvider | None" = None,
        redis: Redis | None = None,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        retry_backoff_seconds: float = 0.2,
        owns_http: bool = False,
    ) -> None:
        # Imported here: app.wechat.token builds on this module's error types.
        from app.wechat.token import AccessTokenProvider, MemoryTokenStore, RedisTokenStore

        self._cfg = cfg
        self._http = http
        self._sleep = sleep
        self._backoff = retry_backoff_seconds
        self._owns_http = owns_http
        self._base = cfg.api_base.rstrip("/")
        self._url = self._base + JSCODE2SESSION_PATH
        if tokens is None:
            store = RedisTokenStore(redis, cfg.app_id) if redis is not None else MemoryTokenStore()
            tokens = AccessTokenProvider(cfg, http, store=store)
        self.tokens = tokens

    async def aclose(self) -> None:
        """Close the httpx client if this object created it."""
        if self._owns_http:
            await self._http.aclose()

    async def code_to_session(self, code: str) -> WeChatSession:
        """Exchange a wx.login code for the user's openid (and unionid when bound)."""
        if not code:
            raise WeChatCodeInvalid()
        if not self._cfg.app_id or not self._cfg.app_secret.get_secret_value():
            # Fail before sending a request WeChat would reject anyway (41002/41004).
            log.error("WeChat app_id / app_secret are not configured")
            raise WeChatMisconfigured()
        for attempt in range(2):
            if attempt:
                await self._sleep(self._backoff)
            try:
                payload = await self._fetch(code)
            except _Transient as exc:
                log.warning("code2Session attempt %d failed: %s", attempt + 1, exc)
                continue
            if payload.get("errcode") == ERR_SYSTEM_BUSY:
                log.warning("code2Session attempt %d: WeChat system busy (-1)", attempt + 1)
                continue
            return raise_for_errcode(payload)
        raise WeChatUnavailable()

    async def get_phone_number(self, code: str, openid: str | None = None) -> PhoneInfo:
        """Exchange a getPhoneNumber button code for the number, checked against our app id."""
        if not code:
            raise WeChatApiError(fake.ERR_INVALID_CODE, "empty code")
        body: dict[str, Any] = {"code": code}
        if openid:
            body["openid"] = openid
        return phone_info(await self._call(PHONE_NUMBER_PATH, body), self._cfg.app_id)

    async def send_subscribe_message(
        self, *, openid: str, template_id: str, data: dict[str, str], page: str | None = None
    ) -> None:
        """Send one subscribe message (NoSubscribeCredit, InvalidTemplateData, WeChatApiError)."""
        body: dict[str, Any] = {"touser": openid, "template_id": template_id}
        if page:
            body["page"] = page
        body["miniprogram_state"] = self._cfg.miniprogram_state
        body["lang"] = "zh_CN"
        body["data"] = {k: {"value": v} for k, v in data.items()}
        await self._call(SUBSCRIBE_SEND_PATH, body)

    async def msg_sec_check(self, *, openid: str, content: str, scene: int = 3) -> SecVerdict:
        """Check user text synchronously with msgSecCheck v2."""
        body = {"content": content, "version": 2, "scene": scene, "openid": openid}
        return sec_verdict(await self._call(MSG_SEC_CHECK_PATH, body))

    async def media_check_async(self, *, openid: str, media_url: str, media_type: int = 2) -> str:
        """Queue an image (2) or audio (1) check; returns the trace_id of the verdict WeChat will push."""
        body = {"media_url": media_url, "media_type": media_type, "version": 2, "scene": 3, "openid": openid}
        payload = await self._call(MEDIA_CHECK_ASYNC_PATH, body)
        trace_id = payload.get("trace_id")
        if not isinstance(trace_id, str) or not trace_id:
            raise WeChatTransientError("mediaCheckAsync answered without a trace_id")
        return trace_id

    async def _call(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST body to a business API with the access_token; one refetch-and-retry on a rejected token."""
        token = await self.tokens.get()
        payload = await self._post(path, body, token)
        errcode = payload.get("errcode")
        if errcode in TOKEN_ERRCODES:
            log.warning("WeChat %s rejected the access_token (errcode=%s); refetching it once", path, errcode)
            await self.tokens.invalidate(token)
            token = await self.tokens.get()
            payload = await self._post(path, body, token)
        return check_api_payload(payload)

    async def _post(self, path: str, body: dict[str, Any], token: str) -> dict[str, Any]:
        timeout = self._cfg.timeout_seconds
        # UTF-8 as is, not \u escapes: WeChat checks and counts the characters themselves.
        content = json.dumps(body, ensure_ascii=False).encode()
        try:
            async with asyncio.timeout(timeout):
                response = await self._http.post(
                    self._base + path,
                    params={"access_token": token},
                    content=content,
                    headers={"Content-Type": "application/json; charset=utf-8"},
                    timeout=timeout,
                )
        except TimeoutError:
            raise WeChatTransientError(f"{path} timed out after {timeout}s") from None
        except httpx.TransportError as exc:
            # Only the class name: exception text and exc.request can carry the URL, and so the token.
            raise WeChatTransientError(f"{path}: {type(exc).__name__}") from None
        if response.status_code != 200:
            log.warning("WeChat %s answered HTTP %d", path, response.status_code)
            raise WeChatTransientError(f"{path} HTTP {response.status_code}")
        try:
            payload = json.loads(response.content)
        except ValueError:
            raise WeChatTransientError(f"{path} answered with a non-JSON body") from None
        if not isinstance(payload, dict):
            raise WeChatTransientError(f"{path} answered with a JSON non-object")
        return payload

    async def _fetch(self, code: str) -> dict[str, Any]:
        params = {
            "appid": self._cfg.app_id,
            "secret": self._cfg.app_secret.get_secret_value(),
            "js_code": code,
            "grant_type": "authorization_code",
        }
        timeout = self._cfg.timeout_seconds
        try:
            # httpx timeouts bound each phase (connect, each read), not the whole exchange, and an
            # in-process ASGI transport ignores them; the outer deadline covers both.
            async with asyncio.timeout(timeout):
                response = await self._http.get(self._url, params=params, timeout=timeout)
        except TimeoutError:
            raise _Transient(f"timed out after {timeout}s") from None
        except httpx.TransportError as exc:
            # Only the class name: exception text and exc.request can carry the URL, and so the secret.
            raise _Transient(type(exc).__name__) from None
        if response.status_code >= 500:
            raise _Transient(f"HTTP {response.status_code}")
        if response.status_code != 200:
            log.warning("code2Session answered HTTP %d", response.status_code)
            raise WeChatUnavailable(status=response.status_code)
        try:
            # Parse the body whatever its content type: WeChat's content-type header is not relied on.
            payload = json.loads(response.content)
        except ValueError:
            raise _Transient("non-JSON body") from None
        if not isinstance(payload, dict):
            raise _Transient("JSON body is not an object")
        return payload


def build_wechat_client(
    cfg: WeChatSettings, http: httpx.AsyncClient | None = None, redis: Redis | None = None
) -> WeChatClient:
    """Build the WeChat client chosen by cfg.client ("fake" for dev/tests, "http" for the real API).

    With redis the access_token is shared by every process (RedisTokenStore), else kept in memory.
    """
    if cfg.client == "fake":
        return FakeWeChatClient(app_id=cfg.app_id or "wx-dev")
    if http is None:
        # Caller should aclose() the returned client at shutdown; passing a shared client avoids that.
        return HttpxWeChatClient(
            cfg, httpx.AsyncClient(timeout=cfg.timeout_seconds), redis=redis, owns_http=True
        )
    return HttpxWeChatClient(cfg, http, redis=redis)


_REDACTED_PARAMS = ("secret", "access_token")


class _RedactSecretInUrls(logging.Filter):
    """Mask the secret and access_token query parameters in httpx's INFO "HTTP Request: <url>" lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and any(_has_redacted(a) for a in args):
            record.args = tuple(_redact(a) if _has_redacted(a) else a for a in args)
        return True


def _has_redacted(arg: object) -> bool:
    return isinstance(arg, httpx.URL) and any(name in arg.params for name in _REDACTED_PARAMS)


def _redact(url: httpx.URL) -> httpx.URL:
    for name in _REDACTED_PARAMS:
        if name in url.params:
            url = url.copy_set_param(name, "***")
    return url


# code2Session only accepts the AppSecret as a query parameter, the business APIs the access_token,
# and httpx logs every request URL at INFO, so without this filter any INFO-level logging config
# would write them to the logs.
_httpx_logger = logging.getLogger("httpx")
if not any(type(f).__name__ == _RedactSecretInUrls.__name__ for f in _httpx_logger.filters):
    _httpx_logger.addFilter(_RedactSecretInUrls())
