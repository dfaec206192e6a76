"""Application factory."""

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import redis.asyncio as aioredis
from fastapi import FastAPI, Request
from fastapi.routing import APIRoute
from pydantic import BaseModel
from sqlalchemy import text

from app.api import body_limit_for, build_api_router
from app.core.clock import Clock, SystemClock
from app.core.config import Settings, get_settings
from app.core.db import create_engine, create_sessionmaker
from app.core.errors import ErrorOut, ServerErrors, ServiceUnavailable, install_error_handlers
from app.core.http_security import CORSMiddleware, NulGuard, SecurityHeaders, cors_options
from app.core.limits import BodySizeLimit
from app.core.ratelimit import MemoryCounter, RedisCounter
from app.core.security import PasswordHashing
from app.jobs import sweeping
from app.media.router import file_router
from app.media.storage import Storage, build_storage
from app.notification.outbox import InProcessBroker, OutboxDispatcher, RedisBroker, live_delivery
from app.open311.router import router as open311_router
from app.org.service import GridIndexCache
from app.web.router import router as web_router
from app.wechat.client import FakeWeChatClient, WeChatClient, build_wechat_client
from app.wechat.push import local_push_hook
from app.wechat.service import wechat_deliverer

DESCRIPTION = """
邻里（Linli）：党建引领基层治理的开放后端，服务于居民随手拍、乐修匠维修、菜鸟学堂和网格员 10 分钟响应。

* 居民用微信登录（`POST /api/v1/auth/wechat/login`，开发环境的假微信接受 `ok:<openid>`），
  把返回的 access_token 粘贴到 Authorize 的 AccessToken 中。
* 工作人员用 Authorize 的用户名密码登录（演示账号见 README）。
* 所有错误都返回 `{"code", "message", "details"}`，`code` 是稳定的机器可读错误码。
"""


class Health(BaseModel):
    status: str


class NotReady(ServiceUnavailable):
    code = "service.database_unavailable"
    message = "数据库暂时不可用"


def _operation_id(route: APIRoute) -> str:
    return f"{route.tags[0]}-{route.name}" if route.tags else route.name


def create_app(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    wechat: WeChatClient | None = None,
    storage: Storage | None = None,
) -> FastAPI:
    """Build the app; tests pass their own clock, WeChat client and storage."""
    settings = settings or get_settings()
    engine = create_engine(settings.database)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Background work: delivery of the outbox after commit (live feed, WeChat), the sweeper.
        wechat_outbox = OutboxDispatcher(
            app.state.sessionmaker,
            app.state.broker,
            app.state.clock,
            channel="wechat",
            deliver=wechat_deliverer(app.state.sessionmaker, app.state.wechat, settings, app.state.clock),
            # WeChat calls take up to timeout_seconds each: small batches, claims that outlast them.
            batch=20,
            claim_for=timedelta(minutes=2),
        )
        if isinstance(app.state.wechat, FakeWeChatClient) and app.state.wechat.on_event is None:
            # The fake "pushes" media-check verdicts straight to our push handler.
            app.state.wechat.on_event = local_push_hook(
                app.state.sessionmaker, settings, app.state.clock, app.state.storage
            )
        background = settings.background
        async with live_delivery(app, wechat_outbox, dispatch=background), sweeping(app, enabled=background):
            yield
        close = getattr(app.state.wechat, "aclose", None)
        if close is not None:
            await close()
        if app.state.redis is not None:
            await app.state.redis.aclose()
        await engine.dispose()

    app = FastAPI(
        title="Linli 邻里 API",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        generate_unique_id_function=_operation_id,
        swagger_ui_parameters={"persistAuthorization": True},
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessionmaker = create_sessionmaker(engine)
    app.state.clock = clock or SystemClock()
    # Optional Redis: the WeChat access_token shared by every process.
    app.state.redis = aioredis.from_url(settings.redis_url) if settings.redis_url else None
    app.state.wechat = wechat or build_wechat_client(settings.wechat, redis=app.state.redis)
    app.state.rate_counter = RedisCounter(app.state.redis) if app.state.redis is not None else MemoryCounter()
    app.state.hasher = PasswordHashing(settings.password)
    app.state.storage = storage or build_storage(settings.media)
    app.state.grid_index = GridIndexCache()
    # Several processes share the live feed through Redis; one process needs nothing more.
    app.state.broker = RedisBroker(app.state.redis) if app.state.redis is not None else InProcessBroker()

    install_error_handlers(app)
    app.include_router(build_api_router())
    app.add_middleware(BodySizeLimit, limit_for=body_limit_for(settings))
    app.add_middleware(NulGuard)
    app.add_middleware(ServerErrors)  # the 500 envelope, inside CORS and SecurityHeaders: it gets theirs
    app.add_middleware(CORSMiddleware, **cors_options(settings.cors_origins))
    # Outermost: also on 413s and CORS preflight answers. The map tiles' host may serve the pages' images.
    app.add_middleware(SecurityHeaders, tile_origin=settings.web.tile_origin)
    app.include_router(file_router)
    app.include_router(open311_router)  # GeoReport v2: errors in the spec's format, not the envelope
    app.include_router(web_router)  # /m/ and /admin/: the H5 client and the dashboard

    @app.get("/healthz", response_model=Health, tags=["ops"], summary="进程存活")
    async def healthz() -> Health:
        return Health(status="ok")

    @app.get(
        "/readyz",
        response_model=Health,
        tags=["ops"],
        summary="可以服务（数据库可达）",
        responses={503: {"model": ErrorOut}},
    )
    async def readyz(request: Request) -> Health:
        # The app through the request, not a closure: FastAPI caches endpoints, and a closure over
        # `app` would keep every app a test process builds alive until exit.
        try:
            async with request.app.state.sessionmaker() as session:
                await session.execute(text("SELECT 1"))
        except Exception as err:
            logging.getLogger("linli").warning("readiness check failed: %s", err)
            raise NotReady() from None
        return Health(status="ok")

    return app


def __getattr__(name: str) -> FastAPI:
    # `uvicorn app.main:app` builds the app on first access, so importing this module for
    # create_app (tests, scripts) does not read the environment or open anything.
    if name == "app":
        globals()["app"] = create_app()
        return globals()["app"]
    raise AttributeError(name)
