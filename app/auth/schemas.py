"""Login and token shapes."""

from pydantic import Field

from app.core.schemas import InSchema, OutSchema
from app.user.schemas import MeRead


class WeChatLoginIn(InSchema):
    code: str = Field(
        min_length=1, max_length=128, description="wx.login() 返回的 code", examples=["ok:resident_liu"]
    )


class RefreshIn(InSchema):
    refresh_token: str = Field(min_length=16, max_length=128)


class TokenPair(OutSchema):
    access_token: str
    token_type: str = Field(default="bearer", examples=["bearer"])
    expires_in: int = Field(description="access_token 有效秒数")
    refresh_token: str
    refresh_expires_in: int = Field(description="refresh_token 有效秒数")


class LoginOut(TokenPair):
    user: MeRead
    is_new_user: bool = Field(default=False, description="首次微信登录时自动创建了居民账号")
