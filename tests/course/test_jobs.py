"""菜鸟学堂 sweeper work (app/course/jobs.py): the day-before reminder and closing sessions that
have ended, driven by a frozen clock set step by step (never by sleeping). Data is arranged
through the API; the sweep is called directly, as the sweeper loop does."""

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.permissions import Role
from app.core.config import Settings
from app.core.db import create_sessionmaker
from app.course.jobs import CourseSweepReport, sweep
from app.course.models import CourseSession, Signup, VolunteerRecord, VolunteerSource
from app.main import create_app
from app.media.storage import InMemoryStorage
from app.notification.models import Notification, OutboxMessage
from app.user.models import User
from app.wechat.client import FakeWeChatClient
from tests.conftest import make_settings
from tests.course.conftest import COURSES
from tests.dbutil import DatabaseFactory
from tests.factories import World, bearer, make_user, make_world
from tests.fakes import FrozenClock

MIN = timedelta(minutes=1)
HOUR = timedelta(hours=1)
REMINDER = "course.reminder"
TEACHER_REMINDER = "course.teacher_reminder"


# --- helpers ----------------------------------------------------------------------------


async def notified(session: AsyncSession, kind: str, session_id: str | None = None) -> list[uuid.UUID]:
    """Recipients of every notification of this kind (sorted, repeats kept)."""
    rows = (
        await session.execute(
            select(Notification.user_id, Notification.data).where(Notification.kind == kind)
        )
    ).all()
    return sorted(u for u, data in rows if session_id is None or data.get("session_id") == session_id)


async def outboxed(session: AsyncSession, kind: str, session_id: str | None = None) -> list[uuid.UUID]:
    """Recipients of every queued live delivery of this kind (sorted, repeats kept)."""
    rows = (
        await session.execute(
            select(OutboxMessage.user_id, OutboxMessage.payload).where(
                OutboxMessage.topic == kind, OutboxMessage.channel == "live"
            )
        )
    ).all()
    out = []
    for user_id, payload in rows:
        assert payload["kind"] == kind
        if session_id is None or payload["data"].get("session_id") == session_id:
            out.append(user_id)
    return sorted(out)


async def statuses(session: AsyncSession, *signup_ids: str) -> list[str]:
    rows = dict(
        (
            await session.execute(
                select(Signup.id, Signup.status).where(Signup.id.in_([uuid.UUID(i) for i in signup_ids]))
            )
        ).all()
    )
    return [rows[uuid.UUID(i)].value for i in signup_ids]


async def session_row(session: AsyncSession, session_id: str) -> CourseSession:
    row = await session.get(CourseSession, uuid.UUID(session_id), populate_existing=True)
    assert row is not None
    return row


async def records(session: AsyncSession, session_id: str | None = None) -> list[VolunteerRecord]:
    stmt = select(VolunteerRecord).execution_options(populate_existing=True)
    if session_id is not None:
        stmt = stmt.where(VolunteerRecord.source_id == uuid.UUID(session_id))
    return list(await session.scalars(stmt))


def ids(*users: User) -> list[uuid.UUID]:
    return sorted(u.id for u in users)


def starts(s: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(s["starts_at"])


def ends(s: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(s["ends_at"])


@pytest.fixture
def remind_before(settings: Settings) -> timedelta:
    return timedelta(hours=settings.course.reminder_hours_before)


@pytest.fixture
def close_after(settings: Settings) -> timedelta:
    return timedelta(minutes=settings.course.close_after_minutes)


@pytest.fixture
def run_sweep(maker, clock, settings):  # type: ignore[no-untyped-def]
    async def _run(**kw: Any) -> CourseSweepReport:
        report = await sweep(maker, clock=clock, settings=settings, **kw)
        assert report.errors == 0
        return report

    return _run


@pytest.fixture
def signed(sign_up):  # type: ignore[no-untyped-def]
    """Sign up and return the signup (asserting it got the expected status)."""

    async def _signed(user: User, session_id: str, status: str = "confirmed", **kw: Any) -> dict[str, Any]:
        r = await sign_up(user, session_id, **kw)
        assert r.status_code == 201, r.text
        assert r.json()["status"] == status, r.json()
        return r.json()

    return _signed


@pytest.fixture
def cancel(client, auth):  # type: ignore[no-untyped-def]
    async def _cancel(user: User, signup_id: str) -> None:
        r = await client.post(f"{COURSES}/signups/{signup_id}/cancel", json={}, headers=auth(user))
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "cancelled"

    return _cancel


async def residents(session: AsyncSession, w: World, n: int) -> list[User]:
    users = [await make_user(session, Role.RESIDENT, home=w.c1, display_name=f"学员{i}") for i in range(n)]
    await session.commit()
    return users


# --- the day-before reminder ------------------------------------------------------------


class TestReminder:
    async def test_goes_out_once_at_the_reminder_time(
        self, session, w, teachers, open_session, signed, clock, run_sweep, remind_before, client, auth
    ) -> None:
        s = await open_session(in_hours=48)
        await signed(w.resident, s["id"])

        assert not await run_sweep()  # two days ahead: not yet
        clock.set(starts(s) - remind_before - MIN)
        assert not await run_sweep()
        assert await notified(session, REMINDER) == []

        clock.advance(MIN)  # exactly reminder_hours_before ahead
        first = await run_sweep()
        assert (first.reminded_sessions, first.notifications) == (1, 2)
        assert (first.closed_sessions, first.no_shows, first.volunteer_records) == (0, 0, 0)
        assert await notified(session, REMINDER, s["id"]) == ids(w.resident)
        assert await notified(session, TEACHER_REMINDER, s["id"]) == ids(teachers.chen)
        assert await outboxed(session, REMINDER, s["id"]) == ids(w.resident)
        assert await outboxed(session, TEACHER_REMINDER, s["id"]) == ids(teachers.chen)
        assert (await session_row(session, s["id"])).reminded_at == clock.now()

        again = await run_sweep()
        assert not again
        assert again.notifications == 0
        clock.advance(12 * HOUR)
        assert not await run_sweep()
        assert await notified(session, REMINDER) == ids(w.resident)
        assert await notified(session, TEACHER_REMINDER) == ids(teachers.chen)
        assert len(await outboxed(session, REMINDER)) == 1

        # The learner sees it in their inbox, pointing at the session.
        r = await client.get("/api/v1/notifications", headers=auth(w.resident))
        assert r.status_code == 200, r.text
        mine = [n for n in r.json()["items"] if n["kind"] == REMINDER]
        assert len(mine) == 1
        # What the WeChat class-reminder template needs rides along.
        assert mine[0]["data"] == {
            "session_id": s["id"],
            "course_id": s["course_id"],
            "course_title": s["title"],
            "starts_at": starts(s).isoformat(),
            "place": s["venue"],
        }
        assert s["venue"] in mine[0]["body"]
        assert mine[0]["read_at"] is None
        r = await client.get("/api/v1/notifications", headers=auth(teachers.chen))
        assert r.status_code == 200, r.text
        kinds = [n["kind"] for n in r.json()["items"]]
        assert kinds.count(TEACHER_REMINDER) == 1 and REMINDER not in kinds

    async def test_goes_to_confirmed_learners_and_whoever_signed_them_up(
        self,
        session,
        w,
        teachers,
        open_session,
        signed,
        cancel,
        client,
        auth,
        clock,
        run_sweep,
        remind_before,
    ) -> None:
        zhang, waiting, leaver, quitter, late = await residents(session, w, 5)
        s = await open_session(
            capacity=4, in_hours=48, teacher_ids=[str(teachers.chen.id), str(teachers.li.id)]
        )
        sid = s["id"]
        # A learner with an account, signing up themself.
        own = await signed(w.resident, sid)
        # A learner without an account, signed up by the grid worker.
        liu = await signed(w.worker, sid, attendee={"name": "刘大爷"}, relationship="grid_worker")
        assert liu["attendee"]["has_account"] is False
        # A learner signed up by someone else, then linked to her own account by staff.
        zh = await signed(w.other_resident, sid, attendee={"name": "张奶奶", "phone": "13900000001"})
        r = await client.post(
            f"{COURSES}/attendees/{zh['attendee']['id']}/link",
            json={"user_id": str(zhang.id)},
            headers=auth(w.c1_admin),
        )
        assert r.status_code == 200, r.text
        gone = await signed(leaver, sid)  # the fourth seat; cancelled below
        first_in_line = await signed(waiting, sid, status="waitlisted")
        changed_mind = await signed(quitter, sid, status="waitlisted")
        await cancel(quitter, changed_mind["id"])  # cancelled from the waitlist
        await cancel(leaver, gone["id"])  # cancelled a seat: the first in line moves up
        still_waiting = await signed(late, sid, status="waitlisted")
        assert await statuses(
            session, own["id"], liu["id"], zh["id"], gone["id"], first_in_line["id"], changed_mind["id"]
        ) == ["confirmed", "confirmed", "confirmed", "cancelled", "confirmed", "cancelled"]
        assert await statuses(session, still_waiting["id"]) == ["waitlisted"]

        clock.set(starts(s) - remind_before + HOUR)
        report = await run_sweep()
        learners = ids(w.resident, w.worker, w.other_resident, zhang, waiting)
        assert report.reminded_sessions == 1
        assert report.notifications == len(learners) + 2
        assert await notified(session, REMINDER, sid) == learners
        assert await outboxed(session, REMINDER, sid) == learners
        assert await notified(session, TEACHER_REMINDER, sid) == ids(teachers.chen, teachers.li)
        assert await outboxed(session, TEACHER_REMINDER, sid) == ids(teachers.chen, teachers.li)
        for nobody in (late, leaver, quitter, teachers.c2_teacher, w.c1_admin):
            assert nobody.id not in await notified(session, REMINDER)
            assert nobody.id not in await notified(session, TEACHER_REMINDER)
        # The teacher is told how many have a seat.
        body = await session.scalar(
            select(Notification.body).where(
                Notification.kind == TEACHER_REMINDER, Notification.user_id == teachers.li.id
            )
        )
        assert "已报名 4 人" in body

    async def test_without_learners_only_the_teachers_are_reminded(
        self, session, w, teachers, open_session, signed, cancel, clock, run_sweep
    ) -> None:
        empty = await open_session(in_hours=10)
        emptied = await open_session(in_hours=14)
        su = await signed(w.resident, emptied["id"])
        await cancel(w.resident, su["id"])
        report = await run_sweep()
        assert (report.reminded_sessions, report.notifications) == (2, 2)
        assert await notified(session, REMINDER) == []
        assert await notified(session, TEACHER_REMINDER, empty["id"]) == ids(teachers.chen)
        assert await notified(session, TEACHER_REMINDER, emptied["id"]) == ids(teachers.chen)
        body = await session.scalar(select(Notification.body).where(Notification.kind == TEACHER_REMINDER))
        assert "已报名 0 人" in body

    async def test_no_teachers_no_teacher_reminder(
        self, session, w, teachers, open_session, signed, clock, run_sweep
    ) -> None:
        s = await open_session(in_hours=5, teacher_ids=[])
        await signed(w.resident, s["id"])
        report = await run_sweep()
        assert (report.reminded_sessions, report.notifications) == (1, 1)
        assert await notified(session, REMINDER, s["id"]) == ids(w.resident)
        assert await notified(session, TEACHER_REMINDER) == []

    async def test_only_sessions_within_the_reminder_window(
        self, session, w, teachers, open_session, signed, clock, run_sweep, remind_before
    ) -> None:
        hours = remind_before / HOUR
        near = await open_session(in_hours=hours - 1)
        edge = await open_session(in_hours=hours)
        far = await open_session(in_hours=hours + 1 / 60)
        further = await open_session(in_hours=hours + 24)
        learners = {}
        for s, user in zip((near, edge, far, further), await residents(session, w, 4), strict=True):
            await signed(user, s["id"])
            learners[s["id"]] = user

        report = await run_sweep()
        assert report.reminded_sessions == 2
        assert await notified(session, REMINDER, near["id"]) == ids(learners[near["id"]])
        assert await notified(session, REMINDER, edge["id"]) == ids(learners[edge["id"]])
        assert await notified(session, REMINDER, far["id"]) == []
        assert await notified(session, REMINDER, further["id"]) == []
        assert (await session_row(session, far["id"])).reminded_at is None

        clock.advance(MIN)  # now `far` is due
        report = await run_sweep()
        assert report.reminded_sessions == 1
        assert await notified(session, REMINDER, far["id"]) == ids(learners[far["id"]])
        assert await notified(session, REMINDER, further["id"]) == []
        assert len(await notified(session, REMINDER)) == 3

    async def test_a_session_that_has_begun_is_not_reminded_late(
        self, session, w, teachers, open_session, signed, clock, run_sweep
    ) -> None:
        s = await open_session(in_hours=1)
        await signed(w.resident, s["id"])
        clock.set(starts(s))  # the sweeper was down until the class began
        report = await run_sweep()
        assert report.reminded_sessions == 0
        assert await notified(session, REMINDER) == []
        assert await notified(session, TEACHER_REMINDER) == []

    async def test_a_cancelled_session_is_not_reminded(
        self, session, w, teachers, open_session, signed, client, auth, clock, run_sweep, remind_before
    ) -> None:
        s = await open_session(in_hours=48)
        await signed(w.resident, s["id"])
        r = await client.post(
            f"{COURSES}/sessions/{s['id']}/cancel", json={"reason": "场地维修"}, headers=auth(w.c1_admin)
        )
        assert r.status_code == 200, r.text
        clock.set(starts(s) - remind_before + HOUR)
        assert not await run_sweep()
        assert await notified(session, REMINDER) == []
        assert await notified(session, TEACHER_REMINDER) == []
        assert (await session_row(session, s["id"])).reminded_at is None

    async def test_moving_the_start_sends_the_reminder_again(
        self, session, w, teachers, open_session, signed, client, auth, clock, run_sweep, remind_before
    ) -> None:
        s = await open_session(in_hours=48, hours=2)
        sid = s["id"]
        await signed(w.resident, sid)
        clock.set(starts(s) - remind_before + 6 * HOUR)
        assert (await run_sweep()).reminded_sessions == 1
        assert await notified(session, REMINDER, sid) == ids(w.resident)

        # Changing only the number of seats is no reason to remind again.
        r = await client.patch(f"{COURSES}/sessions/{sid}", json={"capacity": 12}, headers=auth(w.c1_admin))
        assert r.status_code == 200, r.text
        assert not await run_sweep()
        assert await notified(session, REMINDER, sid) == ids(w.resident)

        # Two hours later, still within the window: reminded again.
        new_start = starts(s) + 2 * HOUR
        r = await client.patch(
            f"{COURSES}/sessions/{sid}",
            json={"starts_at": new_start.isoformat(), "ends_at": (new_start + 2 * HOUR).isoformat()},
            headers=auth(w.c1_admin),
        )
        assert r.status_code == 200, r.text
        assert await notified(session, "course.session_changed", sid) == ids(w.resident)
        assert (await session_row(session, sid)).reminded_at is None
        report = await run_sweep()
        assert (report.reminded_sessions, report.notifications) == (1, 2)
        assert await notified(session, REMINDER, sid) == ids(w.resident, w.resident)
        assert await notified(session, TEACHER_REMINDER, sid) == ids(teachers.chen, teachers.chen)
        assert not await run_sweep()

        # Moved to the day after: no reminder until it is near again, then one more.
        later = new_start + 24 * HOUR
        r = await client.patch(
            f"{COURSES}/sessions/{sid}",
            json={"starts_at": later.isoformat(), "ends_at": (later + 2 * HOUR).isoformat()},
            headers=auth(w.c1_admin),
        )
        assert r.status_code == 200, r.text
        assert not await run_sweep()
        assert await notified(session, REMINDER, sid) == ids(w.resident, w.resident)
        clock.set(later - remind_before)
        assert (await run_sweep()).reminded_sessions == 1
        assert await notified(session, REMINDER, sid) == ids(w.resident, w.resident, w.resident)

    async def test_a_small_batch_reaches_every_session_over_several_sweeps(
        self, session, w, teachers, open_session, signed, clock, run_sweep
    ) -> None:
        sessions = [await open_session(in_hours=h, hours=1) for h in (3, 5, 7)]
        for s in sessions:
            await signed(w.resident, s["id"])
        assert (await run_sweep(batch=2)).reminded_sessions == 2
        # The soonest go first.
        assert await notified(session, REMINDER, sessions[2]["id"]) == []
        assert (await run_sweep(batch=2)).reminded_sessions == 1
        assert not await run_sweep(batch=2)
        for s in sessions:
            assert await notified(session, REMINDER, s["id"]) == ids(w.resident)


# --- closing a session ------------------------------------------------------------------


class TestClose:
    async def test_no_shows_recorded_attendance_kept_and_hours_credited(
        self, session, w, teachers, open_session, signed, cancel, client, auth, clock, run_sweep, close_after
    ) -> None:
        waiting, quitter = await residents(session, w, 2)
        s = await open_session(
            capacity=3, in_hours=48, hours=1.5, teacher_ids=[str(teachers.chen.id), str(teachers.li.id)]
        )
        sid = s["id"]
        scanned = await signed(w.resident, sid)
        called = await signed(w.worker, sid, attendee={"name": "刘大爷"}, relationship="grid_worker")
        absent = await signed(w.other_resident, sid)
        line = await signed(waiting, sid, status="waitlisted")
        gone = await signed(quitter, sid, status="waitlisted")
        await cancel(quitter, gone["id"])

        clock.set(starts(s))
        tok = await client.get(f"{COURSES}/sessions/{sid}/checkin-token", headers=auth(teachers.chen))
        assert tok.status_code == 200, tok.text
        r = await client.post(
            f"{COURSES}/sessions/{sid}/check-in",
            json={"token": tok.json()["token"]},
            headers=auth(w.resident),
        )
        assert r.status_code == 200, r.text
        r = await client.post(
            f"{COURSES}/sessions/{sid}/roll-call",
            json={"entries": [{"signup_id": called["id"], "present": True}]},
            headers=auth(teachers.chen),
        )
        assert r.status_code == 200, r.text

        clock.set(ends(s))
        assert not await run_sweep()
        clock.set(ends(s) + close_after - MIN)
        assert not await run_sweep()
        assert await statuses(session, absent["id"]) == ["confirmed"]
        assert await records(session) == []

        clock.set(ends(s) + close_after)
        report = await run_sweep()
        assert (report.closed_sessions, report.no_shows, report.volunteer_records) == (1, 1, 2)
        assert (report.reminded_sessions, report.notifications) == (0, 0)
        assert await statuses(session, scanned["id"], called["id"], absent["id"], line["id"], gone["id"]) == [
            "attended",
            "attended",
            "no_show",
            "waitlisted",
            "cancelled",
        ]
        row = await session_row(session, sid)
        assert row.closed_at == clock.now()

        recs = await records(session, sid)
        assert sorted(r.user_id for r in recs) == ids(teachers.chen, teachers.li)
        for rec in recs:
            assert rec.minutes == 90
            assert rec.source is VolunteerSource.SESSION
            assert rec.community_id == w.c1.id
            assert rec.served_at == starts(s)
            assert rec.recorded_at == clock.now()
            assert s["title"] in rec.title

        # The teacher sees the hours as theirs.
        r = await client.get(f"{COURSES}/volunteer-hours/me", headers=auth(teachers.li))
        assert r.status_code == 200, r.text
        body = r.json()
        assert [(t["minutes"], t["sessions_taught"]) for t in body["totals"]] == [(90, 1)]
        assert [(x["source"], x["source_id"]) for x in body["records"]] == [("session", sid)]

        # The learner's history shows the no-show.
        r = await client.get(f"{COURSES}/me/history", headers=auth(w.other_resident))
        assert r.status_code == 200, r.text
        assert (r.json()["attended"], r.json()["no_shows"]) == (0, 1)

        # Nothing more, however often the sweeper passes.
        again = await run_sweep()
        assert not again
        clock.advance(30 * 24 * HOUR)
        assert not await run_sweep()
        assert len(await records(session)) == 2
        assert (await session_row(session, sid)).closed_at == ends(s) + close_after
        assert await statuses(session, scanned["id"], absent["id"]) == ["attended", "no_show"]

    async def test_minutes_are_the_session_length(
        self, session, w, teachers, open_session, clock, run_sweep, close_after
    ) -> None:
        short = await open_session(in_hours=10, hours=0.75)
        long = await open_session(in_hours=20, hours=8, teacher_ids=[str(teachers.li.id)])
        clock.set(ends(long) + close_after)
        report = await run_sweep()
        assert (report.closed_sessions, report.no_shows, report.volunteer_records) == (2, 0, 2)
        assert [(r.user_id, r.minutes) for r in await records(session, short["id"])] == [
            (teachers.chen.id, 45)
        ]
        assert [(r.user_id, r.minutes) for r in await records(session, long["id"])] == [(teachers.li.id, 480)]

    async def test_a_session_without_teachers_is_closed_without_hours(
        self, session, w, teachers, open_session, signed, clock, run_sweep, close_after
    ) -> None:
        s = await open_session(in_hours=3, teacher_ids=[])
        su = await signed(w.resident, s["id"])
        clock.set(ends(s) + close_after)
        report = await run_sweep()
        assert (report.closed_sessions, report.no_shows, report.volunteer_records) == (1, 1, 0)
        assert await statuses(session, su["id"]) == ["no_show"]
        assert await records(session) == []

    async def test_a_cancelled_session_is_not_closed(
        self, session, w, teachers, open_session, signed, client, auth, clock, run_sweep, close_after
    ) -> None:
        s = await open_session(in_hours=48)
        su = await signed(w.resident, s["id"])
        r = await client.post(f"{COURSES}/sessions/{s['id']}/cancel", json={}, headers=auth(w.c1_admin))
        assert r.status_code == 200, r.text
        clock.set(ends(s) + close_after + HOUR)
        report = await run_sweep()
        assert not report
        assert (await session_row(session, s["id"])).closed_at is None
        assert await statuses(session, su["id"]) == ["cancelled"]
        assert await records(session) == []

    async def test_reminded_then_closed_each_once(
        self, session, w, teachers, open_session, signed, clock, run_sweep, remind_before, close_after
    ) -> None:
        s = await open_session(in_hours=48)
        su = await signed(w.resident, s["id"])
        clock.set(starts(s) - remind_before)
        assert (await run_sweep()).reminded_sessions == 1
        clock.set(ends(s) + close_after)
        report = await run_sweep()
        assert (report.reminded_sessions, report.closed_sessions, report.no_shows) == (0, 1, 1)
        assert await statuses(session, su["id"]) == ["no_show"]
        assert await notified(session, REMINDER) == ids(w.resident)
        assert not await run_sweep()


# --- several sweepers at once, on a real engine -------------------------------------------


@dataclass
class Live:
    app: Any
    client: httpx.AsyncClient
    w: World
    chen: User
    li: User
    clock: FrozenClock
    settings: Settings

    def auth(self, user: User) -> dict[str, str]:
        return bearer(self.settings, self.clock, user)


@pytest.fixture
async def live(databases: DatabaseFactory, tmp_path) -> AsyncIterator[Live]:  # type: ignore[no-untyped-def]
    clock = FrozenClock()
    settings = make_settings(databases.copy(), tmp_path)
    app = create_app(settings, clock=clock, wechat=FakeWeChatClient(), storage=InMemoryStorage())
    async with app.state.sessionmaker() as session:
        world = await make_world(session)
        chen = await make_user(session, (Role.TEACHER, world.c1), display_name="陈老师")
        li = await make_user(session, (Role.TEACHER, world.c1), display_name="李老师")
        await session.commit()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        yield Live(app, client, world, chen, li, clock, settings)
    await app.state.engine.dispose()


async def test_concurrent_sweeps_remind_and_close_each_session_once(live: Live) -> None:
    c, w, clock, settings = live.client, live.w, live.clock, live.settings
    r = await c.post(
        COURSES,
        json={"community_id": str(w.c1.id), "title": "微信视频通话", "topics": ["wechat"]},
        headers=live.auth(w.c1_admin),
    )
    assert r.status_code == 201, r.text
    course_id = r.json()["id"]
    sessions = []
    for i in range(4):
        start = clock.now() + (10 + 2 * i) * HOUR
        r = await c.post(
            f"{COURSES}/{course_id}/sessions",
            json={
                "starts_at": start.isoformat(),
                "ends_at": (start + HOUR).isoformat(),
                "venue": "活动室",
                "capacity": 5,
                "teacher_ids": [str(live.chen.id), str(live.li.id)],
            },
            headers=live.auth(w.c1_admin),
        )
        assert r.status_code == 201, r.text
        sessions.append(r.json())
        for user, body in (
            (w.resident, {}),
            (w.worker, {"attendee": {"name": "刘大爷"}, "relationship": "grid_worker", "consent": True}),
        ):
            r = await c.post(
                f"{COURSES}/sessions/{sessions[-1]['id']}/signups",
                json=body,
                headers=live.auth(user),
            )
            assert r.status_code == 201, r.text
            assert r.json()["status"] == "confirmed"
    makers = [create_sessionmaker(live.app.state.engine) for _ in range(2)]

    async def both() -> list[CourseSweepReport]:
        reports = list(await asyncio.gather(*(sweep(m, clock=clock, settings=settings) for m in makers)))
        assert all(r.errors == 0 for r in reports)
        return reports

    reports = await both()
    assert sum(r.reminded_sessions for r in reports) == len(sessions)
    # Per session: the resident, the grid worker who signed 刘大爷 up, and two teachers.
    assert sum(r.notifications for r in reports) == len(sessions) * 4

    async with makers[0]() as session:
        sent = Counter(
            (kind, data["session_id"], user_id)
            for kind, data, user_id in (
                await session.execute(
                    select(Notification.kind, Notification.data, Notification.user_id).where(
                        Notification.kind.in_([REMINDER, TEACHER_REMINDER])
                    )
                )
            ).all()
        )
        assert set(sent.values()) == {1}
        expected = {
            (kind, s["id"], u.id)
            for s in sessions
            for kind, u in (
                (REMINDER, w.resident),
                (REMINDER, w.worker),
                (TEACHER_REMINDER, live.chen),
                (TEACHER_REMINDER, live.li),
            )
        }
        assert set(sent) == expected
        queued = await session.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.topic.in_([REMINDER, TEACHER_REMINDER]), OutboxMessage.channel == "live")
        )
        assert queued == len(expected)
        reminded = list(await session.scalars(select(CourseSession.reminded_at)))
        assert reminded == [clock.now()] * len(sessions)

    assert not any(await both())

    clock.set(ends(sessions[-1]) + timedelta(minutes=settings.course.close_after_minutes))
    reports = await both()
    assert sum(r.closed_sessions for r in reports) == len(sessions)
    assert sum(r.no_shows for r in reports) == len(sessions) * 2
    assert sum(r.volunteer_records for r in reports) == len(sessions) * 2
    assert not any(await both())

    async with makers[0]() as session:
        recs = Counter(
            (row.user_id, row.source_id, row.minutes)
            for row in await session.scalars(select(VolunteerRecord))
        )
        assert recs == Counter(
            {(t.id, uuid.UUID(s["id"]), 60): 1 for s in sessions for t in (live.chen, live.li)}
        )
        assert set(await session.scalars(select(Signup.status))) == {"no_show"}
        assert await session.scalar(select(func.count()).select_from(Signup)) == len(sessions) * 2
        closed = set(await session.scalars(select(CourseSession.closed_at)))
        assert closed == {clock.now()}
