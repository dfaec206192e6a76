"""The sweeper: the response and resolve alert ladders, auto-close and retention, driven by a
frozen clock advanced step by step (never by sleeping)."""

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.permissions import Role
from app.core.db import create_sessionmaker
from app.duty.models import WorkerDuty
from app.main import create_app
from app.media.storage import InMemoryStorage
from app.notification.models import Notification
from app.ticket.jobs import SweepReport, sweep
from app.ticket.models import Ticket, TicketEvent
from app.wechat.client import FakeWeChatClient
from tests.conftest import make_settings
from tests.dbutil import DatabaseFactory
from tests.factories import bearer, make_category, make_user, make_world
from tests.fakes import FrozenClock
from tests.ticket.conftest import IN_G1

MIN = timedelta(minutes=1)
HOUR = timedelta(hours=1)


async def notified(session: AsyncSession, kind: str, ticket_id: str | None = None) -> list[uuid.UUID]:
    """Recipients of every notification of this kind (sorted, repeats kept)."""
    stmt = select(Notification.user_id).where(Notification.kind == kind)
    if ticket_id is not None:
        stmt = stmt.where(Notification.ticket_id == uuid.UUID(ticket_id))
    return sorted(await session.scalars(stmt))


async def alert_events(session: AsyncSession, ticket_id: str) -> list[dict[str, Any]]:
    rows = await session.scalars(
        select(TicketEvent)
        .where(TicketEvent.ticket_id == uuid.UUID(ticket_id), TicketEvent.action == "alert")
        .order_by(TicketEvent.seq)
    )
    return [e.data for e in rows]


@pytest.fixture
def run_sweep(maker, clock, settings):  # type: ignore[no-untyped-def]
    async def _run() -> SweepReport:
        report = await sweep(maker, clock=clock, settings=settings)
        assert report.errors == 0
        return report

    return _run


@pytest.fixture
def new_ticket(report):  # type: ignore[no-untyped-def]
    async def _new(user=None) -> str:  # type: ignore[no-untyped-def]
        r = await report(user)
        assert r.status_code == 201, r.text
        return r.json()["id"]

    return _new


@pytest.fixture
def act(client, auth):  # type: ignore[no-untyped-def]
    async def _act(tid: str, path: str, user, body=None) -> dict:  # type: ignore[no-untyped-def]
        r = await client.post(f"/api/v1/tickets/{tid}/{path}", json=body, headers=auth(user))
        assert r.status_code == 200, r.text
        return r.json()

    return _act


def ids(*users: Any) -> list[uuid.UUID]:
    return sorted(u.id for u in users)


class TestResponseLadder:
    async def test_rungs_fire_at_their_time_and_each_once(
        self, session, w, new_ticket, clock, run_sweep, client, auth
    ) -> None:
        tid = await new_ticket()

        clock.advance(9 * MIN)
        assert not await run_sweep()
        assert await notified(session, "ticket.response_overdue") == []

        clock.advance(MIN)  # respond_by: 10 minutes after the report
        first = await run_sweep()
        assert (first.response_alerts, first.notifications) == (1, 2)
        assert await notified(session, "ticket.response_overdue", tid) == ids(w.worker, w.c1_admin)
        assert await notified(session, "ticket.response_escalated") == []

        clock.advance(19 * MIN)
        assert not await run_sweep()

        clock.advance(MIN)  # unclaimed_escalate_minutes (20) after the deadline
        second = await run_sweep()
        assert (second.response_alerts, second.notifications) == (1, 1)
        assert await notified(session, "ticket.response_escalated", tid) == ids(w.sub_admin)

        clock.advance(HOUR)
        again = await run_sweep()
        assert again.response_alerts == 0 and again.notifications == 0
        assert await notified(session, "ticket.response_overdue") == ids(w.worker, w.c1_admin)
        assert await notified(session, "ticket.response_escalated") == ids(w.sub_admin)

        r = await client.get(f"/api/v1/tickets/{tid}", headers=auth(w.c1_admin))
        alerts = [e for e in r.json()["timeline"] if e["action"] == "alert"]
        assert [(e["data"]["ladder"], e["data"]["rung"]) for e in alerts] == [
            ("response", 1),
            ("response", 2),
        ]
        assert all(e["actor"] is None and e["note"] for e in alerts)

    async def test_breach_time_and_level_are_stored(self, session, w, new_ticket, clock, run_sweep) -> None:
        tid = await new_ticket()
        clock.advance(12 * MIN)
        await run_sweep()
        ticket = await session.get(Ticket, uuid.UUID(tid), populate_existing=True)
        assert ticket.response_alert_level == 1
        assert ticket.response_breached_at == clock.now()

    async def test_a_late_sweep_fires_every_missed_rung_once(
        self, session, w, new_ticket, clock, run_sweep
    ) -> None:
        tid = await new_ticket()
        clock.advance(45 * MIN)
        report = await run_sweep()
        assert report.response_alerts == 2
        assert await notified(session, "ticket.response_overdue", tid) == ids(w.worker, w.c1_admin)
        assert await notified(session, "ticket.response_escalated", tid) == ids(w.sub_admin)
        assert [e["rung"] for e in await alert_events(session, tid)] == [1, 2]
        assert not await run_sweep()

    async def test_a_claimed_ticket_never_alerts(self, session, w, new_ticket, act, clock, run_sweep) -> None:
        tid = await new_ticket()
        clock.advance(5 * MIN)
        await act(tid, "claim", w.worker)
        clock.advance(2 * HOUR)
        report = await run_sweep()
        assert report.response_alerts == 0
        assert await notified(session, "ticket.response_overdue") == []
        assert await alert_events(session, tid) == []

    async def test_claiming_after_the_first_rung_stops_the_ladder(
        self, session, w, new_ticket, act, clock, run_sweep
    ) -> None:
        tid = await new_ticket()
        clock.advance(10 * MIN)
        assert (await run_sweep()).response_alerts == 1
        await act(tid, "claim", w.worker)
        clock.advance(HOUR)
        assert (await run_sweep()).response_alerts == 0
        assert await notified(session, "ticket.response_escalated") == []

    async def test_on_duty_workers_of_the_grid_are_alerted_first(
        self, session, w, new_ticket, client, auth, clock, run_sweep
    ) -> None:
        on_duty = await make_user(session, (Role.GRID_WORKER, w.c1), grids=(w.g1,), display_name="在岗网格员")
        elsewhere = await make_user(
            session, (Role.GRID_WORKER, w.c2), grids=(w.g2,), display_name="别处网格员"
        )
        await session.commit()
        for worker in (on_duty, elsewhere):
            r = await client.post("/api/v1/workers/me/duty", json={"on_duty": True}, headers=auth(worker))
            assert r.status_code == 200, r.text
        tid = await new_ticket()
        clock.advance(10 * MIN)
        await run_sweep()
        assert await notified(session, "ticket.response_overdue", tid) == ids(on_duty, w.c1_admin)

    async def test_without_anyone_on_duty_every_worker_of_the_grid_is_alerted(
        self, session, w, new_ticket, clock, run_sweep
    ) -> None:
        second = await make_user(session, (Role.GRID_WORKER, w.c1), grids=(w.g1,))
        session.add(WorkerDuty(user_id=second.id, on_duty=False))
        await session.commit()
        tid = await new_ticket()
        clock.advance(10 * MIN)
        await run_sweep()
        assert await notified(session, "ticket.response_overdue", tid) == ids(w.worker, second, w.c1_admin)


class TestResolveLadder:
    async def test_open_ticket_past_its_resolve_deadline_climbs_the_ladder_once(
        self, session, w, new_ticket, act, clock, run_sweep
    ) -> None:
        tid = await new_ticket()
        await act(tid, "claim", w.worker)
        clock.advance(72 * HOUR - MIN)
        assert (await run_sweep()).resolve_alerts == 0

        clock.advance(MIN)
        first = await run_sweep()
        assert first.resolve_alerts == 1 and first.response_alerts == 0
        assert await notified(session, "ticket.resolve_overdue", tid) == ids(w.c1_admin, w.worker)

        clock.advance(24 * HOUR - MIN)
        assert (await run_sweep()).resolve_alerts == 0
        clock.advance(MIN)
        assert (await run_sweep()).resolve_alerts == 1
        assert await notified(session, "ticket.resolve_escalated", tid) == ids(w.sub_admin)

        clock.advance(48 * HOUR)
        assert (await run_sweep()).resolve_alerts == 0
        assert [(e["ladder"], e["rung"]) for e in await alert_events(session, tid)] == [
            ("resolve", 1),
            ("resolve", 2),
        ]

    async def test_a_ticket_resolved_in_time_is_not_chased(
        self, session, w, new_ticket, act, clock, run_sweep
    ) -> None:
        tid = await new_ticket()
        await act(tid, "claim", w.worker)
        clock.advance(24 * HOUR)
        await act(tid, "resolve", w.worker, {"note": "已修好"})
        clock.advance(60 * HOUR)
        assert (await run_sweep()).resolve_alerts == 0
        assert await notified(session, "ticket.resolve_overdue") == []


class TestAutoClose:
    async def test_resolved_ticket_closes_after_auto_close_hours(
        self, session, w, new_ticket, act, clock, run_sweep, client, auth
    ) -> None:
        tid = await new_ticket()
        await act(tid, "claim", w.worker)
        await act(tid, "resolve", w.worker, {"note": "已修好"})

        clock.advance(72 * HOUR - MIN)
        assert (await run_sweep()).auto_closed == 0
        clock.advance(MIN)
        assert (await run_sweep()).auto_closed == 1
        assert (await run_sweep()).auto_closed == 0

        body = (await client.get(f"/api/v1/tickets/{tid}", headers=auth(w.resident))).json()
        assert body["status"] == "closed"
        assert body["timeline"][-1]["action"] == "auto_close"

    async def test_a_confirmed_ticket_is_left_alone(self, w, new_ticket, act, clock, run_sweep) -> None:
        tid = await new_ticket()
        await act(tid, "claim", w.worker)
        await act(tid, "resolve", w.worker, {"note": "已修好"})
        await act(tid, "confirm", w.resident, {"rating": 5})
        clock.advance(100 * HOUR)
        assert (await run_sweep()).auto_closed == 0


class TestRetention:
    async def test_a_silent_workers_location_is_dropped_and_they_go_off_duty(
        self, session, w, client, auth, clock, run_sweep
    ) -> None:
        body = {"on_duty": True, "lat": 34.272, "lng": 108.952, "coord_system": "wgs84"}
        assert (
            await client.post("/api/v1/workers/me/duty", json=body, headers=auth(w.worker))
        ).status_code == 200
        clock.advance(30 * MIN)
        assert (await run_sweep()).locations_purged == 0
        clock.advance(MIN)
        assert (await run_sweep()).locations_purged == 1
        row = await session.get(WorkerDuty, w.worker.id, populate_existing=True)
        assert (row.on_duty, row.lat, row.lng) == (False, None, None)

    async def test_expired_idempotency_records_are_purged(self, w, report, clock, run_sweep) -> None:
        r = await report(headers={"Idempotency-Key": "k-1"})
        assert r.status_code == 201
        clock.advance(timedelta(days=7))
        assert (await run_sweep()).idempotency_purged == 0
        clock.advance(MIN)
        assert (await run_sweep()).idempotency_purged == 1


# --- several sweepers at once, on a real engine -------------------------------------------


@pytest.fixture
async def live(databases: DatabaseFactory, tmp_path) -> AsyncIterator[Any]:  # type: ignore[no-untyped-def]
    clock = FrozenClock()
    settings = make_settings(databases.copy(), tmp_path)
    app = create_app(settings, clock=clock, wechat=FakeWeChatClient(), storage=InMemoryStorage())
    async with app.state.sessionmaker() as session:
        world = await make_world(session)
        category = await make_category(session, world.s1, respond_minutes=10, resolve_hours=72)
        await session.commit()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        yield app, client, world, category, clock, settings
    await app.state.engine.dispose()


async def test_concurrent_sweeps_notify_each_breach_once(live) -> None:  # type: ignore[no-untyped-def]
    app, client, w, category, clock, settings = live
    body = {"category_id": str(category.id), "description": "路灯不亮", "location": IN_G1}
    tickets = []
    for _ in range(6):
        r = await client.post("/api/v1/tickets", json=body, headers=bearer(settings, clock, w.resident))
        assert r.status_code == 201, r.text
        tickets.append(r.json()["id"])
    makers = [create_sessionmaker(app.state.engine) for _ in range(2)]

    async def both() -> list[SweepReport]:
        return list(await asyncio.gather(*(sweep(m, clock=clock, settings=settings) for m in makers)))

    clock.advance(10 * MIN)
    reports = await both()
    assert sum(r.response_alerts for r in reports) == len(tickets)
    clock.advance(20 * MIN)
    reports = await both()
    assert sum(r.response_alerts for r in reports) == len(tickets)

    async with makers[0]() as session:
        sent = Counter(
            (row.kind, row.ticket_id, row.user_id)
            for row in await session.execute(
                select(Notification.kind, Notification.ticket_id, Notification.user_id).where(
                    Notification.kind.like("ticket.response_%")
                )
            )
        )
        assert set(sent.values()) == {1}
        assert len(sent) == len(tickets) * 3  # worker + community admin, then subdistrict admin
        events = await session.scalar(
            select(func.count()).select_from(TicketEvent).where(TicketEvent.action == "alert")
        )
        assert events == len(tickets) * 2
        levels = set(await session.scalars(select(Ticket.response_alert_level)))
        assert levels == {2}
