"""The message-push URL (WECHAT.md §5.3, §5.4, §8.2): URL verification, plain and safe-mode
events, mediaCheckAsync verdicts and their timeout, privacy events, and the whole loop with the
app's own background dispatcher and the fake WeChat's local push."""

import asyncio
import hashlib
import io
import itertools
import json
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
from PIL import Image
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.auth.models import RefreshToken
from app.auth.permissions import Role
from app.core.config import Settings
from app.duty.models import WorkerDuty
from app.media.models import Photo
from app.media.storage import StoredObjectMissing
from app.notification.models import Notification, OutboxMessage
from app.notification.outbox import dispatch_channel
from app.ticket.models import Ticket, TicketEvent
from app.user.models import User, UserIdentity
from app.wechat import fake, jobs
from app.wechat.client import FakeWeChatClient
from app.wechat.push_crypto import MessageCrypto
from app.wechat.service import wechat_deliverer
from tests.conftest import make_settings
from tests.factories import World, bearer, make_category, make_user, make_world
from tests.fakes import FrozenClock
from tests.live import Live

PUSH = "/api/v1/wechat/push"
UPLOADS = "/api/v1/uploads"
TICKETS = "/api/v1/tickets"
BOARD = "/api/v1/public/tickets"
LOGIN = "/api/v1/auth/wechat/login"

TOKEN = "dev-push-token"  # WeChatSettings.push_token's default
APP_ID = "wx-dev"  # FakeWeChatClient's default app id
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"  # 43 characters
SAFE_APP_ID = "wxb11529c136998cb6"
RESIDENT_OPENID = "resident-openid"
WORKER_OPENID = "worker-openid"
IN_G1 = {"lat": 34.272, "lng": 108.952, "coord_system": "wgs84"}

_sizes = itertools.count(1)


def sha1_sorted(*parts: str) -> str:
    """WeChat's signature, computed here by hand rather than with the app's helper."""
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


_CLOCK: dict[str, FrozenClock | None] = {"clock": None}


@pytest.fixture(autouse=True)
def _push_clock(request: pytest.FixtureRequest) -> None:
    """Pushes are signed at the test's clock time (the app refuses timestamps 5 minutes off)."""
    _CLOCK["clock"] = request.getfixturevalue("clock") if "clock" in request.fixturenames else None


def now_ts() -> str:
    clock = _CLOCK["clock"] or FrozenClock()
    return str(int(clock.now().timestamp()))


def signed(token: str = TOKEN, *, timestamp: str | None = None, nonce: str | None = None) -> dict[str, str]:
    timestamp = timestamp or now_ts()
    nonce = nonce or uuid.uuid4().hex[:12]
    return {"signature": sha1_sorted(token, timestamp, nonce), "timestamp": timestamp, "nonce": nonce}


def jpeg() -> bytes:
    """A small JPEG whose bytes differ on every call (uploads of equal bytes are deduplicated)."""
    buf = io.BytesIO()
    Image.new("RGB", (40 + next(_sizes), 30), (90, 140, 200)).save(buf, format="JPEG")
    return buf.getvalue()


def privacy_event(openid: str, event: str = "user_authorization_revoke", **extra: Any) -> dict[str, Any]:
    return {
        "ToUserName": "gh_fake",
        "FromUserName": openid,
        "CreateTime": 1700000000,
        "MsgType": "event",
        "Event": event,
        "OpenID": openid,
        "AppID": APP_ID,
        **extra,
    }


def assert_envelope(r: httpx.Response, status: int, code: str) -> None:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert body["code"] == code and body["message"], body


def assert_success(r: httpx.Response) -> None:
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    assert r.text == "success"


async def fresh(session: AsyncSession, model: Any, **where: Any) -> Any:
    """The row as the database has it now (not the copy the session already holds)."""
    stmt = select(model).filter_by(**where).execution_options(populate_existing=True)
    return await session.scalar(stmt)


async def photo_checks(session: AsyncSession, ticket_id: uuid.UUID) -> int:
    return await count(
        session, TicketEvent, TicketEvent.ticket_id == ticket_id, TicketEvent.action == "photo_check"
    )


async def count(session: AsyncSession, model: Any, *where: Any) -> int:
    return await session.scalar(select(func.count()).select_from(model).where(*where)) or 0


@dataclass
class Pusher:
    """The app under test plus what the tests do to it: upload, dispatch the outbox, push events."""

    client: httpx.AsyncClient
    app: Any
    maker: async_sessionmaker[AsyncSession]
    settings: Settings
    clock: FrozenClock

    @property
    def wx(self) -> FakeWeChatClient:
        return self.app.state.wechat

    def auth(self, user: User) -> dict[str, str]:
        return bearer(self.settings, self.clock, user)

    async def push(self, body: dict[str, Any] | bytes | str, **query: str) -> httpx.Response:
        content = body if isinstance(body, bytes | str) else json.dumps(body, ensure_ascii=False)
        params = {**signed(), **query}
        return await self.client.post(
            PUSH, params=params, content=content, headers={"Content-Type": "application/json"}
        )

    async def upload(self, user: User) -> dict[str, Any]:
        r = await self.client.post(
            UPLOADS, headers=self.auth(user), files={"file": ("wx_tmp.jpg", jpeg(), "image/jpeg")}
        )
        assert r.status_code == 201, r.text
        return r.json()

    async def dispatch(self) -> int:
        deliver = wechat_deliverer(self.maker, self.wx, self.settings, self.clock)
        return await dispatch_channel(self.maker, "wechat", deliver, self.clock)

    def check_of(self, photo_id: str) -> dict[str, Any]:
        """The mediaCheckAsync request the fake WeChat received for this photo."""
        (check,) = [c for c in self.wx.media_checks if f"/media/{photo_id}/" in c["media_url"]]
        return check

    async def verdict(self, photo_id: str, kind: str = "pass") -> httpx.Response:
        """WeChat pushes the verdict of this photo's check (the fake decides by the URL)."""
        check = self.check_of(photo_id)
        event = fake.media_check_event(
            app_id=APP_ID,
            openid=check["openid"],
            trace_id=check["trace_id"],
            media_url=check["media_url"] + ("" if kind == "pass" else f"&{kind}"),
            at=1700000000,
        )
        assert event["result"]["suggest"] == kind
        return await self.push(event)

    async def report(self, user: User, photo_ids: list[str], category_id: uuid.UUID) -> dict[str, Any]:
        body = {
            "category_id": str(category_id),
            "description": "井盖破损，晚上很危险",
            "location": IN_G1,
            "photo_ids": photo_ids,
        }
        r = await self.client.post(TICKETS, json=body, headers=self.auth(user))
        assert r.status_code == 201, r.text
        return r.json()

    async def make_public(self, ticket_id: str, staff: User) -> httpx.Response:
        return await self.client.post(
            f"{TICKETS}/{ticket_id}/photos-public", json={"photos_public": True}, headers=self.auth(staff)
        )

    async def ticket(self, ticket_id: str, user: User) -> dict[str, Any]:
        r = await self.client.get(f"{TICKETS}/{ticket_id}", headers=self.auth(user))
        assert r.status_code == 200, r.text
        return r.json()


@pytest.fixture
async def w(session: AsyncSession) -> World:
    world = await make_world(session)
    world.category = await make_category(  # type: ignore[attr-defined]
        session, world.s1, name="设施损坏", respond_minutes=10, resolve_hours=72
    )
    session.add(UserIdentity(user_id=world.resident.id, provider="wechat_mp", subject=RESIDENT_OPENID))
    session.add(UserIdentity(user_id=world.worker.id, provider="wechat_mp", subject=WORKER_OPENID))
    await session.commit()
    return world


@pytest.fixture
def px(client, app, maker, settings, clock) -> Pusher:  # type: ignore[no-untyped-def]
    app.state.wechat.media_callbacks = False  # the tests push the verdicts themselves
    return Pusher(client, app, maker, settings, clock)


# --- URL verification ---------------------------------------------------------------------------


class TestUrlVerification:
    async def test_a_correct_signature_gets_echostr_back_verbatim_as_plain_text(self, client) -> None:
        echostr = "7061234567890123456"
        r = await client.get(PUSH, params={**signed(nonce="1514711492"), "echostr": echostr})
        assert r.status_code == 200, r.text
        assert r.headers["content-type"].startswith("text/plain")
        assert r.text == echostr  # not '"7061234567890123456"': WeChat rejects JSON

    async def test_echostr_with_characters_json_would_escape_is_returned_unchanged(self, client) -> None:
        echostr = 'a"b\\c/d'
        r = await client.get(PUSH, params={**signed(), "echostr": echostr})
        assert r.status_code == 200 and r.content == echostr.encode()

    @pytest.mark.parametrize(
        "tamper",
        [
            lambda q: {**q, "signature": "0" * 40},
            lambda q: {**q, "nonce": q["nonce"] + "x"},
            lambda q: {**q, "timestamp": "1700000001"},
            lambda q: {**q, "signature": q["signature"].upper()},
        ],
        ids=["wrong-signature", "other-nonce", "other-timestamp", "uppercase"],
    )
    async def test_a_wrong_signature_is_refused_with_the_error_envelope(self, client, tamper) -> None:  # type: ignore[no-untyped-def]
        r = await client.get(PUSH, params={**tamper(signed()), "echostr": "123"})
        assert_envelope(r, 403, "wechat.push_signature_invalid")
        assert "123" not in r.text

    async def test_a_signature_made_with_another_token_is_refused(self, client) -> None:
        r = await client.get(PUSH, params={**signed("other-token"), "echostr": "123"})
        assert_envelope(r, 403, "wechat.push_signature_invalid")

    @pytest.mark.parametrize("missing", ["signature", "timestamp", "nonce", "echostr"])
    async def test_missing_parameters_are_a_validation_error(self, client, missing) -> None:  # type: ignore[no-untyped-def]
        params = {**signed(), "echostr": "123"}
        del params[missing]
        r = await client.get(PUSH, params=params)
        assert_envelope(r, 422, "request.invalid")


# --- events: plain and safe mode --------------------------------------------------------------


class TestPlainEvents:
    async def test_a_bad_signature_is_refused_and_nothing_happens(self, px: Pusher, w, session) -> None:  # type: ignore[no-untyped-def]
        event = privacy_event(RESIDENT_OPENID, RevokeInfo="8")
        r = await px.push(event, signature="0" * 40)
        assert_envelope(r, 403, "wechat.push_signature_invalid")
        assert (await fresh(session, User, id=w.resident.id)).phone == "13912345678"

    @pytest.mark.parametrize(
        "body", [b"<xml><Event>x</Event></xml>", b"", b"[1, 2]", b'"text"', b"\xff\xfe{}"]
    )
    async def test_a_body_that_is_not_a_json_object_is_refused(self, px: Pusher, body: bytes) -> None:
        assert_envelope(await px.push(body), 422, "wechat.push_body_invalid")

    @pytest.mark.parametrize(
        "event",
        [
            {"ToUserName": "gh_fake", "MsgType": "event", "Event": "something_new"},
            {"ToUserName": "gh_fake", "MsgType": "text", "Content": "你好"},
            {},
        ],
    )
    async def test_events_we_do_not_act_on_are_acknowledged(self, px: Pusher, event) -> None:  # type: ignore[no-untyped-def]
        assert_success(await px.push(event))

    @pytest.mark.parametrize("age", [-301, 301, 3600 * 24 * 365])
    async def test_a_correctly_signed_push_from_another_time_is_refused(  # type: ignore[no-untyped-def]
        self, px: Pusher, w, session, clock, age: int
    ) -> None:
        # A signature seen in a log cannot be replayed later (nor prepared for later).
        stale = str(int(clock.now().timestamp()) - age)
        r = await px.push(privacy_event(RESIDENT_OPENID, RevokeInfo="8"), **signed(timestamp=stale))
        assert_envelope(r, 403, "wechat.push_signature_invalid")
        assert (await fresh(session, User, id=w.resident.id)).phone == "13912345678"

    async def test_a_push_a_few_minutes_off_our_clock_is_accepted(
        self, px: Pusher, w, session, clock
    ) -> None:  # type: ignore[no-untyped-def]
        near = str(int(clock.now().timestamp()) - 299)
        assert_success(
            await px.push(privacy_event(RESIDENT_OPENID, RevokeInfo="8"), **signed(timestamp=near))
        )
        assert (await fresh(session, User, id=w.resident.id)).phone is None

    async def test_a_media_verdict_without_trace_id_is_acknowledged(self, px: Pusher) -> None:
        event = {"Event": "wxa_media_check", "result": {"suggest": "risky", "label": 20002}}
        assert_success(await px.push(event))


class TestSafeMode:
    @pytest.fixture
    def safe(self, px: Pusher, database_url, tmp_path) -> Pusher:  # type: ignore[no-untyped-def]
        px.settings = make_settings(
            database_url, tmp_path, wechat={"app_id": SAFE_APP_ID, "encoding_aes_key": AES_KEY}
        )
        px.app.state.settings = px.settings
        return px

    def encrypted(
        self, event: dict[str, Any], *, app_id: str = SAFE_APP_ID, timestamp: str | None = None
    ) -> tuple[dict[str, str], dict[str, str]]:
        timestamp = timestamp or now_ts()
        nonce = uuid.uuid4().hex[:12]
        sealed = MessageCrypto(TOKEN, AES_KEY, app_id).encrypt(
            json.dumps(event, ensure_ascii=False), timestamp=timestamp, nonce=nonce
        )
        query = {
            **signed(timestamp=timestamp, nonce=nonce),
            "encrypt_type": "aes",
            "msg_signature": sha1_sorted(TOKEN, timestamp, nonce, sealed["Encrypt"]),
        }
        return query, {"ToUserName": "gh_fake", "Encrypt": sealed["Encrypt"]}

    async def send(self, px: Pusher, query: dict[str, str], body: Any) -> httpx.Response:
        return await px.client.post(PUSH, params=query, content=json.dumps(body))

    async def test_an_encrypted_event_is_decrypted_and_handled(self, safe: Pusher, w, session) -> None:  # type: ignore[no-untyped-def]
        query, body = self.encrypted(privacy_event(RESIDENT_OPENID, RevokeInfo="8"))
        assert_success(await self.send(safe, query, body))
        assert (await fresh(session, User, id=w.resident.id)).phone is None

    async def test_an_unknown_encrypted_event_is_acknowledged(self, safe: Pusher) -> None:
        query, body = self.encrypted({"Event": "something_new"})
        assert_success(await self.send(safe, query, body))

    async def test_a_wrong_msg_signature_is_refused(self, safe: Pusher, w, session) -> None:  # type: ignore[no-untyped-def]
        query, body = self.encrypted(privacy_event(RESIDENT_OPENID, RevokeInfo="8"))
        assert_envelope(
            await self.send(safe, {**query, "msg_signature": "0" * 40}, body),
            403,
            "wechat.push_signature_invalid",
        )
        # The Encrypt field swapped for another message's: the signature no longer covers it.
        _, other = self.encrypted(privacy_event(RESIDENT_OPENID, RevokeInfo="8"))
        assert_envelope(await self.send(safe, query, other), 403, "wechat.push_signature_invalid")
        assert (await fresh(session, User, id=w.resident.id)).phone == "13912345678"

    async def test_a_wrong_url_signature_is_refused_even_with_a_good_msg_signature(
        self, safe: Pusher
    ) -> None:
        query, body = self.encrypted({"Event": "something_new"})
        r = await self.send(safe, {**query, "signature": "0" * 40}, body)
        assert_envelope(r, 403, "wechat.push_signature_invalid")

    async def test_a_message_sealed_for_another_mini_program_is_refused(self, safe: Pusher) -> None:
        query, body = self.encrypted({"Event": "something_new"}, app_id="wx-someone-else")
        assert_envelope(await self.send(safe, query, body), 422, "wechat.push_body_invalid")

    async def test_a_plain_body_is_not_trusted_while_safe_mode_is_configured(
        self, safe: Pusher, w, session
    ) -> None:  # type: ignore[no-untyped-def]
        r = await safe.push(privacy_event(RESIDENT_OPENID, RevokeInfo="8"))
        assert_envelope(r, 422, "wechat.push_body_invalid")
        assert (await fresh(session, User, id=w.resident.id)).phone == "13912345678"

    async def test_an_encrypted_body_without_msg_signature_is_refused(self, safe: Pusher) -> None:
        query, body = self.encrypted({"Event": "something_new"})
        del query["msg_signature"]
        assert_envelope(await self.send(safe, query, body), 422, "wechat.push_body_invalid")

    async def test_url_verification_still_works_in_safe_mode(self, safe: Pusher) -> None:
        r = await safe.client.get(PUSH, params={**signed(), "echostr": "42"})
        assert r.status_code == 200 and r.text == "42"


# --- media verdicts -----------------------------------------------------------------------------


class TestMediaCheckRequest:
    async def test_a_wechat_users_upload_is_pending_and_queues_a_check(self, px: Pusher, w, session) -> None:  # type: ignore[no-untyped-def]
        photo = await px.upload(w.resident)
        assert photo["check"] == "pending"
        rows = list(await session.scalars(select(OutboxMessage).where(OutboxMessage.channel == "wechat")))
        assert [(r.topic, r.payload) for r in rows] == [
            ("media_check", {"photo_id": photo["id"], "openid": RESIDENT_OPENID})
        ]

    async def test_an_upload_by_staff_without_wechat_is_not_checked(self, px: Pusher, w, session) -> None:  # type: ignore[no-untyped-def]
        photo = await px.upload(w.c1_admin)
        assert photo["check"] == "none"
        assert await count(session, OutboxMessage, OutboxMessage.topic == "media_check") == 0

    async def test_dispatch_asks_wechat_and_remembers_the_trace_id(self, px: Pusher, w, session) -> None:  # type: ignore[no-untyped-def]
        photo = await px.upload(w.resident)
        assert px.wx.media_checks == []  # nothing is sent before the outbox delivers it
        assert await px.dispatch() == 1
        check = px.check_of(photo["id"])
        assert check["openid"] == RESIDENT_OPENID
        assert check["media_url"].startswith(f"http://localhost/media/{photo['id']}/full.jpg?")
        stored = await fresh(session, Photo, id=uuid.UUID(photo["id"]))
        assert stored.check_status == "pending"
        assert stored.check_trace_id == check["trace_id"]
        assert stored.check_requested_at == px.clock.now()
        # The URL handed to WeChat really serves the photo.
        r = await px.client.get(check["media_url"].removeprefix("http://localhost"))
        assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
        # Delivered once: a second pass has nothing to send.
        assert await px.dispatch() == 0
        assert len(px.wx.media_checks) == 1


class TestMediaVerdicts:
    @pytest.mark.parametrize(("kind", "label"), [("pass", 100), ("risky", 20002), ("review", 21000)])
    async def test_the_pushed_verdict_decides_the_photo(self, px: Pusher, w, session, kind, label) -> None:  # type: ignore[no-untyped-def]
        photo = await px.upload(w.resident)
        await px.dispatch()
        assert_success(await px.verdict(photo["id"], kind))
        r = await px.client.get(f"{UPLOADS}/{photo['id']}", headers=px.auth(w.resident))
        assert r.status_code == 200 and r.json()["check"] == kind
        assert (await fresh(session, Photo, id=uuid.UUID(photo["id"]))).check_label == label

    @pytest.mark.parametrize(("isrisky", "expected"), [(1, "risky"), ("1", "risky"), (0, "pass")])
    async def test_a_v1_style_payload_is_read_by_isrisky(
        self, px: Pusher, w, session, isrisky, expected
    ) -> None:  # type: ignore[no-untyped-def]
        photo = await px.upload(w.resident)
        await px.dispatch()
        event = {
            "ToUserName": "gh_fake",
            "FromUserName": RESIDENT_OPENID,
            "CreateTime": 1700000000,
            "MsgType": "event",
            "Event": "wxa_media_check",
            "appid": APP_ID,
            "trace_id": px.check_of(photo["id"])["trace_id"],
            "isrisky": isrisky,
            "extra_info_json": "",
            "status_code": 0,
        }
        assert_success(await px.push(event))
        assert (await fresh(session, Photo, id=uuid.UUID(photo["id"]))).check_status == expected

    @pytest.mark.parametrize("status_code", [-1008, 4294966288])
    async def test_a_v1_payload_whose_image_could_not_be_downloaded_is_not_a_pass(
        self, px: Pusher, w, session, status_code
    ) -> None:  # type: ignore[no-untyped-def]
        photo = await px.upload(w.resident)
        await px.dispatch()
        event = {
            "Event": "wxa_media_check",
            "appid": APP_ID,
            "trace_id": px.check_of(photo["id"])["trace_id"],
            "isrisky": 0,
            "extra_info_json": "",
            "status_code": status_code,
        }
        assert_success(await px.push(event))
        assert (await fresh(session, Photo, id=uuid.UUID(photo["id"]))).check_status == "review"

    async def test_a_label_sent_as_a_string_is_parsed(self, px: Pusher, w, session) -> None:  # type: ignore[no-untyped-def]
        photo = await px.upload(w.resident)
        await px.dispatch()
        check = px.check_of(photo["id"])
        event = fake.media_check_event(
            app_id=APP_ID, openid=RESIDENT_OPENID, trace_id=check["trace_id"], media_url="x", at=1700000000
        )
        event["result"] = {"suggest": "pass", "label": "100"}
        assert_success(await px.push(event))
        stored = await fresh(session, Photo, id=uuid.UUID(photo["id"]))
        assert (stored.check_status, stored.check_label) == ("pass", 100)

    async def test_a_verdict_for_an_unknown_trace_id_asks_wechat_to_push_again(self, px: Pusher) -> None:
        event = fake.media_check_event(
            app_id=APP_ID, openid=RESIDENT_OPENID, trace_id="no-such-trace", media_url="x", at=1700000000
        )
        assert_envelope(await px.push(event), 503, "wechat.push_retry")

    async def test_a_verdict_pushed_before_the_trace_id_was_stored_applies_on_the_retry(
        self, px: Pusher, w, session
    ) -> None:  # type: ignore[no-untyped-def]
        photo = await px.upload(w.resident)
        await px.dispatch()
        trace = px.check_of(photo["id"])["trace_id"]
        pid = uuid.UUID(photo["id"])
        stored = await fresh(session, Photo, id=pid)
        stored.check_trace_id = None  # as if WeChat answered faster than our own commit
        await session.commit()
        event = fake.media_check_event(
            app_id=APP_ID, openid=RESIDENT_OPENID, trace_id=trace, media_url="x", at=1700000000
        )
        assert_envelope(await px.push(event), 503, "wechat.push_retry")
        stored.check_trace_id = trace
        await session.commit()
        assert_success(await px.push(event))
        assert (await fresh(session, Photo, id=pid)).check_status == "pass"


class TestRiskyPhotoOnATicket:
    async def _reported(self, px: Pusher, w: World) -> tuple[dict[str, Any], str, str]:
        """A ticket with two photos; the first will pass, the second is risky."""
        ok, bad = await px.upload(w.resident), await px.upload(w.resident)
        ticket = await px.report(w.resident, [ok["id"], bad["id"]], w.category.id)  # type: ignore[attr-defined]
        await px.dispatch()
        assert_success(await px.verdict(ok["id"], "pass"))
        assert_success(await px.verdict(bad["id"], "risky"))
        return ticket, ok["id"], bad["id"]

    async def test_only_the_communitys_staff_see_a_risky_photo(self, px: Pusher, w) -> None:  # type: ignore[no-untyped-def]
        ticket, ok, bad = await self._reported(px, w)
        for user in (w.resident, w.worker):
            seen = await px.ticket(ticket["id"], user)
            assert seen["is_full_view"] is True
            assert [p["id"] for p in seen["photos"]] == [ok], user.display_name
            assert f"/media/{bad}/" not in json.dumps(seen)  # no link to the image anywhere
        admin = await px.ticket(ticket["id"], w.c1_admin)
        assert [(p["id"], p["check"]) for p in admin["photos"]] == [(ok, "pass"), (bad, "risky")]

    async def test_the_timeline_records_the_check_and_community_admins_are_told(
        self, px: Pusher, w, session
    ) -> None:  # type: ignore[no-untyped-def]
        ticket, _, bad = await self._reported(px, w)
        admin = await px.ticket(ticket["id"], w.c1_admin)
        checks = [e for e in admin["timeline"] if e["action"] == "photo_check"]
        assert len(checks) == 1
        assert checks[0]["data"] == {"photo_id": bad, "check": "risky"}
        assert checks[0]["from_status"] == checks[0]["to_status"] == ticket["status"]
        notes = list(
            await session.scalars(select(Notification).where(Notification.kind == "content.photo_review"))
        )
        assert [n.user_id for n in notes] == [w.c1_admin.id]  # not C2's admin, not the reporter
        assert notes[0].ticket_id == uuid.UUID(ticket["id"])
        assert notes[0].data == {"number": ticket["number"], "photo_id": bad}

    async def test_the_public_never_sees_it_even_after_staff_make_the_photos_public(
        self, px: Pusher, w
    ) -> None:  # type: ignore[no-untyped-def]
        ticket, ok, bad = await self._reported(px, w)
        r = await px.make_public(ticket["id"], w.c1_admin)
        assert r.status_code == 200, r.text
        r = await px.client.get(
            BOARD, params={"community_id": str(w.c1.id)}, headers=px.auth(w.other_resident)
        )
        assert r.status_code == 200, r.text
        (item,) = [t for t in r.json()["items"] if t["id"] == ticket["id"]]
        assert [p["id"] for p in item["photos"]] == [ok]
        assert bad not in r.text
        # The public view of the ticket itself hides it too.
        public = await px.ticket(ticket["id"], w.other_resident)
        assert public["is_full_view"] is False
        assert [p["id"] for p in public["photos"]] == [ok]

    async def test_a_risky_verdict_withdraws_photos_staff_had_made_public(
        self, px: Pusher, w, session
    ) -> None:  # type: ignore[no-untyped-def]
        photo = await px.upload(w.resident)
        ticket = await px.report(w.resident, [photo["id"]], w.category.id)
        await px.dispatch()
        r = await px.make_public(ticket["id"], w.c1_admin)
        assert r.status_code == 200, r.text
        assert (await fresh(session, Ticket, id=uuid.UUID(ticket["id"]))).photos_public is True
        assert_success(await px.verdict(photo["id"], "risky"))
        assert (await fresh(session, Ticket, id=uuid.UUID(ticket["id"]))).photos_public is False

    async def test_a_duplicate_delivery_is_harmless(self, px: Pusher, w, session) -> None:  # type: ignore[no-untyped-def]
        ticket, _, bad = await self._reported(px, w)
        assert_success(await px.verdict(bad, "risky"))
        # A different verdict for the same trace_id (a confused retry) changes nothing either.
        assert_success(await px.verdict(bad, "pass"))
        assert (await fresh(session, Photo, id=uuid.UUID(bad))).check_status == "risky"
        tid = uuid.UUID(ticket["id"])
        assert (
            await count(
                session, TicketEvent, TicketEvent.ticket_id == tid, TicketEvent.action == "photo_check"
            )
            == 1
        )
        assert await count(session, Notification, Notification.kind == "content.photo_review") == 1

    async def test_a_review_verdict_is_flagged_but_stays_visible_to_those_involved(
        self, px: Pusher, w, session
    ) -> None:  # type: ignore[no-untyped-def]
        photo = await px.upload(w.resident)
        ticket = await px.report(w.resident, [photo["id"]], w.category.id)
        await px.dispatch()
        assert_success(await px.verdict(photo["id"], "review"))
        seen = await px.ticket(ticket["id"], w.resident)
        assert [(p["id"], p["check"]) for p in seen["photos"]] == [(photo["id"], "review")]
        admin = await px.ticket(ticket["id"], w.c1_admin)
        (check,) = [e for e in admin["timeline"] if e["action"] == "photo_check"]
        assert check["data"]["check"] == "review"
        assert await count(session, Notification, Notification.kind == "content.photo_review") == 1

    @pytest.mark.parametrize("kind", ["pending", "review"])
    async def test_the_public_view_of_a_ticket_hides_photos_the_board_hides(
        self, px: Pusher, w, kind
    ) -> None:  # type: ignore[no-untyped-def]
        photo = await px.upload(w.resident)
        ticket = await px.report(w.resident, [photo["id"]], w.category.id)
        await px.dispatch()
        if kind == "review":
            assert_success(await px.verdict(photo["id"], "review"))
        r = await px.make_public(ticket["id"], w.c1_admin)
        assert r.status_code == 200, r.text
        board = await px.client.get(
            BOARD, params={"community_id": str(w.c1.id)}, headers=px.auth(w.other_resident)
        )
        (item,) = [t for t in board.json()["items"] if t["id"] == ticket["id"]]
        assert item["photos"] == []  # the board keeps the unvetted photo back
        public = await px.ticket(ticket["id"], w.other_resident)
        assert public["is_full_view"] is False
        assert public["photos"] == []


class TestStaffDecisionWins:
    @pytest.mark.parametrize(
        ("decision", "decided", "late"), [("approve", "pass", "risky"), ("hide", "risky", "pass")]
    )
    async def test_a_late_verdict_does_not_override_staff(
        self, px: Pusher, w, session, decision, decided, late
    ) -> None:  # type: ignore[no-untyped-def]
        photo = await px.upload(w.resident)
        ticket = await px.report(w.resident, [photo["id"]], w.category.id)
        await px.dispatch()
        r = await px.client.post(
            f"{TICKETS}/{ticket['id']}/moderation", json={"decision": decision}, headers=px.auth(w.c1_admin)
        )
        assert r.status_code == 200, r.text
        assert (await fresh(session, Photo, id=uuid.UUID(photo["id"]))).check_status == decided
        assert_success(await px.verdict(photo["id"], late))
        stored = await fresh(session, Photo, id=uuid.UUID(photo["id"]))
        assert (stored.check_status, stored.check_label) == (decided, 0)
        tid = uuid.UUID(ticket["id"])
        assert (
            await count(
                session, TicketEvent, TicketEvent.ticket_id == tid, TicketEvent.action == "photo_check"
            )
            == 0
        )
        assert await count(session, Notification, Notification.kind == "content.photo_review") == 0


# --- timeout ----------------------------------------------------------------------------------


class TestTimeout:
    async def test_a_verdict_that_never_comes_sends_the_photo_to_review_after_the_timeout(
        self, px: Pusher, w, session, maker, clock, settings
    ) -> None:  # type: ignore[no-untyped-def]
        photo = await px.upload(w.resident)
        clock.advance(timedelta(minutes=3))  # the request goes out a little after the upload
        await px.dispatch()
        pid = uuid.UUID(photo["id"])
        timeout = timedelta(minutes=settings.wechat.media_check_timeout_minutes)

        clock.advance(timeout)  # exactly the timeout after the request: not yet
        assert (await jobs.sweep(maker, clock=clock, settings=settings)).media_checks_timed_out == 0
        assert (await fresh(session, Photo, id=pid)).check_status == "pending"

        clock.advance(timedelta(seconds=1))
        assert (await jobs.sweep(maker, clock=clock, settings=settings)).media_checks_timed_out == 1
        stored = await fresh(session, Photo, id=pid)
        assert (stored.check_status, stored.check_label) == ("review", None)
        assert (await jobs.sweep(maker, clock=clock, settings=settings)).media_checks_timed_out == 0

        # The verdict turns up late after all: it still applies (no staff decision was made).
        assert_success(await px.verdict(photo["id"], "pass"))
        stored = await fresh(session, Photo, id=pid)
        assert (stored.check_status, stored.check_label) == ("pass", 100)
        # ...and once decided, the sweeper leaves it alone.
        clock.advance(timeout * 2)
        assert (await jobs.sweep(maker, clock=clock, settings=settings)).media_checks_timed_out == 0

    async def test_a_check_that_was_never_sent_times_out_from_the_upload(
        self, px: Pusher, w, session, maker, clock, settings
    ) -> None:  # type: ignore[no-untyped-def]
        photo = await px.upload(w.resident)  # WeChat unreachable: the outbox never delivers it
        pid = uuid.UUID(photo["id"])
        clock.advance(timedelta(minutes=settings.wechat.media_check_timeout_minutes))
        assert (await jobs.sweep(maker, clock=clock, settings=settings)).media_checks_timed_out == 0
        clock.advance(timedelta(seconds=1))
        assert (await jobs.sweep(maker, clock=clock, settings=settings)).media_checks_timed_out == 1
        assert (await fresh(session, Photo, id=pid)).check_status == "review"

    async def test_decided_photos_are_not_touched_by_the_timeout(
        self, px: Pusher, w, session, maker, clock, settings
    ) -> None:  # type: ignore[no-untyped-def]
        photo = await px.upload(w.resident)
        await px.dispatch()
        assert_success(await px.verdict(photo["id"], "risky"))
        clock.advance(timedelta(minutes=settings.wechat.media_check_timeout_minutes + 5))
        assert (await jobs.sweep(maker, clock=clock, settings=settings)).media_checks_timed_out == 0
        assert (await fresh(session, Photo, id=uuid.UUID(photo["id"]))).check_status == "risky"


# --- privacy events ---------------------------------------------------------------------------


class TestAuthorizationRevoked:
    @pytest.mark.parametrize("revoke_info", ["8", 8, [8], "8,13"])
    async def test_8_erases_the_phone_number(self, px: Pusher, w, session, revoke_info) -> None:  # type: ignore[no-untyped-def]
        assert_success(await px.push(privacy_event(RESIDENT_OPENID, RevokeInfo=revoke_info)))
        user = await fresh(session, User, id=w.resident.id)
        assert (user.phone, user.phone_verified_at) == (None, None)
        # Nothing else about the account changes.
        assert (user.display_name, user.is_active, user.address) == (
            "居民甲",
            True,
            "西一路小区1号楼2单元301",
        )
        assert await count(session, UserIdentity, UserIdentity.user_id == w.resident.id) == 1
        assert (await fresh(session, User, id=w.worker.id)).phone == "13700001111"

    async def test_13_erases_a_grid_workers_duty_location(self, px: Pusher, w, session, clock) -> None:  # type: ignore[no-untyped-def]
        now = clock.now()
        session.add(
            WorkerDuty(
                user_id=w.worker.id, on_duty=True, since=now, last_seen_at=now, lat=34.272, lng=108.952
            )
        )
        await session.commit()
        assert_success(await px.push(privacy_event(WORKER_OPENID, RevokeInfo="13")))
        duty = await fresh(session, WorkerDuty, user_id=w.worker.id)
        assert (duty.lat, duty.lng) == (None, None)
        assert (await fresh(session, User, id=w.worker.id)).phone == "13700001111"

    async def test_14_deletes_loose_photos_but_not_those_of_reports(self, px: Pusher, w, session) -> None:  # type: ignore[no-untyped-def]
        loose = await px.upload(w.resident)
        kept = await px.upload(w.resident)
        ticket = await px.report(w.resident, [kept["id"]], w.category.id)
        others = await px.upload(w.other_resident)
        stored = {
            p["id"]: (await fresh(session, Photo, id=uuid.UUID(p["id"]))).storage_key for p in (loose, kept)
        }
        assert_success(await px.push(privacy_event(RESIDENT_OPENID, RevokeInfo="14")))

        assert await fresh(session, Photo, id=uuid.UUID(loose["id"])) is None
        # The file goes too (after the commit), the kept photo's file stays.
        storage = px.app.state.storage
        with pytest.raises(StoredObjectMissing):
            await storage.get(stored[loose["id"]])
        assert await storage.get(stored[kept["id"]])
        r = await px.client.get(f"{UPLOADS}/{loose['id']}", headers=px.auth(w.resident))
        assert_envelope(r, 404, "photo.not_found")
        assert await fresh(session, Photo, id=uuid.UUID(kept["id"])) is not None
        assert await fresh(session, Photo, id=uuid.UUID(others["id"])) is not None
        seen = await px.ticket(ticket["id"], w.resident)
        assert [p["id"] for p in seen["photos"]] == [kept["id"]]
        # The deleted photo's queued check is skipped, not sent.
        await px.dispatch()
        assert {c["media_url"].split("/")[4] for c in px.wx.media_checks} == {kept["id"]}

    async def test_an_unknown_openid_is_acknowledged(self, px: Pusher, w, session) -> None:  # type: ignore[no-untyped-def]
        assert_success(await px.push(privacy_event("nobody-here", RevokeInfo="8,13,14")))
        assert (await fresh(session, User, id=w.resident.id)).phone == "13912345678"

    async def test_an_event_without_openid_is_acknowledged(self, px: Pusher) -> None:
        assert_success(await px.push({"Event": "user_authorization_revoke", "RevokeInfo": "8"}))


class TestAccountCancelled:
    async def test_the_user_is_anonymised_and_their_reports_stay(self, px: Pusher, w, session) -> None:  # type: ignore[no-untyped-def]
        login = await px.client.post(LOGIN, json={"code": f"ok:{RESIDENT_OPENID}"})
        assert login.status_code == 200, login.text
        assert login.json()["user"]["id"] == str(w.resident.id)
        access, refresh = login.json()["access_token"], login.json()["refresh_token"]
        loose = await px.upload(w.resident)
        kept = await px.upload(w.resident)
        ticket = await px.report(w.resident, [kept["id"]], w.category.id)

        assert_success(await px.push(privacy_event(RESIDENT_OPENID, "user_authorization_cancellation")))

        user = await fresh(session, User, id=w.resident.id)
        assert user.display_name == "已注销用户"
        assert (user.phone, user.address, user.care_category, user.is_active) == (None, "", None, False)
        assert await count(session, UserIdentity, UserIdentity.user_id == user.id) == 0
        assert await count(session, RefreshToken, RefreshToken.user_id == user.id) == 0
        assert (
            await px.client.get("/api/v1/me", headers={"Authorization": f"Bearer {access}"})
        ).status_code == 401
        assert (
            await px.client.post("/api/v1/auth/refresh", json={"refresh_token": refresh})
        ).status_code == 401
        assert await fresh(session, Photo, id=uuid.UUID(loose["id"])) is None

        # The report stays, anonymous, for the staff who handle it.
        staff = await px.ticket(ticket["id"], w.c1_admin)
        assert staff["reporter"]["display_name"] == "已注销用户"
        assert staff["reporter"]["phone"] is None
        assert [p["id"] for p in staff["photos"]] == [kept["id"]]
        assert "居民甲" not in json.dumps(staff, ensure_ascii=False)

    async def test_logging_in_again_creates_a_fresh_account(self, px: Pusher, w, session) -> None:  # type: ignore[no-untyped-def]
        ticket = await px.report(w.resident, [], w.category.id)
        assert_success(await px.push(privacy_event(RESIDENT_OPENID, "user_authorization_cancellation")))
        px.wx.used.clear()  # a new wx.login code (the fake's codes are "ok:<openid>" every time)
        r = await px.client.post(LOGIN, json={"code": f"ok:{RESIDENT_OPENID}"})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["is_new_user"] is True and body["user"]["id"] != str(w.resident.id)
        new_user = await fresh(session, User, id=uuid.UUID(body["user"]["id"]))
        assert new_user.phone is None and new_user.is_active
        headers = {"Authorization": f"Bearer {body['access_token']}"}
        old = await px.client.get(f"{TICKETS}/{ticket['id']}", headers=headers)
        assert old.status_code == 200 and old.json()["is_full_view"] is False
        assert (await fresh(session, Ticket, id=uuid.UUID(ticket["id"]))).reporter_id == w.resident.id

    async def test_repeating_the_event_is_harmless(self, px: Pusher, w, session) -> None:  # type: ignore[no-untyped-def]
        event = privacy_event(RESIDENT_OPENID, "user_authorization_cancellation")
        assert_success(await px.push(event))
        assert_success(await px.push(event))
        user = await fresh(session, User, id=w.resident.id)
        assert (user.display_name, user.is_active) == ("已注销用户", False)

    async def test_an_unknown_openid_is_acknowledged(self, px: Pusher, w, session) -> None:  # type: ignore[no-untyped-def]
        assert_success(await px.push(privacy_event("nobody-here", "user_authorization_cancellation")))
        assert await count(session, User, User.display_name == "已注销用户") == 0


# --- end to end with the app's background work -----------------------------------------------------


async def test_live_upload_gets_its_verdict_pushed_back(live: Live) -> None:
    async with live.app.state.sessionmaker() as s:
        user = await make_user(s, Role.RESIDENT, openid="live-openid")
        await s.commit()
    # The lifespan starts the outbox dispatchers and wires the fake WeChat's push to handle_event.
    async with live.app.router.lifespan_context(live.app):
        r = await live.client.post(
            UPLOADS, headers=live.auth(user), files={"file": ("wx.jpg", jpeg(), "image/jpeg")}
        )
        assert r.status_code == 201, r.text
        assert r.json()["check"] == "pending"
        pid = uuid.UUID(r.json()["id"])
        deadline = time.monotonic() + 10
        status = "pending"
        while status == "pending" and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
            status = await live.scalar(select(Photo.check_status).where(Photo.id == pid))
        assert status == "pass"
        (check,) = live.app.state.wechat.media_checks
        assert check["openid"] == "live-openid"
        assert await live.scalar(select(Photo.check_trace_id).where(Photo.id == pid)) == check["trace_id"]
        r = await live.client.get(f"{UPLOADS}/{pid}", headers=live.auth(user))
        assert r.json()["check"] == "pass"
