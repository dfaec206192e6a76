"""手把手 one-on-one help through the API: asking for oneself or someone else, who sees what,
claiming (one winner, also under real concurrency on both databases), scheduling, completing
(credited as volunteer hours), releasing and cancelling, and the list views."""

import asyncio
import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from app.auth.permissions import Role
from app.course.models import HelpEvent, HelpRequest, VolunteerRecord
from app.notification.models import Notification
from app.user.models import User
from tests.course.conftest import COURSES
from tests.factories import World, make_user
from tests.live import Live

HELP = f"{COURSES}/help-requests"
HOUR = timedelta(hours=1)
MASKED = "139****5678"  # the resident's phone, as a volunteer sees it


def expect(r: Any, status: int, code: str) -> None:
    assert (r.status_code, r.json().get("code")) == (status, code), r.text


def at(value: str) -> datetime:
    return datetime.fromisoformat(value)


async def notified(maker, kind: str, request_id: str | None = None) -> list[uuid.UUID]:  # type: ignore[no-untyped-def]
    """Recipients of every notification of this kind (sorted, repeats kept)."""
    async with maker() as s:
        rows = (
            await s.execute(select(Notification.user_id, Notification.data).where(Notification.kind == kind))
        ).all()
    return sorted(u for u, data in rows if request_id is None or data.get("help_request_id") == request_id)


@pytest.fixture
def ask(client, auth):  # type: ignore[no-untyped-def]
    async def _ask(user: User, **body: Any):  # type: ignore[no-untyped-def]
        payload = {"topic": "hospital_booking", "description": "想学网上挂号", **body}
        headers = {**auth(user), **payload.pop("headers", {})}
        return await client.post(HELP, json=payload, headers=headers)

    return _ask


@pytest.fixture
def asked(ask):  # type: ignore[no-untyped-def]
    async def _asked(user: User, **body: Any) -> dict[str, Any]:
        r = await ask(user, **body)
        assert r.status_code == 201, r.text
        return r.json()

    return _asked


@pytest.fixture
def act(client, auth):  # type: ignore[no-untyped-def]
    """POST /help-requests/{id}/{action} as `user`."""

    async def _act(user: User, rid: str, action: str, body: dict | None = None):  # type: ignore[no-untyped-def]
        return await client.post(f"{HELP}/{rid}/{action}", json=body, headers=auth(user))

    return _act


@pytest.fixture
def listing(client, auth):  # type: ignore[no-untyped-def]
    async def _list(user: User, view: str, **params: Any):  # type: ignore[no-untyped-def]
        return await client.get(HELP, params={"view": view, **params}, headers=auth(user))

    return _list


def ids(r: Any) -> list[str]:
    assert r.status_code == 200, r.text
    return [x["id"] for x in r.json()["items"]]


# --- asking -----------------------------------------------------------------------------------


class TestCreate:
    async def test_for_oneself(self, clock, w, teachers, asked, maker):
        h = await asked(w.resident, preferred_time="周末上午")

        assert (h["status"], h["community_id"], h["relationship"], h["topic"]) == (
            "open",
            str(w.c1.id),  # the resident's home community
            "self",
            "hospital_booking",
        )
        assert h["number"].startswith("H")
        assert (h["requested_by_id"], h["preferred_time"], at(h["requested_at"])) == (
            str(w.resident.id),
            "周末上午",
            clock.now(),
        )
        assert (h["attendee"]["name"], h["attendee"]["phone"], h["attendee"]["has_account"]) == (
            "居民甲",
            "13912345678",
            True,
        )
        assert h["helper_id"] is None
        assert [(e["action"], e["to_status"]) for e in h["timeline"]] == [("create", "open")]
        # Every teacher of the community hears of it; nobody else.
        assert await notified(maker, "course.help_new", h["id"]) == sorted([teachers.chen.id, teachers.li.id])

    async def test_a_teacher_asking_is_not_notified_of_their_own_request(self, w, teachers, asked, maker):
        h = await asked(teachers.chen, community_id=str(w.c1.id))
        assert await notified(maker, "course.help_new", h["id"]) == [teachers.li.id]

    async def test_for_someone_else(self, w, teachers, ask, asked, maker):
        zhao = {"name": "赵奶奶", "phone": "13900000005", "age": 81}
        proxy = {"attendee": zhao, "relationship": "grid_worker", "consent": True}

        # The worker has no home community: they say where.
        expect(await ask(w.worker, **proxy), 422, "course.no_community")
        h = await asked(w.worker, community_id=str(w.c1.id), **proxy)

        assert (h["community_id"], h["relationship"], h["requested_by_id"]) == (
            str(w.c1.id),
            "grid_worker",
            str(w.worker.id),
        )
        assert (h["attendee"]["name"], h["attendee"]["phone"], h["attendee"]["age"]) == (
            "赵奶奶",
            "13900000005",
            81,
        )
        assert h["attendee"]["has_account"] is False
        assert await notified(maker, "course.help_new", h["id"]) == sorted([teachers.chen.id, teachers.li.id])
        # Asking again for the same learner by her record: her community is used.
        again = await asked(
            w.worker,
            topic="anti_fraud",
            attendee_id=h["attendee"]["id"],
            relationship="grid_worker",
            consent=True,
        )
        assert (again["community_id"], again["attendee"]["id"]) == (str(w.c1.id), h["attendee"]["id"])

    async def test_consent_rules_are_those_of_signups(self, w, teachers, ask, asked, maker):
        zhao = {"name": "赵奶奶", "phone": "13900000005"}
        c1 = str(w.c1.id)
        own = await asked(w.resident)
        async with maker() as s:
            before = await s.scalar(select(func.count()).select_from(HelpRequest))

        expect(
            await ask(w.worker, community_id=c1, attendee=zhao, relationship="child"),
            422,
            "course.consent_required",
        )
        expect(
            await ask(w.worker, community_id=c1, attendee=zhao, consent=True),
            422,
            "course.relationship_required",
        )
        expect(
            await ask(w.worker, community_id=c1, relationship="neighbour", consent=True),
            422,
            "course.attendee_required",
        )
        # Somebody else's learner record is not yours to use.
        expect(
            await ask(
                w.other_resident, attendee_id=own["attendee"]["id"], relationship="neighbour", consent=True
            ),
            404,
            "course.attendee_not_found",
        )
        expect(
            await ask(w.resident, attendee_id=str(uuid.uuid4()), relationship="neighbour", consent=True),
            404,
            "course.attendee_not_found",
        )
        r = await ask(
            w.worker,
            community_id=c1,
            attendee=zhao,
            attendee_id=own["attendee"]["id"],
            relationship="neighbour",
            consent=True,
        )
        expect(r, 422, "request.invalid")
        expect(await ask(w.resident, description=" "), 422, "request.invalid")
        async with maker() as s:
            assert await s.scalar(select(func.count()).select_from(HelpRequest)) == before

    async def test_retry_with_the_same_idempotency_key(self, w, teachers, ask, maker):
        first = await ask(w.resident, headers={"Idempotency-Key": "help-1"})
        again = await ask(w.resident, headers={"Idempotency-Key": "help-1"})
        assert (first.status_code, again.status_code) == (201, 201), again.text
        assert first.json()["id"] == again.json()["id"]
        async with maker() as s:
            assert await s.scalar(select(func.count()).select_from(HelpRequest)) == 1


# --- who sees what ----------------------------------------------------------------------------


class TestVisibility:
    async def test_volunteers_see_a_masked_phone_until_they_claim(
        self, client, auth, w, teachers, asked, act
    ):
        h = await asked(w.resident)
        url = f"{HELP}/{h['id']}"

        r = await client.get(url, headers=auth(teachers.chen))
        assert r.status_code == 200, r.text
        assert (r.json()["attendee"]["phone"], r.json()["requested_by_id"]) == (MASKED, None)
        assert r.json()["attendee"]["user_id"] is None
        assert [e["action"] for e in r.json()["timeline"]] == ["create"]

        r = await client.get(url, headers=auth(w.resident))
        assert (r.json()["attendee"]["phone"], r.json()["requested_by_id"]) == (
            "13912345678",
            str(w.resident.id),
        )
        assert r.json()["attendee"]["user_id"] is None
        for staff in (w.c1_admin, w.sub_admin, w.superadmin):
            r = await client.get(url, headers=auth(staff))
            assert r.status_code == 200, r.text
            assert (r.json()["attendee"]["phone"], r.json()["attendee"]["user_id"]) == (
                "13912345678",
                str(w.resident.id),
            )
            assert r.json()["requested_by_id"] == str(w.resident.id)

        assert (await act(teachers.chen, h["id"], "claim")).status_code == 200
        r = await client.get(url, headers=auth(teachers.chen))
        assert r.json()["attendee"]["phone"] == "13912345678"  # the helper calls them
        r = await client.get(url, headers=auth(teachers.li))
        assert (r.status_code, r.json()["attendee"]["phone"]) == (200, MASKED)

    async def test_outsiders_get_404(self, client, auth, w, teachers, asked):
        h = await asked(w.resident)
        for user in (teachers.c2_teacher, w.c2_admin, w.s2_admin, w.other_resident, w.worker, w.dept_staff):
            expect(
                await client.get(f"{HELP}/{h['id']}", headers=auth(user)),
                404,
                "course.help_request_not_found",
            )
        expect(
            await client.get(f"{HELP}/{uuid.uuid4()}", headers=auth(w.superadmin)),
            404,
            "course.help_request_not_found",
        )


# --- claim, schedule, complete, release, cancel -----------------------------------------------


class TestClaim:
    async def test_a_teacher_of_the_community_claims(self, clock, w, teachers, asked, act, maker):
        h = await asked(w.resident)
        clock.advance(HOUR)

        r = await act(teachers.chen, h["id"], "claim")

        assert r.status_code == 200, r.text
        body = r.json()
        assert (body["status"], body["helper_id"], body["helper_name"]) == (
            "claimed",
            str(teachers.chen.id),
            "陈老师",
        )
        assert at(body["claimed_at"]) == clock.now()
        assert [(e["action"], e["from_status"], e["to_status"]) for e in body["timeline"]] == [
            ("create", None, "open"),
            ("claim", "open", "claimed"),
        ]
        assert await notified(maker, "course.help_claimed", h["id"]) == [w.resident.id]

        # A double tap returns the same; a second teacher is too late.
        r = await act(teachers.chen, h["id"], "claim")
        assert (r.status_code, len(r.json()["timeline"])) == (200, 2), r.text
        expect(await act(teachers.li, h["id"], "claim"), 409, "course.help_already_claimed")
        assert await notified(maker, "course.help_claimed", h["id"]) == [w.resident.id]

    async def test_claiming_ones_own_scheduled_request_again_is_not_a_conflict(
        self, clock, w, teachers, asked, act
    ):
        h = await asked(w.resident)
        assert (await act(teachers.chen, h["id"], "claim")).status_code == 200
        plan = {"scheduled_for": (clock.now() + HOUR).isoformat(), "place": "活动室"}
        assert (await act(teachers.chen, h["id"], "schedule", plan)).status_code == 200
        r = await act(teachers.chen, h["id"], "claim")  # "已被其他志愿者认领" would be wrong
        assert r.status_code == 200, r.text
        assert (r.json()["status"], r.json()["helper_id"]) == ("scheduled", str(teachers.chen.id))
        assert [e["action"] for e in r.json()["timeline"]] == ["create", "claim", "schedule"]
        expect(await act(teachers.li, h["id"], "claim"), 409, "course.help_already_claimed")

    async def test_who_cannot_claim(self, w, teachers, asked, act):
        h = await asked(w.resident)
        expect(await act(teachers.c2_teacher, h["id"], "claim"), 404, "course.help_request_not_found")
        expect(await act(w.other_resident, h["id"], "claim"), 404, "course.help_request_not_found")
        expect(await act(w.c1_admin, h["id"], "claim"), 403, "course.not_a_teacher")
        expect(await act(w.resident, h["id"], "claim"), 403, "course.action_not_allowed")
        expect(await act(teachers.chen, str(uuid.uuid4()), "claim"), 404, "course.help_request_not_found")

    async def test_a_teacher_cannot_claim_their_own_request(self, w, teachers, asked, act):
        # Volunteer hours are for helping others: 陈老师 asking for herself is helped by someone else.
        h = await asked(teachers.chen, community_id=str(w.c1.id))
        expect(await act(teachers.chen, h["id"], "claim"), 403, "course.action_not_allowed")
        assert (await act(teachers.li, h["id"], "claim")).status_code == 200

    async def test_a_cancelled_or_done_request_cannot_be_claimed(self, w, teachers, asked, act):
        h = await asked(w.resident)
        assert (await act(w.resident, h["id"], "cancel", {"reason": "学会了"})).status_code == 200
        r = await act(teachers.chen, h["id"], "claim")
        expect(r, 409, "course.invalid_transition")
        assert r.json()["details"] == {"status": "cancelled", "action": "claim"}


class TestScheduleAndComplete:
    async def test_the_whole_way(self, client, auth, clock, w, teachers, asked, act, maker):
        h = await asked(w.resident)
        rid = h["id"]
        assert (await act(teachers.chen, rid, "claim")).status_code == 200
        when = clock.now() + 2 * HOUR
        plan = {"scheduled_for": when.isoformat(), "place": "社区服务站"}

        expect(await act(teachers.li, rid, "schedule", plan), 403, "course.action_not_allowed")
        expect(await act(w.resident, rid, "schedule", plan), 403, "course.action_not_allowed")
        expect(await act(teachers.c2_teacher, rid, "schedule", plan), 404, "course.help_request_not_found")
        for past in (clock.now(), clock.now() - HOUR):
            r = await act(teachers.chen, rid, "schedule", {**plan, "scheduled_for": past.isoformat()})
            expect(r, 422, "course.schedule_in_past")

        r = await act(teachers.chen, rid, "schedule", {**plan, "scheduled_for": (when - HOUR).isoformat()})
        assert (r.status_code, r.json()["status"]) == (200, "scheduled"), r.text
        r = await act(teachers.chen, rid, "schedule", plan)  # moved an hour later
        assert r.status_code == 200, r.text
        assert (at(r.json()["scheduled_for"]), r.json()["place"]) == (when, "社区服务站")
        assert await notified(maker, "course.help_scheduled", rid) == [w.resident.id, w.resident.id]

        clock.set(when + HOUR)
        for bad in (4, 481, 0):
            expect(await act(teachers.chen, rid, "complete", {"minutes": bad}), 422, "request.invalid")
        expect(await act(teachers.li, rid, "complete", {"minutes": 45}), 403, "course.action_not_allowed")
        expect(await act(w.resident, rid, "complete", {"minutes": 45}), 403, "course.action_not_allowed")

        r = await act(teachers.chen, rid, "complete", {"minutes": 45, "outcome": "学会了预约挂号"})

        assert r.status_code == 200, r.text
        body = r.json()
        assert (body["status"], body["minutes"], body["outcome"]) == ("done", 45, "学会了预约挂号")
        assert at(body["done_at"]) == clock.now()
        assert [e["action"] for e in body["timeline"]] == [
            "create",
            "claim",
            "schedule",
            "schedule",
            "complete",
        ]
        assert body["timeline"][-1]["note"] == "学会了预约挂号"
        assert await notified(maker, "course.help_done", rid) == [w.resident.id]
        async with maker() as s:
            (rec,) = await s.scalars(select(VolunteerRecord))
            assert (rec.user_id, rec.community_id, rec.source.value, str(rec.source_id)) == (
                teachers.chen.id,
                w.c1.id,
                "help",
                rid,
            )
            assert (rec.minutes, rec.title, rec.served_at, rec.recorded_at) == (
                45,
                "手把手：网上挂号",
                when,  # when it took place
                clock.now(),
            )

        # Done is done.
        for user, action, payload, code in (
            (teachers.chen, "complete", {"minutes": 30}, "complete"),
            (teachers.chen, "release", None, "release"),
            (
                teachers.chen,
                "schedule",
                {**plan, "scheduled_for": (clock.now() + HOUR).isoformat()},
                "schedule",
            ),
            (w.resident, "cancel", {}, "cancel"),
            (teachers.li, "claim", None, "claim"),
        ):
            r = await act(user, rid, action, payload)
            expect(r, 409, "course.invalid_transition")
            assert r.json()["details"] == {"status": "done", "action": code}
        async with maker() as s:
            assert await s.scalar(select(func.count()).select_from(VolunteerRecord)) == 1
        r = await client.get(f"{HELP}/{rid}", headers=auth(w.resident))
        assert (r.json()["status"], r.json()["helper_name"]) == ("done", "陈老师")

    async def test_complete_without_a_schedule_is_credited_now(self, clock, w, teachers, asked, act, maker):
        h = await asked(w.resident)
        assert (await act(teachers.li, h["id"], "claim")).status_code == 200
        clock.advance(3 * HOUR)
        r = await act(teachers.li, h["id"], "complete", {"minutes": 30})
        assert (r.status_code, r.json()["status"]) == (200, "done"), r.text
        async with maker() as s:
            (rec,) = await s.scalars(select(VolunteerRecord))
            assert (rec.user_id, rec.minutes, rec.served_at) == (teachers.li.id, 30, clock.now())

    async def test_staff_may_schedule_and_complete_for_the_helper(
        self, clock, w, teachers, asked, act, maker
    ):
        h = await asked(w.resident)
        expect(
            await act(w.c1_admin, h["id"], "complete", {"minutes": 30}), 403, "course.action_not_allowed"
        )  # nobody is helping yet
        assert (await act(teachers.chen, h["id"], "claim")).status_code == 200
        r = await act(
            w.c1_admin,
            h["id"],
            "schedule",
            {"scheduled_for": (clock.now() + HOUR).isoformat(), "place": "活动室"},
        )
        assert (r.status_code, r.json()["status"]) == (200, "scheduled"), r.text
        clock.advance(2 * HOUR)
        r = await act(w.c1_admin, h["id"], "complete", {"minutes": 60})
        assert (r.status_code, r.json()["status"]) == (200, "done"), r.text
        async with maker() as s:
            (rec,) = await s.scalars(select(VolunteerRecord))
            assert (rec.user_id, rec.minutes) == (teachers.chen.id, 60)  # the helper's hours
        expect(
            await act(w.c2_admin, h["id"], "complete", {"minutes": 60}), 404, "course.help_request_not_found"
        )


class TestReleaseAndCancel:
    async def test_release_puts_it_back_for_another_teacher(self, clock, w, teachers, asked, act, maker):
        h = await asked(w.resident)
        rid = h["id"]
        assert (await act(teachers.chen, rid, "claim")).status_code == 200
        r = await act(
            teachers.chen,
            rid,
            "schedule",
            {"scheduled_for": (clock.now() + HOUR).isoformat(), "place": "家里"},
        )
        assert r.status_code == 200, r.text
        expect(await act(teachers.li, rid, "release"), 403, "course.action_not_allowed")
        expect(await act(w.resident, rid, "release"), 403, "course.action_not_allowed")

        r = await act(teachers.chen, rid, "release")

        assert r.status_code == 200, r.text
        body = r.json()
        assert (
            body["status"],
            body["helper_id"],
            body["claimed_at"],
            body["scheduled_for"],
            body["place"],
        ) == (
            "open",
            None,
            None,
            None,
            None,
        )
        assert body["timeline"][-1]["action"] == "release"
        assert body["timeline"][-1]["from_status"] == "scheduled"
        # The other teachers hear of it again; the one who gave it back does not.
        assert await notified(maker, "course.help_new", rid) == sorted(
            [teachers.chen.id, teachers.li.id, teachers.li.id]
        )
        expect(await act(teachers.chen, rid, "release"), 403, "course.action_not_allowed")  # not theirs now

        r = await act(teachers.li, rid, "claim")
        assert (r.status_code, r.json()["helper_id"]) == (200, str(teachers.li.id)), r.text
        # Staff can take it off them too.
        r = await act(w.c1_admin, rid, "release")
        assert (r.status_code, r.json()["status"]) == (200, "open"), r.text
        expect(await act(w.c1_admin, rid, "release"), 403, "course.action_not_allowed")  # nobody to release

    async def test_asker_and_staff_cancel_helpers_do_not(self, w, teachers, asked, act, maker):
        h = await asked(w.resident)
        rid = h["id"]
        assert (await act(teachers.chen, rid, "claim")).status_code == 200
        expect(await act(teachers.chen, rid, "cancel", {}), 403, "course.action_not_allowed")
        expect(await act(teachers.li, rid, "cancel", {}), 403, "course.action_not_allowed")
        expect(await act(w.other_resident, rid, "cancel", {}), 404, "course.help_request_not_found")

        r = await act(w.resident, rid, "cancel", {"reason": "儿子教会我了"})

        assert r.status_code == 200, r.text
        assert r.json()["status"] == "cancelled"
        assert (r.json()["timeline"][-1]["action"], r.json()["timeline"][-1]["note"]) == (
            "cancel",
            "儿子教会我了",
        )
        assert await notified(maker, "course.help_cancelled", rid) == [teachers.chen.id]
        r = await act(w.resident, rid, "cancel", {})
        expect(r, 409, "course.invalid_transition")
        assert r.json()["details"] == {"status": "cancelled", "action": "cancel"}

        # Whoever asked for someone else may cancel it; so may staff.
        proxy = {"attendee": {"name": "赵奶奶"}, "relationship": "neighbour", "consent": True}
        h2 = await asked(w.worker, community_id=str(w.c1.id), **proxy)
        r = await act(w.worker, h2["id"], "cancel", {})
        assert (r.status_code, r.json()["status"]) == (200, "cancelled"), r.text
        h3 = await asked(w.resident, topic="wechat")
        r = await act(w.c1_admin, h3["id"], "cancel", {"reason": "重复提交"})
        assert (r.status_code, r.json()["status"]) == (200, "cancelled"), r.text
        assert await notified(maker, "course.help_cancelled", h3["id"]) == [w.resident.id]


# --- the list views ---------------------------------------------------------------------------


class TestLists:
    @pytest.fixture
    async def three(self, clock, w, teachers, asked, act):  # type: ignore[no-untyped-def]
        """r1: the resident's (C1, claimed by chen); r2: the worker's for 赵奶奶 (C1, open);
        r3: the other resident's (C2, open). Asked an hour apart."""
        r1 = await asked(w.resident)
        clock.advance(HOUR)
        r2 = await asked(
            w.worker,
            community_id=str(w.c1.id),
            attendee={"name": "赵奶奶", "phone": "13900000005"},
            relationship="grid_worker",
            consent=True,
        )
        clock.advance(HOUR)
        r3 = await asked(w.other_resident, community_id=str(w.c2.id), topic="mobile_payment")
        assert (await act(teachers.chen, r1["id"], "claim")).status_code == 200
        return r1["id"], r2["id"], r3["id"]

    async def test_mine(self, w, teachers, three, listing):
        r1, r2, r3 = three
        assert ids(await listing(w.resident, "mine")) == [r1]
        r = await listing(w.worker, "mine")
        assert ids(r) == [r2]
        assert r.json()["items"][0]["attendee"]["phone"] == "13900000005"  # they asked: full
        assert ids(await listing(w.other_resident, "mine")) == [r3]
        assert ids(await listing(teachers.chen, "mine")) == []

    async def test_open_is_for_teachers_of_the_community(self, w, teachers, three, listing):
        _, r2, r3 = three
        r = await listing(teachers.li, "open")
        assert ids(r) == [r2]
        assert r.json()["items"][0]["attendee"]["phone"] == "139****0005"  # before claiming: masked
        assert r.json()["items"][0]["requested_by_id"] is None
        assert ids(await listing(teachers.chen, "open")) == [r2]
        assert ids(await listing(teachers.c2_teacher, "open")) == [r3]
        assert ids(await listing(teachers.c2_teacher, "open", community_id=str(w.c1.id))) == []
        for user in (w.resident, w.c1_admin, w.superadmin):
            expect(await listing(user, "open"), 403, "course.not_a_teacher")

    async def test_assigned(self, w, teachers, three, listing):
        r1, _, _ = three
        r = await listing(teachers.chen, "assigned")
        assert ids(r) == [r1]
        assert r.json()["items"][0]["attendee"]["phone"] == "13912345678"  # their helper: full
        assert ids(await listing(teachers.li, "assigned")) == []
        assert ids(await listing(teachers.chen, "assigned", status="done")) == []

    async def test_all_for_staff_within_their_scope(self, w, teachers, three, listing):
        r1, r2, r3 = three
        assert ids(await listing(w.sub_admin, "all")) == [r3, r2, r1]  # latest first
        assert ids(await listing(w.superadmin, "all")) == [r3, r2, r1]
        assert ids(await listing(w.c1_admin, "all")) == [r2, r1]
        assert ids(await listing(w.c2_admin, "all")) == [r3]
        assert ids(await listing(w.s2_admin, "all")) == []
        assert ids(await listing(w.sub_admin, "all", status="open")) == [r3, r2]
        assert ids(await listing(w.sub_admin, "all", community_id=str(w.c2.id))) == [r3]
        r = await listing(w.c1_admin, "all", status="claimed")
        assert ids(r) == [r1]
        item = r.json()["items"][0]
        assert (item["attendee"]["phone"], item["attendee"]["user_id"], item["requested_by_id"]) == (
            "13912345678",
            str(w.resident.id),
            str(w.resident.id),
        )
        for user in (w.resident, teachers.chen, w.worker):
            expect(await listing(user, "all"), 403, "course.scope_forbidden")

    async def test_pages_and_bad_views(self, w, teachers, three, listing):
        r1, r2, r3 = three
        first = await listing(w.sub_admin, "all", limit=2)
        assert ids(first) == [r3, r2]
        rest = await listing(w.sub_admin, "all", limit=2, cursor=first.json()["next_cursor"])
        assert ids(rest) == [r1]
        assert rest.json()["next_cursor"] is None
        expect(await listing(w.sub_admin, "everything"), 422, "request.invalid")


# --- claiming at the same moment, on a live app ---------------------------------------------

CLAIMERS = 10


@pytest.fixture
async def live_world(live: Live) -> World:
    return await live.world()


class TestConcurrentClaims:
    async def test_ten_teachers_claim_at_once_and_one_wins(self, live: Live, live_world: World) -> None:
        w = live_world
        async with live.app.state.sessionmaker() as session:
            claimers = [
                await make_user(session, (Role.TEACHER, w.c1), display_name=f"老师{i}")
                for i in range(CLAIMERS)
            ]
            await session.commit()
        r = await live.client.post(
            HELP, json={"topic": "wechat", "description": "教我视频通话"}, headers=live.auth(w.resident)
        )
        assert r.status_code == 201, r.text
        rid = r.json()["id"]

        results = await asyncio.gather(
            *(live.client.post(f"{HELP}/{rid}/claim", headers=live.auth(t)) for t in claimers)
        )

        codes = sorted(r.status_code for r in results)
        assert codes == [200] + [409] * (CLAIMERS - 1), [
            r.text for r in results if r.status_code not in (200, 409)
        ]
        assert {r.json()["code"] for r in results if r.status_code == 409} == {"course.help_already_claimed"}
        winner = claimers[[r.status_code for r in results].index(200)]
        (won,) = [r.json() for r in results if r.status_code == 200]
        assert (won["status"], won["helper_id"]) == ("claimed", str(winner.id))
        assert won["attendee"]["phone"] == "13912345678"  # the winner, and only they, get the phone

        async with live.app.state.sessionmaker() as session:
            row = await session.get(HelpRequest, uuid.UUID(rid))
            assert row is not None
            assert (row.status.value, row.helper_id, row.event_count) == ("claimed", winner.id, 2)
            claims = await session.scalar(
                select(func.count())
                .select_from(HelpEvent)
                .where(HelpEvent.request_id == row.id, HelpEvent.action == "claim")
            )
            assert claims == 1
            told = list(
                await session.scalars(
                    select(Notification.user_id).where(Notification.kind == "course.help_claimed")
                )
            )
            assert told == [w.resident.id]
        loser = next(t for t in claimers if t.id != winner.id)
        r = await live.client.get(f"{HELP}/{rid}", headers=live.auth(loser))
        assert (r.status_code, r.json()["helper_id"], r.json()["attendee"]["phone"]) == (
            200,
            str(winner.id),
            MASKED,
        )
        r = await live.client.get(HELP, params={"view": "open"}, headers=live.auth(loser))
        assert r.json()["items"] == []
