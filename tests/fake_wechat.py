"""Fake WeChat API server (WECHAT.md Appendix A) for tests, served in-process through httpx.ASGITransport.

Knobs and records live on `app.state` so a test can set and read them between calls.

code2Session (`GET /sns/jscode2session`):

* `calls`: number of jscode2session requests received; `requests`: their query parameters, in order.
* `used_codes`: codes already presented (a second use answers 40163).

Faults, for jscode2session and the business APIs alike (not stable_token), each consumed by one request
before anything else is looked at (the code is not consumed, as when WeChat never saw it):

* `fail_next_502`: answer the next N requests with HTTP 502.
* `busy_next`: answer the next N requests with errcode -1.
* `rate_limit_next`: answer the next N requests with errcode 45011.
* `slow_next` / `slow_seconds`: sleep that long before handling the next N requests.

access_token (`POST /cgi-bin/stable_token`, JSON body):

* Issues ``fake-<n>``; the same token again unless ``force_refresh`` is true (which revokes the old
  one) or the current token has been expired by a test. `token_expires_in` (7200) is the expires_in.
* `token_calls`: number of stable_token requests; `token_requests`: their JSON bodies.
* `token_busy_next` / `token_rate_limit_next` / `token_fail_next_502`: faults for stable_token only.
* `token_delay_seconds`: how long stable_token takes (0: it still yields once, so concurrent callers
  really overlap; in-process calls otherwise finish without ever suspending).
* `issued_tokens`: every token issued and not revoked.

Business APIs (`POST …?access_token=…`, JSON body): `api_requests` records each as
``{"path", "access_token", "body"}``. The token ``"expired"`` or one in `expired_tokens` answers 42001;
one in `invalid_tokens`, or one never issued, answers 40001. `api_delay_seconds` is how long each takes
(0: it still yields once).

* getuserphonenumber: `app.wechat.fake.phone_number`; `phone_codes` holds used codes;
  `watermark_appid` (None: our app id) is what the watermark names.
* subscribe/send: `app.wechat.fake.subscribe_send` with `credits` ({(openid, template_id): n}, None
  for unlimited); messages sent are appended to `sent`.
* msg_sec_check: `app.wechat.fake.msg_sec_check`.
* media_check_async: answers a `trace_id` (records ``{"trace_id", "body"}`` in `media_checks`) and,
  unless `media_callbacks` is False, a background task POSTs the `wxa_media_check` event to `push_url`
  through `push_client` (an httpx.AsyncClient the test provides), signed with `push_token` like
  WeChat's message push (query signature/timestamp/nonce), retrying up to 3 times 0.05 s apart
  while the answer is not 200. Each attempt's status (or exception class name) is appended to
  `push_attempts`; `await wait_for_pushes(app)` waits for the pending pushes.
"""

import asyncio
import hashlib
import json
import time
import uuid
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from app.wechat import fake
from app.wechat.client import fake_jscode2session

FAKE_APP_ID = "wx-fake-app-id"
FAKE_APP_SECRET = "fake-app-secret-do-not-log"
FAKE_PUSH_TOKEN = "dev-push-token"

PUSH_ATTEMPTS = 3
PUSH_RETRY_SECONDS = 0.05


def sign_push(token: str, timestamp: str, nonce: str) -> str:
    """WeChat's message-push signature: sha1 of the sorted, concatenated token, timestamp and nonce."""
    return hashlib.sha1("".join(sorted([token, timestamp, nonce])).encode()).hexdigest()


async def wait_for_pushes(app: FastAPI, timeout: float = 2.0) -> None:
    """Wait until every scheduled media-check push has finished (delivered or given up)."""
    async with asyncio.timeout(timeout):
        while app.state.push_tasks:
            await asyncio.gather(*list(app.state.push_tasks), return_exceptions=True)


def create_fake_wechat_app(app_id: str = FAKE_APP_ID, app_secret: str = FAKE_APP_SECRET) -> FastAPI:
    """Build a fake WeChat server that accepts only the given app id and secret."""
    app = FastAPI()
    state = app.state
    state.calls = 0
    state.requests = []
    state.used_codes = set()
    state.fail_next_502 = 0
    state.busy_next = 0
    state.rate_limit_next = 0
    state.slow_next = 0
    # Long enough to outlast a 0.05 s client timeout; the client's deadline cancels it in-process.
    state.slow_seconds = 0.5

    state.token_calls = 0
    state.token_requests = []
    state.token_busy_next = 0
    state.token_rate_limit_next = 0
    state.token_fail_next_502 = 0
    state.token_expires_in = 7200
    state.token_delay_seconds = 0.0
    state.token_seq = 0
    state.current_token = None
    state.issued_tokens = set()
    state.expired_tokens = set()
    state.invalid_tokens = set()

    state.api_requests = []
    state.api_delay_seconds = 0.0
    state.phone_codes = set()
    state.watermark_appid = None
    state.credits = None
    state.sent = []
    state.media_checks = []
    state.media_callbacks = True
    state.push_url = None
    state.push_client = None
    state.push_token = FAKE_PUSH_TOKEN
    state.push_attempts = []
    state.push_tasks = set()

    async def injected_fault() -> Response | None:
        if state.slow_next > 0:
            state.slow_next -= 1
            await asyncio.sleep(state.slow_seconds)
        if state.fail_next_502 > 0:
            state.fail_next_502 -= 1
            return PlainTextResponse("<html>502 Bad Gateway</html>", status_code=502)
        if state.busy_next > 0:
            state.busy_next -= 1
            return _wx(-1, "system error")
        if state.rate_limit_next > 0:
            state.rate_limit_next -= 1
            return _wx(45011, "api minute-quota reach limit mustslower retry next minute")
        return None

    @app.get("/sns/jscode2session", response_model=None)
    async def jscode2session(request: Request) -> Response:
        params = dict(request.query_params)
        state.calls += 1
        state.requests.append(params)

        # Injected faults come first and do not consume the code, as when WeChat never saw it.
        fault = await injected_fault()
        if fault is not None:
            return fault

        # Same checks, same order, as the real endpoint: credentials before the code.
        if not params.get("appid"):
            return _wx(41002, "appid missing")
        if params["appid"] != app_id:
            return _wx(40013, "invalid appid")
        if not params.get("secret"):
            return _wx(41004, "appsecret missing")
        if params["secret"] != app_secret:
            return _wx(40125, "invalid appsecret")
        if params.get("grant_type") != "authorization_code":
            return _wx(40002, "invalid grant_type")
        if not params.get("js_code"):
            return _wx(41008, "missing code")
        # Served as text/plain so tests prove the client parses the body whatever its content type.
        return JSONResponse(fake_jscode2session(params["js_code"], state.used_codes), media_type="text/plain")

    @app.post("/cgi-bin/stable_token", response_model=None)
    async def stable_token(request: Request) -> Response:
        state.token_calls += 1
        body = await _json_body(request)
        state.token_requests.append(body)
        await asyncio.sleep(state.token_delay_seconds)
        if state.token_fail_next_502 > 0:
            state.token_fail_next_502 -= 1
            return PlainTextResponse("<html>502 Bad Gateway</html>", status_code=502)
        if state.token_busy_next > 0:
            state.token_busy_next -= 1
            return _wx(-1, "system error")
        if state.token_rate_limit_next > 0:
            state.token_rate_limit_next -= 1
            return _wx(45011, "api minute-quota reach limit mustslower retry next minute")
        if body is None:
            return _wx(47001, "data format error")
        if body.get("grant_type") != "client_credential":
            return _wx(40002, "invalid grant_type")
        if not body.get("appid"):
            return _wx(41002, "appid missing")
        if body["appid"] != app_id:
            return _wx(40013, "invalid appid")
        if not body.get("secret"):
            return _wx(41004, "appsecret missing")
        if body["secret"] != app_secret:
            return _wx(40125, "invalid appsecret")
        force = body.get("force_refresh") is True
        current = state.current_token
        if force or current is None or current in state.expired_tokens:
            if force and current is not None:
                # Force-refresh mode invalidates the previous token immediately.
                state.issued_tokens.discard(current)
            state.token_seq += 1
            current = state.current_token = f"fake-{state.token_seq}"
            state.issued_tokens.add(current)
        return JSONResponse(
            {"access_token": current, "expires_in": state.token_expires_in}, media_type="text/plain"
        )

    async def business(request: Request) -> tuple[dict[str, Any], Response | None]:
        """Record the call; its JSON body, or the answer that ends it (fault, bad token, bad body)."""
        token = request.query_params.get("access_token", "")
        body = await _json_body(request)
        state.api_requests.append({"path": request.url.path, "access_token": token, "body": body})
        await asyncio.sleep(state.api_delay_seconds)
        fault = await injected_fault()
        if fault is not None:
            return {}, fault
        if token == "expired" or token in state.expired_tokens:
            return {}, _wx(42001, "access_token expired")
        if not token or token in state.invalid_tokens or token not in state.issued_tokens:
            return {}, _wx(40001, "invalid credential, access_token is invalid or not latest")
        if body is None:
            return {}, _wx(47001, "data format error")
        return body, None

    @app.post("/wxa/business/getuserphonenumber", response_model=None)
    async def getuserphonenumber(request: Request) -> Response:
        body, answer = await business(request)
        if answer is not None:
            return answer
        watermark = state.watermark_appid or app_id
        return _json(fake.phone_number(str(body.get("code") or ""), state.phone_codes, watermark))

    @app.post("/cgi-bin/message/subscribe/send", response_model=None)
    async def subscribe_send(request: Request) -> Response:
        body, answer = await business(request)
        if answer is not None:
            return answer
        if body.get("miniprogram_state", "formal") not in ("developer", "trial", "formal"):
            return _wx(47003, "argument invalid! miniprogram_state invalid")
        result = fake.subscribe_send(body, state.credits)
        if result.get("errcode") == 0:
            state.sent.append(body)
        return _json(result)

    @app.post("/wxa/msg_sec_check", response_model=None)
    async def msg_sec_check(request: Request) -> Response:
        body, answer = await business(request)
        if answer is not None:
            return answer
        return _json(fake.msg_sec_check(body))

    @app.post("/wxa/media_check_async", response_model=None)
    async def media_check_async(request: Request) -> Response:
        body, answer = await business(request)
        if answer is not None:
            return answer
        if body.get("version") != 2 or not body.get("openid") or not body.get("media_url"):
            return _wx(fake.ERR_EMPTY, "empty media_url or missing version/openid")
        if body.get("media_type") not in (1, 2):
            return _wx(40004, "invalid media type")
        if body.get("scene") not in (1, 2, 3, 4):
            return _wx(fake.ERR_BAD_SCENE, "invalid scene")
        trace_id = uuid.uuid4().hex
        state.media_checks.append({"trace_id": trace_id, "body": body})
        if state.media_callbacks is not False and state.push_url and state.push_client is not None:
            event = fake.media_check_event(
                app_id=app_id,
                openid=str(body["openid"]),
                trace_id=trace_id,
                media_url=str(body["media_url"]),
                at=int(time.time()),
            )
            task = asyncio.create_task(push(event))
            state.push_tasks.add(task)
            task.add_done_callback(state.push_tasks.discard)
        return _json({"errcode": 0, "errmsg": "ok", "trace_id": trace_id})

    async def push(event: dict[str, Any]) -> None:
        """Deliver one event as WeChat's message push does, retrying while the answer is not 200."""
        client: httpx.AsyncClient = state.push_client
        content = json.dumps(event, ensure_ascii=False).encode()
        for attempt in range(PUSH_ATTEMPTS):
            # WeChat answers the API call first and pushes the verdict later, with a fresh signature.
            await asyncio.sleep(PUSH_RETRY_SECONDS if attempt else 0.01)
            timestamp, nonce = str(int(time.time())), uuid.uuid4().hex[:10]
            params = {
                "signature": sign_push(state.push_token, timestamp, nonce),
                "timestamp": timestamp,
                "nonce": nonce,
            }
            try:
                response = await client.post(
                    state.push_url,
                    params=params,
                    content=content,
                    headers={"Content-Type": "application/json"},
                )
            except Exception as exc:  # a push the receiver could not take is retried like a non-200
                state.push_attempts.append(type(exc).__name__)
                continue
            state.push_attempts.append(response.status_code)
            if response.status_code == 200:
                return

    return app


async def _json_body(request: Request) -> dict[str, Any] | None:
    try:
        body = json.loads(await request.body())
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _json(payload: dict[str, Any]) -> JSONResponse:
    # Served as text/plain, as WeChat often does: the client must parse the body whatever its type.
    return JSONResponse(payload, media_type="text/plain")


def _wx(errcode: int, errmsg: str) -> JSONResponse:
    return _json({"errcode": errcode, "errmsg": errmsg})
