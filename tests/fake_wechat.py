"""Fake WeChat API server (WECHAT.md Appendix A) for tests, served in-process through httpx.ASGITransport.

Knobs live on `app.state` so a test can set them between calls:

* `calls`: number of requests received; `requests`: their query parameters, in order.
* `fail_next_502`: answer the next N requests with HTTP 502 (the code is not consumed).
* `busy_next`: answer the next N requests with errcode -1 (the code is not consumed).
* `slow_next` / `slow_seconds`: sleep that long before handling the next N requests.
* `used_codes`: codes already presented (a second use answers 40163).
"""

import asyncio

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from app.auth.wechat import fake_jscode2session

FAKE_APP_ID = "wx-fake-app-id"
FAKE_APP_SECRET = "fake-app-secret-do-not-log"


def create_fake_wechat_app(app_id: str = FAKE_APP_ID, app_secret: str = FAKE_APP_SECRET) -> FastAPI:
    """Build a fake WeChat server that accepts only the given app id and secret."""
    app = FastAPI()
    app.state.calls = 0
    app.state.requests = []
    app.state.used_codes = set()
    app.state.fail_next_502 = 0
    app.state.busy_next = 0
    app.state.slow_next = 0
    # Long enough to outlast a 0.05 s client timeout; the client's deadline cancels it in-process.
    app.state.slow_seconds = 0.5

    @app.get("/sns/jscode2session", response_model=None)
    async def jscode2session(request: Request) -> JSONResponse | PlainTextResponse:
        state = request.app.state
        params = dict(request.query_params)
        state.calls += 1
        state.requests.append(params)

        # Injected faults come first and do not consume the code, as when WeChat never saw it.
        if state.slow_next > 0:
            state.slow_next -= 1
            await asyncio.sleep(state.slow_seconds)
        if state.fail_next_502 > 0:
            state.fail_next_502 -= 1
            return PlainTextResponse("<html>502 Bad Gateway</html>", status_code=502)
        if state.busy_next > 0:
            state.busy_next -= 1
            return _wx(-1, "system error")

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

    return app


def _wx(errcode: int, errmsg: str) -> JSONResponse:
    return JSONResponse({"errcode": errcode, "errmsg": errmsg}, media_type="text/plain")
