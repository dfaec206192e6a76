"""The deterministic answers of WECHAT.md Appendix A, shared by the in-process FakeWeChatClient
(dev, most tests) and the fake WeChat HTTP server the real client is tested against.

* getuserphonenumber: ``phone:<number>`` → that number (country code "86"); anything else, or a
  code presented twice → 40029.
* msgSecCheck: content containing ``RISKY`` → risky/20006, ``REVIEW`` → review/20001, else pass/100.
* mediaCheckAsync: a URL containing ``risky`` → risky/20002, ``review`` → review/21000, else pass.
* subscribe send: values checked against the keyword rules (47003 naming the field); a
  (openid, template) without a credit → 43101.
"""

import re
import uuid
from typing import Any

from app.wechat import values

ERR_INVALID_CODE = 40029
ERR_NO_CREDIT = 43101
ERR_TEMPLATE_DATA = 47003
ERR_BAD_SCENE = 40129
ERR_EMPTY = 44002

_PHONE = re.compile(r"\+?\d{5,15}")


def phone_number(code: str, used: set[str], app_id: str) -> dict[str, Any]:
    """The getuserphonenumber answer for a fake button code."""
    if code in used or not code.startswith("phone:") or not _PHONE.fullmatch(code[6:]):
        return {"errcode": ERR_INVALID_CODE, "errmsg": "invalid code"}
    used.add(code)
    number = code[6:]
    country, pure = ("86", number) if not number.startswith("+") else (number[1:3], number[3:])
    return {
        "errcode": 0,
        "errmsg": "ok",
        "phone_info": {
            "phoneNumber": number if number.startswith("+") else pure,
            "purePhoneNumber": pure,
            "countryCode": country,
            "watermark": {"timestamp": 1637744274, "appid": app_id},
        },
    }


def msg_sec_check(body: dict[str, Any]) -> dict[str, Any]:
    """The msgSecCheck v2 answer for a request body."""
    if body.get("version") != 2 or not body.get("openid") or not body.get("content"):
        return {"errcode": ERR_EMPTY, "errmsg": "empty content or missing version/openid"}
    if body.get("scene") not in (1, 2, 3, 4):
        return {"errcode": ERR_BAD_SCENE, "errmsg": "invalid scene"}
    content = str(body["content"])
    if "RISKY" in content:
        suggest, label = "risky", 20006
    elif "REVIEW" in content:
        suggest, label = "review", 20001
    else:
        suggest, label = "pass", 100
    return {
        "errcode": 0,
        "errmsg": "ok",
        "trace_id": uuid.uuid4().hex,
        "result": {"suggest": suggest, "label": label},
        "detail": [
            {"strategy": "content_model", "errcode": 0, "suggest": suggest, "label": label, "prob": 90}
        ],
    }


def media_verdict(media_url: str) -> tuple[str, int]:
    if "risky" in media_url:
        return "risky", 20002
    if "review" in media_url:
        return "review", 21000
    return "pass", 100


def media_check_event(*, app_id: str, openid: str, trace_id: str, media_url: str, at: int) -> dict[str, Any]:
    """The wxa_media_check push event WeChat sends when an image check finishes."""
    suggest, label = media_verdict(media_url)
    return {
        "ToUserName": "gh_fake",
        "FromUserName": openid,
        "CreateTime": at,
        "MsgType": "event",
        "Event": "wxa_media_check",
        "appid": app_id,
        "trace_id": trace_id,
        "version": 2,
        "result": {"suggest": suggest, "label": label},
        "detail": [
            {"strategy": "content_model", "errcode": 0, "suggest": suggest, "label": label, "prob": 90}
        ],
    }


def subscribe_send(body: dict[str, Any], credits: dict[tuple[str, str], int] | None) -> dict[str, Any]:
    """The subscribeMessage.send answer; spends a credit on success (credits None: unlimited)."""
    openid, template_id = body.get("touser"), body.get("template_id")
    if not openid:
        return {"errcode": 40003, "errmsg": "invalid openid"}
    if not template_id:
        return {"errcode": 40037, "errmsg": "invalid template_id"}
    data = body.get("data")
    if not isinstance(data, dict) or not data:
        return {"errcode": ERR_TEMPLATE_DATA, "errmsg": "argument invalid! data is empty"}
    for keyword, item in data.items():
        value = item.get("value") if isinstance(item, dict) else None
        reason = values.problem(keyword, value)
        if reason:
            return {"errcode": ERR_TEMPLATE_DATA, "errmsg": f"argument invalid! {reason}"}
    if credits is not None:
        key = (openid, template_id)
        if credits.get(key, 0) <= 0:
            return {"errcode": ERR_NO_CREDIT, "errmsg": "user refuse to accept the msg"}
        credits[key] -= 1
    return {"errcode": 0, "errmsg": "ok", "msgid": uuid.uuid4().int % 10**12}
