"""All domain routers under /api/v1."""

from fastapi import APIRouter

from app.auth.router import router as auth_router
from app.core.config import Settings
from app.media.router import router as media_router
from app.org.router import router as org_router
from app.user.router import me_router
from app.user.router import router as users_router

# JSON bodies are small; uploads get room for one photo plus the multipart envelope. Larger
# bodies are refused with 413 while streaming, before they are read whole.
JSON_BODY_LIMIT = 256 * 1024
MULTIPART_OVERHEAD = 64 * 1024


def build_api_router(settings: Settings) -> APIRouter:
    api = APIRouter(prefix="/api/v1")
    for r in (auth_router, me_router, users_router, org_router):
        api.include_router(r, max_body_size=JSON_BODY_LIMIT)
    api.include_router(media_router, max_body_size=settings.media.max_bytes + MULTIPART_OVERHEAD)
    return api
