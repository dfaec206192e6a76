"""Shared arrangements for 菜鸟学堂 tests: the world, volunteer teachers, and helpers to open a
course with a session and to sign people up through the API."""

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from app.auth.permissions import Role
from app.user.models import User
from tests.factories import World, bearer, make_user, make_world

COURSES = "/api/v1/courses"


@dataclass
class Teachers:
    chen: User  # teacher of C1
    li: User  # teacher of C1
    c2_teacher: User  # teacher of C2 only


@pytest.fixture
def auth(settings, clock):  # type: ignore[no-untyped-def]
    def _auth(user: User) -> dict[str, str]:
        return bearer(settings, clock, user)

    return _auth


@pytest.fixture
async def w(session) -> World:  # type: ignore[no-untyped-def]
    world = await make_world(session)
    await session.commit()
    return world


@pytest.fixture
async def teachers(session, w) -> Teachers:  # type: ignore[no-untyped-def]
    t = Teachers(
        chen=await make_user(session, (Role.TEACHER, w.c1), display_name="陈老师", phone="13700000001"),
        li=await make_user(session, (Role.TEACHER, w.c1), display_name="李老师", phone="13700000002"),
        c2_teacher=await make_user(session, (Role.TEACHER, w.c2), display_name="王老师", phone="13700000003"),
    )
    await session.commit()
    return t


@pytest.fixture
def open_session(client, auth, clock, w, teachers):  # type: ignore[no-untyped-def]
    """Open a course in C1 (as the C1 admin) with one session starting `in_hours` from now."""

    async def _open(
        *,
        capacity: int = 10,
        in_hours: float = 48,
        hours: float = 2,
        title: str = "智能手机入门：健康码",
        topics: tuple[str, ...] = ("health_code", "wechat"),
        course_id: str | None = None,
        community=None,  # type: ignore[no-untyped-def]
        staff: User | None = None,
        teacher_ids: list[str] | None = None,
    ) -> dict[str, Any]:
        staff = staff or w.c1_admin
        if course_id is None:
            r = await client.post(
                COURSES,
                json={"community_id": str((community or w.c1).id), "title": title, "topics": list(topics)},
                headers=auth(staff),
            )
            assert r.status_code == 201, r.text
            course_id = r.json()["id"]
        start = clock.now() + timedelta(hours=in_hours)
        r = await client.post(
            f"{COURSES}/{course_id}/sessions",
            json={
                "starts_at": start.isoformat(),
                "ends_at": (start + timedelta(hours=hours)).isoformat(),
                "venue": "西一路社区活动室",
                "capacity": capacity,
                "teacher_ids": teacher_ids if teacher_ids is not None else [str(teachers.chen.id)],
            },
            headers=auth(staff),
        )
        assert r.status_code == 201, r.text
        return r.json()

    return _open


@pytest.fixture
def sign_up(client, auth):  # type: ignore[no-untyped-def]
    """POST a signup; `attendee` makes it a proxy signup (with consent unless told otherwise)."""

    async def _sign_up(user: User, session_id: str, attendee: dict | None = None, **body: Any):  # type: ignore[no-untyped-def]
        payload: dict[str, Any] = dict(body)
        if attendee is not None:
            payload = {"attendee": attendee, "relationship": "child", "consent": True, **body}
        headers = {**auth(user), **payload.pop("headers", {})}
        return await client.post(f"{COURSES}/sessions/{session_id}/signups", json=payload, headers=headers)

    return _sign_up
