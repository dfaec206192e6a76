"""The access log: written when staff are shown someone else's full phone number or care category,
and read by subdistrict administrators and superadmins."""

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from app.auth.permissions import Role
from app.privacy.models import AuditLog
from app.user.models import User
from tests.factories import make_user
from tests.privacy.conftest import AUDIT, TICKETS, audit_rows, make_class, make_signup, summary

USERS = "/api/v1/users"
PHONE, CARE = "phone_read", "care_category_read"


@pytest.fixture
def get_ok(client, auth):  # type: ignore[no-untyped-def]
    async def _get(path: str, user: User, **params) -> dict:  # type: ignore[no-untyped-def]
        r = await client.get(path, headers=auth(user), params=params)
        assert r.status_code == 200, r.text
        return r.json()

    return _get


class TestAccountViews:
    async def test_an_admin_opening_a_resident_is_logged_for_phone_and_care_category(  # type: ignore[no-untyped-def]
        self, session, w, get_ok
    ) -> None:
        body = await get_ok(f"{USERS}/{w.resident.id}", w.c1_admin)
        assert (body["phone"], body["care_category"]) == ("13912345678", "living_alone")
        rows = await audit_rows(session)
        assert summary(rows) == {
            (w.c1_admin.id, PHONE, w.resident.id, "user"),
            (w.c1_admin.id, CARE, w.resident.id, "user"),
        }
        assert {r.resource_id for r in rows} == {w.resident.id}

    async def test_opening_ones_own_account_is_not_logged(self, session, w, get_ok) -> None:  # type: ignore[no-untyped-def]
        await get_ok(f"{USERS}/{w.c1_admin.id}", w.c1_admin)
        assert await audit_rows(session) == []

    async def test_nothing_shown_nothing_logged(self, session, w, get_ok) -> None:  # type: ignore[no-untyped-def]
        quiet = await make_user(session, Role.RESIDENT, home=w.c1)  # no phone, no care category
        await session.commit()
        await get_ok(f"{USERS}/{quiet.id}", w.c1_admin)
        assert await audit_rows(session) == []

    async def test_a_list_logs_each_person_once(self, session, w, get_ok) -> None:  # type: ignore[no-untyped-def]
        await get_ok(USERS, w.c1_admin, community_id=str(w.c1.id))
        got = summary(await audit_rows(session))
        assert (w.c1_admin.id, PHONE, w.resident.id, "user") in got
        assert (w.c1_admin.id, CARE, w.resident.id, "user") in got
        assert (w.c1_admin.id, PHONE, w.neighbour.id, "user") in got
        assert (w.c1_admin.id, PHONE, w.worker.id, "user") in got
        assert all(actor == w.c1_admin.id and subject != w.c1_admin.id for actor, _, subject, _ in got)
        assert len(await audit_rows(session)) == len(got)


class TestTickets:
    async def test_an_admin_opening_a_ticket_is_logged_for_the_reporters_and_supporters_numbers(  # type: ignore[no-untyped-def]
        self, client, auth, session, w, report, get_ok
    ) -> None:
        t = await report(w.resident)
        assert (
            await client.post(f"{TICKETS}/{t['id']}/support", headers=auth(w.neighbour))
        ).status_code == 200
        before = len(await audit_rows(session))  # residents reading: nothing logged
        assert before == 0

        body = await get_ok(f"{TICKETS}/{t['id']}", w.c1_admin)
        assert body["reporter"]["phone"] == "13912345678"
        rows = await audit_rows(session)
        assert summary(rows) == {
            (w.c1_admin.id, PHONE, w.resident.id, "ticket"),
            (w.c1_admin.id, PHONE, w.neighbour.id, "ticket"),
        }
        assert {str(r.resource_id) for r in rows} == {t["id"]}

    async def test_a_masked_number_is_not_logged_until_the_worker_takes_the_ticket(  # type: ignore[no-untyped-def]
        self, session, w, report, act, get_ok
    ) -> None:
        t = await report(w.resident)
        body = await get_ok(f"{TICKETS}/{t['id']}", w.worker)  # a worker of the grid, not yet handling it
        assert body["reporter"]["phone"] == "139****5678"
        assert await audit_rows(session) == []

        claimed = await act(t["id"], "claim", w.worker)
        assert claimed["reporter"]["phone"] == "13912345678"
        assert summary(await audit_rows(session)) == {(w.worker.id, PHONE, w.resident.id, "ticket")}

    async def test_the_number_of_someone_reported_for_is_logged_without_an_account(  # type: ignore[no-untyped-def]
        self, session, w, report, act
    ) -> None:
        on_behalf = {"name": "刘奶奶", "phone": "13600001234", "consent_note": "刘奶奶电话来电，同意代为上报"}
        t = await report(w.worker, on_behalf=on_behalf)
        await session.execute(AuditLog.__table__.delete())  # the worker typed it in: start afresh
        await session.commit()
        claimed = await act(t["id"], "claim", w.worker)
        assert claimed["on_behalf"]["phone"] == "13600001234"
        rows = [r for r in await audit_rows(session) if r.subject_user_id is None]
        assert [(r.actor_id, r.action.value, r.resource, str(r.resource_id)) for r in rows] == [
            (w.worker.id, PHONE, "ticket", t["id"])
        ]

    async def test_the_reporter_reading_their_own_ticket_is_not_logged(
        self, session, w, report, act, get_ok
    ) -> None:  # type: ignore[no-untyped-def]
        t = await report(w.resident)
        await act(t["id"], "claim", w.worker)
        await session.execute(AuditLog.__table__.delete())
        await session.commit()
        body = await get_ok(f"{TICKETS}/{t['id']}", w.resident)
        assert body["assignee"]["phone"] == "13700001111"  # shown in full, but to a resident
        assert await audit_rows(session) == []


class TestRepairOrders:
    async def test_an_admin_opening_an_order_is_logged_for_contact_and_care_category(  # type: ignore[no-untyped-def]
        self, client, auth, session, w, get_ok
    ) -> None:
        r = await client.post(
            "/api/v1/repairs/orders",
            json={"category": "plumbing", "description": "厨房水龙头一直滴水"},
            headers=auth(w.resident),
        )
        assert r.status_code == 201, r.text
        oid = r.json()["id"]
        await get_ok(f"/api/v1/repairs/orders/{oid}", w.resident)
        assert await audit_rows(session) == []

        body = await get_ok(f"/api/v1/repairs/orders/{oid}", w.c1_admin)
        assert (body["contact"]["phone"], body["care_category"]) == ("13912345678", "living_alone")
        assert summary(await audit_rows(session)) == {
            (w.c1_admin.id, PHONE, w.resident.id, "repair_order"),
            (w.c1_admin.id, CARE, w.resident.id, "repair_order"),
        }


class TestCourseRosters:
    async def test_staff_reading_a_roster_are_logged_teachers_see_masked_numbers_and_are_not(  # type: ignore[no-untyped-def]
        self, session, clock, w, get_ok
    ) -> None:
        teacher = await make_user(session, (Role.TEACHER, w.c1), display_name="陈老师")
        cls = await make_class(session, w, at=clock.now() + timedelta(days=2))
        own = await make_signup(session, cls, by=w.resident, learner=w.resident)
        mother = await make_signup(session, cls, by=w.resident, name="母亲", phone="13600009999")
        await session.commit()
        path = f"/api/v1/courses/sessions/{cls.session.id}/signups"

        roster = await get_ok(path, teacher)
        assert {s["attendee"]["phone"] for s in roster} == {"139****5678", "136****9999"}
        assert await audit_rows(session) == []

        roster = await get_ok(path, w.c1_admin)
        assert {s["attendee"]["phone"] for s in roster} == {"13912345678", "13600009999"}
        rows = await audit_rows(session)
        assert {(r.actor_id, r.subject_user_id, r.resource, r.resource_id) for r in rows} == {
            (w.c1_admin.id, w.resident.id, "course_signup", own.id),
            (w.c1_admin.id, None, "course_signup", mother.id),
        }

    async def test_the_staff_list_of_learners_is_logged(self, session, clock, w, get_ok) -> None:  # type: ignore[no-untyped-def]
        cls = await make_class(session, w, at=clock.now() + timedelta(days=2))
        await make_signup(session, cls, by=w.resident, learner=w.resident)
        await session.commit()
        await get_ok("/api/v1/courses/attendees", w.c1_admin, community_id=str(w.c1.id))
        assert summary(await audit_rows(session)) == {
            (w.c1_admin.id, PHONE, w.resident.id, "course_attendee")
        }


class TestReadingTheLog:
    @pytest.fixture
    async def reads(self, clock, w, get_ok):  # type: ignore[no-untyped-def]
        """C1's admin opens the resident; an hour later S2's admin opens the other resident."""
        first = clock.now()
        await get_ok(f"{USERS}/{w.resident.id}", w.c1_admin)
        clock.advance(timedelta(hours=1))
        await get_ok(f"{USERS}/{w.other_resident.id}", w.s2_admin)
        return first

    @pytest.mark.parametrize("who", ["c1_admin", "worker", "resident", "dept_staff"])
    async def test_only_subdistrict_admins_and_superadmins_read_it(self, client, auth, w, who) -> None:  # type: ignore[no-untyped-def]
        r = await client.get(AUDIT, headers=auth(getattr(w, who)))
        assert (r.status_code, r.json()["code"]) == (403, "privacy.audit_log_forbidden")

    async def test_a_subdistrict_admin_sees_their_subdistrict_only(self, w, reads, get_ok) -> None:  # type: ignore[no-untyped-def]
        s1 = (await get_ok(AUDIT, w.sub_admin))["items"]
        assert {(i["actor_id"], i["subject_user_id"], i["action"]) for i in s1} == {
            (str(w.c1_admin.id), str(w.resident.id), PHONE),
            (str(w.c1_admin.id), str(w.resident.id), CARE),
        }
        assert {(i["actor_name"], i["subject_name"], i["resource"]) for i in s1} == {
            ("C1 管理员", "居民甲", "user")
        }
        s2 = (await get_ok(AUDIT, w.s2_admin))["items"]
        assert {(i["actor_id"], i["subject_user_id"]) for i in s2} == {
            (str(w.s2_admin.id), str(w.other_resident.id))
        }

    async def test_the_superadmin_sees_everything_newest_first(self, w, reads, get_ok) -> None:  # type: ignore[no-untyped-def]
        items = (await get_ok(AUDIT, w.superadmin))["items"]
        assert items[0]["subject_user_id"] == str(w.other_resident.id)
        assert {i["subject_user_id"] for i in items} == {str(w.resident.id), str(w.other_resident.id)}

    async def test_filters(self, w, reads, get_ok) -> None:  # type: ignore[no-untyped-def]
        def subjects(page: dict) -> list[str]:
            return sorted({i["subject_user_id"] for i in page["items"]})

        admin = w.superadmin
        assert subjects(await get_ok(AUDIT, admin, subject_user_id=str(w.resident.id))) == [
            str(w.resident.id)
        ]
        assert subjects(await get_ok(AUDIT, admin, actor_id=str(w.s2_admin.id))) == [str(w.other_resident.id)]
        care = (await get_ok(AUDIT, admin, action=CARE))["items"]
        assert [(i["subject_user_id"], i["action"]) for i in care] == [(str(w.resident.id), CARE)]
        half = (reads + timedelta(minutes=30)).isoformat()
        assert subjects(await get_ok(AUDIT, admin, date_from=half)) == [str(w.other_resident.id)]
        assert subjects(await get_ok(AUDIT, admin, date_to=half)) == [str(w.resident.id)]
        assert subjects(await get_ok(AUDIT, admin, date_from=reads.isoformat(), date_to=half)) == [
            str(w.resident.id)
        ]

    async def test_a_backwards_date_range_is_422(self, client, auth, w, clock) -> None:  # type: ignore[no-untyped-def]
        params = {
            "date_from": clock.now().isoformat(),
            "date_to": (clock.now() - timedelta(days=1)).isoformat(),
        }
        r = await client.get(AUDIT, headers=auth(w.superadmin), params=params)
        assert (r.status_code, r.json()["code"]) == (422, "privacy.invalid_date_range")

    async def test_pages_follow_the_cursor(self, w, reads, get_ok) -> None:  # type: ignore[no-untyped-def]
        seen, cursor = [], None
        while True:
            page = await get_ok(AUDIT, w.superadmin, limit=1, **({"cursor": cursor} if cursor else {}))
            seen += [i["id"] for i in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        everything = (await get_ok(AUDIT, w.superadmin, limit=100))["items"]
        assert seen == [i["id"] for i in everything] and len(seen) == 3


class TestReadOnlyRequests:
    async def test_a_get_writes_its_log_rows_even_while_other_requests_write(self, live) -> None:  # type: ignore[no-untyped-def]
        """On SQLite a GET runs in a read transaction: the rows go in a write transaction of
        their own, queued with the other writers (no stall, nothing lost)."""
        w = await live.world()
        reads = [live.client.get(f"{USERS}/{w.resident.id}", headers=live.auth(w.c1_admin)) for _ in range(5)]
        writes = [
            live.client.patch("/api/v1/me", json={"display_name": f"甲{i}"}, headers=live.auth(w.resident))
            for i in range(5)
        ]
        responses = await asyncio.wait_for(asyncio.gather(*reads, *writes), timeout=30)
        assert [r.status_code for r in responses] == [200] * 10
        assert await live.scalar(select(func.count()).select_from(AuditLog)) == 10

    async def test_a_get_never_writes_inside_its_read_transaction(self, live) -> None:  # type: ignore[no-untyped-def]
        """While another transaction holds the write lock, a GET that logs a read waits its turn
        for it (SQLite: writing from the GET's own read transaction would stall the event loop in
        SQLite's busy handler, with the lock holder unable to finish)."""
        w = await live.world()
        async with live.app.state.sessionmaker() as writer:
            await writer.execute(update(User).where(User.id == w.other_resident.id).values(display_name="乙"))
            task = asyncio.create_task(
                live.client.get(f"{USERS}/{w.resident.id}", headers=live.auth(w.c1_admin))
            )
            await asyncio.sleep(0.3)
            await writer.commit()
        r = await asyncio.wait_for(task, timeout=10)
        assert r.status_code == 200, r.text
        assert await live.scalar(select(func.count()).select_from(AuditLog)) == 2


class TestStaffNumbers:
    """Grid workers' and craftsmen's own mobiles, shown in full to administrators, are logged like
    anyone's (app/privacy/audit.py); masked reads and one's own are not."""

    async def test_an_admin_reading_a_grid_roster_is_logged_per_worker(self, session, w, get_ok) -> None:  # type: ignore[no-untyped-def]
        path = f"/api/v1/grids/{w.g1.id}/workers"
        for who in (w.resident, w.worker, w.c2_admin):  # masked for all of them
            [row] = await get_ok(path, who)
            assert row["phone"] == "137****1111"
        assert await audit_rows(session) == []

        [row] = await get_ok(path, w.c1_admin)
        assert row["phone"] == "13700001111"
        rows = await audit_rows(session)
        assert summary(rows) == {(w.c1_admin.id, PHONE, w.worker.id, "grid")}
        assert [r.resource_id for r in rows] == [w.g1.id]

    async def test_craftsman_profiles_shown_to_staff_are_logged_not_to_the_craftsman(  # type: ignore[no-untyped-def]
        self, client, auth, session, w, get_ok
    ) -> None:
        craftsman = await make_user(
            session, (Role.CRAFTSMAN, w.s1), phone="13500002222", display_name="王师傅"
        )
        await session.commit()
        r = await client.put(
            f"/api/v1/repairs/craftsmen/{craftsman.id}",
            json={"subdistrict_id": str(w.s1.id), "skills": ["plumbing"]},
            headers=auth(w.sub_admin),
        )
        assert r.status_code == 200, r.text
        assert r.json()["phone"] == "13500002222"
        assert summary(await audit_rows(session)) == {(w.sub_admin.id, PHONE, craftsman.id, "craftsman")}
        await session.execute(AuditLog.__table__.delete())
        await session.commit()

        assert (await get_ok("/api/v1/repairs/craftsmen/me", craftsman))["phone"] == "13500002222"
        assert await audit_rows(session) == []

        [listed] = await get_ok("/api/v1/repairs/craftsmen", w.c1_admin, subdistrict_id=str(w.s1.id))
        assert listed["phone"] == "13500002222"
        rows = await audit_rows(session)
        assert summary(rows) == {(w.c1_admin.id, PHONE, craftsman.id, "craftsman")}
        assert [r.resource_id for r in rows] == [craftsman.id]
