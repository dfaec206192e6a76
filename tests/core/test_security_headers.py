"""Security headers on every kind of response (JSON, error envelope, SSE stream, docs pages) and CORS
limited to the configured H5 origins."""

import asyncio
import base64
import hashlib
import json
import re
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from starlette.middleware.base import BaseHTTPMiddleware

from app.core.config import Settings
from app.core.http_security import API_CSP, SecurityHeaders, cors_options
from app.main import create_app
from app.media.storage import InMemoryStorage
from app.wechat.client import FakeWeChatClient
from tests.conftest import make_settings
from tests.dbutil import DatabaseFactory
from tests.factories import bearer, make_category, make_user, make_world
from tests.fakes import FrozenClock

H5 = "https://h5.linli.example.cn"
OTHER_H5 = "https://wx.linli.example.cn"
EVIL = "https://evil.example.com"
ME = "/api/v1/me"
IN_G1 = {"lat": 34.272, "lng": 108.952, "coord_system": "wgs84"}


def assert_security_headers(r: httpx.Response, *, csp: str | None = API_CSP) -> None:
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["referrer-policy"] == "no-referrer"
    if csp is not None:
        assert r.headers["content-security-policy"] == csp
    # Each header once (the middleware never doubles what a route or another middleware set).
    for name in ("x-content-type-options", "x-frame-options", "content-security-policy"):
        assert len(r.headers.get_list(name)) == 1, name


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return make_settings(database_url, tmp_path, cors_origins=[H5, OTHER_H5 + "/"])


@pytest.fixture
async def resident_auth(session, settings, clock) -> dict[str, str]:  # type: ignore[no-untyped-def]
    from app.auth.permissions import Role

    user = await make_user(session, Role.RESIDENT)
    await session.commit()
    return bearer(settings, clock, user)


class TestHeadersOnEveryResponse:
    async def test_json_response(self, client: httpx.AsyncClient, resident_auth) -> None:
        r = await client.get(ME, headers=resident_auth)
        assert r.status_code == 200
        assert_security_headers(r)

    async def test_health_and_openapi(self, client: httpx.AsyncClient) -> None:
        for path in ("/healthz", "/openapi.json"):
            r = await client.get(path)
            assert r.status_code == 200
            assert_security_headers(r)

    async def test_404_envelope(self, client: httpx.AsyncClient) -> None:
        r = await client.get("/api/v1/no-such-thing")
        assert r.status_code == 404 and r.json()["code"] == "route.not_found"
        assert_security_headers(r)

    async def test_422_envelope(self, client: httpx.AsyncClient) -> None:
        r = await client.post("/api/v1/auth/wechat/login", json={"code": ""})
        assert r.status_code == 422 and r.json()["code"] == "request.invalid"
        assert_security_headers(r)

    async def test_401_keeps_its_challenge(self, client: httpx.AsyncClient) -> None:
        r = await client.get(ME)
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
        assert_security_headers(r)

    async def test_413_from_the_body_size_limit(self, client: httpx.AsyncClient) -> None:
        r = await client.post("/api/v1/auth/wechat/login", content=b"x" * (300 * 1024))
        assert r.status_code == 413 and r.json()["code"] == "request.too_large"
        assert_security_headers(r)

    async def test_500_envelope(self, app: FastAPI) -> None:
        @app.get("/_test/boom")
        async def boom() -> None:
            raise RuntimeError("unexpected")

        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            r = await c.get("/_test/boom", headers={"Origin": H5})
        assert r.status_code == 500 and r.json()["code"] == "server.error"
        assert r.headers.get("access-control-allow-origin") == H5
        assert_security_headers(r)

    async def test_hsts_only_over_https(self, app: FastAPI) -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as plain:
            assert "strict-transport-security" not in (await plain.get("/healthz")).headers
        async with httpx.AsyncClient(transport=transport, base_url="https://test") as tls:
            r = await tls.get("/healthz")
        assert r.headers["strict-transport-security"] == "max-age=31536000"
        assert_security_headers(r)

    async def test_a_header_set_by_the_route_is_kept(self, app: FastAPI, client: httpx.AsyncClient) -> None:
        from fastapi.responses import JSONResponse

        @app.get("/_test/framed")
        async def framed() -> JSONResponse:
            return JSONResponse({}, headers={"X-Frame-Options": "SAMEORIGIN"})

        r = await client.get("/_test/framed")
        assert r.headers.get_list("x-frame-options") == ["SAMEORIGIN"]
        assert r.headers["content-security-policy"] == API_CSP


class TestDocsPages:
    """Swagger UI and ReDoc run scripts from jsDelivr: their CSP allows exactly what the pages load."""

    @staticmethod
    def _policy(r: httpx.Response) -> dict[str, list[str]]:
        out = {}
        for part in r.headers["content-security-policy"].split(";"):
            name, *values = part.split()
            out[name] = values
        return out

    @staticmethod
    def _external(html: str, tag: str, attr: str) -> set[str]:
        return set(re.findall(rf"<{tag}[^>]*\b{attr}=\"([^\"]+)\"", html))

    async def test_swagger_ui_may_run_its_bundle_and_exactly_its_inline_script(
        self, client: httpx.AsyncClient
    ) -> None:
        r = await client.get("/docs")
        assert r.status_code == 200
        assert_security_headers(r, csp=None)
        policy = self._policy(r)
        assert policy["default-src"] == ["'none'"] and policy["frame-ancestors"] == ["'none'"]
        for src in self._external(r.text, "script", "src"):
            assert any(
                src.startswith(origin) for origin in policy["script-src"] if origin.startswith("https")
            )
        inline = re.findall(r"<script>(.*?)</script>", r.text, re.DOTALL)
        assert len(inline) == 1  # SwaggerUIBundle({...}) with our openapi URL and parameters
        digest = base64.b64encode(hashlib.sha256(inline[0].encode()).digest()).decode()
        assert policy["script-src"] == ["https://cdn.jsdelivr.net", f"'sha256-{digest}'"]
        assert "'unsafe-inline'" not in policy["script-src"] and "'unsafe-eval'" not in policy["script-src"]
        for href in self._external(r.text, "link", "href"):
            allowed = policy["style-src"] + policy["img-src"]
            assert any(href.startswith(origin) for origin in allowed if origin.startswith("https")), href
        assert policy["connect-src"] == ["'self'"]  # /openapi.json and "Try it out"

    async def test_redoc_may_load_its_bundle_and_fonts(self, client: httpx.AsyncClient) -> None:
        r = await client.get("/redoc")
        assert r.status_code == 200
        assert_security_headers(r, csp=None)
        policy = self._policy(r)
        assert policy["script-src"] == ["https://cdn.jsdelivr.net"]  # no inline script on this page
        assert "https://fonts.googleapis.com" in policy["style-src"]
        assert policy["font-src"] == ["https://fonts.gstatic.com"]
        assert policy["worker-src"] == ["blob:"]

    async def test_the_oauth2_redirect_page_gets_its_own_script_hash(self, client: httpx.AsyncClient) -> None:
        r = await client.get("/docs/oauth2-redirect")
        assert r.status_code == 200
        (script,) = re.findall(r"<script>(.*?)</script>", r.text, re.DOTALL)
        digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in self._policy(r)["script-src"]


class TestMiddlewareStreams:
    async def test_it_is_plain_asgi(self) -> None:
        assert not issubclass(SecurityHeaders, BaseHTTPMiddleware)

    async def test_each_chunk_is_passed_on_before_the_next_is_produced(self) -> None:
        """What SSE needs: the first chunk reaches the client while the app still waits to send more."""
        release = asyncio.Event()
        sent: list[dict] = []

        async def streaming_app(scope, receive, send) -> None:  # type: ignore[no-untyped-def]
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"data: 1\n\n", "more_body": True})
            await release.wait()
            await send({"type": "http.response.body", "body": b"", "more_body": False})

        async def receive() -> dict:
            await asyncio.Event().wait()
            return {}

        async def send(message: dict) -> None:
            sent.append(message)

        scope = {"type": "http", "path": "/api/v1/events", "scheme": "http", "headers": []}
        task = asyncio.create_task(SecurityHeaders(streaming_app)(scope, receive, send))
        for _ in range(100):
            if len(sent) == 2:
                break
            await asyncio.sleep(0)
        assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]
        assert (b"x-content-type-options", b"nosniff") in sent[0]["headers"]
        assert not task.done()
        release.set()
        await asyncio.wait_for(task, 1)
        assert len(sent) == 3


@pytest.fixture
async def sse_server(databases: DatabaseFactory, tmp_path: Path) -> AsyncIterator[tuple[str, dict]]:
    settings = make_settings(databases.copy(), tmp_path, cors_origins=[H5])
    clock = FrozenClock()
    app = create_app(settings, clock=clock, wechat=FakeWeChatClient(), storage=InMemoryStorage())
    async with app.state.sessionmaker() as session:
        world = await make_world(session)
        category = await make_category(session, world.s1, respond_minutes=10, resolve_hours=72)
        await session.commit()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on", timeout_graceful_shutdown=2))
    task = asyncio.create_task(srv.serve(sockets=[sock]))
    while not srv.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    ctx = {
        "worker": bearer(settings, clock, world.worker),
        "resident": bearer(settings, clock, world.resident),
        "category_id": str(category.id),
    }
    try:
        yield f"http://127.0.0.1:{port}", ctx
    finally:
        srv.should_exit = True
        await asyncio.wait_for(task, 10)
        sock.close()


async def _next_event(lines: AsyncIterator[str]) -> dict[str, str]:
    event: dict[str, str] = {}
    async for line in lines:
        if line == "" and event:
            return event
        if line and not line.startswith(":"):
            name, _, value = line.partition(":")
            event[name] = value.removeprefix(" ")
    raise AssertionError("stream ended")


async def test_the_sse_stream_has_the_headers_and_still_streams(sse_server) -> None:  # type: ignore[no-untyped-def]
    base, ctx = sse_server
    http = httpx.AsyncClient(base_url=base, trust_env=False, timeout=10)
    headers = {**ctx["worker"], "Origin": H5}
    async with http, http.stream("GET", "/api/v1/events", headers=headers) as stream:
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        assert_security_headers(stream)  # type: ignore[arg-type]
        assert stream.headers["access-control-allow-origin"] == H5
        lines = stream.aiter_lines()
        assert (await asyncio.wait_for(_next_event(lines), 5))["event"] == "ready"
        body = {"category_id": ctx["category_id"], "description": "路灯不亮", "location": IN_G1}
        r = await http.post("/api/v1/tickets", json=body, headers=ctx["resident"])
        assert r.status_code == 201, r.text
        assert_security_headers(r)
        # Delivered while the response is still open: nothing buffers the stream.
        event = await asyncio.wait_for(_next_event(lines), 5)
        assert event["event"] == "ticket.new"
        assert json.loads(event["data"])["ticket_id"] == r.json()["id"]


class TestCors:
    @staticmethod
    def _preflight(origin: str, method: str = "POST", headers: str = "authorization,content-type") -> dict:
        return {
            "Origin": origin,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": headers,
        }

    async def test_preflight_from_the_h5_client_is_allowed(self, client: httpx.AsyncClient) -> None:
        r = await client.options(
            "/api/v1/tickets",
            headers=self._preflight(H5, headers="authorization,content-type,idempotency-key"),
        )
        assert r.status_code == 200
        assert r.headers["access-control-allow-origin"] == H5
        methods = {m.strip() for m in r.headers["access-control-allow-methods"].split(",")}
        assert methods == {"GET", "POST", "PATCH", "PUT", "DELETE"}
        allowed = {h.strip().lower() for h in r.headers["access-control-allow-headers"].split(",")}
        assert {"authorization", "content-type", "idempotency-key"} <= allowed
        assert "access-control-allow-credentials" not in r.headers
        assert_security_headers(r)

    async def test_an_origin_configured_with_a_trailing_slash_matches(
        self, client: httpx.AsyncClient
    ) -> None:
        r = await client.options("/api/v1/tickets", headers=self._preflight(OTHER_H5))
        assert r.headers.get("access-control-allow-origin") == OTHER_H5

    @pytest.mark.parametrize(
        "origin", [EVIL, "null", "http://h5.linli.example.cn", "https://h5.linli.example.cn.evil.com"]
    )
    async def test_preflight_from_another_origin_gets_no_cors_headers(
        self, client: httpx.AsyncClient, origin: str
    ) -> None:
        r = await client.options("/api/v1/tickets", headers=self._preflight(origin))
        assert r.status_code == 400
        assert "access-control-allow-origin" not in r.headers
        assert_security_headers(r)

    async def test_a_header_outside_the_list_is_refused(self, client: httpx.AsyncClient) -> None:
        r = await client.options("/api/v1/tickets", headers=self._preflight(H5, headers="x-forwarded-for"))
        assert r.status_code == 400

    async def test_a_method_outside_the_list_is_refused(self, client: httpx.AsyncClient) -> None:
        r = await client.options("/api/v1/tickets", headers=self._preflight(H5, method="TRACE"))
        assert r.status_code == 400

    async def test_simple_requests_echo_only_the_allowed_origin(
        self, client: httpx.AsyncClient, resident_auth
    ) -> None:
        ok = await client.get(ME, headers={**resident_auth, "Origin": H5})
        assert ok.status_code == 200 and ok.headers["access-control-allow-origin"] == H5
        evil = await client.get(ME, headers={**resident_auth, "Origin": EVIL})
        assert "access-control-allow-origin" not in evil.headers
        # Errors carry it too, so the H5 client can read the envelope.
        err = await client.get("/api/v1/nope", headers={"Origin": H5})
        assert err.headers["access-control-allow-origin"] == H5

    async def test_never_a_wildcard(self, client: httpx.AsyncClient) -> None:
        for headers in (self._preflight(H5), self._preflight(EVIL), {"Origin": EVIL}, {"Origin": H5}):
            r = await client.request("OPTIONS" if len(headers) > 1 else "GET", "/healthz", headers=headers)
            assert r.headers.get("access-control-allow-origin") != "*"
            assert "access-control-allow-credentials" not in r.headers

    async def test_without_configured_origins_no_cross_origin_access(
        self, app: FastAPI, database_url: str, tmp_path: Path
    ) -> None:
        bare = create_app(make_settings(database_url, tmp_path), wechat=FakeWeChatClient())
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=bare), base_url="http://t") as c:
            r = await c.options("/api/v1/tickets", headers=self._preflight(H5))
            assert "access-control-allow-origin" not in r.headers
            r = await c.get("/healthz", headers={"Origin": H5})
            assert "access-control-allow-origin" not in r.headers
        await bare.state.engine.dispose()

    def test_a_wildcard_is_refused_at_startup(self) -> None:
        for bad in (["*"], [H5, "https://*.example.cn"]):
            with pytest.raises(ValueError, match="exact origins"):
                cors_options(bad)

    def test_origins_come_from_the_environment_as_json(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("LINLI_CORS_ORIGINS", json.dumps([H5, OTHER_H5]))
        assert Settings(_env_file=None).cors_origins == [H5, OTHER_H5]  # type: ignore[call-arg]
        monkeypatch.delenv("LINLI_CORS_ORIGINS")
        assert Settings(_env_file=None).cors_origins == []  # type: ignore[call-arg]
