"""Open311 errors: AppErrors like everywhere else; under /open311 they are rendered in the
GeoReport v2 error format (app/open311/formats.py), under /api/v1 in the usual envelope."""

from app.core.errors import BadRequest, Forbidden, NotFound


class MissingParameter(BadRequest):
    code = "open311.missing_parameter"
    message = "缺少必填参数"


class InvalidParameter(BadRequest):
    code = "open311.invalid_parameter"
    message = "参数取值不正确"


class ApiKeyInvalid(Forbidden):
    code = "open311.api_key_invalid"
    message = "api_key 缺失、无效或已吊销"


class ServiceNotCovered(Forbidden):
    code = "open311.service_not_covered"
    message = "该 api_key 不能上报此街道的问题"


class ServiceNotFound(NotFound):
    code = "open311.service_not_found"
    message = "没有找到该服务（service_code）"


class RequestNotFound(NotFound):
    code = "open311.request_not_found"
    message = "没有找到该服务请求"


class TokenNotFound(NotFound):
    code = "open311.token_not_found"
    message = "没有找到该 token"


class JurisdictionNotFound(NotFound):
    code = "open311.jurisdiction_not_found"
    message = "没有找到该辖区（jurisdiction_id）"


class KeyNotFound(NotFound):
    code = "open311.key_not_found"
    message = "没有找到该 api_key"


class KeyForbidden(Forbidden):
    code = "open311.key_forbidden"
    message = "只有该街道的管理员可以管理 Open311 接入密钥"
