"""The browser clients served by the app: the H5 client at /m/ and the staff dashboard at /admin/.

Plain static files (HTML, ES modules, CSS; no build step) that use only the public API. They are
kept out of the OpenAPI document. /web/ holds what both share (api.js, base.css).
"""

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, RedirectResponse

from app.core.errors import NotFound

STATIC = Path(__file__).resolve().parent / "static"
APPS = ("m", "admin", "web")

router = APIRouter(include_in_schema=False)


def _file(app: str, path: str) -> FileResponse:
    root = STATIC / app
    target = (root / (path or "index.html")).resolve()
    if not target.is_relative_to(root) or not target.is_file():
        raise NotFound()
    # Revalidate every time: a deploy must reach elderly users' phones without a cache purge.
    return FileResponse(target, headers={"cache-control": "no-cache"})


def _redirect(app: str):  # type: ignore[no-untyped-def]
    async def redirect() -> RedirectResponse:
        return RedirectResponse(f"{app}/", status_code=308)

    return redirect


def _serve(app: str):  # type: ignore[no-untyped-def]
    async def serve(path: str = "") -> FileResponse:
        return _file(app, path)

    return serve


@router.get("/web/config.json")
async def web_config(request: Request) -> dict[str, str]:
    """What the pages need to know of the server's settings: the optional map tiles."""
    web = request.app.state.settings.web
    return {"tile_url": web.tile_url, "tile_attribution": web.tile_attribution}


for _app in APPS:
    router.add_api_route(f"/{_app}", _redirect(_app), methods=["GET"], name=f"web_{_app}_redirect")
    router.add_api_route(f"/{_app}/", _serve(_app), methods=["GET"], name=f"web_{_app}_index")
    router.add_api_route(f"/{_app}/{{path:path}}", _serve(_app), methods=["GET"], name=f"web_{_app}_file")
