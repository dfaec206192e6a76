"""随手拍 reporting over HTTP: routing, validation, idempotency, on-behalf reports, duplicates,
"+1", merging and what the public is shown."""

import io
import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from PIL import Image
from sqlalchemy import func, select

from app.auth.permissions import Role
from app.notification.models import Notification
from app.org import geo
from app.ticket.models import Ticket, TicketSupporter
from tests.factories import make_building, make_category, make_grid, make_user, square
from tests.ticket.conftest import IN_G1

TICKETS = "/api/v1/tickets"
# About 111 m south of G1's southern edge: outside every grid, G1 is the nearest (within 300 m).
NEAR_G1 = {"lat": 34.2690, "lng": 108.952, "coord_system": "wgs84"}
# Far from every grid (about 12 km away).
FAR_AWAY = {"lat": 34.35, "lng": 109.05, "coord_system": "wgs84"}


def jpeg(seed: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (40, 30), (seed * 37 % 256, seed * 91 % 256, 120)).save(buf, format="JPEG")
    return buf.getvalue()


async def upload(client, headers, seed: int = 1) -> str:  # type: ignore[no-untyped-def]
    r = await client.post(
        "/api/v1/uploads", files={"file": (f"p{seed}.jpg", jpeg(seed), "image/jpeg")}, headers=headers
    )
    assert r.status_code == 201, r.text
    return r.json()["id"]


async def ticket_count(session) -> int:  # type: ignore[no-untyped-def]
    return await session.scalar(select(func.count()).select_from(Ticket))


def offset(point: dict, *, north_m: float = 0.0) -> dict:
    return {**point, "lat": point["lat"] + north_m / 111_200}


def error(r) -> str:  # type: ignore[no-untyped-def]
    return r.json()["code"]


class TestRouting:
    async def test_a_point_inside_a_grid_goes_to_that_grid(self, report, w) -> None:  # type: ignore[no-untyped-def]
        r = await report()
        assert r.status_code == 201, r.text
        t = r.json()
        assert (t["grid_id"], t["community_id"], t["routed_by"]) == (str(w.g1.id), str(w.c1.id), "grid")
        assert t["status"] == "submitted"
        assert t["location"] == {"lat": 34.272, "lng": 108.952, "coord_system": "wgs84"}

    async def test_a_point_just_outside_every_grid_goes_to_the_nearest_grid(self, report, w) -> None:  # type: ignore[no-untyped-def]
        r = await report(location=NEAR_G1)
        assert r.status_code == 201, r.text
        assert (r.json()["grid_id"], r.json()["routed_by"]) == (str(w.g1.id), "nearest_grid")

    async def test_a_building_routes_the_report_when_there_is_no_usable_point(
        self, report, session, w
    ) -> None:  # type: ignore[no-untyped-def]
        building = await make_building(session, w.c2, grid_id=w.g2.id, name="8号楼")
        await session.commit()
        r = await report(location=None, building_id=str(building.id))
        assert r.status_code == 201, r.text
        t = r.json()
        assert (t["community_id"], t["grid_id"], t["routed_by"]) == (str(w.c2.id), str(w.g2.id), "building")
        assert t["address"] == "8号楼" and t["building_id"] == str(building.id)
        r = await report(location=FAR_AWAY, building_id=str(building.id))
        assert r.status_code == 201, r.text
        assert r.json()["routed_by"] == "building"

    async def test_an_unknown_building_is_404(self, report) -> None:  # type: ignore[no-untyped-def]
        r = await report(location=None, building_id=str(uuid.uuid4()))
        assert r.status_code == 404 and error(r) == "org.building_not_found"

    async def test_far_from_every_grid_goes_to_the_home_community_duty_queue(  # type: ignore[no-untyped-def]
        self, report, session, w
    ) -> None:
        r = await report(location=FAR_AWAY)
        assert r.status_code == 201, r.text
        t = r.json()
        assert (t["community_id"], t["grid_id"], t["routed_by"]) == (str(w.c1.id), None, "duty_queue")
        # The community's grid workers and admins hear about a ticket that has no grid.
        told = set(
            await session.scalars(
                select(Notification.user_id).where(
                    Notification.ticket_id == uuid.UUID(t["id"]), Notification.kind == "ticket.new"
                )
            )
        )
        assert told == {w.worker.id, w.c1_admin.id}

    async def test_an_address_without_a_point_goes_to_the_duty_queue(self, report, w) -> None:  # type: ignore[no-untyped-def]
        r = await report(location=None, address="西一路小区北门")
        assert r.status_code == 201, r.text
        t = r.json()
        assert (t["grid_id"], t["routed_by"], t["location"]) == (None, "duty_queue", None)
        assert t["address"] == "西一路小区北门"

    async def test_far_away_without_a_home_community_is_no_grid(self, report, session, w) -> None:  # type: ignore[no-untyped-def]
        homeless = await make_user(session, Role.RESIDENT)
        await session.commit()
        r = await report(homeless, location=FAR_AWAY)
        assert r.status_code == 422 and error(r) == "ticket.no_grid"
        assert await ticket_count(session) == 0

    async def test_gcj02_points_from_the_mini_program_are_converted_before_routing(self, report, w) -> None:  # type: ignore[no-untyped-def]
        lat, lng = geo.from_wgs84(34.272, 108.952, geo.CoordSystem.GCJ02)
        # The raw GCJ-02 numbers fall inside G2; the real (WGS-84) place is in G1.
        assert 108.954 < lng < 108.958
        r = await report(location={"lat": lat, "lng": lng, "coord_system": "gcj02"})
        assert r.status_code == 201, r.text
        t = r.json()
        assert t["grid_id"] == str(w.g1.id)
        assert t["location"]["lat"] == pytest.approx(34.272, abs=1e-5)
        assert t["location"]["lng"] == pytest.approx(108.952, abs=1e-5)

    async def test_an_inactive_grid_is_not_routed_to(self, report, session, w) -> None:  # type: ignore[no-untyped-def]
        await make_grid(session, w.c2, square(108.960, 34.270), is_active=False)
        await session.commit()
        r = await report(location={"lat": 34.272, "lng": 108.962, "coord_system": "wgs84"})
        assert r.status_code == 201, r.text
        assert r.json()["routed_by"] == "duty_queue"


class TestValidation:
    async def test_an_unknown_category_is_refused(self, report, session) -> None:  # type: ignore[no-untyped-def]
        r = await report(category_id=str(uuid.uuid4()))
        assert r.status_code == 422 and error(r) == "ticket.unknown_category"
        assert await ticket_count(session) == 0

    async def test_an_inactive_category_is_refused(self, report, session, w) -> None:  # type: ignore[no-untyped-def]
        retired = await make_category(session, w.s1, is_active=False)
        await session.commit()
        r = await report(category_id=str(retired.id))
        assert r.status_code == 422 and error(r) == "ticket.unknown_category"

    async def test_a_category_of_another_subdistrict_is_refused(self, report, w) -> None:  # type: ignore[no-untyped-def]
        r = await report(category_id=str(w.other_category.id))
        assert r.status_code == 422 and error(r) == "ticket.unknown_category"

    async def test_more_than_nine_photos_is_invalid(self, report, session) -> None:  # type: ignore[no-untyped-def]
        r = await report(photo_ids=[str(uuid.uuid4()) for _ in range(10)])
        assert r.status_code == 422 and error(r) == "request.invalid"
        assert await ticket_count(session) == 0

    async def test_nine_own_photos_are_attached_in_order(self, client, auth, report, w) -> None:  # type: ignore[no-untyped-def]
        ids = [await upload(client, auth(w.resident), seed) for seed in range(9)]
        r = await report(photo_ids=ids)
        assert r.status_code == 201, r.text
        assert [p["id"] for p in r.json()["photos"]] == ids
        assert r.json()["timeline"][0]["photos"] == r.json()["photos"]

    async def test_someone_elses_photo_is_forbidden(self, client, auth, report, session, w) -> None:  # type: ignore[no-untyped-def]
        theirs = await upload(client, auth(w.other_resident))
        mine = await upload(client, auth(w.resident), 2)
        r = await report(photo_ids=[mine, theirs])
        assert r.status_code == 403 and error(r) == "ticket.photo_not_yours"
        assert await ticket_count(session) == 0

    async def test_a_photo_that_does_not_exist_is_not_found(self, report) -> None:  # type: ignore[no-untyped-def]
        missing = str(uuid.uuid4())
        r = await report(photo_ids=[missing])
        assert r.status_code == 422 and error(r) == "ticket.photo_not_found"
        assert r.json()["details"]["photo_ids"] == [missing]

    async def test_a_report_needs_a_point_an_address_or_a_building(self, report, session) -> None:  # type: ignore[no-untyped-def]
        r = await report(location=None)
        assert r.status_code == 422 and error(r) == "request.invalid"
        r = await report(location=None, address="   ")
        assert r.status_code == 422 and error(r) == "request.invalid"
        assert await ticket_count(session) == 0

    async def test_an_anonymous_report_is_401(self, client, w) -> None:  # type: ignore[no-untyped-def]
        r = await client.post(TICKETS, json={"category_id": str(w.category.id), "description": "没登录"})
        assert r.status_code == 401


class TestIdempotencyKey:
    async def test_a_retry_with_the_same_key_and_body_returns_the_first_ticket(
        self, report, session, clock
    ) -> None:  # type: ignore[no-untyped-def]
        first = await report(headers={"Idempotency-Key": "k-1"})
        assert first.status_code == 201, first.text
        clock.advance(timedelta(minutes=2))
        again = await report(headers={"Idempotency-Key": "k-1"})
        assert again.status_code == 201
        assert again.json() == first.json()
        assert await ticket_count(session) == 1

    async def test_the_same_key_with_another_body_is_refused(self, report, session) -> None:  # type: ignore[no-untyped-def]
        assert (await report(headers={"Idempotency-Key": "k-2"})).status_code == 201
        r = await report(headers={"Idempotency-Key": "k-2"}, description="另一个问题：路灯不亮")
        assert r.status_code == 422 and error(r) == "request.idempotency_key_reused"
        assert await ticket_count(session) == 1

    async def test_keys_of_different_users_are_independent(self, report, session, w) -> None:  # type: ignore[no-untyped-def]
        a = await report(w.resident, headers={"Idempotency-Key": "same"})
        b = await report(w.worker, headers={"Idempotency-Key": "same"})
        assert (a.status_code, b.status_code) == (201, 201)
        assert a.json()["id"] != b.json()["id"]
        assert await ticket_count(session) == 2

    async def test_without_a_key_each_post_is_a_new_report(self, report, session) -> None:  # type: ignore[no-untyped-def]
        assert (await report()).status_code == 201
        assert (await report()).status_code == 201
        assert await ticket_count(session) == 2

    async def test_a_key_is_kept_for_seven_days(self, report, session, clock) -> None:  # type: ignore[no-untyped-def]
        first = await report(headers={"Idempotency-Key": "week"})
        clock.advance(timedelta(days=6, hours=23))
        assert (await report(headers={"Idempotency-Key": "week"})).json()["id"] == first.json()["id"]
        assert await ticket_count(session) == 1


ON_BEHALF = {"name": "刘奶奶", "phone": "13600001234", "consent_note": "刘奶奶电话来电，同意由网格员代为上报"}


class TestOnBehalf:
    async def test_a_resident_cannot_report_for_someone_else(self, report, session) -> None:  # type: ignore[no-untyped-def]
        r = await report(on_behalf=ON_BEHALF)
        assert r.status_code == 403 and error(r) == "ticket.on_behalf_not_allowed"
        assert await ticket_count(session) == 0

    async def test_a_grid_worker_reports_for_an_elder_and_staff_see_the_consent(  # type: ignore[no-untyped-def]
        self, client, auth, report, w
    ) -> None:
        r = await report(w.worker, on_behalf=ON_BEHALF)
        assert r.status_code == 201, r.text
        t = r.json()
        assert t["reporter"]["id"] == str(w.worker.id)
        r = await client.get(f"{TICKETS}/{t['id']}", headers=auth(w.c1_admin))
        staff = r.json()
        assert staff["on_behalf"] == {"id": None, "display_name": "刘奶奶", "phone": "13600001234"}
        assert staff["consent_note"] == ON_BEHALF["consent_note"]
        r = await client.get(f"{TICKETS}/{t['id']}", headers=auth(w.other_resident))
        public = r.json()
        assert public["on_behalf"] is None and public["consent_note"] is None and public["reporter"] is None

    async def test_community_staff_may_report_on_behalf_too(self, report, w) -> None:  # type: ignore[no-untyped-def]
        r = await report(w.c1_admin, on_behalf=ON_BEHALF)
        assert r.status_code == 201, r.text
        assert r.json()["consent_note"] == ON_BEHALF["consent_note"]

    async def test_a_consent_note_is_required(self, report, w) -> None:  # type: ignore[no-untyped-def]
        r = await report(w.worker, on_behalf={"name": "刘奶奶"})
        assert r.status_code == 422 and error(r) == "request.invalid"


class TestPossibleDuplicates:
    async def test_a_nearby_open_report_of_the_same_category_is_offered(self, report, w) -> None:  # type: ignore[no-untyped-def]
        first = (await report(w.resident)).json()
        r = await report(w.worker, location=offset(IN_G1, north_m=50))
        assert r.status_code == 201, r.text
        dups = r.json()["possible_duplicates"]
        assert [d["id"] for d in dups] == [first["id"]]
        assert dups[0]["distance_m"] == pytest.approx(50, abs=1)
        assert r.json()["id"] != first["id"]

    async def test_nearest_first(self, report, w) -> None:  # type: ignore[no-untyped-def]
        far = (await report(location=offset(IN_G1, north_m=80))).json()
        near = (await report(location=offset(IN_G1, north_m=20))).json()
        r = await report(w.worker)
        assert [d["id"] for d in r.json()["possible_duplicates"]] == [near["id"], far["id"]]

    async def test_another_category_is_not_a_duplicate(self, report, session, w) -> None:  # type: ignore[no-untyped-def]
        noise = await make_category(session, w.s1, name="噪音扰民")
        await session.commit()
        await report()
        r = await report(w.worker, category_id=str(noise.id))
        assert r.json()["possible_duplicates"] == []

    async def test_a_report_more_than_100_metres_away_is_not_a_duplicate(self, report, w) -> None:  # type: ignore[no-untyped-def]
        await report()
        r = await report(w.worker, location=offset(IN_G1, north_m=150))
        assert r.json()["grid_id"] == str(w.g1.id)
        assert r.json()["possible_duplicates"] == []

    async def test_a_report_older_than_a_day_is_not_a_duplicate(self, report, clock, w) -> None:  # type: ignore[no-untyped-def]
        await report()
        clock.advance(timedelta(hours=25))
        r = await report(w.worker)
        assert r.json()["possible_duplicates"] == []

    async def test_a_finished_report_is_not_a_duplicate(self, client, auth, report, w) -> None:  # type: ignore[no-untyped-def]
        first = (await report()).json()
        r = await client.post(
            f"{TICKETS}/{first['id']}/reject", json={"reason": "重复"}, headers=auth(w.c1_admin)
        )
        assert r.status_code == 200, r.text
        assert (await report(w.worker)).json()["possible_duplicates"] == []

    async def test_the_public_sees_a_duplicate_without_its_exact_address(self, report, w) -> None:  # type: ignore[no-untyped-def]
        await report(w.resident, address="西一路小区1号楼2单元301")
        dup = (await report(w.other_resident)).json()["possible_duplicates"][0]
        assert dup["address"] != "西一路小区1号楼2单元301" and dup["address"].endswith("****")


class TestSupport:
    async def test_plus_one_counts_each_person_once(self, client, auth, report, session, w) -> None:  # type: ignore[no-untyped-def]
        tid = (await report()).json()["id"]
        url = f"{TICKETS}/{tid}/support"
        r = await client.post(url, headers=auth(w.other_resident))
        assert r.status_code == 200, r.text
        assert r.json()["supporter_count"] == 1
        r = await client.post(url, headers=auth(w.other_resident))
        assert r.status_code == 200 and r.json()["supporter_count"] == 1
        r = await client.post(url, headers=auth(w.worker))
        assert r.json()["supporter_count"] == 2
        rows = set(
            await session.scalars(
                select(TicketSupporter.user_id).where(TicketSupporter.ticket_id == uuid.UUID(tid))
            )
        )
        assert rows == {w.other_resident.id, w.worker.id}
        detail = (await client.get(f"{TICKETS}/{tid}", headers=auth(w.c1_admin))).json()
        assert [e["action"] for e in detail["timeline"]] == ["create", "support", "support"]

    async def test_the_reporter_cannot_support_their_own_ticket(self, client, auth, report, w) -> None:  # type: ignore[no-untyped-def]
        tid = (await report()).json()["id"]
        r = await client.post(f"{TICKETS}/{tid}/support", headers=auth(w.resident))
        assert r.status_code == 409 and error(r) == "ticket.support_own"

    async def test_an_unknown_ticket_is_404(self, client, auth, w) -> None:  # type: ignore[no-untyped-def]
        r = await client.post(f"{TICKETS}/{uuid.uuid4()}/support", headers=auth(w.resident))
        assert r.status_code == 404 and error(r) == "ticket.not_found"

    async def test_the_public_does_not_learn_who_supported(self, client, auth, report, w, neighbour) -> None:  # type: ignore[no-untyped-def]
        tid = (await report()).json()["id"]
        assert (await client.post(f"{TICKETS}/{tid}/support", headers=auth(neighbour))).status_code == 200
        public = (await client.get(f"{TICKETS}/{tid}", headers=auth(w.other_resident))).json()
        assert public["is_full_view"] is False
        assert [e["actor"] for e in public["timeline"]] == [None, None]


@pytest.fixture
async def neighbour(session, w):  # type: ignore[no-untyped-def]
    user = await make_user(session, Role.RESIDENT, home=w.c1, phone="13911112222", display_name="居民丙")
    await session.commit()
    return user


class TestMerge:
    async def test_merging_carries_reporter_and_supporters_to_the_survivor(  # type: ignore[no-untyped-def]
        self, client, auth, report, session, w, neighbour
    ) -> None:
        survivor = (await report(w.resident)).json()
        dup = (await report(neighbour, location=offset(IN_G1, north_m=30))).json()
        assert [d["id"] for d in dup["possible_duplicates"]] == [survivor["id"]]
        await client.post(f"{TICKETS}/{dup['id']}/support", headers=auth(w.other_resident))
        await client.post(
            f"{TICKETS}/{dup['id']}/support", headers=auth(w.resident)
        )  # already the survivor's reporter

        r = await client.post(
            f"{TICKETS}/{dup['id']}/merge",
            json={"into_ticket_id": survivor["id"], "note": "同一个井盖"},
            headers=auth(w.c1_admin),
        )
        assert r.status_code == 200, r.text
        merged = r.json()
        assert merged["status"] == "merged" and merged["merged_into_id"] == survivor["id"]
        assert merged["timeline"][-1]["action"] == "merge"
        assert merged["timeline"][-1]["data"]["into_ticket_id"] == survivor["id"]

        after = (await client.get(f"{TICKETS}/{survivor['id']}", headers=auth(w.c1_admin))).json()
        assert after["supporter_count"] == 2
        supporters = set(
            await session.scalars(
                select(TicketSupporter.user_id).where(TicketSupporter.ticket_id == uuid.UUID(survivor["id"]))
            )
        )
        assert supporters == {neighbour.id, w.other_resident.id}
        last = after["timeline"][-1]
        assert (last["action"], last["actor"]["id"], last["note"]) == (
            "merged_in",
            str(w.c1_admin.id),
            "同一个井盖",
        )
        assert last["data"]["merged_number"] == dup["number"]
        # The reporter of the duplicate is told where their report went.
        kinds = set(
            await session.scalars(
                select(Notification.kind).where(
                    Notification.user_id == neighbour.id, Notification.ticket_id == uuid.UUID(dup["id"])
                )
            )
        )
        assert "ticket.merged" in kinds

    async def test_a_grid_worker_cannot_merge(self, client, auth, report, w, neighbour) -> None:  # type: ignore[no-untyped-def]
        a, b = (await report()).json(), (await report(neighbour)).json()
        r = await client.post(
            f"{TICKETS}/{b['id']}/merge", json={"into_ticket_id": a["id"]}, headers=auth(w.worker)
        )
        assert r.status_code == 403 and error(r) == "ticket.action_not_allowed"

    async def test_merging_into_itself_or_another_community_is_refused(self, client, auth, report, w) -> None:  # type: ignore[no-untyped-def]
        a = (await report()).json()
        c2_point = {"lat": 34.272, "lng": 108.956, "coord_system": "wgs84"}
        other = (await report(w.worker, location=c2_point)).json()
        assert other["community_id"] == str(w.c2.id)
        for target in (a["id"], other["id"], str(uuid.uuid4())):
            r = await client.post(
                f"{TICKETS}/{a['id']}/merge", json={"into_ticket_id": target}, headers=auth(w.sub_admin)
            )
            assert r.status_code == 422 and error(r) == "ticket.merge_target_invalid"

    async def test_a_merged_ticket_takes_no_more_actions(self, client, auth, report, w, neighbour) -> None:  # type: ignore[no-untyped-def]
        a, b = (await report()).json(), (await report(neighbour)).json()
        await client.post(
            f"{TICKETS}/{b['id']}/merge", json={"into_ticket_id": a["id"]}, headers=auth(w.c1_admin)
        )
        r = await client.post(f"{TICKETS}/{b['id']}/claim", headers=auth(w.worker))
        assert r.status_code == 409 and error(r) == "ticket.finished"
        r = await client.post(f"{TICKETS}/{b['id']}/support", headers=auth(w.other_resident))
        assert r.status_code == 409 and error(r) == "ticket.finished"
        r = await client.post(
            f"{TICKETS}/{b['id']}/reopen", json={"reason": "还没修"}, headers=auth(neighbour)
        )
        assert r.status_code == 409 and error(r) == "ticket.finished"
        r = await client.post(
            f"{TICKETS}/{a['id']}/merge", json={"into_ticket_id": b["id"]}, headers=auth(w.c1_admin)
        )
        assert r.status_code == 422 and error(r) == "ticket.merge_target_invalid"


class TestClosedTickets:
    async def closed(self, client, auth, report, w) -> str:  # type: ignore[no-untyped-def]
        tid = (await report()).json()["id"]
        for path, body, user in (
            ("claim", None, w.worker),
            ("resolve", {"note": "已修好"}, w.worker),
            ("confirm", {"rating": 5}, w.resident),
        ):
            r = await client.post(f"{TICKETS}/{tid}/{path}", json=body, headers=auth(user))
            assert r.status_code == 200, r.text
        return tid

    @pytest.mark.parametrize(
        ("path", "body", "who"),
        [
            ("claim", None, "worker"),
            ("resolve", {"note": "再修一次"}, "worker"),
            ("reject", {"reason": "无效"}, "c1_admin"),
            ("escalate", {"department_id": "DEPT", "note": "请部门处理"}, "c1_admin"),
            ("confirm", {"rating": 4}, "resident"),
        ],
    )
    async def test_actions_on_a_closed_ticket_are_finished(
        self, client, auth, report, w, path, body, who
    ) -> None:  # type: ignore[no-untyped-def]
        tid = await self.closed(client, auth, report, w)
        if body and body.get("department_id") == "DEPT":
            body = {**body, "department_id": str(w.dept.id)}
        r = await client.post(f"{TICKETS}/{tid}/{path}", json=body, headers=auth(getattr(w, who)))
        assert r.status_code == 409 and error(r) == "ticket.finished"
        assert r.json()["details"] == {"status": "closed", "action": path}

    async def test_support_on_a_closed_ticket_is_finished(self, client, auth, report, w) -> None:  # type: ignore[no-untyped-def]
        tid = await self.closed(client, auth, report, w)
        r = await client.post(f"{TICKETS}/{tid}/support", headers=auth(w.other_resident))
        assert r.status_code == 409 and error(r) == "ticket.finished"


class TestWhatEachViewerSees:
    async def test_the_public_sees_neither_reporter_nor_exact_address(self, client, auth, report, w) -> None:  # type: ignore[no-untyped-def]
        tid = (
            await report(
                address="西一路小区1号楼2单元301",
                location={"lat": 34.27234, "lng": 108.95267, "coord_system": "wgs84"},
            )
        ).json()["id"]
        r = await client.get(f"{TICKETS}/{tid}", headers=auth(w.other_resident))
        assert r.status_code == 200
        t = r.json()
        assert t["is_full_view"] is False and t["reporter"] is None
        assert t["address"] != "西一路小区1号楼2单元301" and "301" not in t["address"]
        assert t["location"] == {"lat": 34.272, "lng": 108.953, "coord_system": "wgs84"}
        assert t["timeline"][0]["actor"] is None and t["timeline"][0]["location"] is None
        assert t["timeline"][0]["data"] == {}
        assert t["building_id"] is None and t["photos"] == []

    async def test_the_reporter_sees_their_own_report_in_full(self, client, auth, report, w) -> None:  # type: ignore[no-untyped-def]
        photo = await upload(client, auth(w.resident))
        tid = (await report(address="西一路小区1号楼2单元301", photo_ids=[photo])).json()["id"]
        t = (await client.get(f"{TICKETS}/{tid}", headers=auth(w.resident))).json()
        assert t["is_full_view"] is True
        assert t["reporter"] == {"id": str(w.resident.id), "display_name": "居民甲", "phone": "13912345678"}
        assert t["address"] == "西一路小区1号楼2单元301"
        assert t["location"] == {"lat": 34.272, "lng": 108.952, "coord_system": "wgs84"}
        assert [p["id"] for p in t["photos"]] == [photo]

    async def test_staff_see_the_reporter_and_the_grid_worker_sees_a_masked_phone(
        self, client, auth, report, w
    ) -> None:  # type: ignore[no-untyped-def]
        tid = (await report()).json()["id"]
        admin = (await client.get(f"{TICKETS}/{tid}", headers=auth(w.c1_admin))).json()
        assert admin["reporter"]["phone"] == "13912345678"
        worker = (await client.get(f"{TICKETS}/{tid}", headers=auth(w.worker))).json()
        assert worker["is_full_view"] is True and worker["reporter"]["phone"] == "139****5678"

    async def test_my_reports_lists_only_mine_newest_first(self, client, auth, report, clock, w) -> None:  # type: ignore[no-untyped-def]
        a = (await report()).json()
        clock.advance(timedelta(minutes=1))
        b = (await report()).json()
        await report(w.worker)
        r = await client.get(TICKETS, params={"view": "mine"}, headers=auth(w.resident))
        assert r.status_code == 200
        assert [t["id"] for t in r.json()["items"]] == [b["id"], a["id"]]

    async def test_a_resident_has_no_staff_list(self, client, auth, w) -> None:  # type: ignore[no-untyped-def]
        r = await client.get(TICKETS, params={"view": "all"}, headers=auth(w.resident))
        assert r.status_code == 403 and error(r) == "ticket.action_not_allowed"

    async def test_an_unknown_ticket_is_404(self, client, auth, w) -> None:  # type: ignore[no-untyped-def]
        r = await client.get(f"{TICKETS}/{uuid.uuid4()}", headers=auth(w.resident))
        assert r.status_code == 404 and error(r) == "ticket.not_found"


class TestTicketNumber:
    async def test_number_is_t_then_local_date_then_six_digits_and_increments(self, report) -> None:  # type: ignore[no-untyped-def]
        first, second = (await report()).json()["number"], (await report()).json()["number"]
        # The frozen clock is 2026-11-22 02:00 UTC, 10:00 in Xi'an.
        assert re.fullmatch(r"T20261122\d{6}", first), first
        assert int(second[9:]) == int(first[9:]) + 1 and second[:9] == first[:9]

    async def test_the_date_is_the_local_date_in_china(self, report, clock) -> None:  # type: ignore[no-untyped-def]
        clock.set(datetime(2026, 11, 22, 16, 30, tzinfo=UTC))  # 00:30 on the 23rd in Beijing time
        number = (await report()).json()["number"]
        assert number == "T20261123000001"
