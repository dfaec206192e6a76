"""乐修匠 orders over HTTP, as residents, craftsmen and staff use them: the whole lifecycle, what
each party sees, pricing by care category and price-list version, the error codes, phone orders,
retries with Idempotency-Key, 随手拍 conversion, statistics and the price list itself."""

import io
import uuid
from datetime import timedelta
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import func, select

from app.auth.permissions import CareCategory, Role
from app.notification.models import Notification
from app.repair.models import RepairOrder
from app.user.models import User
from tests.factories import make_user
from tests.repair.conftest import ORDERS, REPAIRS, Crew, Prices, code, put_profile
from tests.ticket.conftest import IN_G1


async def upload(client, headers, seed: int) -> str:  # type: ignore[no-untyped-def]
    buf = io.BytesIO()
    Image.new("RGB", (40, 30), (seed * 53 % 256, 200, seed * 17 % 256)).save(buf, format="JPEG")
    r = await client.post(
        "/api/v1/uploads", files={"file": ("a.jpg", buf.getvalue(), "image/jpeg")}, headers=headers
    )
    assert r.status_code == 201, r.text
    return r.json()["id"]


FULL_ADDRESS = "西一路小区1号楼2单元301"  # the world's resident (C1, living alone)


def iso(dt) -> str:  # type: ignore[no-untyped-def]
    return dt.isoformat()


async def repair_notices(session, user: User, oid: str | None = None) -> list[str]:  # type: ignore[no-untyped-def]
    """The kinds of repair notifications `user` got (about order `oid` if given), oldest first."""
    rows = (
        await session.scalars(
            select(Notification)
            .where(Notification.user_id == user.id, Notification.kind.like("repair.%"))
            .order_by(Notification.created_at)
        )
    ).all()
    return [n.kind for n in rows if oid is None or n.data.get("repair_order_id") == oid]


async def listed(client, auth, user: User, view: str, **params: Any) -> list[dict]:  # type: ignore[no-untyped-def]
    r = await client.get(ORDERS, params={"view": view, **params}, headers=auth(user))
    assert r.status_code == 200, r.text
    return r.json()["items"]


def quote_body(*items: tuple[str, int], materials: list[dict] | None = None) -> dict:
    return {
        "items": [{"price_item_id": pid, "quantity": q} for pid, q in items],
        "materials": materials or [],
    }


@pytest.fixture
async def general(session, w) -> User:  # type: ignore[no-untyped-def]
    """A resident of C1 with no care category that earns a subsidy."""
    user = await make_user(
        session,
        Role.RESIDENT,
        home=w.c1,
        phone="13911110000",
        care=CareCategory.GENERAL,
        address="西一路小区3号楼101",
        display_name="居民丙",
    )
    await session.commit()
    return user


@pytest.fixture
async def empty_nest(session, w) -> User:  # type: ignore[no-untyped-def]
    user = await make_user(
        session,
        Role.RESIDENT,
        home=w.c1,
        phone="13922220000",
        care=CareCategory.EMPTY_NEST,
        address="西一路小区5号楼502",
        display_name="居民丁",
    )
    await session.commit()
    return user


@pytest.fixture
def put_plumber_cap(client, auth, w, crew):  # type: ignore[no-untyped-def]
    async def _cap(n: int) -> dict:
        return await put_profile(
            client,
            auth,
            w.sub_admin,
            crew.plumber,
            subdistrict_id=str(w.s1.id),
            skills=["plumbing", "electrical"],
            max_active_orders=n,
        )

    return _cap


@pytest.fixture
def at_door(order, ok, clock, w, crew):  # type: ignore[no-untyped-def]
    """An order taken by the plumber up to on_site (visit agreed for an hour from now)."""

    async def _at_door(user: User | None = None, craftsman: User | None = None, **fields: Any) -> str:
        oid = (await order(user, **fields))["id"]
        who = craftsman or crew.plumber
        await ok(oid, "accept", who)
        await ok(oid, "schedule", who, {"visit_at": iso(clock.now() + timedelta(hours=1))})
        clock.advance(timedelta(hours=1))
        await ok(oid, "arrive", who)
        return oid

    return _at_door


# --- the whole lifecycle ------------------------------------------------------------------


class TestHappyPath:
    async def test_living_alone_resident_from_request_to_rating(
        self, session, client, auth, w, crew: Crew, prices: Prices, order, act, ok, get, clock
    ) -> None:
        requested_at = clock.now()
        # The resident asks for a repair.
        mine = await order(preferred_time="周末上午")
        oid = mine["id"]
        assert mine["number"].startswith("R20261122") and len(mine["number"]) == 15
        assert mine["status"] == "requested" and mine["is_full_view"] is True
        assert mine["address"] == FULL_ADDRESS
        assert mine["contact"] == {"id": str(w.resident.id), "display_name": "居民甲", "phone": "13912345678"}
        assert (mine["care_category"], mine["community_id"]) == ("living_alone", str(w.c1.id))
        assert mine["craftsman"] is None and mine["quote"] is None

        # Craftsmen who repair plumbing in C1 are told; the electrician, the C2 and S2 plumbers
        # and the craftsman without a profile are not.
        notified = set(
            await session.scalars(select(Notification.user_id).where(Notification.kind == "repair.new"))
        )
        assert notified == {crew.plumber.id, crew.c1_plumber.id}
        r = await client.get("/api/v1/notifications", headers=auth(crew.plumber))
        (note,) = r.json()["items"]
        assert note["data"]["repair_order_id"] == oid and note["data"]["number"] == mine["number"]

        # The plumber sees it in the pool: what and roughly where, not who.
        (pooled,) = await listed(client, auth, crew.plumber, "open")
        assert pooled["id"] == oid and pooled["status"] == "requested"
        assert pooled["address"] != FULL_ADDRESS and pooled["address"].endswith("****")
        assert FULL_ADDRESS.startswith(pooled["address"].removesuffix("****"))
        assert "301" not in pooled["address"]
        browsing = await get(oid, crew.plumber)
        assert browsing["is_full_view"] is False
        assert (browsing["contact"], browsing["resident_id"], browsing["care_category"]) == (None, None, None)
        assert browsing["requested_by_id"] is None
        assert str(w.resident.id) not in str(browsing)
        assert browsing["timeline"][0]["actor"] is None  # the household stays anonymous
        assert "13912345678" not in str(browsing)

        # Accepting gives the plumber the full address and the phone.
        clock.advance(timedelta(minutes=7))
        accepted = await ok(oid, "accept", crew.plumber)
        assert accepted["status"] == "accepted" and accepted["is_full_view"] is True
        assert accepted["address"] == FULL_ADDRESS
        assert accepted["contact"]["phone"] == "13912345678"
        assert accepted["craftsman"]["id"] == str(crew.plumber.id)
        assert await listed(client, auth, crew.plumber, "open") == []
        assert [o["id"] for o in await listed(client, auth, crew.plumber, "assigned")] == [oid]
        # ...and the resident the plumber's number.
        seen = await get(oid, w.resident)
        assert seen["craftsman"] == {
            "id": str(crew.plumber.id),
            "display_name": "王师傅",
            "phone": "13600000001",
        }

        # Scheduling: not in the past; the resident is told.
        r = await act(oid, "schedule", crew.plumber, {"visit_at": iso(clock.now() - timedelta(minutes=1))})
        assert code(r) == (422, "repair.schedule_in_past")
        visit = clock.now() + timedelta(days=1)
        scheduled = await ok(oid, "schedule", crew.plumber, {"visit_at": iso(visit), "note": "明早十点"})
        assert scheduled["status"] == "scheduled"
        assert scheduled["scheduled_for"].replace("Z", "+00:00") == iso(visit)

        clock.set(visit + timedelta(minutes=5))
        assert (await ok(oid, "arrive", crew.plumber))["status"] == "on_site"

        # The quote: list prices, materials at cost, every line explained; living alone pays 0.
        quoted = await ok(
            oid,
            "quote",
            crew.plumber,
            quote_body(
                (prices.faucet, 2),
                (prices.pipe, 1),
                materials=[{"name": "水龙头", "unit": "个", "unit_cost_cents": 3000, "quantity": 2}],
            ),
        )
        assert quoted["status"] == "quoted" and quoted["due_cents"] == 0
        q = quoted["quote"]
        # The craftsman sees the amounts but not which care category earned the subsidy.
        assert q["care_category"] is None
        assert {line["rule"] for line in q["lines"]} == {"按街道政策减免"}
        assert quoted["subsidy_cents"] is None

        q = (await get(oid, w.resident))["quote"]
        assert q["version"] == 1 and q["care_category"] == "living_alone"
        assert [
            (x["kind"], x["name"], x["quantity"], x["list_unit_cents"], x["list_amount_cents"])
            for x in q["lines"]
        ] == [
            ("item", "更换水龙头", 2, 2000, 4000),
            ("item", "疏通下水管", 1, 3500, 3500),
            ("material", "水龙头", 2, 3000, 6000),
        ]
        assert [(x["discount_pct"], x["subsidy_cents"], x["due_cents"], x["rule"]) for x in q["lines"]] == [
            (100, 4000, 0, "孤寡老人：人工费全免"),
            (100, 3500, 0, "孤寡老人：人工费全免"),
            (100, 6000, 0, "孤寡老人：材料费全免"),
        ]
        assert [x["price_item_id"] for x in q["lines"]] == [prices.faucet, prices.pipe, None]
        assert [x["price_version"] for x in q["lines"]] == [1, 1, None]
        assert (q["list_total_cents"], q["subsidy_cents"], q["due_cents"]) == (13500, 13500, 0)
        # Market reference: the faucet at 50.00 a piece, the rest at list price.
        assert q["market_total_cents"] == 10000 + 3500 + 6000
        assert await repair_notices(session, w.resident, oid) == [
            "repair.accept",
            "repair.schedule",
            "repair.arrive",
            "repair.quote",
        ]

        # Confirmed by the resident, done by the plumber.
        assert (await ok(oid, "confirm-quote", w.resident))["status"] == "in_progress"
        clock.advance(timedelta(hours=1))
        done = await ok(oid, "complete", crew.plumber, {"note": "已更换并试水"})
        assert done["status"] == "completed" and done["completed_at"] is not None

        # Settling: the amount must be what is due, and nothing due is settled as "free".
        r = await act(oid, "settle", crew.plumber, {"amount_cents": 100, "method": "cash"})
        assert code(r) == (422, "repair.amount_mismatch")
        assert r.json()["details"] == {"due_cents": 0, "amount_cents": 100}
        r = await act(oid, "settle", crew.plumber, {"amount_cents": 0, "method": "cash"})
        assert code(r) == (422, "repair.payment_method_invalid")
        settled = await ok(oid, "settle", crew.plumber, {"amount_cents": 0, "method": "free"})
        assert settled["status"] == "settled"
        assert (settled["paid_cents"], settled["payment_method"]) == (0, "free")
        # The work is done: the plumber no longer holds the household's phone and address.
        assert settled["is_full_view"] is False and settled["contact"] is None

        rated = await ok(oid, "rate", w.resident, {"rating": 5, "comment": "师傅很耐心"})
        assert rated["status"] == "rated"
        assert (rated["rating"], rated["rating_comment"]) == (5, "师傅很耐心")
        r = await act(oid, "rate", w.resident, {"rating": 1})
        assert code(r) == (409, "repair.order_finished")

        final = await get(oid, w.resident)
        assert [(e["action"], e["from_status"], e["to_status"]) for e in final["timeline"]] == [
            ("create", None, "requested"),
            ("accept", "requested", "accepted"),
            ("schedule", "accepted", "scheduled"),
            ("arrive", "scheduled", "on_site"),
            ("quote", "on_site", "quoted"),
            ("confirm_quote", "quoted", "in_progress"),
            ("complete", "in_progress", "completed"),
            ("settle", "completed", "settled"),
            ("rate", "settled", "rated"),
        ]
        actors = [e["actor"]["id"] for e in final["timeline"]]
        resident, plumber = str(w.resident.id), str(crew.plumber.id)
        assert actors == [resident, plumber, plumber, plumber, plumber, resident, plumber, plumber, resident]
        times = [e["at"] for e in final["timeline"]]
        assert times == sorted(times)
        assert final["timeline"][0]["at"].replace("Z", "+00:00") == iso(requested_at)
        assert final["timeline"][2]["note"] == "明早十点"
        assert final["timeline"][4]["data"]["due_cents"] == 0
        assert final["timeline"][4]["data"]["subsidy_cents"] == 13500
        assert final["subsidy_cents"] == 13500

        stored = await session.get(RepairOrder, uuid.UUID(oid))
        await session.refresh(stored)
        assert stored.event_count == 9 and stored.craftsman_id == crew.plumber.id
        assert stored.accepted_at - stored.requested_at == timedelta(minutes=7)

    async def test_general_resident_pays_list_price(
        self, client, auth, w, crew, prices, general, at_door, ok, act, get
    ) -> None:
        oid = await at_door(general)
        quoted = await ok(
            oid,
            "quote",
            crew.plumber,
            quote_body((prices.faucet, 1), materials=[{"name": "生料带", "unit_cost_cents": 500}]),
        )
        q = (await get(oid, general))["quote"]
        assert q["care_category"] == "general"
        assert [
            (x["list_amount_cents"], x["subsidy_cents"], x["due_cents"], x["rule"]) for x in q["lines"]
        ] == [
            (2000, 0, 2000, "按价目表收费"),
            (500, 0, 500, "材料按进价收取"),
        ]
        assert quoted["due_cents"] == 2500 and q["subsidy_cents"] == 0
        await ok(oid, "confirm-quote", general)
        await ok(oid, "complete", crew.plumber)
        r = await act(oid, "settle", crew.plumber, {"amount_cents": 0, "method": "free"})
        assert code(r) == (422, "repair.amount_mismatch")
        r = await act(oid, "settle", crew.plumber, {"amount_cents": 2500, "method": "free"})
        assert code(r) == (422, "repair.payment_method_invalid")
        r = await act(oid, "settle", crew.plumber, {"amount_cents": 2500, "method": "wechat"})
        assert code(r) == (422, "repair.payment_method_invalid")  # WeChat Pay needs its reference
        settled = await ok(
            oid, "settle", crew.plumber, {"amount_cents": 2500, "method": "wechat", "reference": "4200001234"}
        )
        assert (settled["paid_cents"], settled["payment_method"]) == (2500, "wechat")
        assert settled["payment_reference"] is None  # only the household and staff see it
        assert (await get(oid, general))["payment_reference"] == "4200001234"

    async def test_empty_nest_resident_gets_half_off_labour(
        self, w, crew, prices, empty_nest, at_door, ok, get
    ) -> None:
        oid = await at_door(empty_nest)
        await ok(
            oid,
            "quote",
            crew.plumber,
            quote_body(
                (prices.faucet, 1), (prices.pipe, 1), materials=[{"name": "软管", "unit_cost_cents": 801}]
            ),
        )
        q = (await get(oid, empty_nest))["quote"]
        assert [(x["discount_pct"], x["subsidy_cents"], x["due_cents"], x["rule"]) for x in q["lines"]] == [
            (50, 1000, 1000, "空巢老人：人工费减免 50%"),
            (50, 1750, 1750, "空巢老人：人工费减免 50%"),
            (0, 0, 801, "材料按进价收取"),
        ]
        assert (q["list_total_cents"], q["subsidy_cents"], q["due_cents"]) == (6301, 2750, 3551)

    async def test_estimate_prices_for_the_callers_household(self, client, auth, w, prices, general) -> None:
        body = {"subdistrict_id": str(w.s1.id), **quote_body((prices.faucet, 3))}
        r = await client.post(f"{REPAIRS}/estimate", json=body, headers=auth(w.resident))
        assert r.status_code == 200, r.text
        assert (r.json()["version"], r.json()["due_cents"], r.json()["subsidy_cents"]) == (None, 0, 6000)
        r = await client.post(f"{REPAIRS}/estimate", json=body, headers=auth(general))
        assert (r.json()["due_cents"], r.json()["subsidy_cents"]) == (6000, 0)
        body["items"] = [{"price_item_id": prices.s2_faucet}]
        r = await client.post(f"{REPAIRS}/estimate", json=body, headers=auth(general))
        assert code(r) == (422, "repair.price_item_not_available")


class TestPriceVersions:
    async def test_quote_keeps_its_price_version_and_a_requote_takes_the_new_one(
        self, client, auth, w, crew, prices, general, at_door, ok, get
    ) -> None:
        oid = await at_door(general)
        await ok(oid, "quote", crew.plumber, quote_body((prices.faucet, 2)))

        r = await client.patch(
            f"{REPAIRS}/price-items/{prices.faucet}", json={"price_cents": 2400}, headers=auth(w.sub_admin)
        )
        assert r.status_code == 200, r.text
        assert (r.json()["version"], r.json()["price_cents"]) == (2, 2400)

        kept = await get(oid, general)
        (line,) = kept["quote"]["lines"]
        assert (line["price_version"], line["list_unit_cents"], line["list_amount_cents"]) == (1, 2000, 4000)
        assert kept["due_cents"] == 4000 and kept["quote"]["version"] == 1

        requoted = await ok(oid, "quote", crew.plumber, quote_body((prices.faucet, 2)))
        assert requoted["status"] == "quoted" and requoted["due_cents"] == 4800
        now = await get(oid, general)
        (line,) = now["quote"]["lines"]
        assert now["quote"]["version"] == 2
        assert (line["price_version"], line["list_unit_cents"], line["list_amount_cents"]) == (2, 2400, 4800)
        assert [e["data"].get("quote_version") for e in now["timeline"] if e["action"] == "quote"] == [1, 2]

        r = await client.get(f"{REPAIRS}/price-items/{prices.faucet}/versions", headers=auth(crew.plumber))
        assert r.status_code == 200, r.text
        assert [(v["version"], v["price_cents"], v["market_price_cents"]) for v in r.json()] == [
            (1, 2000, 5000),
            (2, 2400, 5000),
        ]
        assert {v["changed_by_id"] for v in r.json()} == {str(w.sub_admin.id)}

        # The confirmed (second) quote is what gets settled.
        await ok(oid, "confirm-quote", general)
        await ok(oid, "complete", crew.plumber)
        settled = await ok(oid, "settle", crew.plumber, {"amount_cents": 4800, "method": "cash"})
        assert settled["paid_cents"] == 4800


# --- refusals, with their codes -----------------------------------------------------------


class TestQuoting:
    async def test_only_active_items_of_the_orders_subdistrict_can_be_quoted(
        self, crew, prices, general, at_door, act, get
    ) -> None:
        oid = await at_door(general)
        for bad in (prices.retired, prices.s2_faucet, str(uuid.uuid4())):
            r = await act(oid, "quote", crew.plumber, quote_body((prices.faucet, 1), (bad, 1)))
            assert code(r) == (422, "repair.price_item_not_available")
            assert r.json()["details"] == {"price_item_ids": [bad]}
        after = await get(oid, general)
        assert after["status"] == "on_site" and after["quote"] is None
        assert [e["action"] for e in after["timeline"]][-1] == "arrive"

    async def test_only_the_assigned_craftsman_quotes(
        self, w, crew, prices, general, order, at_door, act, get
    ) -> None:
        body = quote_body((prices.faucet, 1))
        # While the order waits in the pool, a fitting craftsman can see it but not quote it.
        waiting = (await order(general))["id"]
        assert code(await act(waiting, "quote", crew.plumber, body)) == (403, "repair.action_not_allowed")
        assert code(await act(waiting, "arrive", crew.plumber)) == (403, "repair.action_not_allowed")
        # Once someone else has it, another craftsman cannot even see it.
        oid = await at_door(general)
        assert code(await act(oid, "quote", crew.c1_plumber, body)) == (404, "repair.order_not_found")
        # Neither the resident nor staff quote.
        assert code(await act(oid, "quote", general, body)) == (403, "repair.action_not_allowed")
        assert code(await act(oid, "quote", w.c1_admin, body)) == (403, "repair.action_not_allowed")
        assert (await get(oid, general))["quote"] is None

    async def test_only_the_household_or_staff_confirm_a_quote(
        self, w, crew, prices, general, at_door, ok, act, get
    ) -> None:
        oid = await at_door(general)
        await ok(oid, "quote", crew.plumber, quote_body((prices.faucet, 1)))
        assert code(await act(oid, "confirm-quote", w.other_resident)) == (404, "repair.order_not_found")
        assert code(await act(oid, "confirm-quote", w.resident)) == (404, "repair.order_not_found")
        assert code(await act(oid, "confirm-quote", crew.plumber)) == (403, "repair.action_not_allowed")
        assert code(await act(oid, "confirm-quote", w.s2_admin)) == (404, "repair.order_not_found")
        # Staff of the community may confirm on the household's behalf.
        confirmed = await ok(oid, "confirm-quote", w.c1_admin)
        assert confirmed["status"] == "in_progress"
        assert confirmed["timeline"][-1]["data"]["on_behalf"] is True

    async def test_settling_needs_a_confirmed_quote(
        self, w, crew, prices, general, at_door, ok, act, get
    ) -> None:
        oid = await at_door(general)
        settle = {"amount_cents": 2000, "method": "cash"}
        assert code(await act(oid, "settle", crew.plumber, settle)) == (409, "repair.quote_not_confirmed")
        await ok(oid, "quote", crew.plumber, quote_body((prices.faucet, 1)))
        assert code(await act(oid, "settle", crew.plumber, settle)) == (409, "repair.quote_not_confirmed")
        assert code(await act(oid, "complete", crew.plumber)) == (409, "repair.invalid_transition")
        await ok(oid, "confirm-quote", general)
        assert code(await act(oid, "settle", crew.plumber, settle)) == (409, "repair.invalid_transition")
        assert code(await act(oid, "settle", general, settle)) == (403, "repair.action_not_allowed")
        await ok(oid, "complete", crew.plumber)
        # Staff may record the payment too.
        settled = await ok(oid, "settle", w.c1_admin, settle)
        assert (settled["status"], settled["paid_cents"]) == ("settled", 2000)
        assert code(await act(oid, "rate", crew.plumber, {"rating": 5})) == (403, "repair.action_not_allowed")


class TestWorkload:
    async def test_accepting_beyond_the_cap_is_refused_until_work_is_finished(
        self, client, auth, w, crew, order, ok, act, put_plumber_cap
    ) -> None:
        await put_plumber_cap(1)
        first, second = (await order())["id"], (await order())["id"]
        await ok(first, "accept", crew.plumber)
        r = await act(second, "accept", crew.plumber)
        assert code(r) == (409, "repair.workload_cap_reached")
        assert r.json()["details"] == {"limit": 1}
        # Staff cannot push it over the cap either.
        r = await act(second, "assign", w.c1_admin, {"craftsman_id": str(crew.plumber.id)})
        assert code(r) == (409, "repair.workload_cap_reached")
        me = (await client.get(f"{REPAIRS}/craftsmen/me", headers=auth(crew.plumber))).json()
        assert (me["max_active_orders"], me["active_orders"]) == (1, 1)
        # Cancelling the first frees the slot.
        await ok(first, "cancel", w.resident, {"reason": "自己修好了"})
        assert (await ok(second, "accept", crew.plumber))["craftsman_id"] == str(crew.plumber.id)

    async def test_accepting_an_accepted_order(self, w, crew, order, ok, act) -> None:
        oid = (await order())["id"]
        await ok(oid, "accept", crew.plumber)
        # The other fitting craftsman no longer sees it, but is told why the accept failed.
        assert code(await act(oid, "accept", crew.c1_plumber)) == (409, "repair.already_accepted")
        assert code(await act(oid, "accept", crew.plumber)) == (409, "repair.already_accepted")
        assert code(await act(oid, "schedule", crew.c1_plumber, {"visit_at": "2030-01-01T00:00:00Z"})) == (
            404,
            "repair.order_not_found",
        )

    async def test_craftsmen_that_do_not_fit_cannot_accept(self, w, crew, order, act) -> None:
        oid = (await order())["id"]
        for outsider in (crew.electrician, crew.c2_plumber, crew.s2_plumber):
            assert code(await act(oid, "accept", outsider)) == (404, "repair.order_not_found")
        assert code(await act(oid, "accept", crew.unprofiled)) == (404, "repair.order_not_found")
        # Staff see it but are not craftsmen.
        assert code(await act(oid, "accept", w.c1_admin)) == (403, "repair.not_a_craftsman")


class TestCancelAndHandBack:
    async def test_resident_cannot_cancel_once_the_craftsman_is_there_but_staff_can(
        self, w, crew, at_door, ok, act, get
    ) -> None:
        oid = await at_door()
        r = await act(oid, "cancel", w.resident, {"reason": "不想修了"})
        assert code(r) == (409, "repair.resident_cancel_too_late")
        assert code(await act(oid, "cancel", crew.plumber, {"reason": "不修了"})) == (
            403,
            "repair.action_not_allowed",
        )
        assert code(await act(oid, "cancel", w.c2_admin, {"reason": "不修了"})) == (
            404,
            "repair.order_not_found",
        )
        cancelled = await ok(oid, "cancel", w.c1_admin, {"reason": "居民电话要求取消"})
        assert cancelled["status"] == "cancelled" and cancelled["cancel_reason"] == "居民电话要求取消"
        assert cancelled["timeline"][-1]["data"]["by_staff"] is True
        assert code(await act(oid, "arrive", crew.plumber)) == (409, "repair.order_finished")
        # The plumber is told and still sees why.
        seen = await get(oid, crew.plumber)
        assert seen["status"] == "cancelled" and seen["cancel_reason"] == "居民电话要求取消"

    async def test_resident_cancels_before_the_visit(self, session, w, crew, order, ok) -> None:
        oid = (await order())["id"]
        await ok(oid, "accept", crew.plumber)
        cancelled = await ok(oid, "cancel", w.resident, {"reason": "邻居帮忙修好了"})
        assert (cancelled["status"], cancelled["timeline"][-1]["data"]["by_staff"]) == ("cancelled", False)
        assert "repair.cancel" in await repair_notices(session, crew.plumber, oid)

    async def test_who_cancels_when(self, w, crew, prices, general, at_door, order, ok, act) -> None:
        oid = await at_door(general)
        await ok(oid, "quote", crew.plumber, quote_body((prices.faucet, 1)))
        r = await act(oid, "cancel", general, {"reason": "太贵了"})
        assert code(r) == (409, "repair.resident_cancel_too_late")
        await ok(oid, "confirm-quote", general)
        assert code(await act(oid, "cancel", general, {"reason": "太贵了"})) == (
            409,
            "repair.resident_cancel_too_late",
        )
        assert code(await act(oid, "cancel", w.c1_admin, {"reason": "x"})) == (422, "request.invalid")
        await ok(oid, "complete", crew.plumber)
        # Once the work is done it is settled, not cancelled.
        r = await act(oid, "cancel", w.c1_admin, {"reason": "误操作"})
        assert code(r) == (409, "repair.invalid_transition")
        assert code(await act(oid, "rate", general, {"rating": 5})) == (409, "repair.invalid_transition")
        await ok(oid, "settle", crew.plumber, {"amount_cents": 2000, "method": "cash"})
        assert code(await act(oid, "rate", general, {"rating": 6})) == (422, "request.invalid")
        assert code(await act(oid, "rate", general, {"rating": 0})) == (422, "request.invalid")
        assert (await ok(oid, "rate", general, {"rating": 1}))["rating"] == 1
        # Cancelling a fresh order is the resident's right.
        fresh = (await order(general))["id"]
        assert (await ok(fresh, "cancel", general, {"reason": "不修了"}))["status"] == "cancelled"
        assert code(await act(fresh, "cancel", w.c1_admin, {"reason": "再取消"})) == (
            409,
            "repair.order_finished",
        )

    async def test_declining_the_quote_cancels(
        self, session, crew, prices, general, at_door, ok, act
    ) -> None:
        oid = await at_door(general)
        await ok(oid, "quote", crew.plumber, quote_body((prices.pipe, 1)))
        declined = await ok(oid, "decline-quote", general, {})
        assert declined["status"] == "cancelled" and declined["cancel_reason"] == "居民未接受报价"
        assert declined["cancelled_at"] is not None
        assert "repair.decline_quote" in await repair_notices(session, crew.plumber, oid)
        assert code(await act(oid, "confirm-quote", general)) == (409, "repair.order_finished")

    async def test_hand_back_returns_the_order_to_the_pool(
        self, session, client, auth, w, crew, order, ok, act, get
    ) -> None:
        oid = (await order())["id"]
        await ok(oid, "accept", crew.plumber)
        assert code(await act(oid, "hand-back", crew.c1_plumber)) == (404, "repair.order_not_found")
        assert code(await act(oid, "hand-back", w.resident)) == (403, "repair.action_not_allowed")
        back = await ok(oid, "hand-back", crew.plumber, {"note": "临时有事"})
        assert (back["status"], back["craftsman_id"], back["accepted_at"]) == ("requested", None, None)
        assert back["is_full_view"] is False  # the address goes back under wraps
        assert [o["id"] for o in await listed(client, auth, crew.plumber, "open")] == [oid]
        assert [o["id"] for o in await listed(client, auth, crew.c1_plumber, "open")] == [oid]
        assert await listed(client, auth, crew.plumber, "assigned") == []
        # Community staff hear about it; the other plumber is told the order is open again.
        assert "repair.hand_back" in await repair_notices(session, w.c1_admin, oid)
        assert await repair_notices(session, crew.c1_plumber, oid) == ["repair.new", "repair.new"]
        assert await repair_notices(session, crew.plumber, oid) == ["repair.new"]
        # Someone else takes it.
        assert (await ok(oid, "accept", crew.c1_plumber))["status"] == "accepted"
        stored = await session.get(RepairOrder, uuid.UUID(oid))
        await session.refresh(stored)
        assert stored.handback_count == 1

    async def test_staff_assign_and_reassign(self, w, crew, order, ok, act) -> None:
        oid = (await order())["id"]
        r = await act(oid, "assign", w.c1_admin, {"craftsman_id": str(crew.electrician.id)})
        assert code(r) == (422, "repair.craftsman_not_eligible")
        r = await act(oid, "assign", w.c1_admin, {"craftsman_id": str(crew.c2_plumber.id)})
        assert code(r) == (422, "repair.craftsman_not_eligible")
        r = await act(oid, "assign", crew.plumber, {"craftsman_id": str(crew.plumber.id)})
        assert code(r) == (403, "repair.action_not_allowed")
        given = await ok(oid, "assign", w.c1_admin, {"craftsman_id": str(crew.c1_plumber.id), "note": "就近"})
        assert (given["status"], given["craftsman_id"]) == ("accepted", str(crew.c1_plumber.id))
        again = await ok(oid, "assign", w.sub_admin, {"craftsman_id": str(crew.plumber.id)})
        assert again["craftsman_id"] == str(crew.plumber.id)
        assert again["timeline"][-1]["data"]["previous_craftsman_id"] == str(crew.c1_plumber.id)


class TestMissedVisits:
    async def test_craftsman_no_show_only_after_the_grace_period(
        self, session, client, auth, w, crew, order, ok, act, clock, get
    ) -> None:
        oid = (await order())["id"]
        await ok(oid, "accept", crew.plumber)
        visit = clock.now() + timedelta(hours=2)
        await ok(oid, "schedule", crew.plumber, {"visit_at": iso(visit)})
        for when in (clock.now(), visit, visit + timedelta(minutes=29, seconds=59)):
            clock.set(when)
            r = await act(oid, "craftsman-no-show", w.resident, {"note": "没来"})
            assert code(r) == (409, "repair.too_early_for_no_show"), when
        clock.set(visit + timedelta(minutes=30))
        assert code(await act(oid, "craftsman-no-show", crew.plumber)) == (403, "repair.action_not_allowed")
        back = await ok(oid, "craftsman-no-show", w.resident, {"note": "等了半小时没来"})
        assert (back["status"], back["craftsman_id"], back["scheduled_for"]) == ("requested", None, None)
        assert back["timeline"][-1]["data"]["previous_craftsman_id"] == str(crew.plumber.id)
        assert [o["id"] for o in await listed(client, auth, crew.c1_plumber, "open")] == [oid]
        assert "repair.craftsman_no_show" in await repair_notices(session, crew.plumber, oid)
        assert "repair.craftsman_no_show" in await repair_notices(session, w.c1_admin, oid)
        stored = await session.get(RepairOrder, uuid.UUID(oid))
        await session.refresh(stored)
        assert stored.no_show_count == 1

    async def test_no_show_needs_an_agreed_time(self, w, crew, order, ok, act) -> None:
        oid = (await order())["id"]
        await ok(oid, "accept", crew.plumber)
        assert code(await act(oid, "craftsman-no-show", w.resident)) == (409, "repair.invalid_transition")

    async def test_resident_absent_after_the_agreed_time_needs_a_new_time(
        self, session, w, crew, order, ok, act, clock, get
    ) -> None:
        oid = (await order())["id"]
        await ok(oid, "accept", crew.plumber)
        visit = clock.now() + timedelta(hours=3)
        await ok(oid, "schedule", crew.plumber, {"visit_at": iso(visit)})
        clock.set(visit - timedelta(minutes=1))
        assert code(await act(oid, "resident-absent", crew.plumber)) == (409, "repair.too_early_for_no_show")
        assert code(await act(oid, "resident-absent", w.resident)) == (403, "repair.action_not_allowed")
        clock.set(visit + timedelta(minutes=10))
        absent = await ok(oid, "resident-absent", crew.plumber, {"note": "敲门无人应答"})
        assert (absent["status"], absent["scheduled_for"], absent["craftsman_id"]) == (
            "accepted",
            None,
            str(crew.plumber.id),
        )
        assert absent["timeline"][-1]["data"] == {}  # the event's details are the household's and staff's
        (missed,) = [e for e in (await get(oid, w.resident))["timeline"] if e["action"] == "resident_absent"]
        assert (missed["data"]["missed_visit_at"], missed["note"]) == (iso(visit), "敲门无人应答")
        assert "repair.resident_absent" in await repair_notices(session, w.resident, oid)
        # A new time is agreed (by the resident this time) and the visit happens.
        await ok(oid, "schedule", w.resident, {"visit_at": iso(clock.now() + timedelta(days=1))})
        clock.advance(timedelta(days=1))
        assert (await ok(oid, "arrive", crew.plumber))["status"] == "on_site"


class TestCreating:
    async def test_photos_before_and_after(self, client, auth, w, crew, prices, order, ok, act, get) -> None:
        mine = [await upload(client, auth(w.resident), seed) for seed in (1, 2)]
        oid = (await order(photo_ids=mine))["id"]
        seen = await get(oid, w.resident)
        assert [p["id"] for p in seen["photos"]] == mine and seen["after_photos"] == []
        assert seen["timeline"][0]["photos"] and len(seen["timeline"][0]["photos"]) == 2
        # Craftsmen deciding whether to take it see the problem (not who has it).
        pooled = await get(oid, crew.plumber)
        assert [p["id"] for p in pooled["photos"]] == mine and pooled["timeline"][0]["photos"] == []

        await ok(oid, "accept", crew.plumber)
        await ok(oid, "schedule", crew.plumber, {"visit_at": "2030-01-01T02:00:00Z"})
        await ok(oid, "arrive", crew.plumber)
        await ok(oid, "quote", crew.plumber, quote_body((prices.faucet, 1)))
        await ok(oid, "confirm-quote", w.resident)
        r = await act(oid, "complete", crew.plumber, {"photo_ids": [mine[0]]})
        assert code(r) == (403, "repair.photo_not_yours")
        r = await act(oid, "complete", crew.plumber, {"photo_ids": [str(uuid.uuid4())]})
        assert code(r) == (422, "repair.photo_not_found")
        after = await upload(client, auth(crew.plumber), 3)
        done = await ok(oid, "complete", crew.plumber, {"photo_ids": [after], "note": "已修好"})
        assert [p["id"] for p in done["after_photos"]] == [after]
        seen = await get(oid, w.resident)
        assert [p["id"] for p in seen["photos"]] == mine
        assert [p["id"] for p in seen["after_photos"]] == [after]
        assert [p["id"] for p in seen["timeline"][-1]["photos"]] == [after]

    async def test_someone_elses_photo_cannot_be_attached(self, client, auth, w, crew) -> None:
        theirs = await upload(client, auth(w.other_resident), 4)
        body = {"category": "plumbing", "description": "水管漏水", "photo_ids": [theirs]}
        r = await client.post(ORDERS, json=body, headers=auth(w.resident))
        assert code(r) == (403, "repair.photo_not_yours")
        body["photo_ids"] = [theirs, theirs]
        assert code(await client.post(ORDERS, json=body, headers=auth(w.other_resident))) == (
            422,
            "request.invalid",
        )

    async def test_a_resident_without_a_home_names_the_community(self, session, client, auth, w) -> None:
        homeless = await make_user(session, Role.RESIDENT, phone="13955556666", display_name="新居民")
        await session.commit()
        body = {"category": "drain", "description": "下水道堵了", "address": "西一路小区8号楼1层"}
        r = await client.post(ORDERS, json=body, headers=auth(homeless))
        assert code(r) == (422, "repair.no_community")
        r = await client.post(ORDERS, json={**body, "community_id": str(w.c2.id)}, headers=auth(homeless))
        assert r.status_code == 201, r.text
        assert (r.json()["community_id"], r.json()["care_category"]) == (str(w.c2.id), None)
        # No address anywhere: the craftsman would not know where to go.
        r = await client.post(
            ORDERS, json={**body, "address": None, "community_id": str(w.c2.id)}, headers=auth(homeless)
        )
        assert code(r) == (422, "repair.no_community")

    async def test_an_inactive_account_cannot_be_served_by_phone(self, session, client, auth, w) -> None:
        gone = await make_user(session, Role.RESIDENT, home=w.c1, is_active=False, address="西一路小区2号楼")
        await session.commit()
        body = {"category": "lock", "description": "门锁坏了", "for_resident": {"resident_id": str(gone.id)}}
        r = await client.post(ORDERS, json=body, headers=auth(w.c1_admin))
        assert code(r) == (422, "repair.resident_not_found")

    async def test_lists_page_with_a_cursor(self, client, auth, w, order, clock) -> None:
        made = []
        for i in range(5):
            clock.advance(timedelta(minutes=1))
            made.append((await order(description=f"第{i}处漏水"))["id"])
        seen: list[str] = []
        cursor = None
        while True:
            params = {"view": "mine", "limit": 2, **({"cursor": cursor} if cursor else {})}
            page = (await client.get(ORDERS, params=params, headers=auth(w.resident))).json()
            seen += [o["id"] for o in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen == made[::-1]


# --- phone orders -------------------------------------------------------------------------


class TestPhoneOrders:
    async def test_staff_enter_an_order_for_a_resident_without_an_account(
        self, client, auth, w, crew, prices, order, ok, get, clock
    ) -> None:
        caller = {"name": "张大爷", "phone": "13811112222", "care_category": "empty_nest"}
        r = await client.post(
            ORDERS,
            json={
                "category": "plumbing",
                "description": "暖气片漏水",
                "for_resident": caller,
                "address": "东二路3号楼101",
            },
            headers=auth(w.c1_admin),
        )
        assert code(r) == (422, "repair.no_community")  # staff have no home: the community is needed
        phoned = await order(
            w.c1_admin,
            description="暖气片漏水",
            for_resident=caller,
            community_id=str(w.c1.id),
            address="东二路3号楼101",
        )
        oid = phoned["id"]
        assert (phoned["resident_id"], phoned["requested_by_id"]) == (None, str(w.c1_admin.id))
        assert phoned["contact"] == {"id": None, "display_name": "张大爷", "phone": "13811112222"}
        assert (phoned["care_category"], phoned["address"]) == ("empty_nest", "东二路3号楼101")
        assert phoned["timeline"][0]["data"]["phone_order"] is True
        assert [o["id"] for o in await listed(client, auth, w.c1_admin, "mine")] == [oid]

        # The craftsman calls the number given; the stated care category prices the work.
        await ok(oid, "accept", crew.plumber)
        assert (await get(oid, crew.plumber))["contact"]["phone"] == "13811112222"
        await ok(oid, "schedule", crew.plumber, {"visit_at": iso(clock.now() + timedelta(hours=1))})
        await ok(oid, "arrive", crew.plumber)
        quoted = await ok(oid, "quote", crew.plumber, quote_body((prices.faucet, 1)))
        assert quoted["due_cents"] == 1000
        await ok(oid, "confirm-quote", w.c1_admin)
        await ok(oid, "complete", crew.plumber)
        await ok(oid, "settle", crew.plumber, {"amount_cents": 1000, "method": "cash"})
        # No account to rate with: staff record the rating they were given by phone.
        rated = await ok(oid, "rate", w.c1_admin, {"rating": 4, "comment": "电话回访"})
        assert (rated["status"], rated["rating"]) == ("rated", 4)

    async def test_staff_enter_an_order_for_an_existing_resident(self, w, order) -> None:
        phoned = await order(
            w.sub_admin,
            description="门锁坏了",
            category="lock",
            # The resident's record decides the care category, whatever is stated.
            for_resident={"resident_id": str(w.resident.id), "care_category": "general"},
        )
        assert (phoned["resident_id"], phoned["requested_by_id"]) == (str(w.resident.id), str(w.sub_admin.id))
        assert phoned["care_category"] == "living_alone"
        assert (phoned["community_id"], phoned["address"]) == (str(w.c1.id), FULL_ADDRESS)
        assert phoned["contact"] == {
            "id": str(w.resident.id),
            "display_name": "居民甲",
            "phone": "13912345678",
        }
        assert phoned["category_name"] == "门锁"

    async def test_who_may_enter_phone_orders(self, client, auth, w) -> None:
        body = {
            "category": "plumbing",
            "description": "水管漏水",
            "for_resident": {"resident_id": str(w.resident.id)},
        }

        async def post(user: User):  # type: ignore[no-untyped-def]
            return await client.post(ORDERS, json=body, headers=auth(user))

        assert code(await post(w.other_resident)) == (403, "repair.for_others_not_allowed")
        assert code(await post(w.worker)) == (403, "repair.for_others_not_allowed")
        assert code(await post(w.c2_admin)) == (403, "repair.scope_forbidden")
        assert code(await post(w.s2_admin)) == (403, "repair.scope_forbidden")
        # An account that does not exist.
        body["for_resident"] = {"resident_id": str(uuid.uuid4())}
        assert code(await post(w.c1_admin)) == (422, "repair.resident_not_found")
        # Staff of C2 cannot put a C1 resident's order into C2 either.
        body["for_resident"] = {"resident_id": str(w.resident.id)}
        body["community_id"] = str(w.c2.id)
        assert code(await post(w.c2_admin)) == (422, "repair.resident_not_found")
        # Name without phone is not enough to call back.
        body["for_resident"] = {"name": "张大爷"}
        r = await post(w.c1_admin)
        assert code(r) == (422, "request.invalid")


# --- Idempotency-Key ----------------------------------------------------------------------


class TestIdempotency:
    async def test_a_retry_returns_the_first_order(self, session, client, auth, w, crew) -> None:
        body = {"category": "plumbing", "description": "厨房水龙头一直滴水"}
        headers = {**auth(w.resident), "Idempotency-Key": "k-123"}
        first = await client.post(ORDERS, json=body, headers=headers)
        again = await client.post(ORDERS, json=body, headers=headers)
        assert (first.status_code, again.status_code) == (201, 201)
        assert again.json() == first.json()
        stored = await session.scalar(
            select(func.count()).select_from(RepairOrder).where(RepairOrder.resident_id == w.resident.id)
        )
        assert stored == 1
        # The craftsmen were told once.
        assert await repair_notices(session, crew.plumber) == ["repair.new"]

        r = await client.post(ORDERS, json={**body, "description": "卫生间水龙头坏了"}, headers=headers)
        assert code(r) == (422, "request.idempotency_key_reused")
        # Keys are per user: someone else's same key is a new order.
        other = await client.post(
            ORDERS,
            json={**body, "address": "东三路1号"},
            headers={**auth(w.other_resident), "Idempotency-Key": "k-123"},
        )
        assert other.status_code == 201 and other.json()["id"] != first.json()["id"]
        # A new key is a new order.
        third = await client.post(ORDERS, json=body, headers={**auth(w.resident), "Idempotency-Key": "k-124"})
        assert third.status_code == 201 and third.json()["id"] != first.json()["id"]


# --- who sees what --------------------------------------------------------------------------


class TestVisibility:
    async def test_strangers_get_not_found(self, client, auth, w, crew, order, get) -> None:
        oid = (await order())["id"]
        for outsider in (
            w.other_resident,
            w.worker,
            w.dept_staff,
            w.c2_admin,
            w.s2_admin,
            crew.electrician,
            crew.c2_plumber,
            crew.s2_plumber,
            crew.unprofiled,
        ):
            r = await client.get(f"{ORDERS}/{oid}", headers=auth(outsider))
            assert code(r) == (404, "repair.order_not_found"), outsider.display_name
        for insider in (w.resident, w.c1_admin, w.sub_admin, w.superadmin, crew.plumber, crew.c1_plumber):
            assert (await get(oid, insider))["id"] == oid
        r = await client.get(f"{ORDERS}/{uuid.uuid4()}", headers=auth(w.sub_admin))
        assert code(r) == (404, "repair.order_not_found")

    async def test_lists_by_view(self, client, auth, w, crew, order, clock) -> None:
        async def later(*args: Any, **fields: Any) -> str:
            clock.advance(timedelta(minutes=1))
            return (await order(*args, **fields))["id"]

        c1_order = await later()
        s2_order = await later(w.other_resident, category="electrical", address="东三路1号")
        c2_order = await later(
            w.c2_admin,
            for_resident={"name": "李奶奶", "phone": "13833334444"},
            community_id=str(w.c2.id),
            address="南三路7号楼202",
        )
        elec_order = await later(category="electrical", description="客厅开关不亮")

        async def ids(user: User, view: str, **params: Any) -> set[str]:
            return {o["id"] for o in await listed(client, auth, user, view, **params)}

        assert await ids(w.resident, "mine") == {c1_order, elec_order}
        assert await ids(w.other_resident, "mine") == {s2_order}
        assert await ids(w.c2_admin, "all") == {c2_order}
        assert await ids(w.c1_admin, "all") == {c1_order, elec_order}
        assert await ids(w.sub_admin, "all") == {c1_order, c2_order, elec_order}
        assert await ids(w.sub_admin, "all", community_id=str(w.c2.id)) == {c2_order}
        assert await ids(w.sub_admin, "all", category="electrical") == {elec_order}
        assert await ids(w.s2_admin, "all") == {s2_order}
        assert await ids(w.superadmin, "all") == {c1_order, s2_order, c2_order, elec_order}
        # The pool: what fits each craftsman, oldest first.
        pool = await listed(client, auth, crew.plumber, "open")
        assert [o["id"] for o in pool] == [c1_order, c2_order, elec_order]
        assert await ids(crew.c1_plumber, "open") == {c1_order}
        assert await ids(crew.c2_plumber, "open") == {c2_order}
        assert await ids(crew.electrician, "open") == {elec_order}
        assert await ids(crew.s2_plumber, "open") == set()  # the S2 order is electrical
        assert await ids(crew.plumber, "assigned") == set()
        # Everything else newest first.
        assert [o["id"] for o in await listed(client, auth, w.resident, "mine")] == [elec_order, c1_order]
        # Views that do not suit the caller.
        r = await client.get(ORDERS, params={"view": "open"}, headers=auth(w.resident))
        assert code(r) == (403, "repair.not_a_craftsman")
        r = await client.get(ORDERS, params={"view": "open"}, headers=auth(crew.unprofiled))
        assert code(r) == (403, "repair.not_a_craftsman")
        r = await client.get(ORDERS, params={"view": "all"}, headers=auth(w.resident))
        assert code(r) == (403, "repair.scope_forbidden")
        r = await client.get(ORDERS, params={"view": "everything"}, headers=auth(w.resident))
        assert code(r) == (422, "request.invalid")

    async def test_pool_listing_hides_the_door_number(self, client, auth, w, crew, order) -> None:
        await order()
        (mine,) = await listed(client, auth, w.resident, "mine")
        (pooled,) = await listed(client, auth, crew.plumber, "open")
        (staffs,) = await listed(client, auth, w.c1_admin, "all")
        assert mine["address"] == staffs["address"] == FULL_ADDRESS
        assert pooled["address"] == "西一路小****"

    async def test_inactive_craftsman_loses_the_pool(self, client, auth, w, crew, order, act) -> None:
        oid = (await order())["id"]
        await put_profile(
            client,
            auth,
            w.sub_admin,
            crew.plumber,
            subdistrict_id=str(w.s1.id),
            skills=["plumbing"],
            is_active=False,
        )
        r = await client.get(ORDERS, params={"view": "open"}, headers=auth(crew.plumber))
        assert code(r) == (403, "repair.not_a_craftsman")
        assert code(await act(oid, "accept", crew.plumber)) == (404, "repair.order_not_found")


# --- 随手拍 → repair order ------------------------------------------------------------------


class TestFromTicket:
    async def test_staff_turn_a_residents_report_into_an_order(self, client, auth, w, crew, get) -> None:
        r = await client.post(
            "/api/v1/tickets",
            json={"category_id": str(w.category.id), "description": "家里卫生间水管漏水", "location": IN_G1},
            headers=auth(w.resident),
        )
        assert r.status_code == 201, r.text
        tid = r.json()["id"]
        body = {"category": "plumbing", "description": "卫生间水管漏水（随手拍转入）"}
        url = f"{ORDERS}/from-ticket/{tid}"

        assert code(await client.post(url, json=body, headers=auth(w.resident))) == (403, "auth.staff_only")
        assert code(await client.post(url, json=body, headers=auth(w.c2_admin))) == (
            403,
            "repair.scope_forbidden",
        )
        assert code(await client.post(url, json=body, headers=auth(w.s2_admin))) == (
            403,
            "repair.scope_forbidden",
        )
        r = await client.post(f"{ORDERS}/from-ticket/{uuid.uuid4()}", json=body, headers=auth(w.c1_admin))
        assert code(r) == (404, "ticket.not_found")

        r = await client.post(url, json=body, headers=auth(w.c1_admin))
        assert r.status_code == 201, r.text
        converted = r.json()
        oid = converted["id"]
        assert converted["ticket_id"] == tid and converted["status"] == "requested"
        # The household is the reporter: their account, home, address and care category.
        assert (converted["resident_id"], converted["requested_by_id"]) == (
            str(w.resident.id),
            str(w.c1_admin.id),
        )
        assert (converted["community_id"], converted["address"]) == (str(w.c1.id), FULL_ADDRESS)
        assert converted["care_category"] == "living_alone"
        assert converted["timeline"][0]["data"]["ticket_id"] == tid
        # The resident finds it among their orders; craftsmen get it in the pool.
        assert (await get(oid, w.resident))["ticket_id"] == tid
        assert [o["id"] for o in await listed(client, auth, crew.plumber, "open")] == [oid]
        assert (await get(oid, crew.plumber))["ticket_id"] is None  # craftsmen are not shown the report

        # The ticket records where it went.
        ticket = (await client.get(f"/api/v1/tickets/{tid}", headers=auth(w.c1_admin))).json()
        (event,) = [e for e in ticket["timeline"] if e["action"] == "repair_order"]
        assert event["data"]["repair_order_id"] == oid
        assert event["data"]["repair_number"] == converted["number"]
        assert event["actor"]["id"] == str(w.c1_admin.id)
        assert ticket["timeline"][-1]["action"] == "repair_order"
        # The reporter can follow the link to their order.
        r = await client.get(f"/api/v1/tickets/{tid}", headers=auth(w.resident))
        assert r.status_code == 200, r.text
        (seen,) = [e for e in r.json()["timeline"] if e["action"] == "repair_order"]
        assert seen["data"]["repair_order_id"] == oid

        # Once only.
        r = await client.post(url, json=body, headers=auth(w.sub_admin))
        assert code(r) == (409, "repair.ticket_not_eligible")
        ticket = (await client.get(f"/api/v1/tickets/{tid}", headers=auth(w.c1_admin))).json()
        assert [e["action"] for e in ticket["timeline"]].count("repair_order") == 1

    async def report(self, client, auth, user: User, **fields: Any) -> str:  # type: ignore[no-untyped-def]
        r = await client.post(
            "/api/v1/tickets",
            json={
                "category_id": str(fields.pop("category_id")),
                "description": "家里水管漏水",
                "location": IN_G1,
                **fields,
            },
            headers=auth(user),
        )
        assert r.status_code == 201, r.text
        return r.json()["id"]

    async def test_a_report_filed_for_an_elder_serves_the_elder(self, client, auth, w) -> None:
        on_behalf = {"name": "刘奶奶", "phone": "13600001234", "consent_note": "刘奶奶来电，同意代为上报"}
        tid = await self.report(client, auth, w.worker, category_id=w.category.id, on_behalf=on_behalf)
        url = f"{ORDERS}/from-ticket/{tid}"
        body = {"category": "plumbing", "description": "刘奶奶家水管漏水"}
        # The report has a location but no address: the door must be given.
        r = await client.post(url, json=body, headers=auth(w.c1_admin))
        assert code(r) == (422, "repair.no_community")
        r = await client.post(url, json={**body, "address": "西一路小区9号楼101"}, headers=auth(w.c1_admin))
        assert r.status_code == 201, r.text
        o = r.json()
        assert o["resident_id"] is None and o["care_category"] is None
        assert o["contact"] == {"id": None, "display_name": "刘奶奶", "phone": "13600001234"}
        assert (o["ticket_id"], o["address"]) == (tid, "西一路小区9号楼101")

    async def test_a_report_for_an_elder_without_a_phone_is_not_the_reporters_order(
        self, client, auth, w
    ) -> None:
        on_behalf = {"name": "刘奶奶", "consent_note": "刘奶奶当面请网格员代为上报"}
        tid = await self.report(client, auth, w.worker, category_id=w.category.id, on_behalf=on_behalf)
        url = f"{ORDERS}/from-ticket/{tid}"
        body = {"category": "plumbing", "description": "刘奶奶家水管漏水", "address": "西一路小区9号楼101"}
        # The grid worker only filed it: they are not the household to be served.
        r = await client.post(url, json=body, headers=auth(w.c1_admin))
        assert code(r) == (409, "repair.ticket_not_eligible")
        # Staff who reach her give her phone themselves.
        caller = {"name": "刘奶奶", "phone": "13600001234", "care_category": "living_alone"}
        r = await client.post(url, json={**body, "for_resident": caller}, headers=auth(w.c1_admin))
        assert r.status_code == 201, r.text
        assert (r.json()["resident_id"], r.json()["contact"]["display_name"]) == (None, "刘奶奶")
        assert r.json()["care_category"] == "living_alone"


# --- statistics ---------------------------------------------------------------------------


class TestStats:
    async def test_subdistrict_figures(
        self, client, auth, w, crew, prices, general, order, ok, clock
    ) -> None:
        t0 = clock.now()
        a = (await order())["id"]  # living alone: free
        b = (await order(general))["id"]  # pays list price
        c = (await order(description="马桶漏水"))["id"]
        d = (
            await order(
                w.c2_admin,
                for_resident={"name": "李奶奶", "phone": "13833334444"},
                community_id=str(w.c2.id),
                address="南三路7号楼202",
            )
        )["id"]
        await ok(c, "cancel", w.resident, {"reason": "不需要了"})
        clock.set(t0 + timedelta(minutes=10))
        await ok(a, "accept", crew.plumber)
        clock.set(t0 + timedelta(minutes=30))
        await ok(b, "accept", crew.c1_plumber)
        for oid, who, user, hours in ((a, crew.plumber, w.resident, 2), (b, crew.c1_plumber, general, 4)):
            clock.set(t0 + timedelta(minutes=40))
            await ok(oid, "schedule", who, {"visit_at": iso(t0 + timedelta(hours=1))})
            clock.set(t0 + timedelta(hours=1))
            await ok(oid, "arrive", who)
            await ok(oid, "quote", who, quote_body((prices.faucet, 2)))
            await ok(oid, "confirm-quote", user)
            clock.set(t0 + timedelta(hours=hours))
            await ok(oid, "complete", who)
        await ok(a, "settle", crew.plumber, {"amount_cents": 0, "method": "free"})
        await ok(b, "settle", crew.c1_plumber, {"amount_cents": 4000, "method": "cash"})
        await ok(a, "rate", w.resident, {"rating": 5})
        await ok(b, "rate", general, {"rating": 3})
        clock.advance(timedelta(minutes=1))

        r = await client.get(
            f"{REPAIRS}/stats", params={"subdistrict_id": str(w.s1.id)}, headers=auth(w.sub_admin)
        )
        assert r.status_code == 200, r.text
        s = r.json()
        t = s["total"]
        assert (t["orders"], t["accepted"], t["completed"], t["cancelled"], t["rated"], t["settled"]) == (
            4,
            2,
            2,
            1,
            2,
            2,
        )
        assert (t["median_accept_minutes"], t["median_complete_hours"]) == (20.0, 3.0)
        assert (t["mean_rating"], t["satisfied_rate"]) == (4.0, 0.5)
        assert (t["subsidy_cents"], t["paid_cents"]) == (4000, 4000)
        assert s["by_status"] == {"rated": 2, "cancelled": 1, "requested": 1}
        communities = {x["community_id"]: x["orders"] for x in s["by_community"]}
        assert communities == {str(w.c1.id): 3, str(w.c2.id): 1}
        assert s["by_community"][0]["community_id"] == str(w.c1.id)  # the busiest first
        by = {x["user_id"]: x for x in s["by_craftsman"]}
        assert set(by) == {str(crew.plumber.id), str(crew.c1_plumber.id)}
        mine = by[str(crew.plumber.id)]
        assert (mine["display_name"], mine["orders"], mine["mean_rating"]) == ("王师傅", 1, 5.0)
        assert (mine["subsidy_cents"], mine["paid_cents"], mine["median_accept_minutes"]) == (4000, 0, 10.0)
        theirs = by[str(crew.c1_plumber.id)]
        assert (theirs["subsidy_cents"], theirs["paid_cents"], theirs["satisfied_rate"]) == (0, 4000, 0.0)
        assert theirs["median_complete_hours"] == 4.0

        # A community's staff see their own community.
        r = await client.get(
            f"{REPAIRS}/stats",
            params={"subdistrict_id": str(w.s1.id), "community_id": str(w.c2.id)},
            headers=auth(w.c2_admin),
        )
        assert r.status_code == 200, r.text
        assert (r.json()["total"]["orders"], r.json()["by_status"]) == (1, {"requested": 1})
        assert d in {o["id"] for o in await listed(client, auth, w.c2_admin, "all")}
        # A window before anything happened is empty.
        r = await client.get(
            f"{REPAIRS}/stats",
            params={"subdistrict_id": str(w.s1.id), "date_to": iso(t0)},
            headers=auth(w.sub_admin),
        )
        assert r.json()["total"]["orders"] == 0 and r.json()["by_craftsman"] == []

    async def test_who_may_see_figures(self, client, auth, w) -> None:
        async def stats(user: User, **params: str):  # type: ignore[no-untyped-def]
            return await client.get(
                f"{REPAIRS}/stats", params={"subdistrict_id": str(w.s1.id), **params}, headers=auth(user)
            )

        assert code(await stats(w.c1_admin)) == (403, "repair.scope_forbidden")
        assert code(await stats(w.c1_admin, community_id=str(w.c2.id))) == (403, "repair.scope_forbidden")
        assert code(await stats(w.s2_admin)) == (403, "repair.scope_forbidden")
        assert code(await stats(w.resident)) == (403, "auth.staff_only")
        assert (await stats(w.c1_admin, community_id=str(w.c1.id))).status_code == 200
        r = await stats(w.sub_admin, date_from="2026-11-22T00:00:00Z", date_to="2026-11-21T00:00:00Z")
        assert r.status_code == 422


# --- the price list, the policy and the craftsman register --------------------------------


class TestPriceList:
    async def test_list_filter_and_read(self, client, auth, w, prices) -> None:
        async def names(**params: Any) -> list[str]:
            r = await client.get(
                f"{REPAIRS}/price-items",
                params={"subdistrict_id": str(w.s1.id), **params},
                headers=auth(w.resident),
            )
            assert r.status_code == 200, r.text
            return [p["name"] for p in r.json()]

        # Grouped by category (electrical before plumbing); the retired item is left out.
        active = await names()
        assert active[0] == "更换开关" and sorted(active[1:]) == sorted(["更换水龙头", "疏通下水管"])
        assert sorted(await names(include_inactive=True)) == sorted(
            ["更换开关", "更换水龙头", "疏通下水管", "更换老式阀门"]
        )
        assert await names(category="electrical") == ["更换开关"]
        r = await client.get(
            f"{REPAIRS}/price-items", params={"subdistrict_id": str(w.s2.id)}, headers=auth(w.resident)
        )
        assert [(p["id"], p["price_cents"]) for p in r.json()] == [(prices.s2_faucet, 2500)]
        (faucet,) = [
            p
            for p in (
                await client.get(
                    f"{REPAIRS}/price-items",
                    params={"subdistrict_id": str(w.s1.id)},
                    headers=auth(w.resident),
                )
            ).json()
            if p["id"] == prices.faucet
        ]
        assert faucet == {
            "id": prices.faucet,
            "subdistrict_id": str(w.s1.id),
            "category": "plumbing",
            "category_name": "水暖",
            "name": "更换水龙头",
            "unit": "个",
            "price_cents": 2000,
            "market_price_cents": 5000,
            "is_active": True,
            "version": 1,
        }

    async def test_only_the_subdistricts_staff_edit_it(self, client, auth, w, prices) -> None:
        body = {
            "subdistrict_id": str(w.s1.id),
            "category": "lock",
            "name": "换锁芯",
            "unit": "个",
            "price_cents": 3000,
        }
        url = f"{REPAIRS}/price-items"
        assert code(await client.post(url, json=body, headers=auth(w.c1_admin))) == (
            403,
            "repair.scope_forbidden",
        )
        assert code(await client.post(url, json=body, headers=auth(w.s2_admin))) == (
            403,
            "repair.scope_forbidden",
        )
        assert code(await client.post(url, json=body, headers=auth(w.resident))) == (403, "auth.staff_only")
        patch = {"price_cents": 1}
        for user, expected in (
            (w.c1_admin, (403, "repair.scope_forbidden")),
            (w.s2_admin, (403, "repair.scope_forbidden")),
            (w.resident, (403, "auth.staff_only")),
        ):
            r = await client.patch(f"{url}/{prices.faucet}", json=patch, headers=auth(user))
            assert code(r) == expected
        r = await client.patch(f"{url}/{uuid.uuid4()}", json=patch, headers=auth(w.sub_admin))
        assert code(r) == (404, "repair.price_item_not_found")
        r = await client.get(f"{url}/{uuid.uuid4()}/versions", headers=auth(w.sub_admin))
        assert code(r) == (404, "repair.price_item_not_found")
        created = await client.post(url, json=body, headers=auth(w.superadmin))
        assert created.status_code == 201 and created.json()["category_name"] == "门锁"

    async def test_names_are_unique_per_category(self, client, auth, w, prices) -> None:
        url = f"{REPAIRS}/price-items"
        body = {
            "subdistrict_id": str(w.s1.id),
            "category": "plumbing",
            "name": "更换水龙头",
            "unit": "个",
            "price_cents": 1,
        }
        assert code(await client.post(url, json=body, headers=auth(w.sub_admin))) == (
            409,
            "repair.price_item_exists",
        )
        # The retired item's name is taken too.
        body["name"] = "更换老式阀门"
        assert code(await client.post(url, json=body, headers=auth(w.sub_admin))) == (
            409,
            "repair.price_item_exists",
        )
        # The same name in another category is another item.
        body.update(category="appliance", name="更换水龙头")
        assert (await client.post(url, json=body, headers=auth(w.sub_admin))).status_code == 201
        r = await client.patch(f"{url}/{prices.pipe}", json={"name": "更换水龙头"}, headers=auth(w.sub_admin))
        assert code(r) == (409, "repair.price_item_exists")
        # Renaming to its own name is no change at all.
        r = await client.patch(
            f"{url}/{prices.faucet}", json={"name": "更换水龙头", "unit": "个"}, headers=auth(w.sub_admin)
        )
        assert (r.status_code, r.json()["version"]) == (200, 1)

    async def test_every_change_is_a_version(self, client, auth, w, prices) -> None:
        url = f"{REPAIRS}/price-items/{prices.faucet}"
        r = await client.patch(url, json={"market_price_cents": None}, headers=auth(w.sub_admin))
        assert (r.json()["version"], r.json()["market_price_cents"], r.json()["price_cents"]) == (
            2,
            None,
            2000,
        )
        r = await client.patch(url, json={"price_cents": None, "name": "换水龙头"}, headers=auth(w.sub_admin))
        assert (r.json()["version"], r.json()["name"], r.json()["price_cents"]) == (3, "换水龙头", 2000)
        r = await client.patch(url, json={"is_active": False}, headers=auth(w.sub_admin))
        assert (r.json()["version"], r.json()["is_active"]) == (4, False)
        versions = (await client.get(f"{url}/versions", headers=auth(w.resident))).json()
        assert [(v["version"], v["name"], v["market_price_cents"], v["is_active"]) for v in versions] == [
            (1, "更换水龙头", 5000, True),
            (2, "更换水龙头", None, True),
            (3, "换水龙头", None, True),
            (4, "换水龙头", None, False),
        ]
        retired = (
            await client.get(f"{REPAIRS}/price-items/{prices.retired}/versions", headers=auth(w.resident))
        ).json()
        assert [(v["version"], v["is_active"]) for v in retired] == [(1, True), (2, False)]


class TestPolicy:
    async def test_default_policy(self, client, auth, w) -> None:
        r = await client.get(f"{REPAIRS}/policies/{w.s1.id}", headers=auth(w.resident))
        assert r.status_code == 200, r.text
        p = r.json()
        assert (p["is_default"], p["visit_fee_cents"], p["updated_at"]) == (True, 0, None)
        assert p["rules"]["living_alone"] == {
            "labor_discount_pct": 100,
            "materials_discount_pct": 100,
            "waive_visit_fee": True,
        }
        assert p["rules"]["empty_nest"]["labor_discount_pct"] == 50
        assert "general" not in p["rules"]

    async def test_a_new_policy_prices_future_quotes_only(
        self, client, auth, w, crew, prices, general, empty_nest, at_door, ok, get, clock
    ) -> None:
        before = await at_door(general)
        await ok(before, "quote", crew.plumber, quote_body((prices.faucet, 1)))

        policy = {
            "visit_fee_cents": 1500,
            "rules": {
                "general": {"labor_discount_pct": 10},
                "living_alone": {
                    "labor_discount_pct": 100,
                    "materials_discount_pct": 100,
                    "waive_visit_fee": True,
                },
            },
        }
        url = f"{REPAIRS}/policies/{w.s1.id}"
        assert code(await client.put(url, json=policy, headers=auth(w.c1_admin))) == (
            403,
            "repair.scope_forbidden",
        )
        assert code(await client.put(url, json=policy, headers=auth(w.s2_admin))) == (
            403,
            "repair.scope_forbidden",
        )
        assert code(await client.put(url, json=policy, headers=auth(w.resident))) == (403, "auth.staff_only")
        bad = {"rules": {"general": {"labor_discount_pct": 101}}}
        assert code(await client.put(url, json=bad, headers=auth(w.sub_admin))) == (422, "request.invalid")
        r = await client.put(url, json=policy, headers=auth(w.sub_admin))
        assert r.status_code == 200, r.text
        assert (r.json()["is_default"], r.json()["visit_fee_cents"]) == (False, 1500)
        assert r.json()["updated_at"].replace("Z", "+00:00") == iso(clock.now())
        assert set(r.json()["rules"]) == {"general", "living_alone"}
        # S2 keeps the defaults.
        assert (await client.get(f"{REPAIRS}/policies/{w.s2.id}", headers=auth(w.resident))).json()[
            "is_default"
        ]

        # The quote already given stands...
        assert (await get(before, general))["due_cents"] == 2000
        # ...a corrected one follows the new policy.
        await ok(before, "quote", crew.plumber, quote_body((prices.faucet, 1)))
        q = (await get(before, general))["quote"]
        assert [(x["kind"], x["subsidy_cents"], x["due_cents"], x["rule"]) for x in q["lines"]] == [
            ("item", 200, 1800, "一般住户：人工费减免 10%"),
            ("visit_fee", 0, 1500, "上门费"),
        ]
        assert q["due_cents"] == 3300

        alone = await at_door(w.resident)
        await ok(alone, "quote", crew.plumber, quote_body((prices.faucet, 1)))
        q = (await get(alone, w.resident))["quote"]
        assert [(x["kind"], x["subsidy_cents"], x["due_cents"], x["rule"]) for x in q["lines"]] == [
            ("item", 2000, 0, "孤寡老人：人工费全免"),
            ("visit_fee", 1500, 0, "孤寡老人：上门费全免"),
        ]
        # Empty-nest households are no longer listed: list price plus the visit fee.
        nest = await at_door(empty_nest)
        assert (await ok(nest, "quote", crew.plumber, quote_body((prices.faucet, 1))))["due_cents"] == 3500


class TestCraftsmen:
    async def test_register(self, client, auth, w, crew, order, ok) -> None:
        url = f"{REPAIRS}/craftsmen"
        me = await client.get(f"{url}/me", headers=auth(crew.plumber))
        assert me.status_code == 200, me.text
        assert {
            k: me.json()[k] for k in ("skills", "community_ids", "organisation", "max_active_orders")
        } == {
            "skills": ["electrical", "plumbing"],
            "community_ids": [],
            "organisation": "区总工会志愿队",
            "max_active_orders": 3,  # the default
        }
        assert code(await client.get(f"{url}/me", headers=auth(w.resident))) == (
            403,
            "repair.not_a_craftsman",
        )
        assert code(await client.get(f"{url}/me", headers=auth(crew.unprofiled))) == (
            403,
            "repair.not_a_craftsman",
        )

        oid = (await order())["id"]
        await ok(oid, "accept", crew.c1_plumber)

        async def roster(user: User, subdistrict=w.s1) -> dict[str, dict]:  # type: ignore[no-untyped-def]
            r = await client.get(url, params={"subdistrict_id": str(subdistrict.id)}, headers=auth(user))
            assert r.status_code == 200, r.text
            return {c["display_name"]: c for c in r.json()}

        everyone = await roster(w.sub_admin)
        assert set(everyone) == {"王师傅", "李师傅(C1)", "赵电工", "钱师傅(C2)"}
        assert everyone["李师傅(C1)"]["active_orders"] == 1 and everyone["王师傅"]["active_orders"] == 0
        assert everyone["李师傅(C1)"]["community_ids"] == [str(w.c1.id)]
        # Community staff see who serves their community.
        assert set(await roster(w.c1_admin)) == {"王师傅", "李师傅(C1)", "赵电工"}
        assert set(await roster(w.c2_admin)) == {"王师傅", "赵电工", "钱师傅(C2)"}
        assert set(await roster(w.s2_admin, w.s2)) == {"孙师傅(S2)"}
        r = await client.get(url, params={"subdistrict_id": str(w.s1.id)}, headers=auth(w.s2_admin))
        assert code(r) == (403, "repair.scope_forbidden")
        r = await client.get(url, params={"subdistrict_id": str(w.s2.id)}, headers=auth(w.c1_admin))
        assert code(r) == (403, "repair.scope_forbidden")
        r = await client.get(url, params={"subdistrict_id": str(w.s1.id)}, headers=auth(crew.plumber))
        assert code(r) == (403, "auth.staff_only")

    async def test_profile_rules(self, client, auth, w, crew) -> None:
        async def put(user: User, staff: User, **body: Any):  # type: ignore[no-untyped-def]
            body = {"subdistrict_id": str(w.s1.id), "skills": ["lock"], **body}
            return await client.put(f"{REPAIRS}/craftsmen/{user.id}", json=body, headers=auth(staff))

        assert code(await put(w.worker, w.sub_admin)) == (422, "repair.user_not_craftsman")
        assert code(await put(crew.s2_plumber, w.sub_admin)) == (422, "repair.user_not_craftsman")
        assert code(await put(crew.unprofiled, w.c1_admin)) == (403, "repair.scope_forbidden")
        assert code(await put(crew.unprofiled, w.s2_admin)) == (403, "repair.scope_forbidden")
        r = await put(crew.unprofiled, w.sub_admin, community_ids=[str(w.c3.id)])
        assert code(r) == (422, "repair.craftsman_not_eligible")
        assert code(await put(crew.unprofiled, w.sub_admin, skills=[])) == (422, "request.invalid")
        r = await put(crew.unprofiled, w.sub_admin, skills=["lock", "drain", "lock"], max_active_orders=5)
        assert r.status_code == 200, r.text
        assert (r.json()["skills"], r.json()["max_active_orders"], r.json()["active_orders"]) == (
            ["drain", "lock"],
            5,
            0,
        )
        # Leaving the cap out keeps the one set before.
        r = await put(crew.unprofiled, w.sub_admin, skills=["lock"])
        assert (r.json()["skills"], r.json()["max_active_orders"]) == (["lock"], 5)
