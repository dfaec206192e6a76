"""HTTP-level hardening: security headers on every response, CORS for the H5 client, and no
U+0000 in a request's path or query string.

All are plain ASGI middleware (no BaseHTTPMiddleware), so streamed responses such as the
Server-Sent Events feed at /api/v1/events pass through chunk by chunk.
"""

import base64
import hashlib
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import unquote_to_bytes

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.errors import input_error, validation_envelope

__all__ = ["CORSMiddleware", "NulGuard", "SecurityHeaders", "cors_options", "docs_csp"]

# A JSON API never needs to load anything into a page, nor to be framed.
API_CSP = "default-src 'none'; frame-ancestors 'none'"

# FastAPI's /docs (Swagger UI) and /redoc pages load their bundles from jsDelivr, run one inline
# script (Swagger UI's setup; its sha256 is added per response), fetch /openapi.json from here,
# and ReDoc pulls Google Fonts and starts its search worker from a blob: URL. Inline styles are
# allowed there (both UIs inject <style> at run time); nothing else is.
_DOCS_CSP = (
    "default-src 'none'; "
    "script-src https://cdn.jsdelivr.net{hashes}; "
    "style-src 'unsafe-inline' https://cdn.jsdelivr.net https://fonts.googleapis.com; "
    "font-src https://fonts.gstatic.com; "
    "img-src 'self' data: https://fastapi.tiangolo.com; "
    "connect-src 'self'; "
    "worker-src blob:; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
DOCS_PATHS = frozenset({"/docs", "/docs/oauth2-redirect", "/redoc"})

# The H5 client (/m/) and the staff dashboard (/admin/), served by app/web: their own scripts,
# styles and API calls only; photos are previewed from blob: URLs, charts and maps are inline SVG.
WEB_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


def web_csp(tile_origin: str = "") -> str:
    """WEB_CSP, with the map tiles' origin (settings.web) allowed as an image source."""
    if not tile_origin:
        return WEB_CSP
    return WEB_CSP.replace("img-src 'self' blob: data:", f"img-src 'self' blob: data: {tile_origin}")


WEB_PREFIXES = ("/m/", "/admin/")
# The docs pages are a few KB; anything bigger is passed on without a script hash.
_DOCS_MAX_BUFFER = 256 * 1024
_INLINE_SCRIPT = re.compile(rb"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", re.DOTALL | re.IGNORECASE)

HSTS = "max-age=31536000"

BASE_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
)

CORS_METHODS = ("GET", "POST", "PATCH", "PUT", "DELETE")
CORS_HEADERS = ("Authorization", "Content-Type", "Idempotency-Key")


def docs_csp(html: bytes) -> str:
    """The docs pages' policy, allowing exactly the inline scripts of this page by hash."""
    hashes = "".join(
        f" 'sha256-{base64.b64encode(hashlib.sha256(m.group(1)).digest()).decode()}'"
        for m in _INLINE_SCRIPT.finditer(html)
    )
    return _DOCS_CSP.format(hashes=hashes)


def _with_defaults(headers: Iterable[tuple[bytes, bytes]], extra: list[tuple[bytes, bytes]]) -> list:
    """Headers plus those of `extra` the response does not set itself."""
    out = list(headers)
    present = {name.lower() for name, _ in out}
    out.extend((name, value) for name, value in extra if name not in present)
    return out


class SecurityHeaders:
    """Add nosniff, frame denial, no-referrer, a CSP and (over https) HSTS to every response."""

    def __init__(self, app: ASGIApp, *, tile_origin: str = "") -> None:
        self.app = app
        self.web_csp = web_csp(tile_origin)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = list(BASE_HEADERS)
        if scope.get("scheme") == "https":
            extra.append((b"strict-transport-security", HSTS.encode()))
        path, root = scope["path"], scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root) :]
        if path in DOCS_PATHS:
            await self._docs(scope, receive, send, extra)
            return
        csp = self.web_csp if path.startswith(WEB_PREFIXES) else API_CSP
        extra.append((b"content-security-policy", csp.encode()))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": _with_defaults(message.get("headers", ()), extra)}
            await send(message)

        await self.app(scope, receive, send_with_headers)

    async def _docs(self, scope: Scope, receive: Receive, send: Send, extra: list) -> None:
        """Hold the (small, unstreamed) HTML page back to hash its inline script into the CSP."""
        start: dict[str, Any] | None = None
        chunks: list[bytes] = []
        size = 0

        async def flush(csp: str, more_body: bool) -> None:
            nonlocal start
            assert start is not None
            policy = (b"content-security-policy", csp.encode())
            headers = _with_defaults(start.get("headers", ()), [*extra, policy])
            await send({**start, "headers": headers})
            start = None
            await send({"type": "http.response.body", "body": b"".join(chunks), "more_body": more_body})
            chunks.clear()

        async def buffered_send(message: Message) -> None:
            nonlocal start, size
            if message["type"] == "http.response.start":
                start = dict(message)
                return
            if message["type"] != "http.response.body" or start is None:
                await send(message)
                return
            body = message.get("body", b"")
            chunks.append(body)
            size += len(body)
            if not message.get("more_body", False):
                await flush(docs_csp(b"".join(chunks)), more_body=False)
            elif size > _DOCS_MAX_BUFFER:
                await flush(_DOCS_CSP.format(hashes=""), more_body=True)

        await self.app(scope, receive, buffered_send)


def cors_options(origins: list[str]) -> dict[str, Any]:
    """Starlette CORSMiddleware options: the configured H5 origins only, never a wildcard."""
    if any("*" in origin for origin in origins):
        raise ValueError("LINLI_CORS_ORIGINS must list exact origins (https://h5.example.cn), not '*'")
    return {
        "allow_origins": [origin.rstrip("/") for origin in origins],
        "allow_methods": list(CORS_METHODS),
        "allow_headers": list(CORS_HEADERS),
        "allow_credentials": False,
        "max_age": 600,
    }


class NulGuard:
    """Refuse a path or query string holding U+0000 (%00) with the 422 envelope.

    PostgreSQL cannot store or compare text with U+0000 ("invalid byte sequence"), so such a value
    would fail only once it reached a query, as a 500. JSON bodies are checked by InSchema; the path
    and the query string, shared by every route, here."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # GeoReport v2 answers in its own error format: app/open311/router.py checks its requests.
        if scope["type"] == "http" and not scope["path"].startswith("/open311/"):
            where = None
            if "\x00" in scope["path"]:
                where = "path"
            elif b"\x00" in unquote_to_bytes(scope.get("query_string", b"")):
                where = "query"
            if where is not None:
                await validation_envelope([input_error(where, "string_contains_nul")])(scope, receive, send)
                return
        await self.app(scope, receive, send)
