"""Typed application errors and the one JSON envelope every non-2xx response uses."""

import logging
from typing import Any, ClassVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.exc import DBAPIError, IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("linli.errors")


class ErrorOut(BaseModel):
    code: str = Field(examples=["auth.invalid_credentials"], description="稳定的机器可读错误码")
    message: str = Field(examples=["用户名或密码错误"], description="给用户看的中文说明")
    details: dict[str, Any] = Field(default_factory=dict)


class AppError(Exception):
    status_code: ClassVar[int] = 400
    code: ClassVar[str] = "app.bad_request"
    message: ClassVar[str] = "请求有误"
    headers: ClassVar[dict[str, str] | None] = None
    # Set on errors whose writes must stay (e.g. revoking a stolen token family) even though the
    # request fails; the unit of work commits before the error response is rendered.
    commit_on_raise: ClassVar[bool] = False

    def __init__(self, message: str | None = None, **details: Any) -> None:
        self.message = message or type(self).message
        self.details = details
        super().__init__(self.message)


class BadRequest(AppError):
    pass


class Unauthorized(AppError):
    status_code = 401
    code = "auth.unauthenticated"
    message = "请先登录"
    headers: ClassVar[dict[str, str] | None] = {"WWW-Authenticate": "Bearer"}


class Forbidden(AppError):
    status_code = 403
    code = "auth.forbidden"
    message = "没有权限执行此操作"


class NotFound(AppError):
    status_code = 404
    code = "app.not_found"
    message = "没有找到"


class Conflict(AppError):
    status_code = 409
    code = "app.conflict"
    message = "与现有数据冲突"


class PayloadTooLarge(AppError):
    status_code = 413
    code = "request.too_large"
    message = "内容太大"


class UnsupportedMediaType(AppError):
    status_code = 415
    code = "request.unsupported_media_type"
    message = "不支持的文件类型"


class Unprocessable(AppError):
    status_code = 422
    code = "request.invalid"
    message = "请求内容有误"


class TooManyRequests(AppError):
    status_code = 429
    code = "request.rate_limited"
    message = "操作太频繁，请稍后再试"


class ServiceUnavailable(AppError):
    status_code = 503
    code = "service.unavailable"
    message = "服务暂时不可用，请稍后再试"


def responses(*errors: type[AppError]) -> dict[int | str, dict[str, Any]]:
    """Build the OpenAPI `responses` entry for the errors a route may raise."""
    out: dict[int | str, dict[str, Any]] = {}
    for err in sorted(errors, key=lambda e: (e.status_code, e.code)):
        entry = out.setdefault(err.status_code, {"model": ErrorOut, "description": ""})
        codes = entry["description"].split(", ") if entry["description"] else []
        if err.code not in codes:
            codes.append(err.code)
        entry["description"] = ", ".join(codes)
    return out


# Pydantic error types → plain Chinese; anything else keeps pydantic's text.
_VALIDATION_MESSAGES = {
    "missing": "必填项不能为空",
    "string_too_short": "内容太短",
    "string_too_long": "内容太长",
    "string_type": "应为文字",
    "int_parsing": "应为整数",
    "int_type": "应为整数",
    "float_parsing": "应为数字",
    "float_type": "应为数字",
    "bool_parsing": "应为是或否",
    "uuid_parsing": "编号格式不正确",
    "uuid_type": "编号格式不正确",
    "enum": "不是允许的取值",
    "literal_error": "不是允许的取值",
    "greater_than_equal": "数值太小",
    "less_than_equal": "数值太大",
    "greater_than": "数值太小",
    "less_than": "数值太大",
    "too_long": "数量太多",
    "too_short": "数量太少",
    "extra_forbidden": "不允许的字段",
    "json_invalid": "JSON 格式不正确",
    "model_attributes_type": "格式不正确",
    "dict_type": "格式不正确",
    "list_type": "应为列表",
    "string_pattern_mismatch": "格式不正确",
    "value_error": "取值不正确",
    "datetime_parsing": "时间格式不正确",
    "datetime_from_date_parsing": "时间格式不正确",
    "timezone_aware": "时间必须带时区",
    "datetime_out_of_range": "时间超出支持的范围（2000–2100 年）",
    "bbox_out_of_range": "范围不正确：经度在 -180 到 180 之间，纬度在 -90 到 90 之间，且最小值不大于最大值",
    "string_contains_nul": "不能包含空字符（U+0000）",
}

_HTTP_CODES = {
    400: ("request.bad_request", "请求有误"),
    401: ("auth.unauthenticated", "请先登录"),
    403: ("auth.forbidden", "没有权限执行此操作"),
    404: ("route.not_found", "没有这个接口"),
    405: ("request.method_not_allowed", "不支持此请求方法"),
    413: ("request.too_large", "内容太大"),
    415: ("request.unsupported_media_type", "不支持的内容类型"),
}


def _envelope(
    status: int,
    code: str,
    message: str,
    details: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = ErrorOut(code=code, message=message, details=details or {})
    return JSONResponse(status_code=status, content=body.model_dump(mode="json"), headers=headers)


def _sqlstate(exc: DBAPIError) -> str | None:
    """The PostgreSQL SQLSTATE of a driver error (asyncpg's, under SQLAlchemy's adapter), if any."""
    orig = exc.orig
    return getattr(orig, "sqlstate", None) or getattr(getattr(orig, "__cause__", None), "sqlstate", None)


def _is_unique_violation(exc: IntegrityError) -> bool:
    return _sqlstate(exc) == "23505" or "UNIQUE constraint failed" in str(exc.orig)


# Text PostgreSQL cannot store: U+0000 in text (22021, "invalid byte sequence for encoding UTF8: 0x00")
# or in jsonb (22P05, "unsupported Unicode escape sequence"). Input schemas and NulGuard reject it
# first; this is the last line for anything that reaches the database another way.
_UNSTORABLE_TEXT = frozenset({"22021", "22P05"})


def validation_envelope(errors: list[dict[str, str]]) -> JSONResponse:
    """The 422 for invalid input: one entry per field, {field, location, type, message}."""
    return _envelope(422, "request.invalid", "请求内容有误，请检查后重试", {"errors": errors})


def input_error(location: str, type_: str, field: str = "") -> dict[str, str]:
    """One entry of a 422's details.errors for a check made outside pydantic."""
    return {"field": field, "location": location, "type": type_, "message": _VALIDATION_MESSAGES[type_]}


def _server_error(exc: Exception) -> JSONResponse:
    """Log an unexpected error with its traceback (once) and render the 500 envelope."""
    # ServerErrors raises the exception on; the handler for Exception may then see it again.
    if not getattr(exc, "_linli_logged", False):
        log.exception("unhandled error", exc_info=exc)
        exc._linli_logged = True  # type: ignore[attr-defined]
    return _envelope(500, "server.error", "服务器出错了，请稍后再试")


class ServerErrors:
    """The 500 envelope for any exception escaping the app, rendered inside the header middleware.

    Starlette renders the handler for Exception in ServerErrorMiddleware, which wraps every
    app.add_middleware layer: a 500 from there would miss the security and CORS headers. Added
    between those layers and the app, this renders it where they apply. The exception is raised on
    afterwards, as ServerErrorMiddleware does, so servers log it and test clients may raise it
    (ServerErrorMiddleware then sends nothing more: the response has started)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except Exception as exc:
            if not started:  # otherwise the client already has a status line: nothing to render
                await _server_error(exc)(scope, receive, send)
            raise


def install_error_handlers(app: FastAPI) -> None:
    """Render every error, expected or not, in the one envelope."""

    @app.exception_handler(AppError)
    async def _app_error(_: Request, exc: AppError) -> JSONResponse:
        return _envelope(exc.status_code, exc.code, exc.message, exc.details, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = []
        for err in exc.errors():
            loc = [str(p) for p in err.get("loc", ())]
            errors.append(
                {
                    "field": ".".join(p for p in loc if p not in ("body", "query", "path", "header", "form")),
                    "location": loc[0] if loc else "",
                    "type": err.get("type", ""),
                    "message": _VALIDATION_MESSAGES.get(err.get("type", ""), err.get("msg", "")),
                }
            )
        return validation_envelope(errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code, message = _HTTP_CODES.get(exc.status_code, (f"http.{exc.status_code}", "请求失败"))
        return _envelope(exc.status_code, code, message, headers=getattr(exc, "headers", None))

    @app.exception_handler(IntegrityError)
    async def _integrity(_: Request, exc: IntegrityError) -> JSONResponse:
        if _is_unique_violation(exc):
            return _envelope(409, "app.conflict", "与现有数据冲突，请刷新后重试")
        log.exception("integrity error", exc_info=exc)
        return _envelope(500, "server.error", "服务器出错了，请稍后再试")

    @app.exception_handler(DBAPIError)
    async def _database(_: Request, exc: DBAPIError) -> JSONResponse:
        if _sqlstate(exc) in _UNSTORABLE_TEXT:
            log.warning("text the database cannot store: %s", exc.orig)
            return validation_envelope([input_error("", "string_contains_nul")])
        raise exc  # on to ServerErrors: logged, the 500 envelope, raised on like any other

    # Reached only for errors outside ServerErrors (in the outer middleware): Starlette renders
    # this in ServerErrorMiddleware.
    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        return _server_error(exc)
