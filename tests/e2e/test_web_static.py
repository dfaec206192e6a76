"""The static H5 client and dashboard as served (in process): the pages, their CSP, and what must
not be reachable through them. The browser tests (test_browser.py) show the pages work under it."""

import re

import httpx
import pytest
from pydantic import ValidationError

from app.core.config import WebSettings
from app.core.http_security import API_CSP, WEB_CSP
from app.main import create_app
from app.media.storage import InMemoryStorage
from app.wechat.client import FakeWeChatClient
from tests.conftest import make_settings


async def test_pages_are_served_with_the_web_policy(client: httpx.AsyncClient) -> None:
    for path, title in (("/m/", "邻里 · 随手拍"), ("/admin/", "邻里 · 治理看板")):
        r = await client.get(path)
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/html")
        assert r.headers["content-security-policy"] == WEB_CSP
        assert r.headers["cache-control"] == "no-cache"
        assert f"<title>{title}</title>" in r.text
        # No inline script or style: the policy allows only our own files.
        assert not re.search(r"<script(?![^>]*\bsrc=)", r.text)
        assert "<style" not in r.text and " style=" not in r.text


async def test_scripts_are_javascript_modules_the_policy_allows(client: httpx.AsyncClient) -> None:
    for path in ("/m/app.js", "/admin/app.js", "/admin/charts.js", "/web/api.js"):
        r = await client.get(path)
        assert r.status_code == 200, path
        assert r.headers["content-type"].startswith("text/javascript"), path
        assert r.headers["x-content-type-options"] == "nosniff"
        assert "eval(" not in r.text and "innerHTML" not in r.text, path
    css = await client.get("/web/base.css")
    assert css.headers["content-type"].startswith("text/css")


async def test_bare_paths_redirect_to_the_page(client: httpx.AsyncClient) -> None:
    for app in ("m", "admin"):
        r = await client.get(f"/{app}")
        assert r.status_code == 308
        assert r.headers["location"] == f"{app}/"


async def test_nothing_outside_the_static_folders_is_served(client: httpx.AsyncClient) -> None:
    # Each of these names a real file (app/web/router.py, app/main.py, a sibling app's script).
    escapes = (
        "/m/..%2f..%2frouter.py",
        "/m/%2e%2e/%2e%2e/router.py",
        "/admin/..%2f..%2f..%2fmain.py",
        "/admin/..%2fm%2fapp.js",
    )
    for path in (*escapes, "/web/nope.js", "/m/..%2f"):
        r = await client.get(path)
        assert r.status_code == 404, path
        assert r.json()["code"] == "app.not_found"
    # The API keeps its own strict policy.
    r = await client.get("/healthz")
    assert r.headers["content-security-policy"] == API_CSP


async def test_pages_stay_out_of_the_openapi_document(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert not [p for p in paths if p.split("/")[1] in ("m", "admin", "web")]


async def test_without_tiles_the_map_needs_no_other_host(client: httpx.AsyncClient) -> None:
    r = await client.get("/web/config.json")
    assert r.status_code == 200
    assert r.json() == {"tile_url": "", "tile_attribution": ""}
    assert (await client.get("/admin/")).headers["content-security-policy"] == WEB_CSP


async def test_configured_tiles_are_offered_and_their_host_allowed(database_url: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(database_url, tmp_path)
    tiles = "https://t0.tianditu.example/{z}/{x}/{y}.png"
    settings.web = WebSettings(tile_url=tiles, tile_attribution="天地图")
    app = create_app(settings, wechat=FakeWeChatClient(), storage=InMemoryStorage())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as c:
        config = (await c.get("/web/config.json")).json()
        page_csp = (await c.get("/admin/")).headers["content-security-policy"]
        api_csp = (await c.get("/healthz")).headers["content-security-policy"]
    await app.state.engine.dispose()
    assert config == {"tile_url": tiles, "tile_attribution": "天地图"}
    assert "img-src 'self' blob: data: https://t0.tianditu.example;" in page_csp
    assert "connect-src 'self';" in page_csp  # only images may come from there
    assert api_csp == API_CSP


@pytest.mark.parametrize(
    "url", ["ftp://tiles.example/{z}/{x}/{y}.png", "https://tiles.example/{z}/{x}.png", "/{z}/{x}/{y}.png"]
)
def test_a_tile_url_that_is_not_an_xyz_template_is_refused(url: str) -> None:
    with pytest.raises(ValidationError):
        WebSettings(tile_url=url)
