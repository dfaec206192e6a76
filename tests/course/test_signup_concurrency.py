"""菜鸟学堂 signups at the same moment: capacity is never exceeded, the waitlist keeps arrival
order, a double tap makes one signup, a learner never ends up in two overlapping classes, and
cancellations at once promote distinct learners, on SQLite and PostgreSQL. Runs a live app on a
fresh database (no shared test transaction), so the requests really overlap in the database."""

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from app.auth.permissions import Role
from app.core.idempotency import IdempotencyRecord
from app.course.models import Attendee, CourseSession, Signup
from app.course.state import SEATED, SignupStatus
from app.notification.models import Notification
from app.user.models import User
from tests.course.conftest import COURSES
from tests.dbutil import DatabaseFactory
from tests.factories import World, make_user
from tests.live import Live, live_app

SIGNUPS = f"{COURSES}/signups"


class SignupLive(Live):
    async def residents(self, w: World, n: int, first: int = 0) -> list[User]:
        async with self.app.state.sessionmaker() as session:
            users = [
                await make_user(
                    session, Role.RESIDENT, home=w.c1, phone=f"1360000{i:04d}", display_name=f"学员{i}"
                )
                for i in range(first, first + n)
            ]
            await session.commit()
        return users

    async def course(self, w: World) -> str:
        r = await self.client.post(
            COURSES,
            json={"community_id": str(w.c1.id), "title": "智能手机入门", "topics": ["wechat"]},
            headers=self.auth(w.c1_admin),
        )
        assert r.status_code == 201, r.text
        return r.json()["id"]

    async def session(
        self, w: World, *, capacity: int, in_hours: float = 48, hours: float = 2, course_id: str | None = None
    ) -> str:
        start = self.clock.now() + timedelta(hours=in_hours)
        r = await self.client.post(
            f"{COURSES}/{course_id or await self.course(w)}/sessions",
            json={
                "starts_at": start.isoformat(),
                "ends_at": (start + timedelta(hours=hours)).isoformat(),
                "venue": "西一路社区活动室",
                "capacity": capacity,
            },
            headers=self.auth(w.c1_admin),
        )
        assert r.status_code == 201, r.text
        return r.json()["id"]

    async def sign_up(self, user: User, sid: str, **body: Any) -> httpx.Response:
        return await self.client.post(f"{COURSES}/sessions/{sid}/signups", json=body, headers=self.auth(user))

    async def signups(self, sid: str) -> list[Signup]:
        async with self.app.state.sessionmaker() as session:
            return list(
                await session.scalars(
                    select(Signup).where(Signup.session_id == uuid.UUID(sid)).order_by(Signup.seq)
                )
            )

    async def scalar(self, stmt: Any) -> Any:
        async with self.app.state.sessionmaker() as session:
            return await session.scalar(stmt)


@pytest.fixture
async def live(databases: DatabaseFactory, tmp_path) -> AsyncIterator[SignupLive]:  # type: ignore[no-untyped-def]
    async with live_app(databases, tmp_path, SignupLive) as app:
        yield app


@pytest.fixture
async def w(live: SignupLive) -> World:
    return await live.world()


def unexpected(results: list[httpx.Response], *allowed: int) -> list[str]:
    return [r.text for r in results if r.status_code not in allowed]


def seated(rows: list[Signup]) -> list[Signup]:
    return [su for su in rows if su.status in SEATED]


def waiting(rows: list[Signup]) -> list[Signup]:
    return sorted(
        (su for su in rows if su.status is SignupStatus.WAITLISTED), key=lambda su: (su.position, su.seq)
    )


class TestConcurrentSignups:
    async def test_fifty_signups_for_ten_seats(self, live: SignupLive, w: World) -> None:
        users = await live.residents(w, 50)
        sid = await live.session(w, capacity=10)

        results = await asyncio.gather(*(live.sign_up(u, sid) for u in users))

        assert not unexpected(results, 201)
        out = [r.json() for r in results]
        assert Counter(o["status"] for o in out) == {"confirmed": 10, "waitlisted": 40}
        # Arrival numbers are handed out one at a time: 1..50, no gaps, no repeats.
        assert sorted(o["seq"] for o in out) == list(range(1, 51))
        # The first ten to arrive have the seats, the rest wait in the order they came.
        assert sorted(o["seq"] for o in out if o["status"] == "confirmed") == list(range(1, 11))
        assert all(o["waitlist_position"] == o["seq"] - 10 for o in out if o["status"] == "waitlisted")
        assert all(o["waitlist_position"] is None for o in out if o["status"] == "confirmed")
        # Each user got their own signup.
        assert {o["signed_up_by_id"] for o in out} == {str(u.id) for u in users}

        rows = await live.signups(sid)
        assert len(rows) == 50
        assert {str(su.id): su.status.value for su in rows} == {o["id"]: o["status"] for o in out}
        assert [su.seq for su in seated(rows)] == list(range(1, 11))
        assert [su.seq for su in waiting(rows)] == list(range(11, 51))
        roster = (
            await live.client.get(f"{COURSES}/sessions/{sid}/signups", headers=live.auth(w.c1_admin))
        ).json()
        assert [x["seq"] for x in roster] == list(range(1, 51))
        assert [x["waitlist_position"] for x in roster] == [None] * 10 + list(range(1, 41))
        s = (await live.client.get(f"{COURSES}/sessions/{sid}", headers=live.auth(w.resident))).json()
        assert (s["seats_left"], s["waitlist_length"]) == (0, 40)
        assert (
            await live.scalar(select(CourseSession.signup_count).where(CourseSession.id == uuid.UUID(sid)))
            == 50
        )

    async def test_twenty_double_taps_make_one_signup(self, live: SignupLive, w: World) -> None:
        sid = await live.session(w, capacity=5)

        results = await asyncio.gather(*(live.sign_up(w.resident, sid) for _ in range(20)))

        assert sorted(r.status_code for r in results) == [200] * 19 + [201], unexpected(results, 200, 201)
        assert len({r.json()["id"] for r in results}) == 1
        assert {r.json()["status"] for r in results} == {"confirmed"}
        rows = await live.signups(sid)
        assert len(rows) == 1 and rows[0].seq == 1
        assert (
            await live.scalar(
                select(func.count()).select_from(Attendee).where(Attendee.user_id == w.resident.id)
            )
            == 1
        )

    async def test_twenty_double_taps_for_someone_else_make_one_signup(
        self, live: SignupLive, w: World
    ) -> None:
        sid = await live.session(w, capacity=5)
        granny = {"name": "张奶奶", "phone": "13900000001", "age": 78}

        results = await asyncio.gather(
            *(
                live.sign_up(w.resident, sid, attendee=granny, relationship="child", consent=True)
                for _ in range(20)
            )
        )

        assert sorted(r.status_code for r in results) == [200] * 19 + [201], unexpected(results, 200, 201)
        assert len({r.json()["id"] for r in results}) == 1
        assert len(await live.signups(sid)) == 1
        assert (
            await live.scalar(select(func.count()).select_from(Attendee).where(Attendee.name == "张奶奶"))
            == 1
        )

    async def test_retries_with_one_idempotency_key_all_get_the_first_answer(
        self, live: SignupLive, w: World
    ) -> None:
        sid = await live.session(w, capacity=5)
        headers = {**live.auth(w.resident), "Idempotency-Key": "tap-tap"}

        results = await asyncio.gather(
            *(
                live.client.post(f"{COURSES}/sessions/{sid}/signups", json={}, headers=headers)
                for _ in range(10)
            )
        )

        assert [r.status_code for r in results] == [201] * 10, unexpected(results, 201)
        assert len({r.text for r in results}) == 1
        assert len(await live.signups(sid)) == 1
        async with live.app.state.sessionmaker() as session:
            stored = list(await session.scalars(select(IdempotencyRecord)))
        assert [(r.key, r.status_code, r.resource_id) for r in stored] == [
            ("tap-tap", 201, results[0].json()["id"])
        ]


class TestConcurrentOverlap:
    async def _race(
        self, live: SignupLive, w: World, user: User, n: int = 6, **body: Any
    ) -> list[httpx.Response]:
        """`user` signs (someone) up for n sessions at the same hour, all at once."""
        course = await live.course(w)
        sids = [await live.session(w, capacity=10, course_id=course) for _ in range(n)]
        return await asyncio.gather(*(live.sign_up(user, sid, **body) for sid in sids))

    def _one_winner(self, results: list[httpx.Response]) -> None:
        codes = sorted(r.status_code for r in results)
        assert codes == [201] + [409] * (len(results) - 1), unexpected(results, 201, 409)
        assert {r.json()["code"] for r in results if r.status_code == 409} == {"course.overlapping_session"}

    async def test_a_learner_with_a_record_races_into_overlapping_sessions(
        self, live: SignupLive, w: World
    ) -> None:
        earlier = await live.session(w, capacity=10, in_hours=24)
        assert (await live.sign_up(w.resident, earlier)).status_code == 201  # the resident's record exists

        results = await self._race(live, w, w.resident)

        self._one_winner(results)
        assert (
            await live.scalar(
                select(func.count()).select_from(Signup).where(Signup.status != SignupStatus.CANCELLED)
            )
            == 2
        )

    async def test_a_first_time_learner_races_into_overlapping_sessions(
        self, live: SignupLive, w: World
    ) -> None:
        results = await self._race(live, w, w.resident)

        self._one_winner(results)
        assert (
            await live.scalar(
                select(func.count()).select_from(Attendee).where(Attendee.user_id == w.resident.id)
            )
            == 1
        )

    async def test_a_registered_learner_signed_up_by_id_into_overlapping_sessions(
        self, live: SignupLive, w: World
    ) -> None:
        earlier = await live.session(w, capacity=10, in_hours=24)
        r = await live.sign_up(
            w.resident,
            earlier,
            attendee={"name": "张奶奶", "phone": "13900000001"},
            relationship="child",
            consent=True,
        )
        assert r.status_code == 201, r.text
        granny = r.json()["attendee"]["id"]

        results = await self._race(
            live, w, w.resident, attendee_id=granny, relationship="child", consent=True
        )

        self._one_winner(results)

    async def test_a_new_learner_entered_by_name_and_phone_into_overlapping_sessions(
        self, live: SignupLive, w: World
    ) -> None:
        granny = {"name": "张奶奶", "phone": "13900000001"}

        results = await self._race(live, w, w.resident, attendee=granny, relationship="child", consent=True)

        self._one_winner(results)
        assert (
            await live.scalar(select(func.count()).select_from(Attendee).where(Attendee.name == "张奶奶"))
            == 1
        )

    async def test_two_relatives_enter_the_same_learner_into_overlapping_sessions(
        self, live: SignupLive, w: World
    ) -> None:
        granny = {"name": "张奶奶", "phone": "13900000001"}
        course = await live.course(w)
        sids = [await live.session(w, capacity=10, course_id=course) for _ in range(6)]
        signers = [w.resident, w.other_resident] * 3

        results = await asyncio.gather(
            *(
                live.sign_up(u, sid, attendee=granny, relationship="child", consent=True)
                for u, sid in zip(signers, sids, strict=True)
            )
        )

        self._one_winner(results)
        assert (
            await live.scalar(select(func.count()).select_from(Attendee).where(Attendee.name == "张奶奶"))
            == 1
        )


class TestConcurrentCancellations:
    async def _full_session(
        self, live: SignupLive, w: World, *, capacity: int, people: int
    ) -> tuple[str, list[User], list[dict]]:
        users = await live.residents(w, people)
        sid = await live.session(w, capacity=capacity)
        out = []
        for u in users:  # one after the other: arrival order is the order of `users`
            r = await live.sign_up(u, sid)
            assert r.status_code == 201, r.text
            out.append(r.json())
        return sid, users, out

    async def _cancel(self, live: SignupLive, user: User, signup_id: str) -> httpx.Response:
        return await live.client.post(f"{SIGNUPS}/{signup_id}/cancel", json={}, headers=live.auth(user))

    async def _promoted(self, live: SignupLive) -> Counter[uuid.UUID]:
        async with live.app.state.sessionmaker() as session:
            return Counter(
                await session.scalars(
                    select(Notification.user_id).where(Notification.kind == "course.promoted")
                )
            )

    async def test_cancellations_at_once_promote_distinct_learners_in_order(
        self, live: SignupLive, w: World
    ) -> None:
        sid, users, out = await self._full_session(live, w, capacity=10, people=20)
        assert [o["status"] for o in out] == ["confirmed"] * 10 + ["waitlisted"] * 10

        results = await asyncio.gather(*(self._cancel(live, users[i], out[i]["id"]) for i in range(6)))

        assert not unexpected(results, 200)
        rows = await live.signups(sid)
        assert len(seated(rows)) == 10
        # The first six in line got the seats, each once; the other four still wait, in order.
        assert sorted(su.seq for su in seated(rows)) == list(range(7, 17))
        assert [su.seq for su in waiting(rows)] == list(range(17, 21))
        promoted = await self._promoted(live)
        assert promoted == Counter({users[i].id: 1 for i in range(10, 16)})

    async def test_more_cancellations_than_waiting_learners(self, live: SignupLive, w: World) -> None:
        sid, users, out = await self._full_session(live, w, capacity=10, people=14)

        results = await asyncio.gather(*(self._cancel(live, users[i], out[i]["id"]) for i in range(10)))

        assert not unexpected(results, 200)
        rows = await live.signups(sid)
        assert sorted(su.seq for su in seated(rows)) == [11, 12, 13, 14]
        assert waiting(rows) == []
        assert await self._promoted(live) == Counter({users[i].id: 1 for i in range(10, 14)})
        s = (await live.client.get(f"{COURSES}/sessions/{sid}", headers=live.auth(w.resident))).json()
        assert (s["seats_left"], s["waitlist_length"]) == (6, 0)

    async def test_cancellations_and_new_signups_at_once_never_overfill(
        self, live: SignupLive, w: World
    ) -> None:
        sid, users, out = await self._full_session(live, w, capacity=10, people=15)
        newcomers = await live.residents(w, 10, first=100)

        results = await asyncio.gather(
            *(self._cancel(live, users[i], out[i]["id"]) for i in range(8)),
            *(live.sign_up(u, sid) for u in newcomers),
        )

        assert not unexpected(results, 200, 201)
        rows = await live.signups(sid)
        assert len(seated(rows)) == 10  # full again, never over
        line = waiting(rows)
        assert len(line) == 15 + 10 - 8 - 10
        # Nobody who came later sits while someone who came earlier still waits.
        assert max(su.seq for su in seated(rows)) < min((su.seq for su in line), default=10**6)
        assert sorted(su.seq for su in rows) == list(range(1, 26))
