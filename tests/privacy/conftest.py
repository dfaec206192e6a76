"""Shared arrangements for the PIPL tests: the world with a category, a neighbour of the resident,
and helpers to report, act on tickets, upload a photo and read the access log."""

import io
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import select

from app.auth.permissions import Role
from app.course.models import Attendee, Course, CourseSession, Level, Relationship, SessionStatus, Signup
from app.course.state import SignupStatus
from app.privacy.models import AuditLog
from app.user.models import User
from tests.factories import World, bearer, make_category, make_user, make_world

TICKETS = "/api/v1/tickets"
AUDIT = "/api/v1/audit-log"
# Inside G1 (WGS-84).
IN_G1 = {"lat": 34.272, "lng": 108.952, "coord_system": "wgs84"}


@pytest.fixture
async def w(session) -> World:  # type: ignore[no-untyped-def]
    world = await make_world(session)
    world.category = await make_category(session, world.s1, name="设施损坏")
    # A second resident of C1: shares a ticket with the resident (+1), has data of their own.
    world.neighbour = await make_user(
        session, Role.RESIDENT, home=world.c1, phone="13811112222", display_name="邻居丙", openid="ok:nb"
    )
    await session.commit()
    return world


@pytest.fixture
def auth(settings, clock):  # type: ignore[no-untyped-def]
    def _auth(user: User) -> dict[str, str]:
        return bearer(settings, clock, user)

    return _auth


@pytest.fixture
def report(client, auth, w):  # type: ignore[no-untyped-def]
    """File a 随手拍 report in G1 as `user`; returns the ticket as the reporter sees it."""

    async def _report(user: User, **fields: Any) -> dict:
        body = {"category_id": str(w.category.id), "description": "井盖破损，晚上很危险", "location": IN_G1}
        r = await client.post(TICKETS, json={**body, **fields}, headers=auth(user))
        assert r.status_code == 201, r.text
        return r.json()

    return _report


@pytest.fixture
def act(client, auth):  # type: ignore[no-untyped-def]
    async def _act(tid: str, path: str, user: User, body: dict | None = None) -> dict:
        r = await client.post(f"{TICKETS}/{tid}/{path}", json=body, headers=auth(user))
        assert r.status_code == 200, r.text
        return r.json()

    return _act


@pytest.fixture
def upload(client, auth):  # type: ignore[no-untyped-def]
    async def _upload(user: User, seed: int = 1) -> str:
        buf = io.BytesIO()
        Image.new("RGB", (40, 30), (seed * 37 % 256, 90, 120)).save(buf, format="JPEG")
        r = await client.post(
            "/api/v1/uploads", files={"file": ("p.jpg", buf.getvalue(), "image/jpeg")}, headers=auth(user)
        )
        assert r.status_code == 201, r.text
        return r.json()["id"]

    return _upload


async def audit_rows(session) -> list[AuditLog]:  # type: ignore[no-untyped-def]
    """Every access-log row, oldest first (read fresh: the app wrote them in its own session)."""
    rows = await session.scalars(
        select(AuditLog).order_by(AuditLog.at, AuditLog.id).execution_options(populate_existing=True)
    )
    return list(rows)


def summary(rows: list[AuditLog]) -> set[tuple[Any, ...]]:
    return {(r.actor_id, r.action.value, r.subject_user_id, r.resource) for r in rows}


@dataclass
class Class:
    course: Course
    session: CourseSession


async def make_class(session, w: World, *, at: datetime) -> Class:  # type: ignore[no-untyped-def]
    """A 菜鸟学堂 course in C1 with one session starting at `at`."""
    course = Course(
        subdistrict_id=w.s1.id,
        community_id=w.c1.id,
        title="智能手机入门",
        topics=["wechat"],
        level=Level.BEGINNER,
        created_by_id=w.c1_admin.id,
    )
    session.add(course)
    await session.flush()
    s = CourseSession(
        course_id=course.id,
        community_id=w.c1.id,
        starts_at=at,
        ends_at=at + timedelta(hours=2),
        venue="西一路社区活动室",
        capacity=10,
        signup_count=0,
        status=SessionStatus.SCHEDULED,
        created_by_id=w.c1_admin.id,
    )
    session.add(s)
    await session.flush()
    return Class(course, s)


async def make_signup(  # type: ignore[no-untyped-def]
    session, cls: Class, *, by: User, learner: User | None = None, name: str = "", phone: str | None = None
) -> Signup:
    """Sign up `learner` (their own learner record) or someone without an account (name, phone)."""
    attendee = None
    if learner is not None:
        attendee = await session.scalar(select(Attendee).where(Attendee.user_id == learner.id))
    if attendee is None:
        attendee = Attendee(
            user_id=learner.id if learner else None,
            name=learner.display_name if learner else name,
            phone=learner.phone if learner else phone,
            community_id=cls.session.community_id,
            created_by_id=by.id,
        )
        session.add(attendee)
        await session.flush()
    cls.session.signup_count += 1
    su = Signup(
        session_id=cls.session.id,
        attendee_id=attendee.id,
        signed_up_by_id=by.id,
        relationship_=Relationship.SELF if learner is by else Relationship.CHILD,
        consent=True,
        status=SignupStatus.CONFIRMED,
        seq=cls.session.signup_count,
        position=cls.session.signup_count,
        signed_up_at=cls.session.starts_at - timedelta(days=1),
    )
    session.add(su)
    await session.flush()
    return su
