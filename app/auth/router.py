"""Login, token refresh and logout."""

from typing import Annotated

from fastapi import APIRouter, Depends, Request, status
from fastapi.security import OAuth2PasswordRequestForm

from app.auth import exceptions as exc
from app.auth import service
from app.auth.schemas import LoginOut, RefreshIn, TokenPair, WeChatLoginIn
from app.core.clock import ClockDep
from app.core.db import SessionDep
from app.core.deps import SettingsDep
from app.core.errors import responses
from app.core.ratelimit import limited
from app.user import service as user_service

router = APIRouter(prefix="/auth", tags=["auth"])


def _pair(tokens: service.IssuedTokens) -> dict:
    return {
        "access_token": tokens.access_token,
        "expires_in": tokens.expires_in,
        "refresh_token": tokens.refresh_token,
        "refresh_expires_in": tokens.refresh_expires_in,
    }


@router.post(
    "/wechat/login",
    dependencies=[limited("login", per_user=False)],
    response_model=LoginOut,
    summary="微信登录",
    description="用 wx.login() 得到的 code 登录；首次登录自动创建居民账号。"
    "开发环境的假微信接受 `ok:<openid>`。",
    responses=responses(
        exc.WeChatCodeInvalid,
        exc.WeChatCodeUsed,
        exc.WeChatUserBlocked,
        exc.UserInactive,
        exc.WeChatRateLimited,
        exc.WeChatUnavailable,
    ),
)
async def wechat_login(
    body: WeChatLoginIn, request: Request, session: SessionDep, clock: ClockDep, settings: SettingsDep
) -> LoginOut:
    user, tokens, is_new = await service.login_with_wechat(
        session, wechat=request.app.state.wechat, clock=clock, settings=settings, code=body.code
    )
    return LoginOut(**_pair(tokens), user=await user_service.me(session, user=user), is_new_user=is_new)


@router.post(
    "/token",
    dependencies=[limited("login", per_user=False)],
    response_model=TokenPair,
    summary="用户名密码登录",
    description="OAuth2 密码模式，供工作人员和由工作人员开通的网格员使用；/docs 的 Authorize 按钮也用它。",
    responses=responses(exc.InvalidCredentials, exc.UserInactive),
)
async def password_login(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    request: Request,
    session: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
) -> TokenPair:
    _, tokens = await service.login_with_password(
        session,
        hasher=request.app.state.hasher,
        clock=clock,
        settings=settings,
        username=form.username,
        password=form.password,
    )
    return TokenPair(**_pair(tokens))


@router.post(
    "/refresh",
    response_model=TokenPair,
    summary="刷新登录",
    description="用 refresh_token 换一对新令牌，旧的随即失效；再次使用旧的会让该登录在所有设备上失效。",
    responses=responses(exc.RefreshInvalid, exc.RefreshReused, exc.UserInactive),
)
async def refresh(body: RefreshIn, session: SessionDep, clock: ClockDep, settings: SettingsDep) -> TokenPair:
    _, tokens = await service.refresh_tokens(
        session, clock=clock, settings=settings, refresh_token=body.refresh_token
    )
    return TokenPair(**_pair(tokens))


@router.post(
    "/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="退出登录",
    description="让该 refresh_token 所属的登录失效；重复调用无副作用。",
)
async def logout(body: RefreshIn, session: SessionDep, clock: ClockDep) -> None:
    await service.logout(session, clock=clock, refresh_token=body.refresh_token)
