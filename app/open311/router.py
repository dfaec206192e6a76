"""Open311 GeoReport v2 under /open311/v2 (every method as .json or .xml), and the staff API
that issues partner keys under /api/v1/open311/keys. Thin: parsing, then service.py."""

import logging
import re
import uuid
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request, Response, status
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.auth.dependencies import CurrentActor
from app.core import ratelimit
from app.core.clock import ClockDep
from app.core.db import SessionDep
from app.core.deps import SettingsDep
from app.core.errors import AppError, responses
from app.core.schemas import Limit, Page
from app.open311 import exceptions as exc
from app.open311 import rules, service
from app.open311.formats import Format, errors, render
from app.open311.schemas import (
    Discovery,
    KeyCreate,
    KeyCreated,
    KeyRead,
    Open311Error,
    RequestCreated,
    RequestToken,
    RequestUpdate,
    ServiceDefinition,
    ServiceRequest,
)
from app.open311.schemas import Service as ServiceOut
from app.org.exceptions import CommunityNotFound, SubdistrictNotFound

log = logging.getLogger("linli.open311")

PREFIX = "/open311/v2"
CHANGESET = "2026-12-01T00:00:00Z"  # when this implementation of the spec last changed


# --- errors in the spec's format --------------------------------------------------------------


def _error_response(request: Request, err: Exception) -> Response:
    asked = request.path_params.get("format") or request.url.path.rpartition(".")[2]
    fmt = Format.XML if asked == "xml" else Format.JSON
    headers = None
    if isinstance(err, AppError):
        # The spec knows 400 (bad or missing parameter), 403 (api_key) and 404 (not found).
        code = 400 if err.status_code == 422 else err.status_code
        description = f"{err.message} ({err.code})"
        headers = err.headers
    elif isinstance(err, RequestValidationError):
        code = 400
        parts = []
        for e in err.errors():
            where = ".".join(str(p) for p in e.get("loc", ()) if p not in ("query", "path", "body", "form"))
            parts.append(f"{where}: {e.get('msg', '')}")
        description = "参数有误：" + "; ".join(parts)
    elif isinstance(err, StarletteHTTPException):
        code, description = err.status_code, str(err.detail)
    else:
        log.exception("unhandled error under /open311", exc_info=err)
        code, description = 500, "服务器出错了，请稍后再试"
    body, media_type = render(fmt, "errors", errors(code, description))
    return Response(body, status_code=code, media_type=media_type, headers=headers)


_RAW_BYTE = re.compile(rb"[\x80-\xff]")


async def _utf8_form(request: Request) -> None:
    """Read a form-encoded body as UTF-8 (the spec's encoding) even when the client sent the
    characters unescaped (curl -d, some older partner systems): Starlette decodes raw bytes of a
    urlencoded body as Latin-1 and only %-escapes as UTF-8, so the raw bytes are escaped first."""
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        return
    body = await request.body()
    if _RAW_BYTE.search(body):
        request._body = _RAW_BYTE.sub(lambda m: b"%%%02X" % m.group()[0], body)


class Open311Route(APIRoute):
    """Routes whose errors (validation included) are rendered as the spec's error list in the
    requested format, instead of the app's envelope."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def run(request: Request) -> Response:
            try:
                if "\x00" in request.url.path or any(
                    "\x00" in k or "\x00" in v for k, v in request.query_params.multi_items()
                ):
                    # PostgreSQL cannot hold U+0000 (NulGuard leaves /open311 to answer in its format).
                    raise exc.InvalidParameter("参数不能包含空字符（U+0000）")
                await _utf8_form(request)
                return await handler(request)
            except Exception as err:
                return _error_response(request, err)

        return run


router = APIRouter(prefix=PREFIX, tags=["open311"], route_class=Open311Route)

Jurisdiction = Annotated[
    str | None, Query(max_length=64, description="辖区：街道的编号（id）或代码（code）；不填为全部")
]
ApiKeyQuery = Annotated[
    str | None, Query(max_length=128, description="可选：接入方的 api_key，可以看到自己上报的全部状态")
]
Page1 = Annotated[int, Query(ge=1, le=100_000, description="页码，从 1 开始")]
PageSize = Annotated[int, Query(ge=1, le=rules.MAX_ROWS, description="每页条数，最多 1000")]


def _errors_doc(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {
        code: {
            "model": list[Open311Error],
            "description": "GeoReport v2 错误列表（格式同请求的 .json / .xml）",
            "content": {"text/xml": {"schema": {"type": "string"}}},
        }
        for code in codes
    }


def _ok_doc(model: Any, description: str) -> dict[int | str, dict[str, Any]]:
    return {
        200: {
            "model": model,
            "description": description,
            "content": {"text/xml": {"schema": {"type": "string"}}},
        }
    }


def _answer(fmt: Format, root: str, value: Any, status_code: int = 200) -> Response:
    body, media_type = render(fmt, root, value)
    return Response(body, status_code=status_code, media_type=media_type)


def _base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


@router.get(
    "/discovery.{format}",
    summary="Open311：服务发现",
    response_class=Response,
    responses={**_ok_doc(Discovery, "discovery"), **_errors_doc(400)},
)
async def discovery(format: Format, request: Request, settings: SettingsDep) -> Response:
    endpoint = {
        "specification": rules.SPECIFICATION,
        "url": _base_url(request) + PREFIX,
        "changeset": CHANGESET,
        "type": "production" if settings.env == "prod" else "test",
        "formats": ["text/xml", "application/json"],
    }
    value = {
        "changeset": CHANGESET,
        "contact": "接入请联系所在街道管理员",
        "key_service": "api_key 由街道管理员签发（POST /api/v1/open311/keys）",
        "endpoints": [endpoint],
    }
    return _answer(format, "discovery", value)


@router.get(
    "/services.{format}",
    summary="Open311：服务（问题分类）列表",
    response_class=Response,
    responses={**_ok_doc(list[ServiceOut], "services"), **_errors_doc(400, 404)},
)
async def list_services(
    format: Format, session: SessionDep, jurisdiction_id: Jurisdiction = None
) -> Response:
    place = await service.jurisdiction(session, jurisdiction_id)
    return _answer(format, "services", await service.services(session, subdistrict=place))


@router.get(
    "/services/{service_code}.{format}",
    summary="Open311：服务定义（属性）",
    response_class=Response,
    responses={**_ok_doc(ServiceDefinition, "service_definition"), **_errors_doc(400, 404)},
)
async def get_service_definition(
    service_code: str, format: Format, session: SessionDep, jurisdiction_id: Jurisdiction = None
) -> Response:
    place = await service.jurisdiction(session, jurisdiction_id)
    value = await service.service_definition(session, code=service_code, subdistrict=place)
    return _answer(format, "service_definition", value)


@router.post(
    "/requests.{format}",
    summary="Open311：上报服务请求",
    description="表单（application/x-www-form-urlencoded）。需要街道签发的 api_key。"
    "lat/long（WGS-84，或 attribute[coord_system]=gcj02）或 address_string 至少一项；"
    "属性用 attribute[code]=value；first_name/last_name/phone 记为代报居民（不公开）；"
    "media_url 记在工单时间线上供工作人员查看；email 不保存。"
    "与小程序上报相同：分到网格，开始 10 分钟响应计时。",
    response_class=Response,
    status_code=status.HTTP_201_CREATED,
    responses={
        201: {
            "model": list[RequestCreated],
            "description": "service_requests",
            "content": {"text/xml": {"schema": {"type": "string"}}},
        },
        **_errors_doc(400, 403, 404, 429),
    },
)
async def create_request(
    format: Format,
    request: Request,
    session: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
    api_key: Annotated[str | None, Form(max_length=128)] = None,
    jurisdiction_id: Annotated[str | None, Form(max_length=64)] = None,
    service_code: Annotated[str | None, Form(max_length=64)] = None,
    lat: Annotated[str | None, Form(max_length=32)] = None,
    long: Annotated[str | None, Form(max_length=32)] = None,
    address_string: Annotated[str | None, Form(max_length=500)] = None,
    address_id: Annotated[str | None, Form(max_length=64)] = None,
    email: Annotated[str | None, Form(max_length=200)] = None,
    device_id: Annotated[str | None, Form(max_length=200)] = None,
    account_id: Annotated[str | None, Form(max_length=200)] = None,
    first_name: Annotated[str | None, Form(max_length=64)] = None,
    last_name: Annotated[str | None, Form(max_length=64)] = None,
    phone: Annotated[str | None, Form(max_length=32)] = None,
    description: Annotated[str | None, Form(max_length=4000)] = None,
    media_url: Annotated[str | None, Form(max_length=2000)] = None,
) -> Response:
    form = await request.form()
    if any("\x00" in k or (isinstance(v, str) and "\x00" in v) for k, v in form.multi_items()):
        # PostgreSQL cannot hold U+0000 (the path and query string are checked in Open311Route).
        raise exc.InvalidParameter("参数不能包含空字符（U+0000）")
    key = await service.authenticate(session, api_key or request.query_params.get("api_key"))
    settings_limit = settings.rate_limit.create
    if settings.rate_limit.enabled:
        await ratelimit.check(
            request.app.state.rate_counter,
            group="create",
            limit=ratelimit.Limit(per_user=settings_limit.per_user, per_ip=settings_limit.per_ip),
            user_id=key.service_user_id,
            ip=ratelimit.client_ip(request),
            now=clock.now(),
        )
    attributes = rules.attributes_from_form((k, v) for k, v in form.multi_items() if isinstance(v, str))
    created = await service.create_request(
        session,
        key=key,
        form=service.RequestForm(
            service_code=service_code,
            jurisdiction_id=jurisdiction_id,
            lat=lat,
            long=long,
            address_string=address_string,
            description=description,
            media_url=media_url,
            first_name=first_name,
            last_name=last_name,
            phone=phone,
            attributes=attributes,
        ),
        clock=clock,
        settings=settings,
        cache=request.app.state.grid_index,
        wechat=request.app.state.wechat,
    )
    return _answer(format, "service_requests", [created], status.HTTP_201_CREATED)


@router.get(
    "/tokens/{token_id}.{format}",
    summary="Open311：由 token 查服务请求编号",
    response_class=Response,
    responses={**_ok_doc(list[RequestToken], "service_requests"), **_errors_doc(400, 403, 404)},
)
async def get_token(
    token_id: str,
    format: Format,
    session: SessionDep,
    jurisdiction_id: Jurisdiction = None,
    api_key: ApiKeyQuery = None,
) -> Response:
    place = await service.jurisdiction(session, jurisdiction_id)
    partner = await service.partner_user_id(session, api_key)
    value = await service.token(session, token_id=token_id, subdistrict=place, partner=partner)
    return _answer(format, "service_requests", value)


def _dates(start_date: str | None, end_date: str | None, now: Any) -> rules.Window:
    start = rules.parse_datetime(start_date, parameter="start_date") if start_date else None
    end = rules.parse_datetime(end_date, parameter="end_date") if end_date else None
    return rules.window(start, end, now=now)


@router.get(
    "/requests.{format}",
    summary="Open311：服务请求列表（公开）",
    description="默认最近 90 天、最多 1000 条，按上报时间从新到旧；"
    "service_request_id（逗号分隔）优先于其他条件。"
    "只返回公开信息（同问题清单）：不含上报人和电话，地址打码，位置约 100 米精度。",
    response_class=Response,
    responses={**_ok_doc(list[ServiceRequest], "service_requests"), **_errors_doc(400, 403, 404)},
)
async def list_requests(
    format: Format,
    request: Request,
    session: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
    service_request_id: Annotated[str | None, Query(max_length=20_000)] = None,
    service_code: Annotated[str | None, Query(max_length=4000)] = None,
    start_date: Annotated[str | None, Query(max_length=40)] = None,
    end_date: Annotated[str | None, Query(max_length=40)] = None,
    status: Annotated[str | None, Query(max_length=400)] = None,
    jurisdiction_id: Jurisdiction = None,
    api_key: ApiKeyQuery = None,
    page: Page1 = 1,
    page_size: PageSize = rules.MAX_ROWS,
) -> Response:
    now = clock.now()
    ids = rules.parse_list(service_request_id)
    if len(ids) > rules.MAX_IDS:
        raise exc.InvalidParameter("service_request_id 最多 1000 个", parameter="service_request_id")
    statuses = rules.statuses_for(rules.parse_list(status)) if rules.parse_list(status) else None
    query = service.RequestQuery(
        ids=ids,
        service_codes=rules.parse_list(service_code),
        statuses=statuses,
        window=_dates(start_date, end_date, now),
        page=page,
        page_size=page_size,
    )
    place = await service.jurisdiction(session, jurisdiction_id)
    partner = await service.partner_user_id(session, api_key)
    value = await service.find_requests(
        session,
        query=query,
        subdistrict=place,
        partner=partner,
        settings=settings,
        now=now,
        base_url=_base_url(request),
    )
    return _answer(format, "service_requests", value)


@router.get(
    "/requests/{service_request_id}.{format}",
    summary="Open311：一个服务请求（公开）",
    description="service_request_id 为工单号（也接受 token）。",
    response_class=Response,
    responses={**_ok_doc(list[ServiceRequest], "service_requests"), **_errors_doc(400, 403, 404)},
)
async def get_request(
    service_request_id: str,
    format: Format,
    request: Request,
    session: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
    jurisdiction_id: Jurisdiction = None,
    api_key: ApiKeyQuery = None,
) -> Response:
    place = await service.jurisdiction(session, jurisdiction_id)
    partner = await service.partner_user_id(session, api_key)
    value = await service.get_request(
        session,
        request_id=service_request_id,
        subdistrict=place,
        partner=partner,
        settings=settings,
        now=clock.now(),
        base_url=_base_url(request),
    )
    return _answer(format, "service_requests", value)


@router.get(
    "/servicerequestupdates.{format}",
    summary="Open311（mySociety 扩展）：服务请求的状态更新",
    description="时间线上的状态变化，按时间从早到晚；默认最近 90 天，最多 1000 条。"
    "status 为 mySociety 的状态名。",
    response_class=Response,
    responses={**_ok_doc(list[RequestUpdate], "service_request_updates"), **_errors_doc(400, 403, 404)},
)
async def list_updates(
    format: Format,
    session: SessionDep,
    clock: ClockDep,
    start_date: Annotated[str | None, Query(max_length=40)] = None,
    end_date: Annotated[str | None, Query(max_length=40)] = None,
    jurisdiction_id: Jurisdiction = None,
    api_key: ApiKeyQuery = None,
    page: Page1 = 1,
    page_size: PageSize = rules.MAX_ROWS,
) -> Response:
    window = _dates(start_date, end_date, clock.now())
    place = await service.jurisdiction(session, jurisdiction_id)
    partner = await service.partner_user_id(session, api_key)
    value = await service.updates(
        session, window=window, subdistrict=place, partner=partner, page=page, page_size=page_size
    )
    return _answer(format, "service_request_updates", value)


@router.api_route(
    "/{rest:path}",
    methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
    include_in_schema=False,
)
async def unknown(rest: str) -> Response:
    """Anything else under /open311/v2 answers in the spec's format too."""
    raise StarletteHTTPException(404, "没有这个接口 (route.not_found)")


# --- staff: partner keys (/api/v1/open311/keys) -----------------------------------------------

keys_router = APIRouter(prefix="/open311/keys", tags=["open311-keys"])


@keys_router.post(
    "",
    response_model=KeyCreated,
    status_code=status.HTTP_201_CREATED,
    summary="签发 Open311 接入密钥",
    description="街道管理员（本街道）和超级管理员。密钥只在此时显示一次，库里只保存其 SHA-256。",
    responses=responses(exc.KeyForbidden, SubdistrictNotFound, CommunityNotFound),
)
async def create_key(
    body: KeyCreate, actor: CurrentActor, session: SessionDep, clock: ClockDep
) -> KeyCreated:
    key, secret = await service.create_key(
        session,
        actor=actor,
        clock=clock,
        subdistrict_id=body.subdistrict_id,
        partner_name=body.partner_name,
        community_id=body.community_id,
    )
    return KeyCreated(**KeyRead.model_validate(key).model_dump(), api_key=secret)


@keys_router.get(
    "",
    response_model=Page[KeyRead],
    summary="Open311 接入密钥列表",
    description="不给 subdistrict_id 时：超级管理员看全部，街道管理员看本街道。",
    responses=responses(exc.KeyForbidden),
)
async def list_keys(
    actor: CurrentActor,
    session: SessionDep,
    subdistrict_id: uuid.UUID | None = None,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
    limit: Limit = 50,
) -> Page[KeyRead]:
    rows, next_cursor = await service.list_keys(
        session, actor=actor, subdistrict_id=subdistrict_id, cursor=cursor, limit=limit
    )
    return Page(items=[KeyRead.model_validate(r) for r in rows], next_cursor=next_cursor)


@keys_router.delete(
    "/{key_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="吊销 Open311 接入密钥",
    description="立即生效；重复吊销无副作用。",
    responses=responses(exc.KeyNotFound),
)
async def revoke_key(
    key_id: uuid.UUID, actor: CurrentActor, session: SessionDep, clock: ClockDep
) -> Response:
    await service.revoke_key(session, actor=actor, clock=clock, key_id=key_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
