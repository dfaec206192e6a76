"""Who sees which personal field, and how (PIPL: mask phone numbers and addresses to people who
need not see them, keep care categories to staff who must): one table per response, field by
role, read through the HTTP API.

Each cell is what the role gets for the field of someone else's (or their own) data:
  F  the full value            M  the masked value (138****0000; an address cut to its compound)
  A  no value: the response leaves the person or the field out
  D  the response is refused (403/404): the role does not see the resource at all
The roles: the resident whose data it is (owner); a neighbour in the same community; the grid
worker of the resident's grid, and of another grid; a craftsman and a teacher of the area;
department staff; the community's admin and another community's; the subdistrict admin; the
superadmin.
"""

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from app.auth.permissions import Role, mask_address, mask_phone
from app.course.models import Attendee
from app.repair.models import Craftsman
from app.user.models import User
from tests.factories import make_user
from tests.privacy.conftest import make_class, make_signup

ROLES = [
    "owner",
    "neighbour",
    "grid_worker",
    "other_grid_worker",
    "craftsman",
    "teacher",
    "dept_staff",
    "community_admin",
    "other_community_admin",
    "subdistrict_admin",
    "superadmin",
]
RESIDENT_PHONE = "13912345678"
RESIDENT_ADDRESS = "西一路小区1号楼2单元301"
WORKER_PHONE = "13700001111"
CRAFTSMAN_PHONE = "13500002222"


def row(cells: str) -> dict[str, str]:
    """'F M A D ...' in ROLES order."""
    values = cells.split()
    assert len(values) == len(ROLES), cells
    return dict(zip(ROLES, values, strict=True))


def classify(value: Any, full: Any, masked: Any) -> str:
    if value is None or value == "" or value == []:
        return "A"
    if value == full:
        return "F"
    if value == masked:
        return "M"
    return f"?{value!r}"


class Cast:
    """The people of the table, by role name, plus what the tests created."""

    def __init__(self, w: Any, **extra: User) -> None:
        self.w = w
        self.users: dict[str, User] = {
            "owner": w.resident,
            "neighbour": w.neighbour,
            "grid_worker": w.worker,
            "dept_staff": w.dept_staff,
            "community_admin": w.c1_admin,
            "other_community_admin": w.c2_admin,
            "subdistrict_admin": w.sub_admin,
            "superadmin": w.superadmin,
            **extra,
        }


@pytest.fixture
async def cast(session, w) -> Cast:  # type: ignore[no-untyped-def]
    other_worker = await make_user(
        session, (Role.GRID_WORKER, w.c2), grids=(w.g2,), phone="13700002222", display_name="网格员乙"
    )
    craftsman = await make_user(session, (Role.CRAFTSMAN, w.s1), phone=CRAFTSMAN_PHONE, display_name="王师傅")
    session.add(
        Craftsman(
            user_id=craftsman.id,
            subdistrict_id=w.s1.id,
            skills=["plumbing"],
            community_ids=[],
            max_active_orders=3,
        )
    )
    teacher = await make_user(session, (Role.TEACHER, w.c1), phone="13300003333", display_name="陈老师")
    await session.commit()
    return Cast(w, other_grid_worker=other_worker, craftsman=craftsman, teacher=teacher)


@pytest.fixture
def table(client, auth, cast):  # type: ignore[no-untyped-def]
    """Read `path` as every role and classify the fields `pick` takes out of each response."""

    async def _table(
        path: str, pick: Callable[[Any], dict[str, Any]], expected: dict[str, tuple[Any, Any]], **params: Any
    ) -> dict[str, dict[str, str]]:
        out: dict[str, dict[str, str]] = {field: {} for field in expected}
        for role in ROLES:
            query = {k: v(role) if callable(v) else v for k, v in params.items()}
            r = await client.get(path, headers=auth(cast.users[role]), params=query)
            if r.status_code in (403, 404):
                got = dict.fromkeys(expected, "D")
            else:
                assert r.status_code == 200, (role, r.text)
                values = pick(r.json())
                got = {f: classify(values.get(f), *expected[f]) for f in expected}
            for field, cell in got.items():
                out[field][role] = cell
        return out

    return _table


PHONE = (RESIDENT_PHONE, mask_phone(RESIDENT_PHONE))
ADDRESS = (RESIDENT_ADDRESS, mask_address(RESIDENT_ADDRESS))
CARE = ("living_alone", None)


def first(items: list[dict[str, Any]], **match: Any) -> dict[str, Any]:
    return next((i for i in items if all(i.get(k) == v for k, v in match.items())), {})


#                                     own nb  gw  ogw cr  te  dep cA  oCA sA  su


class TestAccounts:
    async def test_one_account(self, table, w) -> None:  # type: ignore[no-untyped-def]
        got = await table(
            f"/api/v1/users/{w.resident.id}",
            lambda b: {"phone": b["phone"], "address": b["address"], "care": b["care_category"]},
            {"phone": PHONE, "address": ADDRESS, "care": CARE},
        )
        assert got == {
            "phone": row("D   D   D   D   D   D   D   F   D   F   F"),
            "address": row("D   D   D   D   D   D   D   F   D   F   F"),
            "care": row("D   D   D   D   D   D   D   F   D   F   F"),
        }

    async def test_the_account_list(self, table, w) -> None:  # type: ignore[no-untyped-def]
        def pick(body: dict) -> dict:  # type: ignore[type-arg]
            me = first(body["items"], id=str(w.resident.id))
            return {"phone": me.get("phone"), "address": me.get("address"), "care": me.get("care_category")}

        got = await table(
            "/api/v1/users", pick, {"phone": PHONE, "address": ADDRESS, "care": CARE}, limit=100
        )
        assert got == {
            "phone": row("D   D   D   D   D   D   D   F   A   F   F"),
            "address": row("D   D   D   D   D   D   D   F   A   F   F"),
            "care": row("D   D   D   D   D   D   D   F   A   F   F"),
        }

    async def test_ones_own_profile(self, client, auth, w) -> None:  # type: ignore[no-untyped-def]
        body = (await client.get("/api/v1/me", headers=auth(w.resident))).json()
        assert (body["phone"], body["address"]) == (RESIDENT_PHONE, RESIDENT_ADDRESS)


class TestStaffNumbers:
    async def test_the_grid_roster(self, table, w) -> None:  # type: ignore[no-untyped-def]
        got = await table(
            f"/api/v1/grids/{w.g1.id}/workers",
            lambda b: {"phone": first(b, user_id=str(w.worker.id)).get("phone")},
            {"phone": (WORKER_PHONE, mask_phone(WORKER_PHONE))},
        )
        # The worker sees their own number masked here too (they know it): only the community's
        # administrators get it in full.
        assert got == {"phone": row("M   M   M   M   M   M   M   F   M   F   F")}

    async def test_the_craftsmen_list(self, table, w, cast) -> None:  # type: ignore[no-untyped-def]
        got = await table(
            "/api/v1/repairs/craftsmen",
            lambda b: {"phone": first(b, user_id=str(cast.users["craftsman"].id)).get("phone")},
            {"phone": (CRAFTSMAN_PHONE, mask_phone(CRAFTSMAN_PHONE))},
            subdistrict_id=str(w.s1.id),
        )
        # Administrative staff only; C2's admin sees the craftsmen serving C2 (this one serves the
        # whole subdistrict) to assign phone orders.
        assert got == {"phone": row("D   D   D   D   D   D   D   F   F   F   F")}


class TestTickets:
    async def test_a_reported_problem(self, table, w, report) -> None:  # type: ignore[no-untyped-def]
        t = await report(w.resident, address=RESIDENT_ADDRESS)
        got = await table(
            f"/api/v1/tickets/{t['id']}",
            lambda b: {"phone": (b.get("reporter") or {}).get("phone"), "address": b["address"]},
            {"phone": PHONE, "address": ADDRESS},
        )
        assert got == {
            # The grid's worker sees who reported, masked until they take the ticket.
            "phone": row("F   A   M   A   A   A   A   F   A   F   F"),
            "address": row("F   M   F   M   M   M   M   F   M   F   F"),
        }

    async def test_once_taken_the_handler_sees_the_full_number(self, table, w, report, act) -> None:  # type: ignore[no-untyped-def]
        t = await report(w.resident, address=RESIDENT_ADDRESS)
        await act(t["id"], "claim", w.worker)
        got = await table(
            f"/api/v1/tickets/{t['id']}",
            lambda b: {"phone": (b.get("reporter") or {}).get("phone")},
            {"phone": PHONE},
        )
        assert got == {"phone": row("F   A   F   A   A   A   A   F   A   F   F")}

    async def test_the_ticket_list(self, table, w, report) -> None:  # type: ignore[no-untyped-def]
        t = await report(w.resident, address=RESIDENT_ADDRESS)
        got = await table(
            "/api/v1/tickets",
            lambda b: {"address": first(b["items"], id=t["id"]).get("address")},
            {"address": ADDRESS},
            # Each role's own list: what they reported, their grids' queue, or their whole area.
            view=lambda role: {"owner": "mine", "neighbour": "mine"}.get(
                role, "queue" if "grid_worker" in role else "all"
            ),
            limit=100,
        )
        assert got == {"address": row("F   A   F   A   D   D   A   F   A   F   F")}


class TestRepairOrders:
    async def test_an_order(self, client, auth, table, w) -> None:  # type: ignore[no-untyped-def]
        r = await client.post(
            "/api/v1/repairs/orders",
            json={"category": "plumbing", "description": "厨房水龙头一直滴水"},
            headers=auth(w.resident),
        )
        assert r.status_code == 201, r.text
        got = await table(
            f"/api/v1/repairs/orders/{r.json()['id']}",
            lambda b: {
                "phone": (b.get("contact") or {}).get("phone"),
                "address": b["address"],
                "care": b.get("care_category"),
            },
            {"phone": PHONE, "address": ADDRESS, "care": CARE},
        )
        # A craftsman browsing the pool sees what and roughly where, not who.
        assert got == {
            "phone": row("F   D   D   D   A   D   D   F   D   F   F"),
            "address": row("F   D   D   D   M   D   D   F   D   F   F"),
            "care": row("F   D   D   D   A   D   D   F   D   F   F"),
        }


class TestCourses:
    async def test_a_roster(self, session, clock, table, w, cast) -> None:  # type: ignore[no-untyped-def]
        cls = await make_class(session, w, at=clock.now() + timedelta(days=2))
        su = await make_signup(session, cls, by=w.resident, learner=w.resident)
        learner = await session.scalar(select(Attendee).where(Attendee.user_id == w.resident.id))
        learner.age = 78
        await session.commit()
        got = await table(
            f"/api/v1/courses/sessions/{cls.session.id}/signups",
            lambda b: {
                "phone": first(b, id=str(su.id)).get("attendee", {}).get("phone"),
                "age": first(b, id=str(su.id)).get("attendee", {}).get("age"),
            },
            {"phone": PHONE, "age": (78, None)},
        )
        assert got == {
            "phone": row("D   D   D   D   D   M   D   F   D   F   F"),
            "age": row("D   D   D   D   D   F   D   F   D   F   F"),
        }

    async def test_a_help_request(self, client, auth, table, w) -> None:  # type: ignore[no-untyped-def]
        r = await client.post(
            "/api/v1/courses/help-requests",
            json={"topic": "wechat", "description": "不会用微信视频"},
            headers=auth(w.resident),
        )
        assert r.status_code == 201, r.text
        got = await table(
            f"/api/v1/courses/help-requests/{r.json()['id']}",
            lambda b: {"phone": b["attendee"]["phone"]},
            {"phone": PHONE},
        )
        assert got == {"phone": row("F   D   D   D   D   M   D   F   D   F   F")}
