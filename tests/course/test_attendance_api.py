"""菜鸟学堂 attendance through the API: the rotating QR code, the teacher's roll call, no-shows
recorded when the session is closed, learners' history, and the roster of attendees (with
linking and merging a record entered by someone else)."""

import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from app.course.jobs import CourseSweepReport, sweep
from app.course.models import Attendee, HelpRequest, Signup
from app.user.models import User
from tests.course.conftest import COURSES
from tests.factories import make_user

MIN = timedelta(minutes=1)
HOUR = timedelta(hours=1)
PERIOD = 60  # settings.course.checkin_token_seconds (default)


def expect(r: Any, status: int, code: str) -> None:
    assert (r.status_code, r.json().get("code")) == (status, code), r.text


def at(value: str) -> datetime:
    return datetime.fromisoformat(value)


@pytest.fixture
def run_sweep(maker, clock, settings):  # type: ignore[no-untyped-def]
    async def _run() -> CourseSweepReport:
        report = await sweep(maker, clock=clock, settings=settings)
        assert report.errors == 0
        return report

    return _run


@pytest.fixture
def token(client, auth):  # type: ignore[no-untyped-def]
    """The code shown at the venue, fetched by `user` (the session's teacher by default)."""

    async def _token(sid: str, user: User) -> str:
        r = await client.get(f"{COURSES}/sessions/{sid}/checkin-token", headers=auth(user))
        assert r.status_code == 200, r.text
        return r.json()["token"]

    return _token


@pytest.fixture
def scan(client, auth):  # type: ignore[no-untyped-def]
    async def _scan(user: User, sid: str, tok: str, signup_id: str | None = None):  # type: ignore[no-untyped-def]
        body: dict[str, Any] = {"token": tok}
        if signup_id is not None:
            body["signup_id"] = signup_id
        return await client.post(f"{COURSES}/sessions/{sid}/check-in", json=body, headers=auth(user))

    return _scan


@pytest.fixture
def roll_call(client, auth):  # type: ignore[no-untyped-def]
    async def _roll(user: User, sid: str, entries: dict[str, bool]):  # type: ignore[no-untyped-def]
        body = {"entries": [{"signup_id": k, "present": v} for k, v in entries.items()]}
        return await client.post(f"{COURSES}/sessions/{sid}/roll-call", json=body, headers=auth(user))

    return _roll


@pytest.fixture
def signed(sign_up):  # type: ignore[no-untyped-def]
    """Sign up and return the signup (asserting it was created)."""

    async def _signed(user: User, sid: str, attendee: dict | None = None, **body: Any) -> dict[str, Any]:
        r = await sign_up(user, sid, attendee, **body)
        assert r.status_code == 201, r.text
        return r.json()

    return _signed


async def signup_row(maker, signup_id: str) -> Signup:  # type: ignore[no-untyped-def]
    async with maker() as s:
        row = await s.get(Signup, uuid.UUID(signup_id))
        assert row is not None
        return row


# --- the check-in code ----------------------------------------------------------------------


class TestCheckinToken:
    async def test_teachers_and_staff_of_the_community_get_a_code(
        self, client, auth, clock, w, teachers, open_session
    ):
        s = await open_session()
        for user in (teachers.chen, teachers.li, w.c1_admin, w.sub_admin, w.superadmin):
            r = await client.get(f"{COURSES}/sessions/{s['id']}/checkin-token", headers=auth(user))
            assert r.status_code == 200, r.text
            body = r.json()
            assert body["session_id"] == s["id"]
            assert body["token"].startswith(uuid.UUID(s["id"]).hex + ".")
            # Good for this period and the next: two minutes at most.
            assert at(body["valid_until"]) == clock.now() + 2 * PERIOD * timedelta(seconds=1)
            assert body["refresh_in_seconds"] == PERIOD

    async def test_residents_and_other_communities_get_403(self, client, auth, w, teachers, open_session):
        s = await open_session()
        for user in (w.resident, w.other_resident, teachers.c2_teacher, w.c2_admin, w.s2_admin, w.worker):
            r = await client.get(f"{COURSES}/sessions/{s['id']}/checkin-token", headers=auth(user))
            expect(r, 403, "course.scope_forbidden")

    async def test_unknown_and_cancelled_sessions(self, client, auth, w, teachers, open_session):
        r = await client.get(f"{COURSES}/sessions/{uuid.uuid4()}/checkin-token", headers=auth(teachers.chen))
        expect(r, 404, "course.session_not_found")
        s = await open_session()
        r = await client.post(f"{COURSES}/sessions/{s['id']}/cancel", json={}, headers=auth(w.c1_admin))
        assert r.status_code == 200, r.text
        r = await client.get(f"{COURSES}/sessions/{s['id']}/checkin-token", headers=auth(teachers.chen))
        expect(r, 409, "course.session_cancelled")


# --- scanning the code ----------------------------------------------------------------------


class TestQrCheckIn:
    async def test_learner_checks_in_and_scanning_twice_is_fine(
        self, clock, w, teachers, open_session, signed, token, scan, maker
    ):
        s = await open_session()
        su = await signed(w.resident, s["id"])
        clock.set(at(s["starts_at"]) - 10 * MIN)
        arrived = clock.now()

        r = await scan(w.resident, s["id"], await token(s["id"], teachers.chen))

        assert r.status_code == 200, r.text
        body = r.json()
        assert (body["id"], body["status"], body["check_in_method"]) == (su["id"], "attended", "qr")
        assert at(body["checked_in_at"]) == arrived
        row = await signup_row(maker, su["id"])
        assert row.attendance_by_id == w.resident.id

        clock.advance(5 * MIN)
        r = await scan(w.resident, s["id"], await token(s["id"], teachers.chen))
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "attended"
        assert at(r.json()["checked_in_at"]) == arrived  # the first scan counts

    async def test_the_signer_checks_in_the_learner_they_brought(
        self, clock, w, teachers, open_session, signed, token, scan, maker
    ):
        s = await open_session()
        su = await signed(w.worker, s["id"], attendee={"name": "张奶奶", "phone": "13900000001", "age": 78})
        clock.set(at(s["starts_at"]))

        r = await scan(w.worker, s["id"], await token(s["id"], w.c1_admin))

        assert r.status_code == 200, r.text
        assert (r.json()["id"], r.json()["status"]) == (su["id"], "attended")
        assert r.json()["attendee"]["name"] == "张奶奶"
        assert (await signup_row(maker, su["id"])).attendance_by_id == w.worker.id

    async def test_the_learner_with_an_account_checks_in_a_signup_made_for_them(
        self, clock, w, teachers, open_session, signed, token, scan
    ):
        # Staff sign up the resident's existing record (the resident signed up once before).
        first = await open_session(in_hours=24)
        own = await signed(w.resident, first["id"])
        s = await open_session()
        su = await signed(
            w.c1_admin, s["id"], attendee_id=own["attendee"]["id"], relationship="staff", consent=True
        )
        clock.set(at(s["starts_at"]) - 30 * MIN)

        r = await scan(w.resident, s["id"], await token(s["id"], teachers.chen))

        assert r.status_code == 200, r.text
        assert (r.json()["id"], r.json()["status"]) == (su["id"], "attended")

    async def test_a_signer_of_two_learners_must_say_which(
        self, clock, w, teachers, open_session, signed, token, scan
    ):
        s = await open_session()
        zhang = await signed(w.worker, s["id"], attendee={"name": "张奶奶", "phone": "13900000001"})
        li = await signed(w.worker, s["id"], attendee={"name": "李爷爷", "phone": "13900000002"})
        mine = await signed(w.resident, s["id"])
        clock.set(at(s["starts_at"]) - 5 * MIN)
        tok = await token(s["id"], teachers.chen)

        r = await scan(w.worker, s["id"], tok)
        expect(r, 422, "course.signup_id_required")
        assert sorted(r.json()["details"]["signup_ids"]) == sorted([zhang["id"], li["id"]])

        r = await scan(w.worker, s["id"], tok, signup_id=li["id"])
        assert r.status_code == 200, r.text
        assert (r.json()["id"], r.json()["status"]) == (li["id"], "attended")
        # Someone else's signup cannot be chosen.
        r = await scan(w.worker, s["id"], tok, signup_id=mine["id"])
        expect(r, 409, "course.not_signed_up")
        r = await scan(w.worker, s["id"], tok, signup_id=zhang["id"])
        assert (r.status_code, r.json()["status"]) == (200, "attended"), r.text

    async def test_a_signer_of_two_learners_is_asked_only_while_both_are_to_check_in(
        self, clock, w, teachers, open_session, signed, token, scan
    ):
        s = await open_session(capacity=2)
        zhang = await signed(w.worker, s["id"], attendee={"name": "张奶奶", "phone": "13900000001"})
        await signed(w.resident, s["id"])  # the last seat
        li = await signed(w.worker, s["id"], attendee={"name": "李爷爷", "phone": "13900000002"})
        assert li["status"] == "waitlisted"
        clock.set(at(s["starts_at"]) - 5 * MIN)
        tok = await token(s["id"], teachers.chen)
        # 李爷爷 is only waitlisted: the one scan can only be for 张奶奶.
        r = await scan(w.worker, s["id"], tok)
        assert (r.status_code, r.json()["id"], r.json()["status"]) == (200, zhang["id"], "attended"), r.text
        r = await scan(w.worker, s["id"], tok)  # scanning again: still 张奶奶, nothing to choose
        assert (r.status_code, r.json()["id"]) == (200, zhang["id"]), r.text

    async def test_token_too_old_for_another_session_or_tampered(
        self, clock, w, teachers, open_session, signed, token, scan
    ):
        s = await open_session()
        other = await open_session(course_id=s["course_id"], in_hours=48.5)
        await signed(w.resident, s["id"])
        clock.set(at(s["starts_at"]) - 10 * MIN)
        tok = await token(s["id"], teachers.chen)
        other_tok = await token(other["id"], teachers.chen)

        expect(await scan(w.resident, s["id"], other_tok), 422, "course.checkin_token_wrong_session")
        sid, window, sig = tok.split(".")
        tampered = f"{sid}.{window}.{sig[:-1]}{'A' if sig[-1] != 'A' else 'B'}"
        expect(await scan(w.resident, s["id"], tampered), 422, "course.checkin_token_invalid")
        # The signature covers the session and the period: neither can be swapped.
        expect(
            await scan(w.resident, s["id"], f"{sid}.{int(window) + 5}.{sig}"),
            422,
            "course.checkin_token_invalid",
        )
        other_sid = other_tok.split(".")[0]
        expect(
            await scan(w.resident, s["id"], f"{other_sid}.{window}.{sig}"),
            422,
            "course.checkin_token_invalid",
        )
        for junk in ("garbage", "a.b.c", "..", f"{sid}.{window}", f"{sid}.{window}.{'签' * len(sig)}"):
            expect(await scan(w.resident, s["id"], junk), 422, "course.checkin_token_invalid")

        clock.advance(3 * PERIOD * timedelta(seconds=1))  # shown three periods ago
        expect(await scan(w.resident, s["id"], tok), 422, "course.checkin_token_expired")
        clock.advance(-2 * PERIOD * timedelta(seconds=1))  # one period on: still accepted
        r = await scan(w.resident, s["id"], tok)
        assert (r.status_code, r.json()["status"]) == (200, "attended"), r.text

    async def test_token_expires_after_two_periods(
        self, clock, w, teachers, open_session, signed, token, scan
    ):
        s = await open_session()
        await signed(w.resident, s["id"])
        clock.set(at(s["starts_at"]) - 10 * MIN)
        tok = await token(s["id"], teachers.chen)
        clock.advance(2 * PERIOD * timedelta(seconds=1))
        expect(await scan(w.resident, s["id"], tok), 422, "course.checkin_token_expired")

    async def test_check_in_opens_half_an_hour_before_the_start(
        self, clock, w, teachers, open_session, signed, token, scan
    ):
        s = await open_session()
        await signed(w.resident, s["id"])
        expect(
            await scan(w.resident, s["id"], await token(s["id"], teachers.chen)),
            409,
            "course.checkin_not_open",
        )
        clock.set(at(s["starts_at"]) - 31 * MIN)
        expect(
            await scan(w.resident, s["id"], await token(s["id"], teachers.chen)),
            409,
            "course.checkin_not_open",
        )
        clock.set(at(s["starts_at"]) - 30 * MIN)
        r = await scan(w.resident, s["id"], await token(s["id"], teachers.chen))
        assert (r.status_code, r.json()["status"]) == (200, "attended"), r.text

    async def test_check_in_closes_when_the_session_is_closed(
        self, clock, w, teachers, open_session, signed, token, scan, run_sweep
    ):
        s = await open_session()
        await signed(w.resident, s["id"])
        await signed(w.other_resident, s["id"])
        clock.set(at(s["ends_at"]) + 29 * MIN)  # very late, but the session is not closed yet
        r = await scan(w.resident, s["id"], await token(s["id"], teachers.chen))
        assert (r.status_code, r.json()["status"]) == (200, "attended"), r.text
        clock.set(at(s["ends_at"]) + 30 * MIN)
        report = await run_sweep()
        assert (report.closed_sessions, report.no_shows) == (1, 1)
        r = await scan(w.other_resident, s["id"], await token(s["id"], teachers.chen))
        expect(r, 409, "course.checkin_not_open")

    async def test_without_a_signup(
        self, client, auth, clock, w, teachers, open_session, signed, token, scan
    ):
        s = await open_session()
        su = await signed(w.resident, s["id"])
        await signed(w.worker, s["id"], attendee={"name": "张奶奶", "phone": "13900000001"})
        r = await client.post(f"{COURSES}/signups/{su['id']}/cancel", json={}, headers=auth(w.resident))
        assert r.status_code == 200, r.text
        clock.set(at(s["starts_at"]) - 10 * MIN)
        tok = await token(s["id"], teachers.chen)

        expect(await scan(w.other_resident, s["id"], tok), 409, "course.not_signed_up")
        expect(await scan(w.resident, s["id"], tok), 409, "course.not_signed_up")  # cancelled
        expect(await scan(w.c1_admin, s["id"], tok), 409, "course.not_signed_up")  # staff are not learners

    async def test_waitlisted_learner_cannot_check_in(
        self, clock, w, teachers, open_session, signed, token, scan, maker
    ):
        s = await open_session(capacity=1)
        await signed(w.resident, s["id"])
        waiting = await signed(w.other_resident, s["id"])
        assert waiting["status"] == "waitlisted"
        clock.set(at(s["starts_at"]) - 10 * MIN)

        r = await scan(w.other_resident, s["id"], await token(s["id"], teachers.chen))

        expect(r, 409, "course.waitlisted_cannot_check_in")
        assert (await signup_row(maker, waiting["id"])).status.value == "waitlisted"


# --- the roll call --------------------------------------------------------------------------


class TestRollCall:
    async def test_roll_call_marks_present_and_absent_and_corrects_after_closing(
        self, clock, w, teachers, open_session, signed, roll_call, run_sweep, maker
    ):
        s = await open_session(capacity=3)
        a = await signed(w.resident, s["id"])
        b = await signed(w.worker, s["id"], attendee={"name": "张奶奶", "phone": "13900000001"})
        c = await signed(w.other_resident, s["id"])
        clock.set(at(s["starts_at"]) + 10 * MIN)
        called = clock.now()

        r = await roll_call(teachers.chen, s["id"], {a["id"]: True, b["id"]: False})

        assert r.status_code == 200, r.text
        by_id = {x["id"]: x for x in r.json()}
        assert [x["id"] for x in r.json()] == [a["id"], b["id"], c["id"]]  # arrival order
        assert (by_id[a["id"]]["status"], by_id[a["id"]]["check_in_method"]) == ("attended", "roll_call")
        assert at(by_id[a["id"]]["checked_in_at"]) == called
        assert (by_id[b["id"]]["status"], by_id[b["id"]]["checked_in_at"]) == ("no_show", None)
        assert by_id[c["id"]]["status"] == "confirmed"
        # A teacher sees learners' phones masked; the roster is the teacher's, not staff's.
        assert by_id[a["id"]]["attendee"]["phone"] == "139****5678"
        assert (await signup_row(maker, a["id"])).attendance_by_id == teachers.chen.id

        # Closing the session records the one nobody marked as a no-show.
        clock.set(at(s["ends_at"]) + 30 * MIN)
        report = await run_sweep()
        assert (report.closed_sessions, report.no_shows) == (1, 1)
        assert (await signup_row(maker, c["id"])).status.value == "no_show"

        # The next day the teacher corrects: c came but could not scan, a actually left.
        clock.advance(20 * HOUR)
        r = await roll_call(w.c1_admin, s["id"], {c["id"]: True, a["id"]: False})
        assert r.status_code == 200, r.text
        by_id = {x["id"]: x for x in r.json()}
        assert (by_id[c["id"]]["status"], by_id[c["id"]]["check_in_method"]) == ("attended", "roll_call")
        assert (by_id[a["id"]]["status"], by_id[a["id"]]["check_in_method"]) == ("no_show", None)
        assert by_id[c["id"]]["attendee"]["phone"] == "13987654321"  # staff see it in full

        # Marking the same again changes nothing (and keeps the check-in time).
        corrected = clock.now()
        clock.advance(10 * MIN)
        r = await roll_call(teachers.chen, s["id"], {c["id"]: True})
        assert r.status_code == 200, r.text
        assert at({x["id"]: x for x in r.json()}[c["id"]]["checked_in_at"]) == corrected
        assert (await signup_row(maker, c["id"])).attendance_by_id == w.c1_admin.id

    async def test_roll_call_window(self, clock, w, teachers, open_session, signed, roll_call):
        s = await open_session()
        a = await signed(w.resident, s["id"])
        expect(await roll_call(teachers.chen, s["id"], {a["id"]: True}), 409, "course.roll_call_not_open")
        clock.set(at(s["starts_at"]) - 31 * MIN)
        expect(await roll_call(teachers.chen, s["id"], {a["id"]: True}), 409, "course.roll_call_not_open")
        clock.set(at(s["starts_at"]) - 30 * MIN)
        r = await roll_call(teachers.chen, s["id"], {a["id"]: True})
        assert r.status_code == 200, r.text
        clock.set(at(s["ends_at"]) + 48 * HOUR)  # roll_call_correction_hours: the last moment
        r = await roll_call(teachers.chen, s["id"], {a["id"]: False})
        assert r.status_code == 200, r.text
        clock.advance(timedelta(seconds=1))
        expect(await roll_call(teachers.chen, s["id"], {a["id"]: True}), 409, "course.roll_call_closed")

    async def test_who_may_call_the_roll_and_bad_entries(
        self, clock, client, auth, w, teachers, open_session, signed, roll_call
    ):
        s = await open_session(capacity=1)
        a = await signed(w.resident, s["id"])
        waiting = await signed(w.other_resident, s["id"])
        other = await open_session(course_id=s["course_id"], in_hours=72)
        elsewhere = await signed(w.resident, other["id"])
        clock.set(at(s["starts_at"]))
        for user in (w.resident, w.other_resident, teachers.c2_teacher, w.c2_admin, w.s2_admin):
            expect(await roll_call(user, s["id"], {a["id"]: True}), 403, "course.scope_forbidden")
        r = await roll_call(teachers.chen, s["id"], {a["id"]: True, elsewhere["id"]: True})
        expect(r, 404, "course.signup_not_found")
        assert r.json()["details"]["signup_ids"] == [elsewhere["id"]]
        expect(
            await roll_call(teachers.chen, s["id"], {waiting["id"]: True}),
            409,
            "course.waitlisted_cannot_check_in",
        )
        # Nothing was written by the failed calls.
        r = await client.get(f"{COURSES}/sessions/{s['id']}/signups", headers=auth(teachers.chen))
        assert [x["status"] for x in r.json()] == ["confirmed", "waitlisted"]
        expect(
            await roll_call(teachers.chen, str(uuid.uuid4()), {a["id"]: True}),
            404,
            "course.session_not_found",
        )

    async def test_a_cancelled_signup_cannot_be_marked(
        self, clock, client, auth, w, teachers, open_session, signed, roll_call
    ):
        s = await open_session()
        a = await signed(w.resident, s["id"])
        r = await client.post(f"{COURSES}/signups/{a['id']}/cancel", json={}, headers=auth(w.resident))
        assert r.status_code == 200, r.text
        clock.set(at(s["starts_at"]))
        r = await roll_call(teachers.chen, s["id"], {a["id"]: True})
        expect(r, 409, "course.invalid_transition")
        assert r.json()["details"] == {"status": "cancelled", "action": "check_in"}

    async def test_a_qr_check_in_after_being_marked_absent_counts(
        self, clock, w, teachers, open_session, signed, roll_call, token, scan
    ):
        s = await open_session()
        a = await signed(w.resident, s["id"])
        clock.set(at(s["starts_at"]) + 5 * MIN)
        assert (await roll_call(teachers.chen, s["id"], {a["id"]: False})).status_code == 200
        clock.advance(10 * MIN)  # came late
        r = await scan(w.resident, s["id"], await token(s["id"], teachers.chen))
        assert (r.status_code, r.json()["status"], r.json()["check_in_method"]) == (200, "attended", "qr"), (
            r.text
        )


# --- history --------------------------------------------------------------------------------


class TestHistory:
    async def _attend_and_miss(self, clock, w, teachers, open_session, signed, token, scan, run_sweep):  # type: ignore[no-untyped-def]
        """The resident attends one class and misses another; the worker's 张奶奶 attends one."""
        first = await open_session(title="微信视频通话", topics=("wechat",))
        second = await open_session(in_hours=72, title="网上挂号", topics=("hospital_booking",))
        future = await open_session(in_hours=24 * 10, title="以后的课")
        mine1 = await signed(w.resident, first["id"])
        mine2 = await signed(w.resident, second["id"])
        await signed(w.resident, future["id"])
        zhang = await signed(w.worker, first["id"], attendee={"name": "张奶奶", "phone": "13900000001"})
        clock.set(at(first["starts_at"]))
        tok = await token(first["id"], teachers.chen)
        assert (await scan(w.resident, first["id"], tok)).status_code == 200
        assert (await scan(w.worker, first["id"], tok)).status_code == 200
        clock.set(at(second["ends_at"]) + HOUR)
        assert (await run_sweep()).closed_sessions == 2
        return first, second, mine1, mine2, zhang

    async def test_own_history(
        self, client, auth, clock, w, teachers, open_session, signed, token, scan, run_sweep
    ):
        first, _second, mine1, mine2, _ = await self._attend_and_miss(
            clock, w, teachers, open_session, signed, token, scan, run_sweep
        )

        r = await client.get(f"{COURSES}/me/history", headers=auth(w.resident))

        assert r.status_code == 200, r.text
        h = r.json()
        assert (h["attended"], h["no_shows"]) == (1, 1)
        assert [(i["signup_id"], i["status"]) for i in h["items"]] == [
            (mine2["id"], "no_show"),  # latest first
            (mine1["id"], "attended"),
        ]
        assert h["items"][0]["title"] == "网上挂号" and h["items"][0]["topics"] == ["hospital_booking"]
        assert h["items"][1]["session_id"] == first["id"] and h["items"][1]["checked_in_at"] is not None
        assert h["attendee"]["phone"] == "13912345678"
        assert h["attendee"]["user_id"] is None  # only staff see the account link
        # Someone who never signed up has no record.
        expect(
            await client.get(f"{COURSES}/me/history", headers=auth(w.other_resident)),
            404,
            "course.attendee_not_found",
        )

    async def test_who_sees_an_attendees_history(
        self, client, auth, clock, w, teachers, open_session, signed, token, scan, run_sweep
    ):
        _, _, mine1, _, zhang = await self._attend_and_miss(
            clock, w, teachers, open_session, signed, token, scan, run_sweep
        )
        own_id, zhang_id = mine1["attendee"]["id"], zhang["attendee"]["id"]

        # The learner themself.
        r = await client.get(f"{COURSES}/attendees/{own_id}/history", headers=auth(w.resident))
        assert (r.status_code, r.json()["attended"], r.json()["no_shows"]) == (200, 1, 1), r.text
        # Whoever entered the learner's record.
        r = await client.get(f"{COURSES}/attendees/{zhang_id}/history", headers=auth(w.worker))
        assert r.status_code == 200, r.text
        assert (r.json()["attended"], r.json()["attendee"]["phone"]) == (1, "13900000001")
        assert r.json()["items"][0]["status"] == "attended"
        # Staff of the learner's community (and above) see both, with the account link.
        for staff in (w.c1_admin, w.sub_admin, w.superadmin):
            r = await client.get(f"{COURSES}/attendees/{own_id}/history", headers=auth(staff))
            assert r.status_code == 200, r.text
            assert r.json()["attendee"]["user_id"] == str(w.resident.id)
            assert r.json()["attendee"]["phone"] == "13912345678"
            r = await client.get(f"{COURSES}/attendees/{zhang_id}/history", headers=auth(staff))
            assert (r.status_code, r.json()["attended"]) == (200, 1), r.text
        # Nobody else: not another resident, not the worker for the resident, not other communities.
        for user, aid in (
            (w.other_resident, own_id),
            (w.other_resident, zhang_id),
            (w.worker, own_id),
            (w.resident, zhang_id),
            (w.c2_admin, own_id),
            (w.s2_admin, zhang_id),
            (teachers.c2_teacher, own_id),
            (teachers.chen, own_id),  # teachers are not staff
        ):
            r = await client.get(f"{COURSES}/attendees/{aid}/history", headers=auth(user))
            expect(r, 404, "course.attendee_not_found")
        r = await client.get(f"{COURSES}/attendees/{uuid.uuid4()}/history", headers=auth(w.superadmin))
        expect(r, 404, "course.attendee_not_found")

    async def test_staff_where_the_learner_takes_classes_see_the_history(
        self, client, auth, clock, w, teachers, open_session, signed
    ):
        # 刘奶奶 lives in C1 but goes to a class in C2: C2's staff keep her record there too.
        s = await open_session(community=w.c2, staff=w.c2_admin, teacher_ids=[str(teachers.c2_teacher.id)])
        mine = await signed(w.resident, s["id"])
        r = await client.get(
            f"{COURSES}/attendees/{mine['attendee']['id']}/history", headers=auth(w.c2_admin)
        )
        assert r.status_code == 200, r.text
        r = await client.get(
            f"{COURSES}/attendees/{mine['attendee']['id']}/history", headers=auth(w.s2_admin)
        )
        expect(r, 404, "course.attendee_not_found")

    async def test_a_merged_record_has_no_history_of_its_own(
        self, client, auth, w, teachers, open_session, signed
    ):
        s = await open_session()
        await signed(w.resident, s["id"])
        proxy = await signed(w.worker, s["id"], attendee={"name": "赵阿姨"})
        other = await open_session(course_id=s["course_id"], in_hours=96)
        await signed(w.worker, other["id"], attendee={"name": "赵阿姨"})
        r = await client.post(
            f"{COURSES}/attendees/{proxy['attendee']['id']}/link",
            json={"user_id": str(w.resident.id)},
            headers=auth(w.c1_admin),
        )
        assert r.status_code == 200, r.text
        for user in (w.c1_admin, w.worker):
            r = await client.get(f"{COURSES}/attendees/{proxy['attendee']['id']}/history", headers=auth(user))
            expect(r, 404, "course.attendee_not_found")

    async def test_history_before_any_class_is_empty(self, client, auth, w, teachers, open_session, signed):
        s = await open_session()
        await signed(w.resident, s["id"])
        r = await client.get(f"{COURSES}/me/history", headers=auth(w.resident))
        assert r.status_code == 200, r.text
        assert (r.json()["attended"], r.json()["no_shows"], r.json()["items"]) == (0, 0, [])


# --- the roster of attendees, linking and merging ------------------------------------------


class TestAttendees:
    async def test_list_for_staff_with_filters(self, client, auth, w, teachers, open_session, signed):
        s = await open_session()
        own = await signed(w.resident, s["id"])
        zhang = await signed(
            w.worker, s["id"], attendee={"name": "张奶奶", "phone": "13900000001", "age": 80}
        )
        await signed(w.worker, s["id"], attendee={"name": "李爷爷"})
        url = f"{COURSES}/attendees"
        c1 = {"community_id": str(w.c1.id)}

        r = await client.get(url, params=c1, headers=auth(w.c1_admin))
        assert r.status_code == 200, r.text
        rows = {a["name"]: a for a in r.json()}
        assert set(rows) == {"居民甲", "张奶奶", "李爷爷"}
        assert rows["居民甲"]["id"] == own["attendee"]["id"]
        assert (rows["居民甲"]["has_account"], rows["居民甲"]["user_id"]) == (True, str(w.resident.id))
        assert (rows["张奶奶"]["phone"], rows["张奶奶"]["age"], rows["张奶奶"]["has_account"]) == (
            "13900000001",
            80,
            False,
        )

        r = await client.get(url, params={**c1, "unlinked": "true"}, headers=auth(w.sub_admin))
        assert sorted(a["name"] for a in r.json()) == ["张奶奶", "李爷爷"]
        r = await client.get(url, params={**c1, "q": "奶奶"}, headers=auth(w.c1_admin))
        assert [a["id"] for a in r.json()] == [zhang["attendee"]["id"]]
        r = await client.get(url, params={**c1, "q": "13900000001"}, headers=auth(w.c1_admin))
        assert [a["id"] for a in r.json()] == [zhang["attendee"]["id"]]
        r = await client.get(url, params={**c1, "q": "1390000"}, headers=auth(w.c1_admin))
        assert r.json() == []  # phones match in full only
        r = await client.get(url, params={**c1, "q": "%"}, headers=auth(w.c1_admin))
        assert r.json() == []  # no wildcards
        r = await client.get(url, params={"community_id": str(w.c2.id)}, headers=auth(w.sub_admin))
        assert r.json() == []

    async def test_list_is_for_staff_of_the_community_only(self, client, auth, w, teachers):
        url = f"{COURSES}/attendees"
        c1 = {"community_id": str(w.c1.id)}
        for user in (w.resident, teachers.chen, w.worker, w.dept_staff):
            expect(await client.get(url, params=c1, headers=auth(user)), 403, "auth.staff_only")
        for user in (w.c2_admin, w.s2_admin):
            expect(await client.get(url, params=c1, headers=auth(user)), 403, "course.scope_forbidden")
        r = await client.get(url, params={"community_id": str(uuid.uuid4())}, headers=auth(w.sub_admin))
        expect(r, 403, "course.scope_forbidden")

    async def test_link_a_record_to_an_account(
        self, client, auth, session, w, teachers, open_session, signed
    ):
        s = await open_session()
        wang = await make_user(session, home=w.c1, phone="13900000009", display_name="王奶奶")
        await session.commit()
        su = await signed(w.worker, s["id"], attendee={"name": "王奶奶", "phone": "13900000009"})
        aid = su["attendee"]["id"]
        url = f"{COURSES}/attendees/{aid}/link"

        expect(
            await client.post(url, json={"user_id": str(wang.id)}, headers=auth(w.resident)),
            403,
            "auth.staff_only",
        )
        expect(
            await client.post(url, json={"user_id": str(wang.id)}, headers=auth(w.c2_admin)),
            404,
            "course.attendee_not_found",
        )
        expect(
            await client.post(url, json={"user_id": str(uuid.uuid4())}, headers=auth(w.c1_admin)),
            422,
            "course.user_not_found",
        )
        expect(
            await client.post(
                f"{COURSES}/attendees/{uuid.uuid4()}/link",
                json={"user_id": str(wang.id)},
                headers=auth(w.c1_admin),
            ),
            404,
            "course.attendee_not_found",
        )

        r = await client.post(url, json={"user_id": str(wang.id)}, headers=auth(w.c1_admin))

        assert r.status_code == 200, r.text
        assert (r.json()["id"], r.json()["has_account"], r.json()["user_id"]) == (aid, True, str(wang.id))
        # Now it is 王奶奶's own record: her signups and history are hers to see.
        r = await client.get(f"{COURSES}/signups/mine", headers=auth(wang))
        assert [x["id"] for x in r.json()] == [su["id"]]
        r = await client.get(f"{COURSES}/me/history", headers=auth(wang))
        assert (r.status_code, r.json()["attendee"]["id"]) == (200, aid), r.text
        # ... and the worker who entered her still sees it.
        r = await client.get(f"{COURSES}/attendees/{aid}/history", headers=auth(w.worker))
        assert r.status_code == 200, r.text
        r = await client.get(
            f"{COURSES}/attendees",
            params={"community_id": str(w.c1.id), "unlinked": "true"},
            headers=auth(w.c1_admin),
        )
        assert r.json() == []
        expect(
            await client.post(url, json={"user_id": str(w.resident.id)}, headers=auth(w.sub_admin)),
            409,
            "course.attendee_already_linked",
        )

    async def test_link_merges_into_the_residents_own_record(
        self, client, auth, maker, w, teachers, open_session, signed
    ):
        both = await open_session(capacity=5)
        only_proxy = await open_session(course_id=both["course_id"], in_hours=72)
        own = await signed(w.resident, both["id"])
        dup = await signed(w.worker, both["id"], attendee={"name": "李秀英", "age": 70})
        moved = await signed(w.worker, only_proxy["id"], attendee={"name": "李秀英"})
        proxy_id = dup["attendee"]["id"]
        assert moved["attendee"]["id"] == proxy_id != own["attendee"]["id"]
        h = await client.post(
            f"{COURSES}/help-requests",
            json={
                "topic": "wechat",
                "description": "教视频通话",
                "attendee_id": proxy_id,
                "relationship": "neighbour",
                "consent": True,
            },
            headers=auth(w.worker),
        )
        assert h.status_code == 201, h.text

        r = await client.post(
            f"{COURSES}/attendees/{proxy_id}/link",
            json={"user_id": str(w.resident.id)},
            headers=auth(w.c1_admin),
        )

        assert r.status_code == 200, r.text
        own_id = own["attendee"]["id"]
        assert (r.json()["id"], r.json()["user_id"], r.json()["age"]) == (own_id, str(w.resident.id), 70)
        async with maker() as s:
            rows = {str(su.id): su for su in await s.scalars(select(Signup))}
            assert {str(su.attendee_id) for su in rows.values()} == {own_id}
            assert rows[own["id"]].status.value == "confirmed"
            assert (rows[dup["id"]].status.value, rows[dup["id"]].cancel_reason) == (
                "cancelled",
                "合并重复报名",
            )
            assert rows[moved["id"]].status.value == "confirmed"
            old = await s.get(Attendee, uuid.UUID(proxy_id))
            assert old is not None and str(old.merged_into_id) == own_id and old.user_id is None
            help_row = await s.get(HelpRequest, uuid.UUID(h.json()["id"]))
            assert help_row is not None and str(help_row.attendee_id) == own_id
        # The resident now sees both classes and the help request as their own.
        r = await client.get(f"{COURSES}/signups/mine", headers=auth(w.resident))
        assert {x["id"] for x in r.json()} == {own["id"], moved["id"]}
        r = await client.get(f"{COURSES}/help-requests", params={"view": "mine"}, headers=auth(w.resident))
        assert [x["id"] for x in r.json()["items"]] == [h.json()["id"]]
        # The old record is gone from the roster and cannot be linked or signed up again.
        r = await client.get(
            f"{COURSES}/attendees", params={"community_id": str(w.c1.id)}, headers=auth(w.c1_admin)
        )
        assert [a["id"] for a in r.json()] == [own_id]
        expect(
            await client.post(
                f"{COURSES}/attendees/{proxy_id}/link",
                json={"user_id": str(w.resident.id)},
                headers=auth(w.c1_admin),
            ),
            404,
            "course.attendee_not_found",
        )
        later = await open_session(course_id=both["course_id"], in_hours=96)
        r = await client.post(
            f"{COURSES}/sessions/{later['id']}/signups",
            json={"attendee_id": proxy_id, "relationship": "neighbour", "consent": True},
            headers=auth(w.worker),
        )
        expect(r, 404, "course.attendee_not_found")
        # The session's seat count no longer holds the duplicate.
        r = await client.get(f"{COURSES}/sessions/{both['id']}", headers=auth(w.resident))
        assert r.json()["seats_left"] == 4

    async def test_merge_keeps_the_seat_the_learner_had_through_the_proxy(
        self, client, auth, w, teachers, open_session, signed
    ):
        s = await open_session(capacity=1)
        dup = await signed(w.worker, s["id"], attendee={"name": "李秀英"})
        ahead = await signed(w.other_resident, s["id"])
        own = await signed(w.resident, s["id"])
        assert (dup["status"], ahead["status"], own["status"]) == ("confirmed", "waitlisted", "waitlisted")

        r = await client.post(
            f"{COURSES}/attendees/{dup['attendee']['id']}/link",
            json={"user_id": str(w.resident.id)},
            headers=auth(w.c1_admin),
        )
        assert r.status_code == 200, r.text

        r = await client.get(f"{COURSES}/signups/mine", headers=auth(w.resident))
        assert [(x["id"], x["status"]) for x in r.json()] == [(dup["id"], "confirmed")]
        r = await client.get(f"{COURSES}/sessions/{s['id']}/signups", headers=auth(w.c1_admin))
        assert {x["id"]: (x["status"], x["waitlist_position"]) for x in r.json()} == {
            dup["id"]: ("confirmed", None),
            ahead["id"]: ("waitlisted", 1),
            own["id"]: ("cancelled", None),
        }

    async def test_merge_keeps_the_attendance_recorded_through_the_proxy(
        self, client, auth, clock, w, teachers, open_session, signed, token, scan, run_sweep
    ):
        s = await open_session()
        own = await signed(w.resident, s["id"])
        dup = await signed(w.worker, s["id"], attendee={"name": "李秀英"})
        clock.set(at(s["starts_at"]))
        assert (await scan(w.worker, s["id"], await token(s["id"], teachers.chen))).status_code == 200
        clock.set(at(s["ends_at"]) + HOUR)
        assert (await run_sweep()).no_shows == 1  # the resident's own signup: nobody scanned it

        r = await client.post(
            f"{COURSES}/attendees/{dup['attendee']['id']}/link",
            json={"user_id": str(w.resident.id)},
            headers=auth(w.c1_admin),
        )
        assert r.status_code == 200, r.text

        r = await client.get(f"{COURSES}/me/history", headers=auth(w.resident))
        assert (r.json()["attended"], r.json()["no_shows"]) == (1, 0), r.text
        assert [(i["signup_id"], i["status"]) for i in r.json()["items"]] == [(dup["id"], "attended")]
        r = await client.get(f"{COURSES}/signups/{own['id']}", headers=auth(w.resident))
        assert (r.json()["status"], r.json()["cancel_reason"]) == ("cancelled", "合并重复报名")

    async def test_a_seat_freed_by_the_merge_goes_to_the_waitlist(
        self, client, auth, w, teachers, open_session, signed
    ):
        s = await open_session(capacity=2)
        own = await signed(w.resident, s["id"])
        dup = await signed(w.worker, s["id"], attendee={"name": "李秀英"})
        waiting = await signed(w.other_resident, s["id"])
        assert (own["status"], dup["status"], waiting["status"]) == ("confirmed", "confirmed", "waitlisted")

        r = await client.post(
            f"{COURSES}/attendees/{dup['attendee']['id']}/link",
            json={"user_id": str(w.resident.id)},
            headers=auth(w.c1_admin),
        )
        assert r.status_code == 200, r.text

        r = await client.get(f"{COURSES}/signups/{waiting['id']}", headers=auth(w.other_resident))
        assert r.json()["status"] == "confirmed", r.text
