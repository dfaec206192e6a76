"""菜鸟学堂 signups through the API, as each role: signing up oneself or someone else, the
waitlist and its promotions, cancelling, the course list, the roster, my signups, and who may
run courses and sessions. Every error is checked by its HTTP status and stable code."""

import itertools
import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update

from app.auth.permissions import Role
from app.course.models import Attendee, Signup
from app.course.state import SignupStatus
from app.user.models import User
from tests.course.conftest import COURSES
from tests.factories import make_user

SIGNUPS = f"{COURSES}/signups"
NOTIFICATIONS = "/api/v1/notifications"
GRANNY = {"name": "张奶奶", "phone": "13900000001", "age": 78}
_phones = itertools.count(1)


def code(r: httpx.Response) -> tuple[int, str | None]:
    return r.status_code, r.json().get("code")


@pytest.fixture
def people(session, w):  # type: ignore[no-untyped-def]
    """n more residents of C1 (or another community), each with a phone of their own."""

    async def _make(n: int, home=None) -> list[User]:  # type: ignore[no-untyped-def]
        users = []
        for _ in range(n):
            k = next(_phones)
            users.append(
                await make_user(
                    session,
                    Role.RESIDENT,
                    home=home or w.c1,
                    phone=f"1350000{k:04d}",
                    display_name=f"学员{k}",
                )
            )
        await session.commit()
        return users

    return _make


@pytest.fixture
def cancel(client, auth):  # type: ignore[no-untyped-def]
    async def _cancel(user: User, signup_id: str, reason: str = "") -> httpx.Response:
        body = {"reason": reason} if reason else {}
        return await client.post(f"{SIGNUPS}/{signup_id}/cancel", json=body, headers=auth(user))

    return _cancel


@pytest.fixture
def notes(client, auth):  # type: ignore[no-untyped-def]
    """The user's notifications of one kind, newest first."""

    async def _notes(user: User, kind: str) -> list[dict[str, Any]]:
        r = await client.get(NOTIFICATIONS, params={"limit": 100}, headers=auth(user))
        assert r.status_code == 200, r.text
        return [n for n in r.json()["items"] if n["kind"] == kind]

    return _notes


@pytest.fixture
def get(client, auth):  # type: ignore[no-untyped-def]
    async def _get(user: User, path: str, **params: Any) -> httpx.Response:
        return await client.get(path, params=params, headers=auth(user))

    return _get


async def _session(get, user: User, sid: str) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    r = await get(user, f"{COURSES}/sessions/{sid}")
    assert r.status_code == 200, r.text
    return r.json()


async def _signup(get, user: User, signup_id: str) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    r = await get(user, f"{SIGNUPS}/{signup_id}")
    assert r.status_code == 200, r.text
    return r.json()


async def _roster(get, user: User, sid: str) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    r = await get(user, f"{COURSES}/sessions/{sid}/signups")
    assert r.status_code == 200, r.text
    return r.json()


# --- signing up oneself -----------------------------------------------------------------------


class TestSignUpOneself:
    async def test_a_free_seat_confirms_the_signup(self, w, open_session, sign_up, get):
        s = await open_session(capacity=3)

        r = await sign_up(w.resident, s["id"])

        assert r.status_code == 201, r.text
        su = r.json()
        assert su["session_id"] == s["id"]
        assert (su["status"], su["seq"], su["waitlist_position"]) == ("confirmed", 1, None)
        assert (su["relationship"], su["consent"]) == ("self", True)
        assert su["signed_up_by_id"] == str(w.resident.id)
        assert su["confirmed_at"] is not None and su["cancelled_at"] is None
        a = su["attendee"]
        assert (a["name"], a["phone"], a["has_account"]) == ("居民甲", "13912345678", True)
        assert a["community_id"] == str(w.c1.id)
        assert a["user_id"] is None  # only staff see the account behind a learner
        after = await _session(get, w.resident, s["id"])
        assert (after["capacity"], after["seats_left"], after["waitlist_length"]) == (3, 2, 0)

    async def test_when_full_people_join_the_waitlist_in_arrival_order(
        self, w, open_session, sign_up, get, people
    ):
        s = await open_session(capacity=2)
        users = await people(5)

        out = [(await sign_up(u, s["id"])).json() for u in users]

        assert [o["status"] for o in out] == ["confirmed"] * 2 + ["waitlisted"] * 3
        assert [o["seq"] for o in out] == [1, 2, 3, 4, 5]
        assert [o["waitlist_position"] for o in out] == [None, None, 1, 2, 3]
        assert all(o["confirmed_at"] is None for o in out[2:])
        after = await _session(get, w.resident, s["id"])
        assert (after["seats_left"], after["waitlist_length"]) == (0, 3)
        # Each learner sees their own place in line.
        assert (await _signup(get, users[4], out[4]["id"]))["waitlist_position"] == 3

    async def test_a_double_tap_returns_the_same_signup_with_200(self, w, open_session, sign_up, get):
        s = await open_session(capacity=1)
        first = await sign_up(w.resident, s["id"])
        again = await sign_up(w.resident, s["id"])

        assert (first.status_code, again.status_code) == (201, 200), again.text
        assert again.json()["id"] == first.json()["id"]
        assert again.json()["status"] == "confirmed"
        assert len(await _roster(get, w.c1_admin, s["id"])) == 1
        assert (await _session(get, w.resident, s["id"]))["seats_left"] == 0

    async def test_idempotency_key_retry_returns_the_stored_answer(
        self, w, open_session, sign_up, get, cancel
    ):
        s = await open_session(capacity=5)
        key = {"Idempotency-Key": "tap-1"}
        first = await sign_up(w.resident, s["id"], headers=key)
        assert first.status_code == 201, first.text
        await cancel(w.resident, first.json()["id"])

        retry = await sign_up(w.resident, s["id"], headers=key)

        # The stored answer, not a new signup (though the first was cancelled meanwhile).
        assert retry.status_code == 201
        assert retry.json() == first.json()
        roster = await _roster(get, w.c1_admin, s["id"])
        assert [x["status"] for x in roster] == ["cancelled"]

    async def test_an_idempotency_key_reused_with_another_body_is_refused(
        self, w, open_session, sign_up, get
    ):
        s = await open_session(capacity=5)
        other = await open_session(capacity=5, in_hours=96)
        key = {"Idempotency-Key": "tap-2"}
        assert (await sign_up(w.resident, s["id"], headers=key)).status_code == 201

        r = await sign_up(w.resident, other["id"], headers=key)
        assert code(r) == (422, "request.idempotency_key_reused")
        r = await sign_up(w.resident, s["id"], attendee=GRANNY, headers=key)
        assert code(r) == (422, "request.idempotency_key_reused")
        assert (await _session(get, w.resident, other["id"]))["seats_left"] == 5
        # The key belongs to its user: another resident may use the same one.
        r = await sign_up(w.other_resident, other["id"], headers=key)
        assert r.status_code == 201, r.text

    async def test_a_session_that_has_started_or_ended_takes_no_signups(
        self, w, open_session, sign_up, clock
    ):
        s = await open_session(in_hours=1, hours=2)
        clock.advance(timedelta(hours=1))  # starting now
        assert code(await sign_up(w.resident, s["id"])) == (409, "course.session_started")
        clock.advance(timedelta(hours=5))  # long over
        assert code(await sign_up(w.resident, s["id"])) == (409, "course.session_started")

    async def test_a_cancelled_session_takes_no_signups(self, w, open_session, sign_up, client, auth):
        s = await open_session()
        r = await client.post(f"{COURSES}/sessions/{s['id']}/cancel", json={}, headers=auth(w.c1_admin))
        assert r.status_code == 200, r.text

        assert code(await sign_up(w.resident, s["id"])) == (409, "course.session_cancelled")
        assert code(await sign_up(w.resident, s["id"], attendee=GRANNY)) == (409, "course.session_cancelled")

    async def test_unknown_session_and_missing_login(self, w, sign_up, client):
        assert code(await sign_up(w.resident, str(uuid.uuid4()))) == (404, "course.session_not_found")
        r = await client.post(f"{COURSES}/sessions/{uuid.uuid4()}/signups", json={})
        assert r.status_code == 401

    async def test_staff_and_teachers_can_sign_up_too(self, w, teachers, open_session, sign_up):
        s = await open_session(capacity=5)
        for user in (w.c1_admin, teachers.li, w.other_resident):
            r = await sign_up(user, s["id"])
            assert r.status_code == 201, r.text
            assert r.json()["attendee"]["has_account"] is True


# --- signing up someone else --------------------------------------------------------------------


class TestProxySignUp:
    async def test_creates_a_real_attendee_record_without_an_account(
        self, w, open_session, sign_up, session, client, auth
    ):
        s = await open_session()

        r = await sign_up(w.other_resident, s["id"], attendee=GRANNY, consent_note="电话里问过妈妈")

        assert r.status_code == 201, r.text
        su = r.json()
        assert (su["relationship"], su["consent"], su["status"]) == ("child", True, "confirmed")
        assert su["signed_up_by_id"] == str(w.other_resident.id)
        a = su["attendee"]
        assert (a["name"], a["phone"], a["age"], a["has_account"]) == ("张奶奶", "13900000001", 78, False)
        # The learner is registered where the class is (C1), for staff to link later.
        assert a["community_id"] == str(w.c1.id)
        stored = await session.scalar(
            select(Attendee)
            .where(Attendee.id == uuid.UUID(a["id"]))
            .execution_options(populate_existing=True)
        )
        assert stored is not None
        assert (stored.user_id, stored.created_by_id, stored.community_id) == (
            None,
            w.other_resident.id,
            w.c1.id,
        )
        note = await session.scalar(select(Signup.consent_note).where(Signup.id == uuid.UUID(su["id"])))
        assert note == "电话里问过妈妈"
        # Staff find her among the learners still to be linked to an account.
        r = await client.get(
            f"{COURSES}/attendees",
            params={"community_id": str(w.c1.id), "unlinked": "true"},
            headers=auth(w.c1_admin),
        )
        assert r.status_code == 200, r.text
        assert [x["id"] for x in r.json()] == [a["id"]]

    async def test_the_same_name_and_phone_reuses_the_record_so_the_rules_apply(
        self, w, open_session, sign_up, session
    ):
        a = await open_session(in_hours=48, hours=2)
        overlapping = await open_session(in_hours=49, hours=2)
        later = await open_session(in_hours=72, hours=2)

        first = await sign_up(w.other_resident, a["id"], attendee=GRANNY)
        assert first.status_code == 201, first.text
        granny = first.json()["attendee"]["id"]

        second = await sign_up(
            w.other_resident, later["id"], attendee={"name": "张奶奶", "phone": "13900000001"}
        )
        assert second.status_code == 201, second.text
        assert second.json()["attendee"]["id"] == granny
        assert second.json()["attendee"]["age"] == 78  # kept from the first time

        r = await sign_up(w.other_resident, overlapping["id"], attendee=GRANNY)
        assert code(r) == (409, "course.overlapping_session")
        assert r.json()["details"]["session_id"] == a["id"]

        again = await sign_up(w.other_resident, a["id"], attendee=GRANNY)  # a double tap
        assert again.status_code == 200 and again.json()["id"] == first.json()["id"]

        # Another family member enters her too: it is the same learner, already signed up.
        r = await sign_up(w.resident, a["id"], attendee=GRANNY)
        assert code(r) == (409, "course.already_signed_up")

        n = await session.scalar(select(func.count()).select_from(Attendee).where(Attendee.name == "张奶奶"))
        assert n == 1

    async def test_without_a_phone_the_record_is_reused_by_the_same_signer_only(
        self, w, open_session, sign_up
    ):
        a = await open_session(in_hours=48)
        b = await open_session(in_hours=72)
        grandpa = {"name": "王大爷"}
        mine1 = (await sign_up(w.resident, a["id"], attendee=grandpa)).json()
        mine2 = (await sign_up(w.resident, b["id"], attendee=grandpa)).json()
        assert mine1["attendee"]["id"] == mine2["attendee"]["id"]
        assert mine1["attendee"]["phone"] is None

        # Someone else's 王大爷 without a phone is not assumed to be the same man.
        theirs = await sign_up(w.other_resident, a["id"], attendee=grandpa)
        assert theirs.status_code == 201, theirs.text
        assert theirs.json()["attendee"]["id"] != mine1["attendee"]["id"]

    async def test_one_signer_may_sign_up_several_learners(self, w, open_session, sign_up):
        s = await open_session(capacity=5)
        r1 = await sign_up(w.resident, s["id"])
        r2 = await sign_up(w.resident, s["id"], attendee=GRANNY)
        r3 = await sign_up(w.resident, s["id"], attendee={"name": "李爷爷", "phone": "13900000002"})
        assert [r.status_code for r in (r1, r2, r3)] == [201, 201, 201]
        assert len({r.json()["attendee"]["id"] for r in (r1, r2, r3)}) == 3

    async def test_signing_up_an_existing_attendee_by_id(self, w, open_session, sign_up):
        a = await open_session(in_hours=48)
        b = await open_session(in_hours=72)
        granny = (await sign_up(w.other_resident, a["id"], attendee=GRANNY)).json()["attendee"]["id"]

        r = await sign_up(w.other_resident, b["id"], attendee_id=granny, relationship="child", consent=True)
        assert r.status_code == 201, r.text
        assert r.json()["attendee"]["id"] == granny
        # Staff of her community may sign her up as well.
        c = await open_session(in_hours=96)
        r = await sign_up(w.c1_admin, c["id"], attendee_id=granny, relationship="staff", consent=True)
        assert r.status_code == 201, r.text

        # A stranger cannot use (or discover) her record.
        r = await sign_up(w.resident, c["id"], attendee_id=granny, relationship="neighbour", consent=True)
        assert code(r) == (404, "course.attendee_not_found")
        r = await sign_up(
            w.resident, c["id"], attendee_id=str(uuid.uuid4()), relationship="child", consent=True
        )
        assert code(r) == (404, "course.attendee_not_found")

    async def test_consent_is_required(self, w, open_session, sign_up, get):
        s = await open_session()
        r = await sign_up(w.resident, s["id"], attendee=GRANNY, consent=False)
        assert code(r) == (422, "course.consent_required")
        r = await sign_up(w.resident, s["id"], attendee=GRANNY, consent=None)
        assert r.status_code == 422
        r = await sign_up(
            w.resident, s["id"], attendee={"name": "张奶奶"}, relationship="neighbour", consent=False
        )
        assert code(r) == (422, "course.consent_required")
        assert (await _session(get, w.resident, s["id"]))["seats_left"] == 10

    async def test_relationship_self_with_an_attendee_is_refused(self, w, open_session, sign_up):
        s = await open_session()
        r = await sign_up(w.resident, s["id"], attendee=GRANNY, relationship="self")
        assert code(r) == (422, "course.relationship_required")
        r = await sign_up(w.resident, s["id"], attendee={"name": "张奶奶"}, relationship="self", consent=True)
        assert code(r) == (422, "course.relationship_required")

    async def test_someone_else_without_an_attendee_is_refused(self, w, open_session, sign_up):
        s = await open_session()
        r = await sign_up(w.resident, s["id"], relationship="child", consent=True)
        assert code(r) == (422, "course.attendee_required")

    async def test_malformed_bodies(self, w, open_session, sign_up):
        s = await open_session()
        both = await sign_up(
            w.resident,
            s["id"],
            attendee=GRANNY,
            attendee_id=str(uuid.uuid4()),
            relationship="child",
            consent=True,
        )
        assert code(both) == (422, "request.invalid")
        bad_phone = await sign_up(w.resident, s["id"], attendee={"name": "张奶奶", "phone": "12345"})
        assert code(bad_phone) == (422, "request.invalid")
        bad_age = await sign_up(w.resident, s["id"], attendee={"name": "张奶奶", "age": 0})
        assert code(bad_age) == (422, "request.invalid")
        no_name = await sign_up(w.resident, s["id"], attendee={"name": "  "})
        assert code(no_name) == (422, "request.invalid")
        unknown = await sign_up(w.resident, s["id"], relationship="cousin")
        assert code(unknown) == (422, "request.invalid")

    async def test_a_learner_with_an_account_signed_up_by_someone_else_is_told(
        self, w, open_session, sign_up, notes
    ):
        a = await open_session(in_hours=48)
        b = await open_session(in_hours=72)
        own = (await sign_up(w.resident, a["id"])).json()["attendee"]["id"]

        r = await sign_up(w.other_resident, b["id"], attendee={"name": "居民甲", "phone": "13912345678"})

        assert r.status_code == 201, r.text
        assert r.json()["attendee"]["id"] == own
        (n,) = await notes(w.resident, "course.signed_up_for_you")
        assert n["data"]["session_id"] == b["id"] and n["data"]["signup_id"] == r.json()["id"]
        # The learner may not double up on it themselves.
        r = await sign_up(w.resident, b["id"])
        assert code(r) == (409, "course.already_signed_up")


# --- overlapping sessions --------------------------------------------------------------------


class TestOverlap:
    async def test_the_same_learner_cannot_hold_two_overlapping_sessions(self, w, open_session, sign_up):
        a = await open_session(in_hours=48, hours=2)
        inside = await open_session(in_hours=48.5, hours=1)
        around = await open_session(in_hours=47, hours=4)
        back_to_back = await open_session(in_hours=50, hours=1)
        before = await open_session(in_hours=46, hours=2)
        assert (await sign_up(w.resident, a["id"])).status_code == 201

        for clash in (inside, around):
            r = await sign_up(w.resident, clash["id"])
            assert code(r) == (409, "course.overlapping_session")
            assert r.json()["details"]["session_id"] == a["id"]
            assert r.json()["details"]["title"] == a["title"]
        # A class ending when the other begins does not overlap.
        assert (await sign_up(w.resident, back_to_back["id"])).status_code == 201
        assert (await sign_up(w.resident, before["id"])).status_code == 201
        # Another learner is not affected.
        assert (await sign_up(w.other_resident, inside["id"])).status_code == 201

    async def test_a_waitlisted_place_also_blocks_an_overlapping_signup(self, w, open_session, sign_up):
        full = await open_session(capacity=1, in_hours=48)
        other = await open_session(in_hours=48)
        assert (await sign_up(w.other_resident, full["id"])).json()["status"] == "confirmed"
        assert (await sign_up(w.resident, full["id"])).json()["status"] == "waitlisted"
        assert code(await sign_up(w.resident, other["id"])) == (409, "course.overlapping_session")

    async def test_a_cancelled_signup_or_session_no_longer_blocks(
        self, w, open_session, sign_up, cancel, client, auth
    ):
        a = await open_session(in_hours=48)
        b = await open_session(in_hours=48)
        c = await open_session(in_hours=48)
        mine = (await sign_up(w.resident, a["id"])).json()
        assert code(await sign_up(w.resident, b["id"])) == (409, "course.overlapping_session")

        assert (await cancel(w.resident, mine["id"])).status_code == 200
        assert (await sign_up(w.resident, b["id"])).status_code == 201
        r = await client.post(f"{COURSES}/sessions/{b['id']}/cancel", json={}, headers=auth(w.c1_admin))
        assert r.status_code == 200, r.text
        assert (await sign_up(w.resident, c["id"])).status_code == 201
        # Now the place in `c` blocks `a` again.
        assert code(await sign_up(w.resident, a["id"])) == (409, "course.overlapping_session")


# --- cancelling ------------------------------------------------------------------------------------


class TestCancel:
    async def test_the_learner_cancels_their_own_signup(self, w, open_session, sign_up, cancel, get):
        s = await open_session(capacity=2)
        su = (await sign_up(w.resident, s["id"])).json()

        r = await cancel(w.resident, su["id"], reason="那天要去医院")

        assert r.status_code == 200, r.text
        out = r.json()
        assert (out["status"], out["cancel_reason"], out["waitlist_position"]) == (
            "cancelled",
            "那天要去医院",
            None,
        )
        assert out["cancelled_at"] is not None
        assert (await _session(get, w.resident, s["id"]))["seats_left"] == 2

    async def test_whoever_signed_the_learner_up_may_cancel(self, w, open_session, sign_up, cancel, notes):
        s = await open_session()
        su = (await sign_up(w.other_resident, s["id"], attendee=GRANNY)).json()
        r = await cancel(w.other_resident, su["id"])
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "cancelled"
        assert await notes(w.other_resident, "course.signup_cancelled") == []  # they did it themselves

    async def test_a_learner_signed_up_by_someone_else_may_cancel_and_the_signer_is_told(
        self, w, open_session, sign_up, cancel, notes
    ):
        a = await open_session(in_hours=48)
        b = await open_session(in_hours=72)
        await sign_up(w.resident, a["id"])  # the resident's own learner record
        su = (
            await sign_up(w.other_resident, b["id"], attendee={"name": "居民甲", "phone": "13912345678"})
        ).json()

        r = await cancel(w.resident, su["id"])

        assert r.status_code == 200, r.text
        (n,) = await notes(w.other_resident, "course.signup_cancelled")
        assert n["data"]["signup_id"] == su["id"]

    @pytest.mark.parametrize("staff", ["c1_admin", "sub_admin", "superadmin"])
    async def test_staff_of_the_community_may_cancel(self, w, open_session, sign_up, cancel, notes, staff):
        s = await open_session()
        su = (await sign_up(w.other_resident, s["id"], attendee=GRANNY)).json()
        r = await cancel(getattr(w, staff), su["id"], reason="学员来电取消")
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "cancelled"
        (n,) = await notes(w.other_resident, "course.signup_cancelled")
        assert "学员来电取消" in n["body"]

    async def test_others_cannot_cancel(self, w, teachers, open_session, sign_up, cancel, get):
        s = await open_session()
        su = (await sign_up(w.resident, s["id"])).json()

        for stranger in (w.other_resident, w.c2_admin, w.s2_admin, teachers.c2_teacher, w.worker):
            assert code(await cancel(stranger, su["id"])) == (404, "course.signup_not_found"), stranger
            assert (await get(stranger, f"{SIGNUPS}/{su['id']}")).status_code == 404
        # The class's teacher sees the signup but cancelling is for the learner or staff.
        assert code(await cancel(teachers.chen, su["id"])) == (403, "course.action_not_allowed")
        assert code(await cancel(w.resident, str(uuid.uuid4()))) == (404, "course.signup_not_found")
        assert (await _signup(get, w.resident, su["id"]))["status"] == "confirmed"

    async def test_learners_cannot_cancel_after_the_cutoff_but_staff_can(
        self, w, open_session, sign_up, cancel, clock, settings, people
    ):
        cutoff = settings.course.cancel_cutoff_minutes
        s = await open_session(in_hours=48)
        (punctual,) = await people(1)
        mine = (await sign_up(w.resident, s["id"])).json()
        proxy = (await sign_up(w.other_resident, s["id"], attendee=GRANNY)).json()
        on_time = (await sign_up(punctual, s["id"])).json()

        clock.advance(timedelta(hours=48) - timedelta(minutes=cutoff))  # exactly at the cutoff
        assert (await cancel(punctual, on_time["id"])).status_code == 200

        clock.advance(timedelta(minutes=1))
        r = await cancel(w.resident, mine["id"])
        assert code(r) == (409, "course.cancel_cutoff_passed")
        assert r.json()["details"]["cutoff_minutes"] == cutoff
        assert code(await cancel(w.other_resident, proxy["id"])) == (409, "course.cancel_cutoff_passed")

        r = await cancel(w.c1_admin, mine["id"])
        assert r.status_code == 200, r.text

        clock.advance(timedelta(minutes=cutoff - 1))  # the class has begun: nobody cancels now
        assert code(await cancel(w.c1_admin, proxy["id"])) == (409, "course.session_started")

    async def test_the_cutoff_follows_the_setting(self, w, open_session, sign_up, cancel, clock, settings):
        settings.course.cancel_cutoff_minutes = 30
        s = await open_session(in_hours=2)
        su = (await sign_up(w.resident, s["id"])).json()
        clock.advance(timedelta(minutes=89))  # 31 minutes before the start
        assert (await cancel(w.resident, su["id"])).status_code == 200
        again = (await sign_up(w.resident, s["id"])).json()
        clock.advance(timedelta(minutes=2))  # 29 minutes before
        assert code(await cancel(w.resident, again["id"])) == (409, "course.cancel_cutoff_passed")

    async def test_cancelling_twice(self, w, open_session, sign_up, cancel):
        s = await open_session()
        su = (await sign_up(w.resident, s["id"])).json()
        assert (await cancel(w.resident, su["id"])).status_code == 200
        assert code(await cancel(w.resident, su["id"])) == (409, "course.signup_already_cancelled")
        assert code(await cancel(w.c1_admin, su["id"])) == (409, "course.signup_already_cancelled")


# --- the waitlist: promotion and manual changes ------------------------------------------------


class TestWaitlist:
    async def test_a_cancellation_promotes_the_first_waitlisted_and_tells_them_and_their_signer(
        self, w, open_session, sign_up, cancel, notes, get, people
    ):
        a = await open_session(in_hours=24)
        s = await open_session(capacity=1, in_hours=48)
        (third,) = await people(1)
        await sign_up(w.resident, a["id"])  # the resident has a learner record
        seated = (await sign_up(w.c1_admin, s["id"])).json()
        # The other resident signs up the resident (by name and phone): learner and signer differ.
        first = (
            await sign_up(w.other_resident, s["id"], attendee={"name": "居民甲", "phone": "13912345678"})
        ).json()
        second = (await sign_up(third, s["id"])).json()
        assert (first["status"], second["status"]) == ("waitlisted", "waitlisted")

        r = await cancel(w.c1_admin, seated["id"])
        assert r.status_code == 200, r.text

        promoted = await _signup(get, w.other_resident, first["id"])
        assert (promoted["status"], promoted["waitlist_position"]) == ("confirmed", None)
        assert promoted["confirmed_at"] is not None
        assert (await _signup(get, third, second["id"]))["waitlist_position"] == 1
        for user in (w.resident, w.other_resident):
            (n,) = await notes(user, "course.promoted")
            assert n["data"]["signup_id"] == first["id"] and n["data"]["session_id"] == s["id"]
        assert await notes(third, "course.promoted") == []
        assert await notes(w.c1_admin, "course.promoted") == []
        after = await _session(get, third, s["id"])
        assert (after["seats_left"], after["waitlist_length"]) == (0, 1)

    async def test_a_learner_without_an_account_is_promoted_and_their_signer_told(
        self, w, open_session, sign_up, cancel, notes, get
    ):
        s = await open_session(capacity=1)
        seated = (await sign_up(w.resident, s["id"])).json()
        granny = (await sign_up(w.other_resident, s["id"], attendee=GRANNY)).json()
        assert (await cancel(w.resident, seated["id"])).status_code == 200
        assert (await _signup(get, w.other_resident, granny["id"]))["status"] == "confirmed"
        (n,) = await notes(w.other_resident, "course.promoted")
        assert n["data"]["signup_id"] == granny["id"]

    async def test_a_waitlisted_learner_cancelling_promotes_nobody(
        self, w, open_session, sign_up, cancel, get, people
    ):
        s = await open_session(capacity=1)
        u1, u2, u3 = await people(3)
        seated = (await sign_up(u1, s["id"])).json()
        w1 = (await sign_up(u2, s["id"])).json()
        w2 = (await sign_up(u3, s["id"])).json()
        assert (await cancel(u2, w1["id"])).status_code == 200
        assert (await _signup(get, u1, seated["id"]))["status"] == "confirmed"
        assert (await _signup(get, u3, w2["id"]))["waitlist_position"] == 1

    async def test_staff_reorder_the_waitlist_and_so_who_is_promoted_next(
        self, w, open_session, sign_up, cancel, get, client, auth, people
    ):
        s = await open_session(capacity=1)
        u0, u1, u2, u3 = await people(4)
        seated = (await sign_up(u0, s["id"])).json()
        w1, w2, w3 = [(await sign_up(u, s["id"])).json() for u in (u1, u2, u3)]

        r = await client.post(f"{SIGNUPS}/{w3['id']}/move", json={"position": 1}, headers=auth(w.c1_admin))

        assert r.status_code == 200, r.text
        assert [(x["id"], x["waitlist_position"]) for x in r.json()] == [
            (w3["id"], 1),
            (w1["id"], 2),
            (w2["id"], 3),
        ]
        roster = await _roster(get, w.c1_admin, s["id"])
        assert {x["id"]: x["waitlist_position"] for x in roster} == {
            seated["id"]: None,
            w1["id"]: 2,
            w2["id"]: 3,
            w3["id"]: 1,
        }
        # Moving past the end puts them last.
        r = await client.post(f"{SIGNUPS}/{w1['id']}/move", json={"position": 99}, headers=auth(w.c1_admin))
        assert [x["id"] for x in r.json()] == [w3["id"], w2["id"], w1["id"]]

        assert (await cancel(u0, seated["id"])).status_code == 200
        assert (await _signup(get, u3, w3["id"]))["status"] == "confirmed"
        assert (await _signup(get, u1, w1["id"]))["waitlist_position"] == 2
        assert (await _signup(get, u2, w2["id"]))["waitlist_position"] == 1
        # A later arrival joins the end of the reordered line.
        (u4,) = await people(1)
        late = (await sign_up(u4, s["id"])).json()
        assert late["waitlist_position"] == 3

    async def test_only_staff_of_the_community_reorder_or_promote(
        self, w, teachers, open_session, sign_up, client, auth
    ):
        s = await open_session(capacity=1)
        seated = (await sign_up(w.resident, s["id"])).json()
        waiting = (await sign_up(w.other_resident, s["id"])).json()
        for path, body in (("move", {"position": 1}), ("promote", None)):
            url = f"{SIGNUPS}/{waiting['id']}/{path}"
            for user, expected in (
                (w.resident, (403, "auth.staff_only")),
                (w.other_resident, (403, "auth.staff_only")),
                (teachers.chen, (403, "auth.staff_only")),
                (w.c2_admin, (403, "course.scope_forbidden")),
                (w.s2_admin, (403, "course.scope_forbidden")),
            ):
                r = await client.post(url, json=body, headers=auth(user))
                assert code(r) == expected, (path, user.display_name, r.text)
            r = await client.post(f"{SIGNUPS}/{seated['id']}/{path}", json=body, headers=auth(w.c1_admin))
            assert code(r) == (409, "course.not_waitlisted")
            r = await client.post(f"{SIGNUPS}/{uuid.uuid4()}/{path}", json=body, headers=auth(w.c1_admin))
            assert code(r) == (404, "course.signup_not_found")
        r = await client.post(
            f"{SIGNUPS}/{waiting['id']}/move", json={"position": 0}, headers=auth(w.c1_admin)
        )
        assert code(r) == (422, "request.invalid")

    async def test_promoting_without_a_free_seat_then_raising_capacity_fills_the_waitlist(
        self, w, teachers, open_session, sign_up, client, auth, get, notes, people
    ):
        s = await open_session(capacity=1)
        u0, u1, u2, u3 = await people(4)
        await sign_up(u0, s["id"])
        w1, w2, w3 = [(await sign_up(u, s["id"])).json() for u in (u1, u2, u3)]

        r = await client.post(f"{SIGNUPS}/{w2['id']}/promote", headers=auth(w.c1_admin))
        assert code(r) == (409, "course.no_seat_free")
        assert r.json()["details"]["capacity"] == 1

        r = await client.patch(
            f"{COURSES}/sessions/{s['id']}", json={"capacity": 3}, headers=auth(teachers.chen)
        )
        assert r.status_code == 200, r.text
        assert (r.json()["capacity"], r.json()["seats_left"], r.json()["waitlist_length"]) == (3, 0, 1)
        assert (await _signup(get, u1, w1["id"]))["status"] == "confirmed"
        assert (await _signup(get, u2, w2["id"]))["status"] == "confirmed"
        assert (await _signup(get, u3, w3["id"]))["waitlist_position"] == 1
        assert len(await notes(u1, "course.promoted")) == 1 and len(await notes(u2, "course.promoted")) == 1
        assert await notes(u3, "course.promoted") == []

        r = await client.patch(
            f"{COURSES}/sessions/{s['id']}", json={"capacity": 2}, headers=auth(w.c1_admin)
        )
        assert code(r) == (409, "course.capacity_below_seated")
        r = await client.patch(
            f"{COURSES}/sessions/{s['id']}", json={"capacity": 3}, headers=auth(w.c1_admin)
        )
        assert r.status_code == 200  # exactly the seats taken is fine

    async def test_staff_promote_out_of_turn_when_a_seat_is_free(
        self, w, open_session, sign_up, client, auth, get, notes, people, session
    ):
        s = await open_session(capacity=1)
        u0, u1, u2 = await people(3)
        seated = (await sign_up(u0, s["id"])).json()
        w1 = (await sign_up(u1, s["id"])).json()
        w2 = (await sign_up(u2, s["id"], attendee={"name": "孙奶奶", "phone": "13900000009"})).json()
        # A seat comes free without the waitlist moving up (changed directly in the database).
        await session.execute(
            update(Signup).where(Signup.id == uuid.UUID(seated["id"])).values(status=SignupStatus.CANCELLED)
        )
        await session.commit()

        r = await client.post(f"{SIGNUPS}/{w2['id']}/promote", headers=auth(w.sub_admin))

        assert r.status_code == 200, r.text
        assert (r.json()["status"], r.json()["waitlist_position"]) == ("confirmed", None)
        assert (await _signup(get, u1, w1["id"]))["waitlist_position"] == 1
        (n,) = await notes(u2, "course.promoted")
        assert n["data"]["signup_id"] == w2["id"]
        promoted_by = await session.scalar(
            select(Signup.promoted_by_id)
            .where(Signup.id == uuid.UUID(w2["id"]))
            .execution_options(populate_existing=True)
        )
        assert promoted_by == w.sub_admin.id
        assert code(await client.post(f"{SIGNUPS}/{w1['id']}/promote", headers=auth(w.c1_admin))) == (
            409,
            "course.no_seat_free",
        )

    async def test_promote_refused_once_the_session_has_started(
        self, w, open_session, sign_up, client, auth, clock
    ):
        s = await open_session(capacity=1, in_hours=3)
        await sign_up(w.resident, s["id"])
        waiting = (await sign_up(w.other_resident, s["id"])).json()
        clock.advance(timedelta(hours=3))
        r = await client.post(f"{SIGNUPS}/{waiting['id']}/promote", headers=auth(w.c1_admin))
        assert code(r) == (409, "course.session_started")


# --- cancelling and changing sessions ------------------------------------------------------------


class TestSessionChanges:
    async def test_cancelling_a_session_cancels_its_signups_and_tells_everyone(
        self, w, teachers, open_session, sign_up, cancel, client, auth, get, notes
    ):
        s = await open_session(capacity=1)
        seated = (await sign_up(w.resident, s["id"])).json()
        waiting = (await sign_up(w.other_resident, s["id"], attendee=GRANNY)).json()

        r = await client.post(
            f"{COURSES}/sessions/{s['id']}/cancel", json={"reason": "老师生病"}, headers=auth(teachers.chen)
        )

        assert r.status_code == 200, r.text
        assert (r.json()["status"], r.json()["cancel_reason"]) == ("cancelled", "老师生病")
        assert (r.json()["seats_left"], r.json()["waitlist_length"]) == (1, 0)
        roster = await _roster(get, w.c1_admin, s["id"])
        assert [(x["status"], x["cancel_reason"]) for x in roster] == [("cancelled", "课程取消")] * 2
        for user in (w.resident, w.other_resident):
            (n,) = await notes(user, "course.session_cancelled")
            assert "老师生病" in n["body"]
        assert code(await cancel(w.resident, seated["id"])) == (409, "course.signup_already_cancelled")
        assert code(await cancel(w.c1_admin, waiting["id"])) == (409, "course.signup_already_cancelled")
        r = await client.post(f"{COURSES}/sessions/{s['id']}/cancel", json={}, headers=auth(w.c1_admin))
        assert code(r) == (409, "course.session_cancelled")
        r = await client.patch(
            f"{COURSES}/sessions/{s['id']}", json={"capacity": 5}, headers=auth(w.c1_admin)
        )
        assert code(r) == (409, "course.session_cancelled")
        mine = await get(w.resident, f"{SIGNUPS}/mine")
        assert mine.json() == []

    async def test_who_may_cancel_a_session(self, w, teachers, open_session, client, auth, clock):
        s = await open_session()
        url = f"{COURSES}/sessions/{s['id']}/cancel"
        for user in (w.resident, teachers.c2_teacher, w.c2_admin, w.s2_admin):
            assert code(await client.post(url, json={}, headers=auth(user))) == (
                403,
                "course.scope_forbidden",
            )
        r = await client.post(f"{COURSES}/sessions/{uuid.uuid4()}/cancel", json={}, headers=auth(w.c1_admin))
        assert code(r) == (404, "course.session_not_found")
        clock.advance(timedelta(hours=48))
        assert code(await client.post(url, json={}, headers=auth(w.c1_admin))) == (
            409,
            "course.session_finished",
        )

    async def test_moving_a_session_tells_the_learners_and_signers(
        self, w, open_session, sign_up, client, auth, notes, clock
    ):
        s = await open_session()
        await sign_up(w.resident, s["id"])
        await sign_up(w.other_resident, s["id"], attendee=GRANNY)
        start = clock.now() + timedelta(hours=72)
        r = await client.patch(
            f"{COURSES}/sessions/{s['id']}",
            json={"starts_at": start.isoformat(), "ends_at": (start + timedelta(hours=1)).isoformat()},
            headers=auth(w.c1_admin),
        )
        assert r.status_code == 200, r.text
        for user in (w.resident, w.other_resident):
            assert len(await notes(user, "course.session_changed")) == 1
        clock.advance(timedelta(hours=72))
        r = await client.patch(
            f"{COURSES}/sessions/{s['id']}", json={"venue": "新会议室"}, headers=auth(w.c1_admin)
        )
        assert code(r) == (409, "course.session_finished")


# --- the course list ------------------------------------------------------------------------------


class TestCourseList:
    async def test_lists_upcoming_sessions_with_seats_and_waitlist(
        self, w, open_session, sign_up, get, clock, people
    ):
        later = await open_session(capacity=1, in_hours=72, title="防诈骗", topics=("anti_fraud",))
        soon = await open_session(capacity=3, in_hours=24)
        running = await open_session(capacity=5, in_hours=1, hours=3)
        past = await open_session(capacity=5, in_hours=0.5, hours=1)
        u1, u2, u3 = await people(3)
        for u in (u1, u2, u3):
            await sign_up(u, later["id"])
        await sign_up(u1, soon["id"])
        clock.advance(timedelta(hours=2))  # `running` has begun, `past` is over

        r = await get(w.other_resident, COURSES)

        assert r.status_code == 200, r.text
        items = r.json()["items"]
        assert [i["id"] for i in items] == [running["id"], soon["id"], later["id"]]
        assert past["id"] not in {i["id"] for i in items}
        by_id = {i["id"]: i for i in items}
        assert (by_id[later["id"]]["seats_left"], by_id[later["id"]]["waitlist_length"]) == (0, 2)
        assert (by_id[soon["id"]]["seats_left"], by_id[soon["id"]]["waitlist_length"]) == (2, 0)
        assert (by_id[running["id"]]["seats_left"], by_id[running["id"]]["waitlist_length"]) == (5, 0)
        assert by_id[later["id"]]["title"] == "防诈骗" and by_id[later["id"]]["topics"] == ["anti_fraud"]
        assert by_id[soon["id"]]["teachers"][0]["display_name"] == "陈老师"

    async def test_filters_by_community_topic_and_course(self, w, open_session, get):
        a = await open_session(in_hours=24, topics=("wechat", "photos"))
        b = await open_session(in_hours=48, topics=("anti_fraud",), course_id=None)
        b2 = await open_session(in_hours=96, course_id=b["course_id"])
        c2 = await open_session(
            in_hours=30, topics=("photos",), community=w.c2, staff=w.c2_admin, teacher_ids=[]
        )

        async def ids(**params: Any) -> list[str]:
            r = await get(w.resident, COURSES, **params)
            assert r.status_code == 200, r.text
            return [i["id"] for i in r.json()["items"]]

        assert await ids() == [a["id"], c2["id"], b["id"], b2["id"]]
        assert await ids(community_id=str(w.c1.id)) == [a["id"], b["id"], b2["id"]]
        assert await ids(community_id=str(w.c2.id)) == [c2["id"]]
        assert await ids(community_id=str(w.c3.id)) == []
        assert await ids(topic="photos") == [a["id"], c2["id"]]
        assert await ids(topic="anti_fraud") == [b["id"], b2["id"]]
        assert await ids(topic="video_apps") == []
        assert await ids(topic="photos", community_id=str(w.c1.id)) == [a["id"]]
        assert await ids(course_id=b["course_id"]) == [b["id"], b2["id"]]
        r = await get(w.resident, COURSES, topic="knitting")
        assert code(r) == (422, "request.invalid")

    async def test_cancelled_sessions_and_stopped_courses_are_hidden(
        self, w, open_session, get, client, auth
    ):
        kept = await open_session(in_hours=24)
        gone = await open_session(in_hours=48, course_id=kept["course_id"])
        stopped = await open_session(in_hours=72)
        r = await client.post(f"{COURSES}/sessions/{gone['id']}/cancel", json={}, headers=auth(w.c1_admin))
        assert r.status_code == 200
        r = await client.patch(
            f"{COURSES}/{stopped['course_id']}", json={"is_active": False}, headers=auth(w.c1_admin)
        )
        assert r.status_code == 200 and r.json()["is_active"] is False

        listed = (await get(w.resident, COURSES)).json()["items"]
        assert [i["id"] for i in listed] == [kept["id"]]
        listed = (await get(w.resident, COURSES, include_cancelled="true")).json()["items"]
        assert [(i["id"], i["status"]) for i in listed] == [
            (kept["id"], "scheduled"),
            (gone["id"], "cancelled"),
        ]

    async def test_pages(self, w, open_session, get):
        made = [await open_session(in_hours=24 * (i + 1)) for i in range(3)]
        seen: list[str] = []
        cursor = None
        for _ in range(5):
            params: dict[str, Any] = {"limit": 2}
            if cursor:
                params["cursor"] = cursor
            page = (await get(w.resident, COURSES, **params)).json()
            seen += [i["id"] for i in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen == [m["id"] for m in made]

    async def test_needs_a_login(self, client):
        assert (await client.get(COURSES)).status_code == 401


# --- the roster and my signups ---------------------------------------------------------------------


class TestRoster:
    async def test_teachers_see_masked_phones_and_staff_full_ones(
        self, w, teachers, open_session, sign_up, get, cancel
    ):
        s = await open_session(capacity=1)
        seated = (await sign_up(w.resident, s["id"])).json()
        waiting = (await sign_up(w.other_resident, s["id"], attendee=GRANNY)).json()
        gone = (await sign_up(w.c1_admin, s["id"])).json()
        await cancel(w.c1_admin, gone["id"])

        teacher_view = await _roster(get, teachers.chen, s["id"])
        assert [x["id"] for x in teacher_view] == [seated["id"], waiting["id"], gone["id"]]
        assert [x["attendee"]["phone"] for x in teacher_view[:2]] == ["139****5678", "139****0001"]
        assert [x["waitlist_position"] for x in teacher_view] == [None, 1, None]
        assert all(
            x["signed_up_by_id"] is None and x["attendee"]["user_id"] is None for x in teacher_view[:2]
        )
        assert teacher_view[1]["signed_up_by_name"] == "居民乙"

        for staff in (w.c1_admin, w.sub_admin, w.superadmin):
            staff_view = await _roster(get, staff, s["id"])
            assert [x["attendee"]["phone"] for x in staff_view[:2]] == ["13912345678", "13900000001"]
            assert staff_view[0]["attendee"]["user_id"] == str(w.resident.id)
            assert staff_view[1]["signed_up_by_id"] == str(w.other_resident.id)

    async def test_others_may_not_see_the_roster(self, w, teachers, open_session, get):
        s = await open_session()
        url = f"{COURSES}/sessions/{s['id']}/signups"
        for user in (w.resident, w.other_resident, teachers.c2_teacher, w.c2_admin, w.s2_admin, w.worker):
            assert code(await get(user, url)) == (403, "course.scope_forbidden"), user.display_name
        assert code(await get(w.c1_admin, f"{COURSES}/sessions/{uuid.uuid4()}/signups")) == (
            404,
            "course.session_not_found",
        )

    async def test_a_teacher_sees_their_own_proxy_learners_phone(
        self, w, teachers, open_session, sign_up, get
    ):
        s = await open_session()
        await sign_up(teachers.chen, s["id"], attendee=GRANNY, relationship="volunteer")
        (row,) = await _roster(get, teachers.chen, s["id"])
        assert row["attendee"]["phone"] == "13900000001"


class TestMySignups:
    async def test_shows_signups_made_by_me_and_for_me(self, w, open_session, sign_up, get, cancel, clock):
        a = await open_session(in_hours=24)
        b = await open_session(in_hours=48)
        c = await open_session(in_hours=72)
        d = await open_session(in_hours=96)
        own = (await sign_up(w.resident, a["id"])).json()
        for_granny = (await sign_up(w.resident, b["id"], attendee=GRANNY)).json()
        for_me = (
            await sign_up(w.other_resident, c["id"], attendee={"name": "居民甲", "phone": "13912345678"})
        ).json()
        theirs = (await sign_up(w.other_resident, d["id"])).json()
        dropped = (await sign_up(w.resident, d["id"])).json()
        await cancel(w.resident, dropped["id"])

        r = await get(w.resident, f"{SIGNUPS}/mine")

        assert r.status_code == 200, r.text
        items = r.json()
        assert [i["id"] for i in items] == [own["id"], for_granny["id"], for_me["id"]]
        assert [i["session"]["id"] for i in items] == [a["id"], b["id"], c["id"]]
        assert items[1]["attendee"]["phone"] == "13900000001"
        assert items[2]["signed_up_by_id"] == str(w.other_resident.id)
        other = (await get(w.other_resident, f"{SIGNUPS}/mine")).json()
        assert [i["id"] for i in other] == [for_me["id"], theirs["id"]]

        everything = (await get(w.resident, f"{SIGNUPS}/mine", upcoming="false")).json()
        assert [i["id"] for i in everything] == [dropped["id"], for_me["id"], for_granny["id"], own["id"]]

        clock.advance(timedelta(hours=27))  # `a` is over
        assert [i["id"] for i in (await get(w.resident, f"{SIGNUPS}/mine")).json()] == [
            for_granny["id"],
            for_me["id"],
        ]

    async def test_nothing_yet(self, w, get):
        r = await get(w.resident, f"{SIGNUPS}/mine")
        assert (r.status_code, r.json()) == (200, [])


# --- running courses and sessions ---------------------------------------------------------------


class TestCourseManagement:
    async def test_a_teacher_runs_a_course_in_their_community(self, w, teachers, client, auth, clock):
        r = await client.post(
            COURSES,
            json={"community_id": str(w.c1.id), "title": "微信视频", "topics": ["wechat", "wechat"]},
            headers=auth(teachers.chen),
        )
        assert r.status_code == 201, r.text
        course = r.json()
        assert (course["community_id"], course["subdistrict_id"]) == (str(w.c1.id), str(w.s1.id))
        assert (course["topics"], course["level"], course["is_active"]) == (["wechat"], "beginner", True)
        start = clock.now() + timedelta(days=2)
        r = await client.post(
            f"{COURSES}/{course['id']}/sessions",
            json={
                "starts_at": start.isoformat(),
                "ends_at": (start + timedelta(hours=2)).isoformat(),
                "venue": "活动室",
                "capacity": 12,
                "teacher_ids": [str(teachers.chen.id), str(teachers.li.id)],
            },
            headers=auth(teachers.chen),
        )
        assert r.status_code == 201, r.text
        s = r.json()
        assert (s["capacity"], s["seats_left"], s["status"]) == (12, 12, "scheduled")
        assert [t["display_name"] for t in s["teachers"]] == sorted(["陈老师", "李老师"])
        r = await client.patch(
            f"{COURSES}/{course['id']}", json={"title": "微信视频通话"}, headers=auth(teachers.li)
        )
        assert (r.status_code, r.json()["title"]) == (200, "微信视频通话")
        detail = await client.get(f"{COURSES}/{course['id']}", headers=auth(w.other_resident))
        assert [x["id"] for x in detail.json()["sessions"]] == [s["id"]]

    async def test_others_cannot_run_courses_in_c1(self, w, teachers, open_session, client, auth, clock):
        body = {"community_id": str(w.c1.id), "title": "拍照", "topics": ["photos"]}
        for user in (teachers.c2_teacher, w.c2_admin, w.s2_admin, w.resident, w.worker, w.dept_staff):
            r = await client.post(COURSES, json=body, headers=auth(user))
            assert code(r) == (403, "course.scope_forbidden"), user.display_name
        for user in (w.sub_admin, w.superadmin):
            assert (await client.post(COURSES, json=body, headers=auth(user))).status_code == 201
        r = await client.post(
            COURSES, json={**body, "community_id": str(uuid.uuid4())}, headers=auth(w.superadmin)
        )
        assert code(r) == (422, "course.no_community")

        s = await open_session()
        start = clock.now() + timedelta(days=5)
        session_body = {
            "starts_at": start.isoformat(),
            "ends_at": (start + timedelta(hours=1)).isoformat(),
            "venue": "活动室",
            "capacity": 5,
        }
        for user in (teachers.c2_teacher, w.c2_admin, w.resident):
            r = await client.post(
                f"{COURSES}/{s['course_id']}/sessions", json=session_body, headers=auth(user)
            )
            assert code(r) == (403, "course.scope_forbidden")
            r = await client.patch(f"{COURSES}/{s['course_id']}", json={"title": "x"}, headers=auth(user))
            assert code(r) == (403, "course.scope_forbidden")
            r = await client.patch(f"{COURSES}/sessions/{s['id']}", json={"capacity": 20}, headers=auth(user))
            assert code(r) == (403, "course.scope_forbidden")
        r = await client.post(
            f"{COURSES}/{uuid.uuid4()}/sessions", json=session_body, headers=auth(w.c1_admin)
        )
        assert code(r) == (404, "course.course_not_found")

    async def test_session_rules(self, w, teachers, open_session, client, auth, clock, sign_up, people):
        s = await open_session(capacity=3)
        url = f"{COURSES}/{s['course_id']}/sessions"
        start = clock.now() + timedelta(days=3)

        def body(**kw: Any) -> dict[str, Any]:
            out = {
                "starts_at": start.isoformat(),
                "ends_at": (start + timedelta(hours=2)).isoformat(),
                "venue": "活动室",
                "capacity": 10,
            }
            out.update(kw)
            return out

        async def post(**kw: Any) -> httpx.Response:
            return await client.post(url, json=body(**kw), headers=auth(w.c1_admin))

        for bad in ([str(teachers.c2_teacher.id)], [str(uuid.uuid4())], [str(w.resident.id)]):
            r = await post(teacher_ids=[str(teachers.chen.id), *bad])
            assert code(r) == (422, "course.invalid_teachers")
            assert r.json()["details"]["user_ids"] == bad
        past = clock.now() - timedelta(hours=1)
        r = await post(starts_at=past.isoformat(), ends_at=(past + timedelta(hours=2)).isoformat())
        assert code(r) == (422, "course.session_in_past")
        r = await post(ends_at=(start - timedelta(minutes=1)).isoformat())
        assert code(r) == (422, "course.invalid_times")
        r = await post(ends_at=start.isoformat())
        assert code(r) == (422, "course.invalid_times")
        r = await post(ends_at=(start + timedelta(hours=9)).isoformat())
        assert code(r) == (422, "course.invalid_times")
        r = await post(capacity=201)
        assert code(r) == (422, "course.capacity_too_large")
        r = await post(capacity=0)
        assert code(r) == (422, "request.invalid")
        r = await post(starts_at="2030-01-01T10:00:00")
        assert code(r) == (422, "request.invalid")

        # Changing a session follows the same rules; capacity never drops below the seats taken.
        for u in await people(2):
            await sign_up(u, s["id"])
        patch = f"{COURSES}/sessions/{s['id']}"
        r = await client.patch(patch, json={"capacity": 1}, headers=auth(w.c1_admin))
        assert code(r) == (409, "course.capacity_below_seated")
        r = await client.patch(patch, json={"ends_at": s["starts_at"]}, headers=auth(w.c1_admin))
        assert code(r) == (422, "course.invalid_times")
        r = await client.patch(
            patch, json={"teacher_ids": [str(teachers.c2_teacher.id)]}, headers=auth(w.c1_admin)
        )
        assert code(r) == (422, "course.invalid_teachers")
        r = await client.patch(
            patch, json={"capacity": 2, "teacher_ids": [str(teachers.li.id)]}, headers=auth(teachers.chen)
        )
        assert r.status_code == 200, r.text
        assert (r.json()["capacity"], r.json()["seats_left"]) == (2, 0)
        assert [t["user_id"] for t in r.json()["teachers"]] == [str(teachers.li.id)]
        r = await client.patch(
            f"{COURSES}/sessions/{uuid.uuid4()}", json={"capacity": 2}, headers=auth(w.c1_admin)
        )
        assert code(r) == (404, "course.session_not_found")
