"""志愿时长 and 菜鸟学堂 figures through the API, on a scenario built step by step: sessions
held and cancelled, QR and roll-call attendance, no-shows recorded by the closing job, the
waitlist, and one-on-one help."""

import csv
import io
import re
import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import update

from app.course.jobs import sweep
from app.user.models import User
from tests.course.conftest import COURSES

HOUR = timedelta(hours=1)
MIN = timedelta(minutes=1)
HOURS = f"{COURSES}/volunteer-hours"


def expect(r: Any, status: int, code: str) -> None:
    assert (r.status_code, r.json().get("code")) == (status, code), r.text


def at(value: str) -> datetime:
    return datetime.fromisoformat(value)


@pytest.fixture
def ok(client, auth):  # type: ignore[no-untyped-def]
    """Call the API as `user` and return the JSON body, asserting the status."""

    async def _ok(method: str, url: str, user: User, status: int = 200, **kw: Any) -> Any:
        r = await client.request(method, url, headers=auth(user), **kw)
        assert r.status_code == status, r.text
        return r.json()

    return _ok


@pytest.fixture
async def scenario(clock, maker, settings, w, teachers, open_session, ok):  # type: ignore[no-untyped-def]
    """C1: session A (2 h, chen + li, 2 seats): the resident attends by QR, 张奶奶 cancels and
    the waitlisted other resident takes her seat but never comes. Session B (1 h, li, 1 seat):
    李爷爷 attends at the roll call, 王奶奶 stays on the waitlist. Session C is cancelled.
    C2: session D (1.5 h, 王老师): the resident attends. A session far in the future (E).
    Help: the resident's in C1 done by chen in 30 minutes, the worker's for 张奶奶 in C1 still open,
    the other resident's in C2 cancelled. The job closes A, B and D at the end."""
    t0 = clock.now()
    a = await open_session(capacity=2, teacher_ids=[str(teachers.chen.id), str(teachers.li.id)])
    cid = a["course_id"]
    b = await open_session(course_id=cid, in_hours=72, hours=1, capacity=1, teacher_ids=[str(teachers.li.id)])
    c = await open_session(course_id=cid, in_hours=60, hours=1)
    d = await open_session(
        community=w.c2, staff=w.c2_admin, hours=1.5, in_hours=96, teacher_ids=[str(teachers.c2_teacher.id)]
    )
    e = await open_session(course_id=cid, in_hours=24 * 20)

    async def signup(user: User, sid: str, attendee: dict | None = None) -> dict[str, Any]:
        body = {"attendee": attendee, "relationship": "child", "consent": True} if attendee else {}
        return await ok("POST", f"{COURSES}/sessions/{sid}/signups", user, 201, json=body)

    mine_a = await signup(w.resident, a["id"])
    zhang = await signup(w.worker, a["id"], {"name": "张奶奶", "phone": "13900000001"})
    promoted = await signup(w.other_resident, a["id"])
    li_ye = await signup(w.worker, b["id"], {"name": "李爷爷"})
    wang = await signup(w.worker, b["id"], {"name": "王奶奶"})
    await signup(w.resident, c["id"])
    await signup(w.resident, d["id"])
    await signup(w.resident, e["id"])
    assert (promoted["status"], wang["status"]) == ("waitlisted", "waitlisted")
    await ok("POST", f"{COURSES}/signups/{zhang['id']}/cancel", w.worker, json={})
    assert (await ok("GET", f"{COURSES}/signups/{promoted['id']}", w.other_resident))["status"] == "confirmed"
    await ok("POST", f"{COURSES}/sessions/{c['id']}/cancel", w.c1_admin, json={"reason": "停电"})

    # Help, all asked at t0.
    h1 = await ok(
        "POST", f"{COURSES}/help-requests", w.resident, 201, json={"topic": "wechat", "description": "视频"}
    )
    await ok("POST", f"{COURSES}/help-requests/{h1['id']}/claim", teachers.chen)
    await ok("POST", f"{COURSES}/help-requests/{h1['id']}/complete", teachers.chen, json={"minutes": 30})
    await ok(
        "POST",
        f"{COURSES}/help-requests",
        w.worker,
        201,
        json={
            "topic": "anti_fraud",
            "description": "防诈骗",
            "attendee_id": zhang["attendee"]["id"],
            "relationship": "child",
            "consent": True,
        },
    )
    h3 = await ok(
        "POST",
        f"{COURSES}/help-requests",
        w.other_resident,
        201,
        json={"topic": "photos", "description": "拍照", "community_id": str(w.c2.id)},
    )
    await ok("POST", f"{COURSES}/help-requests/{h3['id']}/cancel", w.other_resident, json={})

    # Attendance.
    clock.set(at(a["starts_at"]))
    tok = await ok("GET", f"{COURSES}/sessions/{a['id']}/checkin-token", teachers.chen)
    await ok("POST", f"{COURSES}/sessions/{a['id']}/check-in", w.resident, json={"token": tok["token"]})
    clock.set(at(b["starts_at"]) + 10 * MIN)
    await ok(
        "POST",
        f"{COURSES}/sessions/{b['id']}/roll-call",
        teachers.li,
        json={"entries": [{"signup_id": li_ye["id"], "present": True}]},
    )
    clock.set(at(d["starts_at"]))
    tok = await ok("GET", f"{COURSES}/sessions/{d['id']}/checkin-token", teachers.c2_teacher)
    await ok("POST", f"{COURSES}/sessions/{d['id']}/check-in", w.resident, json={"token": tok["token"]})

    clock.set(at(d["ends_at"]) + 30 * MIN)
    report = await sweep(maker, clock=clock, settings=settings)
    assert (report.errors, report.closed_sessions, report.no_shows, report.volunteer_records) == (0, 3, 1, 4)
    return {"t0": t0, "a": a, "b": b, "c": c, "d": d, "e": e, "h1": h1, "mine_a": mine_a}


# --- volunteer hours ------------------------------------------------------------------------


class TestMyHours:
    async def test_hours_accumulate_from_sessions_taught_and_help_given(self, w, teachers, scenario, ok):
        a, b, d, h1 = scenario["a"], scenario["b"], scenario["d"], scenario["h1"]

        chen = await ok("GET", f"{HOURS}/me", teachers.chen)
        assert [
            (t["user_id"], t["sessions_taught"], t["help_given"], t["minutes"], t["hours"])
            for t in chen["totals"]
        ] == [(str(teachers.chen.id), 1, 1, 150, 2.5)]
        assert [(r["source"], r["source_id"], r["minutes"], r["title"]) for r in chen["records"]] == [
            ("help", h1["id"], 30, "手把手：微信"),  # served first (at t0)
            ("session", a["id"], 120, "授课：智能手机入门：健康码"),
        ]
        assert at(chen["records"][0]["served_at"]) == scenario["t0"]
        assert at(chen["records"][1]["served_at"]) == at(a["starts_at"])
        assert {r["community_id"] for r in chen["records"]} == {str(w.c1.id)}
        assert chen["totals"][0]["display_name"] == "陈老师"

        li = await ok("GET", f"{HOURS}/me", teachers.li)
        assert [(t["sessions_taught"], t["help_given"], t["minutes"], t["hours"]) for t in li["totals"]] == [
            (2, 0, 180, 3.0)
        ]
        assert [r["source_id"] for r in li["records"]] == [a["id"], b["id"]]

        wang = await ok("GET", f"{HOURS}/me", teachers.c2_teacher)
        assert [(r["source_id"], r["minutes"], r["community_id"]) for r in wang["records"]] == [
            (d["id"], 90, str(w.c2.id))
        ]
        assert wang["totals"][0]["hours"] == 1.5

        nobody = await ok("GET", f"{HOURS}/me", w.resident)
        assert (nobody["totals"], nobody["records"]) == ([], [])

    async def test_a_session_counts_once_closed_and_a_cancelled_one_never(
        self, clock, maker, settings, w, teachers, open_session, ok
    ):
        s = await open_session(hours=1.5)
        gone = await open_session(in_hours=24, teacher_ids=[str(teachers.chen.id), str(teachers.li.id)])
        await ok("POST", f"{COURSES}/sessions/{gone['id']}/cancel", w.c1_admin, json={})
        clock.set(at(s["ends_at"]) + 29 * MIN)
        assert (await sweep(maker, clock=clock, settings=settings)).closed_sessions == 0
        assert (await ok("GET", f"{HOURS}/me", teachers.chen))["records"] == []
        clock.advance(MIN)
        assert (await sweep(maker, clock=clock, settings=settings)).volunteer_records == 1
        assert (await sweep(maker, clock=clock, settings=settings)).volunteer_records == 0  # once only
        me = await ok("GET", f"{HOURS}/me", teachers.chen)
        assert [(r["source_id"], r["minutes"]) for r in me["records"]] == [(s["id"], 90)]
        assert (await ok("GET", f"{HOURS}/me", teachers.li))["records"] == []

    async def test_my_hours_over_a_chosen_period(self, client, auth, w, teachers, scenario, ok):
        a, b = scenario["a"], scenario["b"]
        params = {"date_from": a["starts_at"], "date_to": b["starts_at"]}
        me = await ok("GET", f"{HOURS}/me", teachers.li, params=params)
        assert [r["source_id"] for r in me["records"]] == [a["id"]]  # [from, to)
        assert (at(me["date_from"]), at(me["date_to"])) == (at(a["starts_at"]), at(b["starts_at"]))
        params = {"date_from": b["starts_at"], "date_to": a["starts_at"]}
        r = await client.get(f"{HOURS}/me", params=params, headers=auth(teachers.li))
        expect(r, 422, "ticket.invalid_date_range")


class TestStaffHours:
    async def test_subdistrict_and_community_views(self, w, teachers, scenario, ok):
        s1 = await ok("GET", HOURS, w.sub_admin, params={"subdistrict_id": str(w.s1.id)})
        assert [
            (t["display_name"], t["sessions_taught"], t["help_given"], t["minutes"]) for t in s1["totals"]
        ] == [
            ("李老师", 2, 0, 180),
            ("陈老师", 1, 1, 150),
            ("王老师", 1, 0, 90),
        ]
        assert len(s1["records"]) == 5
        assert sum(r["minutes"] for r in s1["records"]) == 420

        c1 = await ok(
            "GET", HOURS, w.c1_admin, params={"subdistrict_id": str(w.s1.id), "community_id": str(w.c1.id)}
        )
        assert [t["display_name"] for t in c1["totals"]] == ["李老师", "陈老师"]
        assert {r["community_id"] for r in c1["records"]} == {str(w.c1.id)}
        assert len(c1["records"]) == 4
        c2 = await ok(
            "GET", HOURS, w.c2_admin, params={"subdistrict_id": str(w.s1.id), "community_id": str(w.c2.id)}
        )
        assert [(t["display_name"], t["minutes"]) for t in c2["totals"]] == [("王老师", 90)]
        s2 = await ok("GET", HOURS, w.s2_admin, params={"subdistrict_id": str(w.s2.id)})
        assert (s2["totals"], s2["records"]) == ([], [])

    async def test_out_of_scope(self, client, auth, w, teachers):
        s1, c1, c2, c3 = (str(x.id) for x in (w.s1, w.c1, w.c2, w.c3))
        for url in (HOURS, f"{HOURS}/export"):
            for user, params in (
                (w.s2_admin, {"subdistrict_id": s1}),
                (w.s2_admin, {"subdistrict_id": s1, "community_id": c1}),
                (w.c1_admin, {"subdistrict_id": s1}),  # a community admin asks for their community
                (w.c1_admin, {"subdistrict_id": s1, "community_id": c2}),
                (w.sub_admin, {"subdistrict_id": s1, "community_id": c3}),  # not in S1
                (w.s2_admin, {"subdistrict_id": str(w.s2.id), "community_id": c1}),
            ):
                expect(
                    await client.get(url, params=params, headers=auth(user)), 403, "course.scope_forbidden"
                )
            for user in (w.resident, teachers.chen, w.worker, w.dept_staff):
                r = await client.get(url, params={"subdistrict_id": s1}, headers=auth(user))
                expect(r, 403, "auth.staff_only")

    async def test_csv_export(self, client, auth, clock, session, w, teachers, scenario):
        # Display names are chosen by users: one that Excel would run as a formula.
        await session.execute(
            update(User).where(User.id == teachers.li.id).values(display_name="=HYPERLINK(1)")
        )
        await session.execute(update(User).where(User.id == teachers.chen.id).values(display_name="@陈老师"))
        await session.commit()

        r = await client.get(
            f"{HOURS}/export", params={"subdistrict_id": str(w.s1.id)}, headers=auth(w.sub_admin)
        )

        assert r.status_code == 200, r.text
        assert r.headers["content-type"] == "text/csv; charset=utf-8"
        assert re.fullmatch(
            r'attachment; filename="volunteer-hours-\d{8}-\d{8}\.csv"', r.headers["content-disposition"]
        )
        assert r.content.startswith(b"\xef\xbb\xbf")
        rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
        assert rows[0] == ["志愿者", "授课次数", "手把手次数", "时长（小时）"]
        assert rows[1:4] == [
            ["'=HYPERLINK(1)", "2", "0", "3.0"],
            ["'@陈老师", "1", "1", "2.5"],
            ["王老师", "1", "0", "1.5"],
        ]
        assert rows[4] == []
        assert rows[5] == ["志愿者", "日期", "服务", "时长（分钟）"]
        details = rows[6:]
        assert len(details) == 5
        # Local time (UTC+8) for the help given at t0, 02:00 UTC.
        local = (scenario["t0"] + 8 * HOUR).strftime("%Y-%m-%d %H:%M")
        assert details[0] == ["'@陈老师", local, "手把手：微信", "30"]
        assert all(not row[0].startswith(("=", "+", "-", "@")) for row in details)
        assert {row[2] for row in details} == {"手把手：微信", "授课：智能手机入门：健康码"}

    async def test_csv_export_for_a_community(self, client, auth, w, teachers, scenario):
        r = await client.get(
            f"{HOURS}/export",
            params={"subdistrict_id": str(w.s1.id), "community_id": str(w.c2.id)},
            headers=auth(w.c2_admin),
        )
        assert r.status_code == 200, r.text
        rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
        assert rows[1:3] == [["王老师", "1", "0", "1.5"], []]
        assert len(rows) == 5  # header, 1 total, blank, header, 1 record


# --- figures --------------------------------------------------------------------------------


def figures(**kw: Any) -> dict[str, Any]:
    base = {
        "sessions_held": 0,
        "sessions_cancelled": 0,
        "learners_served": 0,
        "seats_taken": 0,
        "attended": 0,
        "no_shows": 0,
        "attendance_rate": None,
        "no_show_rate": None,
        "waitlisted": 0,
        "waitlist_promoted": 0,
        "waitlist_conversion": None,
        "help_requests": 0,
        "help_done": 0,
        "volunteer_minutes": 0,
        "volunteer_hours": 0.0,
    }
    assert set(kw) <= set(base)
    return {**base, **kw}


C1_FIGURES = figures(
    sessions_held=2,  # A and B
    sessions_cancelled=1,  # C
    learners_served=2,  # the resident (class and help) and 李爷爷
    seats_taken=3,
    attended=2,
    no_shows=1,
    attendance_rate=0.6667,
    no_show_rate=0.3333,
    waitlisted=2,  # the other resident (promoted) and 王奶奶 (not)
    waitlist_promoted=1,
    waitlist_conversion=0.5,
    help_requests=2,
    help_done=1,
    volunteer_minutes=330,  # A 2 × 120, B 60, help 30
    volunteer_hours=5.5,
)
C2_FIGURES = figures(
    sessions_held=1,
    learners_served=1,
    seats_taken=1,
    attended=1,
    attendance_rate=1.0,
    no_show_rate=0.0,
    help_requests=1,
    volunteer_minutes=90,
    volunteer_hours=1.5,
)


class TestStats:
    async def test_subdistrict_figures_in_total_and_by_community(self, clock, w, teachers, scenario, ok):
        r = await ok("GET", f"{COURSES}/stats", w.sub_admin, params={"subdistrict_id": str(w.s1.id)})

        assert (r["subdistrict_id"], r["community_id"]) == (str(w.s1.id), None)
        assert (at(r["date_from"]), at(r["date_to"])) == (clock.now() - timedelta(days=30), clock.now())
        assert r["total"] == figures(
            sessions_held=3,
            sessions_cancelled=1,
            learners_served=2,  # the resident attended in both communities: one learner
            seats_taken=4,
            attended=3,
            no_shows=1,
            attendance_rate=0.75,
            no_show_rate=0.25,
            waitlisted=2,
            waitlist_promoted=1,
            waitlist_conversion=0.5,
            help_requests=3,
            help_done=1,
            volunteer_minutes=420,
            volunteer_hours=7.0,
        )
        by = {x.pop("community_id"): x for x in r["by_community"]}
        assert by == {str(w.c1.id): C1_FIGURES, str(w.c2.id): C2_FIGURES}

    async def test_community_figures(self, w, teachers, scenario, ok):
        params = {"subdistrict_id": str(w.s1.id), "community_id": str(w.c1.id)}
        for staff in (w.c1_admin, w.sub_admin):
            r = await ok("GET", f"{COURSES}/stats", staff, params=params)
            assert r["community_id"] == str(w.c1.id)
            assert r["total"] == C1_FIGURES
            assert [x["community_id"] for x in r["by_community"]] == [str(w.c1.id)]

    async def test_a_period_without_classes(self, w, teachers, scenario, ok):
        t0 = scenario["t0"]
        params = {
            "subdistrict_id": str(w.s1.id),
            "date_from": (t0 - timedelta(days=1)).isoformat(),
            "date_to": (t0 + HOUR).isoformat(),
        }
        r = await ok("GET", f"{COURSES}/stats", w.sub_admin, params=params)
        # Only the help asked (and done) at t0 falls in it.
        assert r["total"] == figures(
            learners_served=1, help_requests=3, help_done=1, volunteer_minutes=30, volunteer_hours=0.5
        )

    async def test_sessions_not_yet_begun_do_not_count(self, clock, w, teachers, open_session, ok):
        s = await open_session()
        params = {
            "subdistrict_id": str(w.s1.id),
            "date_from": clock.now().isoformat(),
            "date_to": (clock.now() + timedelta(days=5)).isoformat(),
        }
        r = await ok("GET", f"{COURSES}/stats", w.sub_admin, params=params)
        assert r["total"]["sessions_held"] == 0
        clock.set(at(s["starts_at"]) + MIN)  # begun (the job has not closed it yet)
        r = await ok("GET", f"{COURSES}/stats", w.sub_admin, params=params)
        assert (r["total"]["sessions_held"], r["total"]["seats_taken"]) == (1, 0)

    async def test_scope_and_date_range_errors(self, client, auth, clock, w, teachers):
        url = f"{COURSES}/stats"
        s1, c1, c2 = str(w.s1.id), str(w.c1.id), str(w.c2.id)
        for user, params in (
            (w.s2_admin, {"subdistrict_id": s1}),
            (w.c1_admin, {"subdistrict_id": s1}),
            (w.c1_admin, {"subdistrict_id": s1, "community_id": c2}),
            (w.sub_admin, {"subdistrict_id": s1, "community_id": str(w.c3.id)}),
            (w.sub_admin, {"subdistrict_id": s1, "community_id": str(uuid.uuid4())}),
        ):
            expect(await client.get(url, params=params, headers=auth(user)), 403, "course.scope_forbidden")
        for user in (w.resident, teachers.chen, w.dept_staff):
            expect(
                await client.get(url, params={"subdistrict_id": s1}, headers=auth(user)),
                403,
                "auth.staff_only",
            )

        now = clock.now()
        for date_from, date_to in (
            (now, now - HOUR),  # backwards
            (now, now),  # empty
            (now - timedelta(days=367), now),  # longer than 366 days
        ):
            params = {"subdistrict_id": s1, "community_id": c1, "date_from": date_from.isoformat()}
            params["date_to"] = date_to.isoformat()
            for path in (url, HOURS, f"{HOURS}/export"):
                r = await client.get(path, params=params, headers=auth(w.c1_admin))
                expect(r, 422, "ticket.invalid_date_range")
        r = await client.get(
            url, params={"subdistrict_id": s1, "date_from": "2026-11-01"}, headers=auth(w.sub_admin)
        )
        expect(r, 422, "request.invalid")  # a time zone is required
        r = await client.get(
            url,
            params={
                "subdistrict_id": s1,
                "date_from": (now - timedelta(days=366)).isoformat(),
                "date_to": now.isoformat(),
            },
            headers=auth(w.sub_admin),
        )
        assert r.status_code == 200, r.text


async def test_a_cancelled_sessions_waitlist_does_not_count(
    client, auth, clock, w, teachers, open_session, ok
):
    s = await open_session(capacity=1)
    await ok("POST", f"{COURSES}/sessions/{s['id']}/signups", w.resident, 201, json={})
    waiting = await ok("POST", f"{COURSES}/sessions/{s['id']}/signups", w.other_resident, 201, json={})
    assert waiting["status"] == "waitlisted"
    await ok("POST", f"{COURSES}/sessions/{s['id']}/cancel", w.c1_admin, json={"reason": "老师生病"})
    clock.set(at(s["ends_at"]) + HOUR)
    r = await client.get(
        f"{COURSES}/stats",
        params={"subdistrict_id": str(w.s1.id), "community_id": str(w.c1.id)},
        headers=auth(w.c1_admin),
    )
    assert r.status_code == 200, r.text
    total = r.json()["total"]
    assert (total["sessions_held"], total["sessions_cancelled"]) == (0, 1)
    assert (total["waitlisted"], total["waitlist_promoted"], total["waitlist_conversion"]) == (0, 0, None)
