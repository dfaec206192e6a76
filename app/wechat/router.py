"""WeChat endpoints: subscribe credits and phone binding for the caller, staff review of held
content, and the message-push URL WeChat calls (verification, media verdicts, privacy events)."""

import json
import logging
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import Field

from app.auth.dependencies import CurrentActor, CurrentUser
from app.core import idempotency
from app.core.clock import ClockDep
from app.core.db import SessionDep
from app.core.deps import SettingsDep
from app.core.errors import Forbidden, ServiceUnavailable, Unprocessable, responses
from app.core.schemas import InSchema, OutSchema
from app.wechat import moderation, privacy, push, service

log = logging.getLogger("linli.wechat.push")

me_router = APIRouter(prefix="/me", tags=["me"])
router = APIRouter(prefix="/wechat", tags=["wechat"])
review_router = APIRouter(prefix="/tickets", tags=["tickets"])

IdempotencyKey = idempotency.IdempotencyKey


class SubscriptionReport(InSchema):
    results: dict[Annotated[str, Field(min_length=1, max_length=128)], service.PopupResult] = Field(
        min_length=1,
        max_length=10,
        description=(
            "wx.requestSubscribeMessage 的结果原样上报："
            "模板编号 → accept / reject / ban / filter / acceptWithAudio"
        ),
        examples=[{"dev-ticket.claimed": "accept", "dev-ticket.resolved": "reject"}],
    )


class TemplateCredit(OutSchema):
    event: str = Field(description="对应的事件，例如 ticket.claimed（网格员接单）")
    template_id: str
    credits: int = Field(description="还可以发送的次数（每次同意订阅加一次，每发送一条减一次）")


class SubscriptionsRead(OutSchema):
    templates: list[TemplateCredit]
    credits_from: str = Field(description="client：以小程序上报为准；push：以微信推送的订阅事件为准")


class PhoneBind(InSchema):
    code: str = Field(min_length=1, max_length=256, description="手机号快速验证组件返回的 e.detail.code")


class PhoneRead(OutSchema):
    phone: str = Field(description="本人完整手机号（只返回给本人）")
    verified_at: Any


class ReviewIn(InSchema):
    decision: moderation.ReviewDecision = Field(
        description="approve：可以公开；hide：不在问题清单公开，待审照片隔离"
    )


class ReviewRead(OutSchema):
    id: uuid.UUID
    moderation: str
    photos_public: bool


async def _subscriptions(session: SessionDep, user_id: uuid.UUID, settings: SettingsDep) -> SubscriptionsRead:
    credits = await service.credits_of(session, user_id)
    return SubscriptionsRead(
        templates=[
            TemplateCredit(event=kind, template_id=t.template_id, credits=credits.get(t.template_id, 0))
            for kind, t in sorted(settings.wechat.templates.items())
            if t.template_id
        ],
        credits_from=settings.wechat.credits_from,
    )


@me_router.get("/subscriptions", response_model=SubscriptionsRead, summary="我的订阅消息")
async def get_subscriptions(
    user: CurrentUser, session: SessionDep, settings: SettingsDep
) -> SubscriptionsRead:
    """Which templates the mini-program may ask for, and how many messages each still allows."""
    return await _subscriptions(session, user.id, settings)


@me_router.post(
    "/subscriptions",
    response_model=SubscriptionsRead,
    summary="上报订阅消息授权结果",
    description=(
        "调用 wx.requestSubscribeMessage 后把结果原样上报；每个 accept 记一次可发送次数。"
        "请带 `Idempotency-Key`（每次弹窗一个），重试不会重复计数。"
    ),
    responses=responses(service.UnknownTemplate, idempotency.IdempotencyKeyReused),
)
async def report_subscriptions(
    body: SubscriptionReport,
    user: CurrentUser,
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    async def run() -> tuple[int, str | None, dict[str, Any]]:
        if settings.wechat.credits_from == "client":
            await service.record_popup(
                session, user_id=user.id, results=dict(body.results), settings=settings, now=clock.now()
            )
        out = await _subscriptions(session, user.id, settings)
        return 200, None, out.model_dump(mode="json")

    code, content = await idempotency.once(
        session,
        user_id=user.id,
        scope="POST /api/v1/me/subscriptions",
        key=idempotency_key,
        body=body.model_dump(mode="json"),
        now=clock.now(),
        run=run,
    )
    return JSONResponse(status_code=code, content=content)


@me_router.post(
    "/phone",
    response_model=PhoneRead,
    summary="绑定微信手机号",
    description="手机号快速验证组件（open-type=getPhoneNumber）返回的 code 换取手机号。居民可以不绑定。",
    responses=responses(
        service.NoWeChatAccount,
        service.PhoneCodeInvalid,
        service.PhoneRateLimited,
        service.PhoneUnavailable,
        idempotency.IdempotencyKeyReused,
    ),
)
async def bind_phone(
    body: PhoneBind,
    request: Request,
    user: CurrentUser,
    session: SessionDep,
    clock: ClockDep,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    async def run() -> tuple[int, str | None, dict[str, Any]]:
        u = await service.bind_phone(
            session, user=user, wechat=request.app.state.wechat, code=body.code, now=clock.now()
        )
        return (
            200,
            None,
            PhoneRead(phone=u.phone or "", verified_at=u.phone_verified_at).model_dump(mode="json"),
        )

    code, content = await idempotency.once(
        session,
        user_id=user.id,
        scope="POST /api/v1/me/phone",
        key=idempotency_key,
        body=body.model_dump(mode="json"),
        now=clock.now(),
        run=run,
    )
    return JSONResponse(status_code=code, content=content)


@review_router.post(
    "/{ticket_id}/moderation",
    response_model=ReviewRead,
    summary="审核被内容安全拦下的工单",
    description="文字或照片待人工审核的工单（moderation=held），由本社区工作人员决定是否可以在问题清单公开。",
    responses=responses(moderation.TicketNotFoundForReview, moderation.ReviewForbidden),
)
async def review_ticket(
    ticket_id: uuid.UUID, body: ReviewIn, actor: CurrentActor, session: SessionDep, clock: ClockDep
) -> ReviewRead:
    t = await moderation.review_ticket(
        session, actor=actor, ticket_id=ticket_id, decision=body.decision, now=clock.now()
    )
    return ReviewRead(id=t.id, moderation=t.moderation, photos_public=t.photos_public)


# --- message push ------------------------------------------------------------------------


class PushSignatureInvalid(Forbidden):
    code = "wechat.push_signature_invalid"
    message = "消息推送签名校验失败"


class PushBodyInvalid(Unprocessable):
    code = "wechat.push_body_invalid"
    message = "消息推送内容无法解析"


class PushNotReady(ServiceUnavailable):
    code = "wechat.push_retry"
    message = "暂时无法处理，请稍后重试"


@router.get(
    "/push",
    response_class=PlainTextResponse,
    summary="消息推送：服务器地址校验",
    description="微信后台配置消息推送时调用；签名正确时原样返回 echostr。",
    responses=responses(PushSignatureInvalid),
)
async def verify_push_url(
    settings: SettingsDep,
    signature: Annotated[str, Query(max_length=64)],
    timestamp: Annotated[str, Query(max_length=32)],
    nonce: Annotated[str, Query(max_length=64)],
    echostr: Annotated[str, Query(max_length=256)],
) -> PlainTextResponse:
    if not push.url_signature_ok(settings.wechat, signature=signature, timestamp=timestamp, nonce=nonce):
        raise PushSignatureInvalid()
    return PlainTextResponse(echostr)


@router.post(
    "/push",
    response_class=PlainTextResponse,
    summary="消息推送：接收事件",
    description=(
        "微信推送的事件（JSON 格式，明文或安全模式）：图片内容安全结果 wxa_media_check、"
        "用户撤回授权 user_authorization_revoke、注销 user_authorization_cancellation、订阅消息弹窗事件。"
    ),
    responses=responses(PushSignatureInvalid, PushBodyInvalid, PushNotReady),
)
async def receive_push(
    request: Request,
    background: BackgroundTasks,
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
    signature: Annotated[str, Query(max_length=64)],
    timestamp: Annotated[str, Query(max_length=32)],
    nonce: Annotated[str, Query(max_length=64)],
    msg_signature: Annotated[str | None, Query(max_length=64)] = None,
    encrypt_type: Annotated[str | None, Query(max_length=16)] = None,
) -> PlainTextResponse:
    raw = await request.body()
    try:
        event = push.open_event(
            settings.wechat,
            raw,
            signature=signature,
            timestamp=timestamp,
            nonce=nonce,
            msg_signature=msg_signature,
            encrypted=encrypt_type == "aes",
            now=clock.now(),
        )
    except push.BadSignature:
        raise PushSignatureInvalid() from None
    except (push.BadBody, json.JSONDecodeError, UnicodeDecodeError):
        raise PushBodyInvalid() from None
    files: list[str] = []
    handled = await push.handle_event(session, event, settings=settings, now=clock.now(), files=files)
    if not handled:
        # A verdict for a trace_id we have not stored yet: WeChat pushes again later.
        raise PushNotReady()
    # Photos erased by a cancellation or a withdrawn authorization: their files go after the
    # response, when the request's transaction has committed.
    background.add_task(privacy.delete_files, request.app.state.storage, files)
    return PlainTextResponse("success")
