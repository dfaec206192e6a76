"""WeChat mini-program login: code2Session (wx.login code → openid) behind one small client interface."""

import asyncio
import json
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from app.auth.exceptions import (
    WeChatCodeInvalid,
    WeChatCodeUsed,
    WeChatMisconfigured,
    WeChatRateLimited,
    WeChatUnavailable,
    WeChatUserBlocked,
)
from app.core.config import WeChatSettings

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


class WeChatClient(Protocol):
    async def code_to_session(self, code: str) -> WeChatSession:
        """Exchange a wx.login code for the user's identity, or raise a WeChat* AppError."""
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


class FakeWeChatClient:
    """In-process dev/test client following the Appendix A code conventions; never touches the network."""

    def __init__(self) -> None:
        self.used: set[str] = set()

    async def code_to_session(self, code: str) -> WeChatSession:
        """Exchange a fake code (e.g. "ok:<openid>") for a session."""
        return raise_for_errcode(fake_jscode2session(code, self.used))


class _Transient(Exception):
    """A failure worth one retry: network error, timeout, 5xx, unreadable body or errcode -1."""


class HttpxWeChatClient:
    """code2Session over HTTPS with httpx: one retry for transient failures, then WeChatUnavailable."""

    def __init__(
        self,
        cfg: WeChatSettings,
        http: httpx.AsyncClient,
        *,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        retry_backoff_seconds: float = 0.2,
        owns_http: bool = False,
    ) -> None:
        self._cfg = cfg
        self._http = http
        self._sleep = sleep
        self._backoff = retry_backoff_seconds
        self._owns_http = owns_http
        self._url = cfg.api_base.rstrip("/") + JSCODE2SESSION_PATH

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


def build_wechat_client(cfg: WeChatSettings, http: httpx.AsyncClient | None = None) -> WeChatClient:
    """Build the WeChat client chosen by cfg.client ("fake" for dev/tests, "http" for the real API)."""
    if cfg.client == "fake":
        return FakeWeChatClient()
    if http is None:
        # Caller should aclose() the returned client at shutdown; passing a shared client avoids that.
        return HttpxWeChatClient(cfg, httpx.AsyncClient(timeout=cfg.timeout_seconds), owns_http=True)
    return HttpxWeChatClient(cfg, http)


class _RedactSecretInUrls(logging.Filter):
    """Mask the secret query parameter in httpx's INFO "HTTP Request: GET <url>" log lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and any(isinstance(a, httpx.URL) and "secret" in a.params for a in args):
            record.args = tuple(
                a.copy_set_param("secret", "***") if isinstance(a, httpx.URL) and "secret" in a.params else a
                for a in args
            )
        return True


# code2Session only accepts the AppSecret as a query parameter, and httpx logs every request URL at
# INFO, so without this filter any INFO-level logging config would write the secret to the logs.
_httpx_logger = logging.getLogger("httpx")
if not any(type(f).__name__ == _RedactSecretInUrls.__name__ for f in _httpx_logger.filters):
    _httpx_logger.addFilter(_RedactSecretInUrls())
