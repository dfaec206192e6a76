"""Content security of submitted text (WECHAT.md §5.2, app/wechat/moderation.py) over HTTP.

msgSecCheck's verdict decides what happens to a 随手拍 report or a repair order: risky → refused
with content.risky and nothing stored; review → accepted but held off the public board until the
community's staff approve it (POST /tickets/{id}/moderation); a failed check → held too. Users
without a WeChat account (staff on the web console) are not checked: the API needs an openid.

The fake client's convention (app/wechat/fake.py): a description containing "RISKY" is risky,
one containing "REVIEW" needs review, anything else passes.
"""

import io
import re
import uuid
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import func, select

from app.auth.permissions import Role
from app.core.idempotency import IdempotencyRecord
from app.media.models import Photo
from app.notification.models import Notification, OutboxMessage
from app.repair.models import RepairEvent, RepairOrder
from app.ticket.models import Ticket, TicketEvent, TicketPhoto
from app.user.models import UserIdentity
from app.wechat.client import FakeWeChatClient, SecVerdict, WeChatApiError, WeChatTransientError
from app.wechat.moderation import ContentRisky
from tests.factories import World, bearer, make_category, make_user, make_world

TICKETS = "/api/v1/tickets"
BOARD = "/api/v1/public/tickets"
ORDERS = "/api/v1/repairs/orders"
# A point inside G1 (square 108.950–108.954 E, 34.270–34.274 N, WGS-84).
IN_G1 = {"lat": 34.272, "lng": 108.952, "coord_system": "wgs84"}
RESIDENT_OPENID = "o-resident-1"
CJK = re.compile(r"[\u4e00-\u9fff]")


class SpyWeChat(FakeWeChatClient):
    """The fake client, remembering each msgSecCheck call (and optionally failing it)."""

    def __init__(self, fail: Exception | None = None) -> None:
        super().__init__()
        self.checks: list[dict[str, Any]] = []
        self.fail = fail

    async def msg_sec_check(self, *, openid: str, content: str, scene: int = 3) -> SecVerdict:
        self.checks.append({"openid": openid, "content": content, "scene": scene})
        if self.fail is not None:
            raise self.fail
        return await super().msg_sec_check(openid=openid, content=content, scene=scene)


@pytest.fixture
def spy(app) -> SpyWeChat:  # type: ignore[no-untyped-def]
    app.state.wechat = SpyWeChat()
    return app.state.wechat


@pytest.fixture
async def w(session) -> World:  # type: ignore[no-untyped-def]
    """The world; its resident (C1) logged in from the mini-program, so has an openid."""
    world = await make_world(session)
    world.category = await make_category(
        session, world.s1, name="设施损坏", respond_minutes=10, resolve_hours=72
    )
    session.add(UserIdentity(user_id=world.resident.id, provider="wechat_mp", subject=RESIDENT_OPENID))
    await session.commit()
    return world


@pytest.fixture
def auth(settings, clock):  # type: ignore[no-untyped-def]
    def _auth(user) -> dict[str, str]:  # type: ignore[no-untyped-def]
        return bearer(settings, clock, user)

    return _auth


@pytest.fixture
def report(client, auth, w):  # type: ignore[no-untyped-def]
    """POST a 随手拍 report inside G1 (as the resident unless told); returns the response."""

    async def _report(description: str, user=None, *, headers=None, **fields):  # type: ignore[no-untyped-def]
        body = {"category_id": str(w.category.id), "description": description, "location": IN_G1, **fields}
        return await client.post(TICKETS, json=body, headers={**auth(user or w.resident), **(headers or {})})

    return _report


@pytest.fixture
def held(report):  # type: ignore[no-untyped-def]
    """A report the content check held; returns the 201 body."""

    async def _held(user=None, **fields) -> dict:  # type: ignore[no-untyped-def]
        r = await report("路灯不亮 REVIEW 请尽快处理", user, **fields)
        assert r.status_code == 201, r.text
        return r.json()

    return _held


@pytest.fixture
def review(client, auth):  # type: ignore[no-untyped-def]
    async def _review(tid: str, user, decision: Any):  # type: ignore[no-untyped-def]
        return await client.post(
            f"{TICKETS}/{tid}/moderation", json={"decision": decision}, headers=auth(user)
        )

    return _review


@pytest.fixture
def board(client, auth, w):  # type: ignore[no-untyped-def]
    """Numbers on C1's public board, as another resident sees it."""

    async def _board() -> list[str]:
        r = await client.get(BOARD, params={"community_id": str(w.c1.id)}, headers=auth(w.other_resident))
        assert r.status_code == 200, r.text
        return [t["number"] for t in r.json()["items"]]

    return _board


async def counts(session, *models) -> dict[str, int]:  # type: ignore[no-untyped-def]
    return {m.__name__: await session.scalar(select(func.count()).select_from(m)) for m in models}


TICKET_ROWS = (Ticket, TicketEvent, TicketPhoto, Notification, OutboxMessage, IdempotencyRecord)
ORDER_ROWS = (RepairOrder, RepairEvent, Notification, OutboxMessage, IdempotencyRecord)


async def db_ticket(session, tid: str) -> Ticket:  # type: ignore[no-untyped-def]
    ticket = await session.get(Ticket, uuid.UUID(tid), populate_existing=True)
    assert ticket is not None
    return ticket


async def fresh(session, model, id_: str):  # type: ignore[no-untyped-def]
    """The row as the app committed it (not the session's cached copy)."""
    return await session.get(model, uuid.UUID(id_), populate_existing=True)


def jpeg(seed: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (40, 30), (seed * 37 % 256, 80, 40)).save(buf, format="JPEG")
    return buf.getvalue()


async def upload(client, headers, seed: int = 1) -> str:  # type: ignore[no-untyped-def]
    files = {"file": ("p.jpg", jpeg(seed), "image/jpeg")}
    r = await client.post("/api/v1/uploads", files=files, headers=headers)
    assert r.status_code == 201, r.text
    return r.json()["id"]


def assert_risky(r) -> None:  # type: ignore[no-untyped-def]
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["code"] == "content.risky"
    assert body["message"] == ContentRisky.message and CJK.search(body["message"])
    assert set(body) == {"code", "message", "details"}


class TestRiskyText:
    async def test_a_risky_report_is_refused_and_nothing_is_stored(self, report, session, spy, w) -> None:  # type: ignore[no-untyped-def]
        before = await counts(session, *TICKET_ROWS)
        r = await report("有人在这里 RISKY 乱贴小广告")
        assert_risky(r)
        # The trace_id lets an operator find WeChat's record of the verdict.
        assert r.json()["details"]["trace_id"]
        assert await counts(session, *TICKET_ROWS) == before
        # The check ran with the author's openid and the configured scene (3: forum).
        assert spy.checks == [
            {"openid": RESIDENT_OPENID, "content": "有人在这里 RISKY 乱贴小广告", "scene": 3}
        ]

    async def test_a_retry_with_the_same_idempotency_key_is_refused_again(self, report, session, spy) -> None:  # type: ignore[no-untyped-def]
        before = await counts(session, *TICKET_ROWS)
        headers = {"Idempotency-Key": "risky-1"}
        for _ in range(2):
            assert_risky(await report("RISKY 内容", headers=headers))
        # Each retry is checked again (no refusal is remembered) and nothing is ever stored.
        assert len(spy.checks) == 2
        assert await counts(session, *TICKET_ROWS) == before

    async def test_a_risky_address_is_refused_too(self, report, session) -> None:  # type: ignore[no-untyped-def]
        before = await counts(session, *TICKET_ROWS)
        assert_risky(await report("路灯不亮", address="RISKY RISKY RISKY 西一路小区北门"))
        assert await counts(session, *TICKET_ROWS) == before

    async def test_the_refusal_also_stores_no_photo_link(self, client, report, session, auth, w) -> None:  # type: ignore[no-untyped-def]
        photo = await upload(client, auth(w.resident))
        before = await counts(session, *TICKET_ROWS)
        assert_risky(await report("RISKY", photo_ids=[photo]))
        assert await counts(session, *TICKET_ROWS) == before


class TestHeldText:
    async def test_review_text_is_accepted_but_held(self, held, session, w) -> None:  # type: ignore[no-untyped-def]
        t = await held()
        assert t["status"] == "submitted" and t["grid_id"] == str(w.g1.id)
        assert t["moderation"] == "held"
        row = await db_ticket(session, t["id"])
        assert row.moderation == "held"
        assert row.sec_trace_id  # msgSecCheck's trace_id is kept with the ticket

    async def test_a_held_report_still_enters_the_lifecycle(self, held, client, auth, session, w) -> None:  # type: ignore[no-untyped-def]
        t = await held()
        told = set(
            await session.scalars(
                select(Notification.user_id).where(
                    Notification.ticket_id == uuid.UUID(t["id"]), Notification.kind == "ticket.new"
                )
            )
        )
        assert told == {w.worker.id}
        queue = await client.get(TICKETS, params={"view": "queue"}, headers=auth(w.worker))
        assert queue.status_code == 200, queue.text
        assert t["id"] in [i["id"] for i in queue.json()["items"]]
        r = await client.post(f"{TICKETS}/{t['id']}/claim", headers=auth(w.worker))
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "claimed" and r.json()["moderation"] == "held"

    async def test_a_held_report_is_not_on_the_public_board(self, held, report, board) -> None:  # type: ignore[no-untyped-def]
        shown = await report("小区门口路灯坏了")
        assert shown.status_code == 201, shown.text
        assert shown.json()["moderation"] == "visible"
        t = await held()
        assert await board() == [shown.json()["number"]]
        assert t["number"] not in await board()

    async def test_others_cannot_read_a_held_report_but_its_people_can(self, held, client, auth, w) -> None:  # type: ignore[no-untyped-def]
        t = await held()
        r = await client.get(f"{TICKETS}/{t['id']}", headers=auth(w.other_resident))
        assert r.status_code == 404 and r.json()["code"] == "ticket.not_found"
        for user in (w.resident, w.worker, w.c1_admin):
            r = await client.get(f"{TICKETS}/{t['id']}", headers=auth(user))
            assert r.status_code == 200, r.text
            assert r.json()["moderation"] == "held"

    async def test_staff_find_held_reports_in_their_review_queue(self, held, report, client, auth, w) -> None:  # type: ignore[no-untyped-def]
        t = await held()
        assert (await report("普通的问题")).status_code == 201
        r = await client.get(TICKETS, params={"view": "all", "moderation": "held"}, headers=auth(w.c1_admin))
        assert r.status_code == 200, r.text
        assert [i["id"] for i in r.json()["items"]] == [t["id"]]

    async def test_a_held_report_is_not_offered_as_a_duplicate(self, held, report) -> None:  # type: ignore[no-untyped-def]
        await held()
        r = await report("路灯不亮")
        assert r.status_code == 201, r.text
        assert r.json()["possible_duplicates"] == []


class TestReview:
    async def test_approving_puts_the_report_on_the_board(self, held, review, board, client, auth, w) -> None:  # type: ignore[no-untyped-def]
        t = await held()
        r = await review(t["id"], w.c1_admin, "approve")
        assert r.status_code == 200, r.text
        assert r.json() == {"id": t["id"], "moderation": "visible", "photos_public": False}
        assert await board() == [t["number"]]
        detail = await client.get(f"{TICKETS}/{t['id']}", headers=auth(w.c1_admin))
        last = detail.json()["timeline"][-1]
        assert (last["action"], last["from_status"], last["to_status"]) == (
            "content_review",
            "submitted",
            "submitted",
        )
        assert last["actor"]["id"] == str(w.c1_admin.id)
        assert last["data"] == {"decision": "approve"}

    async def test_hiding_keeps_it_off_the_board(self, held, review, board, session, client, auth, w) -> None:  # type: ignore[no-untyped-def]
        t = await held()
        r = await review(t["id"], w.c1_admin, "hide")
        assert r.status_code == 200, r.text
        assert r.json()["moderation"] == "hidden"
        assert (await db_ticket(session, t["id"])).moderation == "hidden"
        assert t["number"] not in await board()
        events = list(
            await session.scalars(
                select(TicketEvent.action)
                .where(TicketEvent.ticket_id == uuid.UUID(t["id"]))
                .order_by(TicketEvent.seq)
            )
        )
        assert events == ["create", "content_review"]
        # Hidden is still not for the public, and still the staff's work.
        r = await client.get(f"{TICKETS}/{t['id']}", headers=auth(w.other_resident))
        assert r.status_code == 404

    async def test_a_subdistrict_admin_may_review(self, held, review, w) -> None:  # type: ignore[no-untyped-def]
        t = await held()
        r = await review(t["id"], w.sub_admin, "approve")
        assert r.status_code == 200, r.text

    @pytest.mark.parametrize("who", ["resident", "worker", "c2_admin", "s2_admin", "dept_staff"])
    async def test_only_the_communitys_staff_may_review(self, held, review, session, w, who) -> None:  # type: ignore[no-untyped-def]
        t = await held()
        r = await review(t["id"], getattr(w, who), "approve")
        assert r.status_code == 403, r.text
        assert r.json()["code"] == "content.review_forbidden" and CJK.search(r.json()["message"])
        assert (await db_ticket(session, t["id"])).moderation == "held"

    async def test_an_unknown_ticket_is_404(self, review, w) -> None:  # type: ignore[no-untyped-def]
        r = await review(str(uuid.uuid4()), w.c1_admin, "approve")
        assert r.status_code == 404 and r.json()["code"] == "ticket.not_found"

    @pytest.mark.parametrize("decision", ["publish", "", None, "APPROVE"])
    async def test_a_bad_decision_is_refused_in_the_envelope(
        self, held, review, session, w, decision
    ) -> None:  # type: ignore[no-untyped-def]
        t = await held()
        r = await review(t["id"], w.c1_admin, decision)
        assert r.status_code == 422, r.text
        body = r.json()
        assert body["code"] == "request.invalid"
        assert [e["field"] for e in body["details"]["errors"]] == ["decision"]
        assert (await db_ticket(session, t["id"])).moderation == "held"

    async def test_unauthenticated_review_is_401(self, held, client) -> None:  # type: ignore[no-untyped-def]
        t = await held()
        r = await client.post(f"{TICKETS}/{t['id']}/moderation", json={"decision": "approve"})
        assert r.status_code == 401

    async def test_the_decision_also_settles_photos_waiting_for_their_check(  # type: ignore[no-untyped-def]
        self, client, auth, held, review, session, w
    ) -> None:
        # The resident's photos are checked too (pending: the verdict has not come yet).
        p1, p2 = await upload(client, auth(w.resident), 1), await upload(client, auth(w.resident), 2)
        assert p1 != p2
        a = await held(photo_ids=[p1])
        b = await held(photo_ids=[p2])
        assert {(await fresh(session, Photo, p)).check_status for p in (p1, p2)} == {"pending"}
        assert (await review(a["id"], w.c1_admin, "approve")).status_code == 200
        assert (await review(b["id"], w.c1_admin, "hide")).status_code == 200
        assert (await fresh(session, Photo, p1)).check_status == "pass"
        assert (await fresh(session, Photo, p2)).check_status == "risky"


class TestNotChecked:
    async def test_normal_text_is_visible(self, report, session, spy) -> None:  # type: ignore[no-untyped-def]
        r = await report("井盖破损，晚上很危险")
        assert r.status_code == 201, r.text
        assert r.json()["moderation"] == "visible"
        assert (await db_ticket(session, r.json()["id"])).moderation == "visible"
        assert len(spy.checks) == 1

    async def test_a_user_without_an_openid_is_not_checked(self, report, session, spy, board, w) -> None:  # type: ignore[no-untyped-def]
        # Staff on the web console have no WeChat account: msgSecCheck needs the author's
        # openid, so their text is not checked at all, even text the fake would call risky.
        r = await report("RISKY 字样也照常提交", w.c1_admin)
        assert r.status_code == 201, r.text
        assert r.json()["moderation"] == "visible"
        assert (await db_ticket(session, r.json()["id"])).moderation == "visible"
        assert spy.checks == []
        assert r.json()["number"] in await board()

    async def test_a_resident_without_an_openid_is_not_checked_either(self, report, session, spy, w) -> None:  # type: ignore[no-untyped-def]
        web = await make_user(session, Role.RESIDENT, home=w.c1)
        await session.commit()
        r = await report("REVIEW", web)
        assert r.status_code == 201, r.text
        assert r.json()["moderation"] == "visible" and spy.checks == []


class TestCheckFails:
    @pytest.mark.parametrize(
        "failure",
        [
            WeChatTransientError("errcode -1", errcode=-1),
            WeChatTransientError("timed out"),
            WeChatApiError(40129, "invalid scene"),
            RuntimeError("bug in the client"),
        ],
        ids=["busy", "timeout", "api-error", "unexpected"],
    )
    async def test_the_report_is_accepted_and_held(self, app, report, session, board, failure) -> None:  # type: ignore[no-untyped-def]
        app.state.wechat = SpyWeChat(fail=failure)
        r = await report("井盖破损")
        assert r.status_code == 201, r.text
        assert r.json()["moderation"] == "held"
        row = await db_ticket(session, r.json()["id"])
        assert (row.moderation, row.sec_trace_id) == ("held", None)
        assert r.json()["number"] not in await board()
        assert len(app.state.wechat.checks) == 1


class TestRepairOrders:
    async def test_a_risky_order_is_refused_and_nothing_is_stored(
        self, client, auth, session, spy, w
    ) -> None:  # type: ignore[no-untyped-def]
        before = await counts(session, *ORDER_ROWS)
        for headers in ({}, {"Idempotency-Key": "o-1"}, {"Idempotency-Key": "o-1"}):
            r = await client.post(
                ORDERS,
                json={"category": "plumbing", "description": "RISKY 水龙头"},
                headers={**auth(w.resident), **headers},
            )
            assert_risky(r)
        assert await counts(session, *ORDER_ROWS) == before
        assert [c["openid"] for c in spy.checks] == [RESIDENT_OPENID] * 3

    async def test_a_review_order_is_created_and_held(self, client, auth, session, w) -> None:  # type: ignore[no-untyped-def]
        r = await client.post(
            ORDERS,
            json={"category": "plumbing", "description": "REVIEW 厨房水龙头滴水"},
            headers=auth(w.resident),
        )
        assert r.status_code == 201, r.text
        assert r.json()["status"] == "requested"
        assert r.json()["moderation"] == "held"  # shown so staff notice the wording
        order = await fresh(session, RepairOrder, r.json()["id"])
        assert order is not None and order.moderation == "held" and order.sec_trace_id

    async def test_a_normal_order_is_visible(self, client, auth, session, w) -> None:  # type: ignore[no-untyped-def]
        r = await client.post(
            ORDERS, json={"category": "plumbing", "description": "厨房水龙头滴水"}, headers=auth(w.resident)
        )
        assert r.status_code == 201, r.text
        assert (await fresh(session, RepairOrder, r.json()["id"])).moderation == "visible"

    async def test_a_phone_order_entered_by_staff_is_not_checked(self, client, auth, session, spy, w) -> None:  # type: ignore[no-untyped-def]
        # The staff member (no openid) types what the resident said on the phone.
        r = await client.post(
            ORDERS,
            json={
                "category": "plumbing",
                "description": "RISKY 电话里说的原话",
                "for_resident": {"resident_id": str(w.resident.id)},
            },
            headers=auth(w.c1_admin),
        )
        assert r.status_code == 201, r.text
        assert (await fresh(session, RepairOrder, r.json()["id"])).moderation == "visible"
        assert spy.checks == []
