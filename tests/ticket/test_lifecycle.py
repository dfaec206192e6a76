"""The ticket lifecycle over HTTP: one endpoint per action, who may take it, what it stores,
the timeline it writes, the 10-minute clock, the worker queue, points and notifications."""

import io
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from PIL import Image
from sqlalchemy import select

from app.auth.permissions import Role
from app.notification.models import Notification
from app.org import geo
from app.ticket.models import PointsEntry
from app.user.models import User
from tests.factories import make_department, make_user
from tests.ticket.conftest import IN_G1

TICKETS = "/api/v1/tickets"


@dataclass
class Crew:
    """People beyond the world's one per role."""

    worker2: User  # a second grid worker of G1
    floater: User  # a grid worker of C1 bound to no grid
    c2_worker: User  # a grid worker of C2 on G2
    part_timer: User  # a part-time grid worker (courier) of C1
    other_dept_staff: User  # staff of another department of S1
    s2_dept_id: uuid.UUID  # a department of the other subdistrict


@pytest.fixture
async def crew(session, w) -> Crew:  # type: ignore[no-untyped-def]
    other_dept = await make_department(session, w.s1, name="市政")
    s2_dept = await make_department(session, w.s2, name="S2 城管")
    crew = Crew(
        worker2=await make_user(session, (Role.GRID_WORKER, w.c1), grids=(w.g1,), display_name="网格员二"),
        floater=await make_user(session, (Role.GRID_WORKER, w.c1), display_name="机动网格员"),
        c2_worker=await make_user(session, (Role.GRID_WORKER, w.c2), grids=(w.g2,), display_name="C2 网格员"),
        part_timer=await make_user(
            session, (Role.GRID_WORKER, w.c1), part_time=True, display_name="快递小哥"
        ),
        other_dept_staff=await make_user(session, (Role.DEPARTMENT_STAFF, other_dept)),
        s2_dept_id=s2_dept.id,
    )
    await session.commit()
    return crew


@pytest.fixture
def act(client, auth):  # type: ignore[no-untyped-def]
    """POST /tickets/{id}/<path> as `user`."""

    async def _act(tid: str, path: str, user, body=None):  # type: ignore[no-untyped-def]
        return await client.post(f"{TICKETS}/{tid}/{path}", json=body, headers=auth(user))

    return _act


@pytest.fixture
def ok(act):  # type: ignore[no-untyped-def]
    """Take an action that must succeed; returns the ticket."""

    async def _ok(tid: str, path: str, user, body=None) -> dict:  # type: ignore[no-untyped-def]
        r = await act(tid, path, user, body)
        assert r.status_code == 200, r.text
        return r.json()

    return _ok


@pytest.fixture
def new(report):  # type: ignore[no-untyped-def]
    async def _new(user=None, **fields) -> str:  # type: ignore[no-untyped-def]
        r = await report(user, **fields)
        assert r.status_code == 201, r.text
        return r.json()["id"]

    return _new


@pytest.fixture
def get(client, auth):  # type: ignore[no-untyped-def]
    async def _get(tid: str, user) -> dict:  # type: ignore[no-untyped-def]
        r = await client.get(f"{TICKETS}/{tid}", headers=auth(user))
        assert r.status_code == 200, r.text
        return r.json()

    return _get


async def notified(session, user: User, tid: str) -> list[str]:  # type: ignore[no-untyped-def]
    rows = await session.scalars(
        select(Notification.kind)
        .where(Notification.user_id == user.id, Notification.ticket_id == uuid.UUID(tid))
        .order_by(Notification.created_at)
    )
    return list(rows)


def at(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def code(r) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    return r.status_code, r.json()["code"]


def point(north_m: float = 0.0, system: str = "wgs84") -> dict:
    lat, lng = IN_G1["lat"] + north_m / 111_200, IN_G1["lng"]
    if system == "gcj02":
        lat, lng = geo.from_wgs84(lat, lng, geo.CoordSystem.GCJ02)
    return {"lat": lat, "lng": lng, "coord_system": system}


async def upload(client, headers, seed: int) -> str:  # type: ignore[no-untyped-def]
    buf = io.BytesIO()
    Image.new("RGB", (40, 30), (seed * 53 % 256, 200, seed * 17 % 256)).save(buf, format="JPEG")
    r = await client.post(
        "/api/v1/uploads", files={"file": ("a.jpg", buf.getvalue(), "image/jpeg")}, headers=headers
    )
    assert r.status_code == 201, r.text
    return r.json()["id"]


class TestClaim:
    async def test_a_grid_worker_of_the_grid_claims_and_the_response_clock_stops(  # type: ignore[no-untyped-def]
        self, new, ok, clock, session, w
    ) -> None:
        tid = await new()
        clock.advance(timedelta(minutes=3))
        t = await ok(tid, "claim", w.worker)
        assert t["status"] == "claimed" and t["assignee_id"] == str(w.worker.id)
        assert t["assignee"]["display_name"] == "网格员"
        assert at(t["responded_at"]) == clock.now()
        assert t["seconds_to_respond"] is None and t["response_overdue"] is False
        assert t["seconds_to_resolve"] == 72 * 3600 - 180
        last = t["timeline"][-1]
        assert (last["action"], last["from_status"], last["to_status"]) == ("claim", "submitted", "claimed")
        assert last["actor"]["id"] == str(w.worker.id) and at(last["at"]) == clock.now()
        assert await notified(session, w.resident, tid) == ["ticket.claimed"]

    async def test_a_second_claim_is_already_claimed(self, new, ok, act, get, w, crew) -> None:  # type: ignore[no-untyped-def]
        tid = await new()
        await ok(tid, "claim", w.worker)
        assert code(await act(tid, "claim", crew.worker2)) == (409, "ticket.already_claimed")
        assert code(await act(tid, "claim", w.worker)) == (409, "ticket.already_claimed")
        t = await get(tid, w.c1_admin)
        assert t["assignee_id"] == str(w.worker.id)
        assert [e["action"] for e in t["timeline"]].count("claim") == 1

    async def test_a_claim_after_the_deadline_is_recorded_as_late(self, new, ok, clock, w) -> None:  # type: ignore[no-untyped-def]
        tid = await new()
        clock.advance(timedelta(minutes=12))
        t = await ok(tid, "claim", w.worker)
        assert t["response_overdue"] is True and at(t["responded_at"]) == clock.now()

    async def test_workers_not_bound_to_the_grid_cannot_even_see_it(self, new, act, w, crew) -> None:  # type: ignore[no-untyped-def]
        tid = await new()
        assert code(await act(tid, "claim", crew.floater)) == (404, "ticket.not_found")
        assert code(await act(tid, "claim", crew.c2_worker)) == (404, "ticket.not_found")

    async def test_an_admin_assigns_rather_than_claims(self, new, act, w) -> None:  # type: ignore[no-untyped-def]
        tid = await new()
        r = await act(tid, "claim", w.c1_admin)
        assert code(r) == (403, "ticket.action_not_allowed")
        assert r.json()["details"] == {"action": "claim"}

    async def test_any_grid_worker_of_the_community_claims_from_the_duty_queue(
        self, new, ok, act, w, crew
    ) -> None:  # type: ignore[no-untyped-def]
        tid = await new(location=None, address="小区北门")
        assert code(await act(tid, "claim", crew.c2_worker)) == (404, "ticket.not_found")
        t = await ok(tid, "claim", crew.floater)
        assert t["grid_id"] is None and t["assignee_id"] == str(crew.floater.id)


class TestAssign:
    async def test_a_community_admin_assigns_to_a_grid_worker_of_the_community(  # type: ignore[no-untyped-def]
        self, new, ok, get, clock, session, w, crew
    ) -> None:
        tid = await new()
        clock.advance(timedelta(minutes=2))
        t = await ok(
            tid, "assign", w.c1_admin, {"worker_id": str(crew.floater.id), "note": "请机动网格员处理"}
        )
        assert t["status"] == "claimed" and t["assignee_id"] == str(crew.floater.id)
        assert at(t["responded_at"]) == clock.now()
        last = t["timeline"][-1]
        assert (last["action"], last["actor"]["id"], last["note"]) == (
            "assign",
            str(w.c1_admin.id),
            "请机动网格员处理",
        )
        assert last["data"]["worker_id"] == str(crew.floater.id)
        assert await notified(session, crew.floater, tid) == ["ticket.assigned"]
        assert await notified(session, w.resident, tid) == ["ticket.claimed"]
        # The assignee now handles it although G1 is not their grid.
        assert (await get(tid, crew.floater))["is_full_view"] is True
        await ok(tid, "arrive", crew.floater, point())

    async def test_reassigning_records_the_previous_assignee(self, new, ok, w, crew) -> None:  # type: ignore[no-untyped-def]
        tid = await new()
        await ok(tid, "claim", w.worker)
        await ok(tid, "arrive", w.worker, point())
        t = await ok(tid, "assign", w.sub_admin, {"worker_id": str(crew.worker2.id)})
        assert (t["status"], t["assignee_id"]) == ("claimed", str(crew.worker2.id))
        assert t["timeline"][-1]["data"]["previous_assignee_id"] == str(w.worker.id)
        assert t["timeline"][-1]["from_status"] == "on_site"

    @pytest.mark.parametrize("who", ["c2_worker", "resident", "c1_admin", "nobody"])
    async def test_only_a_grid_worker_of_the_community_can_be_assigned(
        self, new, act, get, w, crew, who
    ) -> None:  # type: ignore[no-untyped-def]
        tid = await new()
        user_id = {
            "c2_worker": crew.c2_worker.id,
            "resident": w.resident.id,
            "c1_admin": w.c1_admin.id,
            "nobody": uuid.uuid4(),
        }[who]
        r = await act(tid, "assign", w.c1_admin, {"worker_id": str(user_id)})
        assert code(r) == (422, "ticket.worker_not_eligible")
        t = await get(tid, w.c1_admin)
        assert (t["status"], t["assignee_id"], len(t["timeline"])) == ("submitted", None, 1)

    async def test_a_grid_worker_cannot_assign(self, new, act, w, crew) -> None:  # type: ignore[no-untyped-def]
        tid = await new()
        r = await act(tid, "assign", w.worker, {"worker_id": str(crew.worker2.id)})
        assert code(r) == (403, "ticket.action_not_allowed")

    async def test_an_admin_of_another_community_does_not_see_the_ticket(self, new, act, w) -> None:  # type: ignore[no-untyped-def]
        tid = await new()
        r = await act(tid, "assign", w.c2_admin, {"worker_id": str(w.worker.id)})
        assert code(r) == (404, "ticket.not_found")


class TestArrive:
    async def test_checking_in_nearby_stores_the_distance(self, new, ok, clock, session, w) -> None:  # type: ignore[no-untyped-def]
        tid = await new()
        await ok(tid, "claim", w.worker)
        clock.advance(timedelta(minutes=8))
        t = await ok(tid, "arrive", w.worker, {**point(north_m=50), "note": "已到现场"})
        assert t["status"] == "on_site" and at(t["arrived_at"]) == clock.now()
        assert t["arrival_distance_m"] == pytest.approx(50, abs=1) and t["arrival_far"] is False
        last = t["timeline"][-1]
        assert (last["action"], last["note"]) == ("arrive", "已到现场")
        assert last["location"]["lat"] == pytest.approx(point(north_m=50)["lat"])
        assert last["data"]["far"] is False
        assert await notified(session, w.resident, tid) == ["ticket.claimed", "ticket.arrived"]

    async def test_checking_in_more_than_300_metres_away_is_flagged(self, new, ok, w) -> None:  # type: ignore[no-untyped-def]
        tid = await new()
        await ok(tid, "claim", w.worker)
        t = await ok(tid, "arrive", w.worker, point(north_m=500))
        assert t["arrival_distance_m"] == pytest.approx(500, abs=2) and t["arrival_far"] is True

    async def test_a_gcj02_check_in_is_converted_before_measuring(self, new, ok, w) -> None:  # type: ignore[no-untyped-def]
        tid = await new()
        await ok(tid, "claim", w.worker)
        t = await ok(tid, "arrive", w.worker, point(system="gcj02"))
        assert t["arrival_distance_m"] == pytest.approx(0, abs=1) and t["arrival_far"] is False

    async def test_only_the_handler_checks_in(self, new, ok, act, w, crew) -> None:  # type: ignore[no-untyped-def]
        tid = await new()
        assert code(await act(tid, "arrive", w.worker, point())) == (403, "ticket.action_not_allowed")
        await ok(tid, "claim", w.worker)
        assert code(await act(tid, "arrive", crew.worker2, point())) == (403, "ticket.action_not_allowed")
        assert code(await act(tid, "arrive", w.c1_admin, point())) == (403, "ticket.action_not_allowed")

    async def test_checking_in_twice_is_an_invalid_transition(self, new, ok, act, w) -> None:  # type: ignore[no-untyped-def]
        tid = await new()
        await ok(tid, "claim", w.worker)
        await ok(tid, "arrive", w.worker, point())
        r = await act(tid, "arrive", w.worker, point())
        assert code(r) == (409, "ticket.invalid_transition")
        assert r.json()["details"] == {"status": "on_site", "action": "arrive"}


class TestResolve:
    async def test_the_handler_resolves_with_a_note_and_after_photos(  # type: ignore[no-untyped-def]
        self, client, auth, new, ok, get, clock, session, w
    ) -> None:
        tid = await new()
        await ok(tid, "claim", w.worker)
        photos = [await upload(client, auth(w.worker), i) for i in (1, 2)]
        clock.advance(timedelta(hours=1))
        t = await ok(tid, "resolve", w.worker, {"note": "井盖已更换", "photo_ids": photos})
        assert t["status"] == "resolved" and at(t["resolved_at"]) == clock.now()
        assert t["seconds_to_resolve"] is None and t["resolve_overdue"] is False
        assert [p["id"] for p in t["after_photos"]] == photos and t["photos"] == []
        last = t["timeline"][-1]
        assert (last["action"], last["note"], [p["id"] for p in last["photos"]]) == (
            "resolve",
            "井盖已更换",
            photos,
        )
        assert "ticket.resolved" in await notified(session, w.resident, tid)
        # The reporter sees the result.
        assert [p["id"] for p in (await get(tid, w.resident))["after_photos"]] == photos

    async def test_after_photos_must_be_the_handlers_own(self, client, auth, new, ok, act, get, w) -> None:  # type: ignore[no-untyped-def]
        tid = await new()
        await ok(tid, "claim", w.worker)
        theirs = await upload(client, auth(w.resident), 3)
        r = await act(tid, "resolve", w.worker, {"note": "已修好", "photo_ids": [theirs]})
        assert code(r) == (403, "ticket.photo_not_yours")
        r = await act(tid, "resolve", w.worker, {"note": "已修好", "photo_ids": [str(uuid.uuid4())]})
        assert code(r) == (422, "ticket.photo_not_found")
        assert (await get(tid, w.worker))["status"] == "claimed"

    async def test_a_note_is_required(self, new, ok, act, w) -> None:  # type: ignore[no-untyped-def]
        tid = await new()
        await ok(tid, "claim", w.worker)
        assert code(await act(tid, "resolve", w.worker, {"note": " "})) == (422, "request.invalid")
        assert code(await act(tid, "resolve", w.worker, {})) == (422, "request.invalid")

    async def test_an_admin_may_resolve_a_handled_ticket_but_not_an_unclaimed_one(
        self, new, ok, act, w
    ) -> None:  # type: ignore[no-untyped-def]
        tid = await new()
        r = await act(tid, "resolve", w.c1_admin, {"note": "已处理"})
        assert code(r) == (409, "ticket.invalid_transition")
        await ok(tid, "claim", w.worker)
        assert (await ok(tid, "resolve", w.c1_admin, {"note": "已处理"}))["status"] == "resolved"


class TestEscalation:
    async def escalated(self, new, ok, w) -> str:  # type: ignore[no-untyped-def]
        tid = await new()
        await ok(tid, "claim", w.worker)
        await ok(tid, "escalate", w.worker, {"department_id": str(w.dept.id), "note": "井盖属市政设施"})
        return tid

    async def test_the_handler_blows_the_whistle_to_a_department_of_the_subdistrict(  # type: ignore[no-untyped-def]
        self, new, ok, get, clock, session, w
    ) -> None:
        tid = await new()
        await ok(tid, "claim", w.worker)
        clock.advance(timedelta(minutes=30))
        t = await ok(tid, "escalate", w.worker, {"department_id": str(w.dept.id), "note": "井盖属市政设施"})
        assert (t["status"], t["department_id"], t["assignee_id"]) == (
            "escalated",
            str(w.dept.id),
            str(w.worker.id),
        )
        assert t["timeline"][-1]["data"]["department_id"] == str(w.dept.id)
        assert await notified(session, w.dept_staff, tid) == ["ticket.escalated"]
        assert "ticket.escalated" in await notified(session, w.c1_admin, tid)
        assert (await get(tid, w.dept_staff))["is_full_view"] is True

    async def test_a_department_of_another_subdistrict_is_not_eligible(
        self, new, ok, act, get, w, crew
    ) -> None:  # type: ignore[no-untyped-def]
        tid = await new()
        await ok(tid, "claim", w.worker)
        for dept in (crew.s2_dept_id, uuid.uuid4()):
            r = await act(tid, "escalate", w.worker, {"department_id": str(dept), "note": "请处理"})
            assert code(r) == (422, "ticket.department_not_eligible")
        assert (await get(tid, w.worker))["status"] == "claimed"

    async def test_an_admin_escalates_straight_from_the_queue_and_follows_it_up(self, new, ok, w) -> None:  # type: ignore[no-untyped-def]
        tid = await new()
        t = await ok(tid, "escalate", w.c1_admin, {"department_id": str(w.dept.id), "note": "请部门处理"})
        assert (t["status"], t["assignee_id"]) == ("escalated", str(w.c1_admin.id))
        assert t["responded_at"] is not None and t["seconds_to_respond"] is None

    async def test_a_resident_cannot_escalate(self, new, act, w) -> None:  # type: ignore[no-untyped-def]
        tid = await new()
        r = await act(tid, "escalate", w.resident, {"department_id": str(w.dept.id), "note": "我要吹哨"})
        assert code(r) == (403, "ticket.action_not_allowed")

    async def test_only_that_departments_staff_accept_and_resolve(
        self, new, ok, act, session, w, crew
    ) -> None:  # type: ignore[no-untyped-def]
        tid = await self.escalated(new, ok, w)
        assert code(await act(tid, "accept-escalation", crew.other_dept_staff, {})) == (
            404,
            "ticket.not_found",
        )
        assert code(await act(tid, "accept-escalation", w.c1_admin, {})) == (403, "ticket.action_not_allowed")
        assert code(await act(tid, "accept-escalation", w.worker, {})) == (403, "ticket.action_not_allowed")
        assert code(await act(tid, "department-resolve", w.dept_staff, {"note": "已处理"})) == (
            409,
            "ticket.invalid_transition",
        )
        t = await ok(tid, "accept-escalation", w.dept_staff, {"note": "城管中队已报到"})
        assert t["status"] == "department_handling"
        assert "ticket.department_accepted" in await notified(session, w.worker, tid)
        assert code(await act(tid, "department-resolve", w.worker, {"note": "已处理"})) == (
            403,
            "ticket.action_not_allowed",
        )
        t = await ok(tid, "department-resolve", w.dept_staff, {"note": "已更换井盖"})
        assert t["status"] == "department_done"
        assert "ticket.department_done" in await notified(session, w.worker, tid)
        assert "ticket.department_done" in await notified(session, w.c1_admin, tid)

    async def test_the_community_closes_out_after_the_department(self, new, ok, act, w) -> None:  # type: ignore[no-untyped-def]
        """销号: the community resolves a ticket the department has finished."""
        tid = await self.escalated(new, ok, w)
        await ok(tid, "accept-escalation", w.dept_staff, {})
        await ok(tid, "department-resolve", w.dept_staff, {"note": "已更换井盖"})
        assert code(await act(tid, "resolve", w.dept_staff, {"note": "销号"})) == (
            403,
            "ticket.action_not_allowed",
        )
        t = await ok(tid, "resolve", w.worker, {"note": "已核实，销号"})
        assert t["status"] == "resolved" and t["timeline"][-1]["from_status"] == "department_done"

    async def test_an_admin_recalls_an_escalation(self, new, ok, act, get, session, w) -> None:  # type: ignore[no-untyped-def]
        tid = await self.escalated(new, ok, w)
        assert code(await act(tid, "recall", w.worker, {})) == (403, "ticket.action_not_allowed")
        assert code(await act(tid, "recall", w.dept_staff, {})) == (403, "ticket.action_not_allowed")
        t = await ok(tid, "recall", w.c1_admin, {"note": "社区自行处理"})
        assert (t["status"], t["department_id"], t["assignee_id"]) == ("claimed", None, str(w.worker.id))
        assert t["timeline"][-1]["data"]["department_id"] == str(w.dept.id)
        assert await notified(session, w.dept_staff, tid) == ["ticket.escalated", "ticket.recalled"]
        # The department no longer sees the private parts.
        assert (await get(tid, w.dept_staff))["is_full_view"] is False
        assert code(await act(tid, "accept-escalation", w.dept_staff, {})) == (404, "ticket.not_found")

    async def test_a_recall_also_works_while_the_department_is_handling(self, new, ok, w) -> None:  # type: ignore[no-untyped-def]
        tid = await self.escalated(new, ok, w)
        await ok(tid, "accept-escalation", w.dept_staff, {})
        assert (await ok(tid, "recall", w.sub_admin, {}))["status"] == "claimed"

    async def test_no_recall_once_the_department_is_done(self, new, ok, act, w) -> None:  # type: ignore[no-untyped-def]
        tid = await self.escalated(new, ok, w)
        await ok(tid, "accept-escalation", w.dept_staff, {})
        await ok(tid, "department-resolve", w.dept_staff, {"note": "已处理"})
        assert code(await act(tid, "recall", w.c1_admin, {})) == (409, "ticket.invalid_transition")


class TestReject:
    async def test_the_handler_rejects_with_a_reason(self, new, ok, session, w) -> None:  # type: ignore[no-untyped-def]
        tid = await new()
        await ok(tid, "claim", w.worker)
        t = await ok(tid, "reject", w.worker, {"reason": "现场核实无此问题"})
        assert t["status"] == "rejected" and t["seconds_to_resolve"] is None
        last = t["timeline"][-1]
        assert (last["action"], last["from_status"], last["to_status"], last["note"]) == (
            "reject",
            "claimed",
            "rejected",
            "现场核实无此问题",
        )
        assert "ticket.rejected" in await notified(session, w.resident, tid)

    async def test_a_reason_is_required(self, new, act, w) -> None:  # type: ignore[no-untyped-def]
        tid = await new()
        assert code(await act(tid, "reject", w.c1_admin, {})) == (422, "request.invalid")
        assert code(await act(tid, "reject", w.c1_admin, {"reason": ""})) == (422, "request.invalid")

    async def test_an_unclaimed_report_is_rejected_by_an_admin_not_by_a_grid_worker(
        self, new, ok, act, w
    ) -> None:  # type: ignore[no-untyped-def]
        tid = await new()
        assert code(await act(tid, "reject", w.worker, {"reason": "无效"})) == (
            403,
            "ticket.action_not_allowed",
        )
        assert (await ok(tid, "reject", w.c1_admin, {"reason": "无效"}))["status"] == "rejected"

    async def test_a_rejected_ticket_is_finished(self, new, ok, act, w) -> None:  # type: ignore[no-untyped-def]
        tid = await new()
        await ok(tid, "reject", w.c1_admin, {"reason": "无效"})
        assert code(await act(tid, "claim", w.worker)) == (409, "ticket.finished")
        assert code(await act(tid, "reopen", w.resident, {"reason": "还有问题"})) == (409, "ticket.finished")


class TestConfirm:
    async def resolved(self, new, ok, w) -> str:  # type: ignore[no-untyped-def]
        tid = await new()
        await ok(tid, "claim", w.worker)
        await ok(tid, "resolve", w.worker, {"note": "已修好"})
        return tid

    @pytest.mark.parametrize("rating", [1, 2, 3, 4, 5])
    async def test_the_reporter_confirms_with_a_rating_from_1_to_5(
        self, new, ok, clock, session, w, rating
    ) -> None:  # type: ignore[no-untyped-def]
        tid = await self.resolved(new, ok, w)
        clock.advance(timedelta(hours=2))
        t = await ok(tid, "confirm", w.resident, {"rating": rating, "comment": "谢谢网格员"})
        assert (t["status"], t["rating"], t["rating_comment"]) == ("closed", rating, "谢谢网格员")
        assert at(t["closed_at"]) == clock.now()
        last = t["timeline"][-1]
        assert (last["action"], last["actor"]["id"], last["data"]["rating"]) == (
            "confirm",
            str(w.resident.id),
            rating,
        )
        assert "ticket.rated" in await notified(session, w.worker, tid)

    @pytest.mark.parametrize("rating", [0, 6, -1, "五"])
    async def test_a_rating_outside_1_to_5_is_invalid(self, new, ok, act, get, w, rating) -> None:  # type: ignore[no-untyped-def]
        tid = await self.resolved(new, ok, w)
        assert code(await act(tid, "confirm", w.resident, {"rating": rating})) == (422, "request.invalid")
        assert (await get(tid, w.resident))["status"] == "resolved"

    async def test_only_the_reporter_confirms(self, new, ok, act, w) -> None:  # type: ignore[no-untyped-def]
        tid = await self.resolved(new, ok, w)
        for staff in (w.worker, w.c1_admin, w.superadmin):
            assert code(await act(tid, "confirm", staff, {"rating": 5})) == (403, "ticket.action_not_allowed")
        assert code(await act(tid, "confirm", w.other_resident, {"rating": 5})) == (404, "ticket.not_found")

    async def test_confirming_before_it_is_resolved_is_an_invalid_transition(self, new, ok, act, w) -> None:  # type: ignore[no-untyped-def]
        tid = await new()
        await ok(tid, "claim", w.worker)
        assert code(await act(tid, "confirm", w.resident, {"rating": 5})) == (
            409,
            "ticket.invalid_transition",
        )


class TestReopen:
    async def resolved(self, new, ok, w) -> str:  # type: ignore[no-untyped-def]
        tid = await new()
        await ok(tid, "claim", w.worker)
        await ok(tid, "resolve", w.worker, {"note": "已修好"})
        return tid

    async def test_reopening_within_the_window_restarts_the_resolve_clock_and_tells_the_handler(  # type: ignore[no-untyped-def]
        self, new, ok, clock, session, w
    ) -> None:
        tid = await self.resolved(new, ok, w)
        clock.advance(timedelta(days=2))
        t = await ok(tid, "reopen", w.resident, {"reason": "井盖又松了"})
        assert (t["status"], t["assignee_id"], t["reopen_count"]) == ("claimed", str(w.worker.id), 1)
        assert at(t["resolve_by"]) == clock.now() + timedelta(hours=72)
        assert t["seconds_to_resolve"] == 72 * 3600 and t["resolved_at"] is None
        last = t["timeline"][-1]
        assert (last["action"], last["from_status"], last["to_status"], last["note"]) == (
            "reopen",
            "resolved",
            "claimed",
            "井盖又松了",
        )
        assert "ticket.reopened" in await notified(session, w.worker, tid)
        assert "ticket.reopened" in await notified(session, w.c1_admin, tid)
        # Worked again, it can be resolved again.
        assert (await ok(tid, "resolve", w.worker, {"note": "重新固定"}))["status"] == "resolved"

    async def test_a_closed_ticket_can_be_reopened_and_loses_its_rating(self, new, ok, clock, w) -> None:  # type: ignore[no-untyped-def]
        tid = await self.resolved(new, ok, w)
        await ok(tid, "confirm", w.resident, {"rating": 5})
        clock.advance(timedelta(days=6))
        t = await ok(tid, "reopen", w.resident, {"reason": "又坏了"})
        assert (t["status"], t["rating"], t["closed_at"]) == ("claimed", None, None)

    async def test_after_the_window_a_reopen_is_refused(self, new, ok, act, get, clock, w) -> None:  # type: ignore[no-untyped-def]
        tid = await self.resolved(new, ok, w)
        clock.advance(timedelta(hours=168, seconds=1))
        r = await act(tid, "reopen", w.resident, {"reason": "又坏了"})
        assert code(r) == (409, "ticket.reopen_window_passed")
        assert (await get(tid, w.resident))["status"] == "resolved"

    async def test_only_the_reporter_reopens(self, new, ok, act, w) -> None:  # type: ignore[no-untyped-def]
        tid = await self.resolved(new, ok, w)
        assert code(await act(tid, "reopen", w.c1_admin, {"reason": "复查"})) == (
            403,
            "ticket.action_not_allowed",
        )

    async def test_an_open_ticket_cannot_be_reopened(self, new, act, w) -> None:  # type: ignore[no-untyped-def]
        tid = await new()
        assert code(await act(tid, "reopen", w.resident, {"reason": "复查"})) == (
            409,
            "ticket.invalid_transition",
        )


class TestOutsiders:
    @pytest.mark.parametrize("who", ["other_resident", "c2_admin", "s2_admin", "dept_staff"])
    @pytest.mark.parametrize(
        ("path", "body"),
        [
            ("claim", None),
            ("assign", {"worker_id": "WORKER"}),
            ("reject", {"reason": "无效"}),
            ("escalate", {"department_id": "DEPT", "note": "请处理"}),
            ("merge", {"into_ticket_id": "SELF"}),
            ("recall", {}),
        ],
    )
    async def test_someone_who_cannot_see_the_ticket_gets_404(self, new, act, w, who, path, body) -> None:  # type: ignore[no-untyped-def]
        tid = await new()
        fill = {"WORKER": str(w.worker.id), "DEPT": str(w.dept.id), "SELF": tid}
        body = {k: fill.get(v, v) for k, v in body.items()} if body else body
        assert code(await act(tid, path, getattr(w, who), body)) == (404, "ticket.not_found")

    @pytest.mark.parametrize(
        ("path", "who"), [("claim", "sub_admin"), ("confirm", "worker"), ("recall", "worker")]
    )
    async def test_someone_who_sees_it_but_may_not_act_gets_403(self, new, act, w, path, who) -> None:  # type: ignore[no-untyped-def]
        tid = await new()
        body = {"rating": 5} if path == "confirm" else ({} if path == "recall" else None)
        assert code(await act(tid, path, getattr(w, who), body)) == (403, "ticket.action_not_allowed")

    async def test_an_unknown_ticket_is_404(self, act, w) -> None:  # type: ignore[no-untyped-def]
        assert code(await act(str(uuid.uuid4()), "claim", w.worker)) == (404, "ticket.not_found")

    async def test_an_anonymous_caller_is_401(self, client, new) -> None:  # type: ignore[no-untyped-def]
        tid = await new()
        assert (await client.post(f"{TICKETS}/{tid}/claim")).status_code == 401

    async def test_status_never_changes_through_patch(self, client, auth, new, w) -> None:  # type: ignore[no-untyped-def]
        tid = await new()
        r = await client.patch(f"{TICKETS}/{tid}", json={"status": "closed"}, headers=auth(w.superadmin))
        assert r.status_code == 405


class TestTimeline:
    async def test_every_transition_is_recorded_in_order_with_actor_statuses_and_note(  # type: ignore[no-untyped-def]
        self, new, ok, get, clock, w
    ) -> None:
        tid = await new()
        steps = [
            ("claim", w.worker, None),
            ("arrive", w.worker, {**point(), "note": "到了"}),
            ("escalate", w.worker, {"department_id": str(w.dept.id), "note": "需要市政"}),
            ("accept-escalation", w.dept_staff, {"note": "报到"}),
            ("department-resolve", w.dept_staff, {"note": "部门已修"}),
            ("resolve", w.worker, {"note": "销号"}),
            ("confirm", w.resident, {"rating": 4, "comment": "满意"}),
        ]
        for path, user, body in steps:
            clock.advance(timedelta(minutes=1))
            await ok(tid, path, user, body)
        timeline = (await get(tid, w.c1_admin))["timeline"]
        rows = [
            (e["action"], e["actor"]["id"], e["from_status"], e["to_status"], e["note"]) for e in timeline
        ]
        assert rows == [
            ("create", str(w.resident.id), None, "submitted", None),
            ("claim", str(w.worker.id), "submitted", "claimed", None),
            ("arrive", str(w.worker.id), "claimed", "on_site", "到了"),
            ("escalate", str(w.worker.id), "on_site", "escalated", "需要市政"),
            ("accept_escalation", str(w.dept_staff.id), "escalated", "department_handling", "报到"),
            (
                "department_resolve",
                str(w.dept_staff.id),
                "department_handling",
                "department_done",
                "部门已修",
            ),
            ("resolve", str(w.worker.id), "department_done", "resolved", "销号"),
            ("confirm", str(w.resident.id), "resolved", "closed", "满意"),
        ]
        times = [at(e["at"]) for e in timeline]
        assert times == sorted(times) and times[-1] == clock.now()

    async def test_the_public_sees_staff_steps_but_not_the_reporters_words(self, new, ok, get, w) -> None:  # type: ignore[no-untyped-def]
        tid = await new()
        await ok(tid, "claim", w.worker)
        await ok(tid, "resolve", w.worker, {"note": "已修好"})
        await ok(tid, "reopen", w.resident, {"reason": "住在301，还是坏的"})
        public = (await get(tid, w.other_resident))["timeline"]
        assert [(e["action"], e["actor"] and e["actor"]["display_name"], e["note"]) for e in public] == [
            ("create", None, None),
            ("claim", "网格员", None),
            ("resolve", "网格员", "已修好"),
            ("reopen", None, None),
        ]


class TestResponseClock:
    async def test_seconds_to_respond_count_down_with_the_clock(
        self, client, auth, new, get, clock, w
    ) -> None:  # type: ignore[no-untyped-def]
        tid = await new()
        assert (await get(tid, w.worker))["seconds_to_respond"] == 600
        clock.advance(timedelta(minutes=3))
        t = await get(tid, w.worker)
        assert (t["seconds_to_respond"], t["response_overdue"]) == (420, False)
        clock.advance(timedelta(minutes=8))
        t = await get(tid, w.worker)
        assert (t["seconds_to_respond"], t["response_overdue"]) == (-60, True)
        r = await client.get(TICKETS, params={"view": "queue"}, headers=auth(w.worker))
        assert r.json()["items"][0]["seconds_to_respond"] == -60

    async def test_responded_at_is_the_moment_of_the_claim(self, new, ok, get, clock, w) -> None:  # type: ignore[no-untyped-def]
        tid = await new()
        assert (await get(tid, w.worker))["responded_at"] is None
        clock.advance(timedelta(minutes=4, seconds=30))
        claimed_at = clock.now()
        await ok(tid, "claim", w.worker)
        clock.advance(timedelta(hours=1))
        t = await get(tid, w.worker)
        assert at(t["responded_at"]) == claimed_at and t["seconds_to_respond"] is None
        assert t["response_overdue"] is False

    async def test_a_report_rejected_or_merged_unclaimed_no_longer_runs_the_response_clock(  # type: ignore[no-untyped-def]
        self, new, ok, get, clock, w
    ) -> None:
        keep, rejected, merged = await new(), await new(), await new()
        clock.advance(timedelta(minutes=2))
        await ok(rejected, "reject", w.c1_admin, {"reason": "无效"})
        await ok(merged, "merge", w.c1_admin, {"into_ticket_id": keep})
        clock.advance(timedelta(minutes=20))
        for tid in (rejected, merged):
            t = await get(tid, w.c1_admin)
            assert (t["responded_at"], t["seconds_to_respond"], t["response_overdue"]) == (None, None, False)
        assert (await get(keep, w.c1_admin))["response_overdue"] is True


class TestQueue:
    async def queue(self, client, auth, user, **params) -> list[dict]:  # type: ignore[no-untyped-def]
        r = await client.get(TICKETS, params={"view": "queue", **params}, headers=auth(user))
        assert r.status_code == 200, r.text
        return r.json()["items"]

    async def test_the_queue_is_sorted_by_deadline_with_seconds_left(
        self, client, auth, new, ok, clock, w
    ) -> None:  # type: ignore[no-untyped-def]
        a = await new()
        clock.advance(timedelta(minutes=5))
        b = await new()
        items = await self.queue(client, auth, w.worker)
        assert [(t["id"], t["seconds_to_respond"]) for t in items] == [(a, 300), (b, 600)]
        await ok(a, "claim", w.worker)
        items = await self.queue(client, auth, w.worker)
        assert [t["id"] for t in items] == [b, a]
        assert items[1]["seconds_to_respond"] is None and items[1]["seconds_to_resolve"] == 72 * 3600 - 300

    async def test_the_overdue_filter(self, client, auth, new, ok, clock, w) -> None:  # type: ignore[no-untyped-def]
        a = await new()
        clock.advance(timedelta(minutes=5))
        b = await new()
        clock.advance(timedelta(minutes=6))
        assert [t["id"] for t in await self.queue(client, auth, w.worker, overdue="true")] == [a]
        assert [t["id"] for t in await self.queue(client, auth, w.worker, overdue="false")] == [b]
        await ok(a, "claim", w.worker)
        assert await self.queue(client, auth, w.worker, overdue="true") == []

    async def test_finished_work_leaves_the_queue(self, client, auth, new, ok, w) -> None:  # type: ignore[no-untyped-def]
        done, rejected, open_ = await new(), await new(), await new()
        await ok(done, "claim", w.worker)
        await ok(done, "resolve", w.worker, {"note": "好了"})
        await ok(rejected, "reject", w.c1_admin, {"reason": "无效"})
        assert [t["id"] for t in await self.queue(client, auth, w.worker)] == [open_]

    async def test_a_worker_sees_only_the_queue_of_their_grids(self, client, auth, new, w, crew) -> None:  # type: ignore[no-untyped-def]
        await new()
        assert await self.queue(client, auth, crew.c2_worker) == []
        assert await self.queue(client, auth, crew.floater) == []

    async def test_work_assigned_to_a_worker_of_another_grid_is_in_their_queue(
        self, client, auth, new, ok, w, crew
    ) -> None:  # type: ignore[no-untyped-def]
        tid = await new()
        await ok(tid, "assign", w.c1_admin, {"worker_id": str(crew.floater.id)})
        assert [t["id"] for t in await self.queue(client, auth, crew.floater)] == [tid]

    async def test_the_community_sees_its_duty_queue_and_all_its_tickets(self, client, auth, new, w) -> None:  # type: ignore[no-untyped-def]
        queued = await new(location=None, address="北门")
        in_grid = await new()
        assert {t["id"] for t in await self.queue(client, auth, w.worker)} == {queued, in_grid}
        r = await client.get(TICKETS, params={"view": "all"}, headers=auth(w.c2_admin))
        assert r.json()["items"] == []
        r = await client.get(
            TICKETS, params={"view": "all", "status": "submitted"}, headers=auth(w.sub_admin)
        )
        assert {t["id"] for t in r.json()["items"]} == {queued, in_grid}


class TestPoints:
    async def points(self, session, user) -> list[tuple[uuid.UUID, int, str]]:  # type: ignore[no-untyped-def]
        rows = await session.execute(
            select(PointsEntry.ticket_id, PointsEntry.points, PointsEntry.reason).where(
                PointsEntry.user_id == user.id
            )
        )
        return [tuple(r) for r in rows]

    async def test_a_part_time_grid_worker_earns_points_once_when_their_report_is_resolved(  # type: ignore[no-untyped-def]
        self, new, ok, session, w, crew
    ) -> None:
        tid = await new(crew.part_timer)
        await ok(tid, "claim", w.worker)
        assert await self.points(session, crew.part_timer) == []
        await ok(tid, "resolve", w.worker, {"note": "已修好"})
        assert await self.points(session, crew.part_timer) == [(uuid.UUID(tid), 10, "verified_report")]
        await ok(tid, "reopen", crew.part_timer, {"reason": "没修好"})
        await ok(tid, "resolve", w.worker, {"note": "再修"})
        assert await self.points(session, crew.part_timer) == [(uuid.UUID(tid), 10, "verified_report")]

    async def test_no_points_for_a_report_merged_into_another(self, new, ok, session, w, crew) -> None:  # type: ignore[no-untyped-def]
        survivor = await new()
        dup = await new(crew.part_timer)
        await ok(dup, "merge", w.c1_admin, {"into_ticket_id": survivor})
        await ok(survivor, "claim", w.worker)
        await ok(survivor, "resolve", w.worker, {"note": "已修好"})
        assert await self.points(session, crew.part_timer) == []

    async def test_no_points_for_a_rejected_report(self, new, ok, session, w, crew) -> None:  # type: ignore[no-untyped-def]
        tid = await new(crew.part_timer)
        await ok(tid, "reject", w.c1_admin, {"reason": "无效"})
        assert await self.points(session, crew.part_timer) == []

    async def test_residents_and_full_time_workers_earn_no_points(self, new, ok, session, w) -> None:  # type: ignore[no-untyped-def]
        for reporter in (w.resident, w.worker):
            tid = await new(reporter)
            await ok(tid, "claim", w.worker)
            await ok(tid, "resolve", w.worker, {"note": "已修好"})
            assert await self.points(session, reporter) == []


class TestNotifications:
    async def test_the_reporter_hears_of_the_claim_and_the_resolution(self, new, ok, session, w) -> None:  # type: ignore[no-untyped-def]
        tid = await new()
        await ok(tid, "claim", w.worker)
        await ok(tid, "resolve", w.worker, {"note": "已修好"})
        rows = list(
            await session.scalars(
                select(Notification)
                .where(Notification.user_id == w.resident.id, Notification.ticket_id == uuid.UUID(tid))
                .order_by(Notification.created_at, Notification.kind)
            )
        )
        assert [n.kind for n in rows] == ["ticket.claimed", "ticket.resolved"]
        assert all(n.read_at is None and n.data["number"] for n in rows)
        assert rows[1].data["status"] == "resolved"

    async def test_grid_workers_of_the_grid_hear_of_a_new_report_but_the_reporter_does_not(  # type: ignore[no-untyped-def]
        self, new, session, w, crew
    ) -> None:
        tid = await new(w.worker)
        assert await notified(session, crew.worker2, tid) == ["ticket.new"]
        assert await notified(session, w.worker, tid) == []
        assert await notified(session, crew.c2_worker, tid) == []

    async def test_an_actor_is_not_told_of_their_own_action(self, new, ok, session, w) -> None:  # type: ignore[no-untyped-def]
        tid = await new(w.worker)
        await ok(tid, "claim", w.worker)
        await ok(tid, "arrive", w.worker, point())
        await ok(tid, "resolve", w.worker, {"note": "自己发现自己修好"})
        await ok(tid, "confirm", w.worker, {"rating": 5})
        assert await notified(session, w.worker, tid) == []
