"""All domain routers under /api/v1."""

from collections.abc import Callable

from fastapi import APIRouter

from app.auth.router import router as auth_router
from app.core.config import Settings
from app.course.router import router as course_router
from app.duty.router import router as duty_router
from app.media.router import router as media_router
from app.notification.router import router as notification_router
from app.open311.router import keys_router as open311_keys_router
from app.org.router import router as org_router
from app.privacy.router import audit_router
from app.privacy.router import me_router as privacy_me_router
from app.repair.router import router as repair_router
from app.ticket.reports_router import router as reports_router
from app.ticket.router import router as ticket_router
from app.user.router import me_router
from app.user.router import router as users_router
from app.wechat.router import me_router as wechat_me_router
from app.wechat.router import review_router
from app.wechat.router import router as wechat_router

API_PREFIX = "/api/v1"
# JSON bodies are small; uploads get room for one photo plus the multipart envelope.
JSON_BODY_LIMIT = 256 * 1024
MULTIPART_OVERHEAD = 64 * 1024


def build_api_router() -> APIRouter:
    api = APIRouter(prefix=API_PREFIX)
    # reports_router first: its /tickets/export must match before /tickets/{ticket_id}.
    for r in (auth_router, me_router, users_router, org_router, media_router, reports_router, ticket_router):
        api.include_router(r)
    for r in (notification_router, duty_router, repair_router, course_router, open311_keys_router):
        api.include_router(r)
    for r in (wechat_me_router, review_router, wechat_router, privacy_me_router, audit_router):
        api.include_router(r)
    return api


def body_limit_for(settings: Settings) -> Callable[[str], int]:
    upload_limit = settings.media.max_bytes + MULTIPART_OVERHEAD
    uploads = f"{API_PREFIX}{media_router.prefix}"

    def limit(path: str) -> int:
        return upload_limit if path.startswith(uploads) else JSON_BODY_LIMIT

    return limit
