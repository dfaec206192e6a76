"""Authentication errors (stable codes, Chinese messages)."""

from typing import ClassVar

from app.core.errors import Forbidden, ServiceUnavailable, TooManyRequests, Unauthorized


class InvalidCredentials(Unauthorized):
    code = "auth.invalid_credentials"
    message = "用户名或密码错误"


class TokenMissing(Unauthorized):
    code = "auth.token_missing"
    message = "请先登录"


class TokenInvalid(Unauthorized):
    code = "auth.token_invalid"
    message = "登录信息无效，请重新登录"


class TokenExpired(Unauthorized):
    code = "auth.token_expired"
    message = "登录已过期，请重新登录"


class RefreshInvalid(Unauthorized):
    code = "auth.refresh_invalid"
    message = "登录已失效，请重新登录"


class RefreshReused(Unauthorized):
    code = "auth.refresh_reused"
    message = "登录凭证已被使用过，为了安全已退出所有设备，请重新登录"
    commit_on_raise = True


class UserInactive(Forbidden):
    code = "auth.user_inactive"
    message = "账号已停用，请联系社区工作人员"


class WeChatCodeInvalid(Unauthorized):
    code = "auth.wechat_code_invalid"
    message = "微信登录凭证无效或已过期，请重新进入小程序"


class WeChatCodeUsed(Unauthorized):
    code = "auth.wechat_code_used"
    message = "微信登录凭证已使用，请重新进入小程序"


class WeChatUserBlocked(Forbidden):
    code = "auth.wechat_user_blocked"
    message = "当前微信账号存在风险，暂时无法登录"


class WeChatRateLimited(TooManyRequests):
    code = "auth.wechat_rate_limited"
    message = "登录太频繁，请一分钟后再试"
    headers: ClassVar[dict[str, str] | None] = {"Retry-After": "60"}


class WeChatUnavailable(ServiceUnavailable):
    code = "auth.wechat_unavailable"
    message = "微信服务暂时繁忙，请稍后再试"


class WeChatMisconfigured(ServiceUnavailable):
    code = "auth.wechat_misconfigured"
    message = "登录服务配置有误，请联系管理员"


class OutOfScope(Forbidden):
    code = "auth.out_of_scope"
    message = "只能管理本辖区的数据"
