"""The demo subdistrict loads, re-loading changes nothing, and every demo account can log in."""

from sqlalchemy import func, select

from app.demo import ACCOUNTS, DEMO_PASSWORD, DEMO_TICKETS, load_demo
from app.models_registry import Base
from app.ticket.models import Ticket
from app.ticket.state import TicketStatus


async def _counts(session) -> dict[str, int]:  # type: ignore[no-untyped-def]
    return {
        t.name: await session.scalar(select(func.count()).select_from(t)) for t in Base.metadata.sorted_tables
    }


async def test_loading_twice_changes_nothing(session, app, clock) -> None:  # type: ignore[no-untyped-def]
    await load_demo(session, app.state.hasher, settings=app.state.settings, now=clock.now())
    first = await _counts(session)
    assert first["grid"] == 12 and first["community"] == 3
    assert first["ticket"] == len(DEMO_TICKETS)
    await load_demo(session, app.state.hasher, settings=app.state.settings, now=clock.now())
    assert await _counts(session) == first


async def test_demo_tickets_tell_a_story(session, app, clock) -> None:  # type: ignore[no-untyped-def]
    await load_demo(session, app.state.hasher, settings=app.state.settings, now=clock.now())
    statuses = sorted((await session.execute(select(Ticket.status))).scalars())
    assert statuses == sorted(
        [
            TicketStatus.CLOSED,
            TicketStatus.RESOLVED,
            TicketStatus.ESCALATED,
            TicketStatus.ON_SITE,
            TicketStatus.SUBMITTED,
            TicketStatus.CLAIMED,  # held by the content check for staff review
        ]
    )
    held = await session.scalar(select(Ticket).where(Ticket.moderation == "held"))
    assert held is not None and held.status == TicketStatus.CLAIMED
    fresh = await session.scalar(select(Ticket).where(Ticket.status == TicketStatus.SUBMITTED))
    assert fresh.respond_by > clock.now()  # still inside the 10-minute promise


async def test_every_demo_account_logs_in_and_finds_a_grid(session, app, client) -> None:  # type: ignore[no-untyped-def]
    await load_demo(session, app.state.hasher)
    await session.commit()
    for acc in ACCOUNTS:
        if acc.username:
            r = await client.post(
                "/api/v1/auth/token", data={"username": acc.username, "password": DEMO_PASSWORD}
            )
        else:
            r = await client.post("/api/v1/auth/wechat/login", json={"code": f"ok:{acc.openid}"})
        assert r.status_code == 200, (acc.username, r.text)
        me = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {r.json()['access_token']}"})
        assert acc.role.value in [g["role"] for g in me.json()["roles"]]
    # A point inside the south-west grid of 西一路社区.
    r = await client.get(
        "/api/v1/grids/locate",
        params={"lat": 34.2700, "lng": 108.9490, "coord_system": "wgs84"},
        headers={"Authorization": f"Bearer {r.json()['access_token']}"},
    )
    assert r.status_code == 200 and r.json()["grid"]["code"] == "xyl-xyl-g1"


async def test_demo_classes_tell_a_story(session, app, clock) -> None:  # type: ignore[no-untyped-def]
    from app.course.models import Attendee, CourseSession, Signup, VolunteerRecord
    from app.course.state import SignupStatus

    await load_demo(session, app.state.hasher, settings=app.state.settings, now=clock.now())
    sessions = list(await session.scalars(select(CourseSession).order_by(CourseSession.starts_at)))
    held, *coming = sessions
    assert held.closed_at is not None and held.ends_at < clock.now()
    assert all(s.starts_at > clock.now() and s.closed_at is None for s in coming) and len(coming) == 2
    by_session: dict = {}
    for su in await session.scalars(select(Signup)):
        by_session.setdefault(su.session_id, []).append(su.status)
    assert sorted(by_session[held.id]) == [SignupStatus.ATTENDED, SignupStatus.NO_SHOW]
    small = next(s for s in coming if s.capacity == 2)
    assert sorted(by_session[small.id]) == [
        SignupStatus.CONFIRMED,
        SignupStatus.CONFIRMED,
        SignupStatus.WAITLISTED,
    ]
    sun = await session.scalar(select(Attendee).where(Attendee.name == "孙奶奶"))
    assert sun.user_id is None  # signed up by the grid worker; one record across three signups
    assert await session.scalar(select(func.count()).where(Signup.attendee_id == sun.id)) == 3
    # Both teachers of the held class were credited its 90 minutes.
    assert sorted(await session.scalars(select(VolunteerRecord.minutes))) == [90, 90]
