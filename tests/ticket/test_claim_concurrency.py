"""Fifty grid workers claim one ticket at the same moment: exactly one wins, on SQLite and
PostgreSQL. Runs a live app on a fresh database (no shared test transaction), so the requests
really overlap in the database."""

import asyncio
import uuid

from sqlalchemy import func, select

from app.auth.permissions import Role
from app.ticket.models import Ticket, TicketEvent
from tests.factories import bearer, make_category, make_user, make_world
from tests.live import Live
from tests.ticket.conftest import IN_G1

CLAIMERS = 50


class TestConcurrentClaims:
    async def test_fifty_simultaneous_claims_have_exactly_one_winner(self, live: Live) -> None:
        async with live.app.state.sessionmaker() as session:  # type: ignore[attr-defined]
            w = await make_world(session)
            category = await make_category(session, w.s1)
            workers = [
                await make_user(session, (Role.GRID_WORKER, w.c1), grids=(w.g1,), display_name=f"网格员{i}")
                for i in range(CLAIMERS)
            ]
            await session.commit()

        def auth(user):  # type: ignore[no-untyped-def]
            return bearer(live.settings, live.clock, user)

        r = await live.client.post(
            "/api/v1/tickets",
            json={"category_id": str(category.id), "description": "楼道堆放杂物", "location": IN_G1},
            headers=auth(w.resident),
        )
        assert r.status_code == 201, r.text
        tid = r.json()["id"]

        results = await asyncio.gather(
            *(live.client.post(f"/api/v1/tickets/{tid}/claim", headers=auth(u)) for u in workers)
        )

        codes = sorted(r.status_code for r in results)
        assert codes == [200] + [409] * (CLAIMERS - 1), [
            r.text for r in results if r.status_code not in (200, 409)
        ]
        assert {r.json()["code"] for r in results if r.status_code == 409} == {"ticket.already_claimed"}
        (won,) = [r.json() for r in results if r.status_code == 200]
        winner = workers[[r.status_code for r in results].index(200)]
        assert won["assignee_id"] == str(winner.id)

        detail = (await live.client.get(f"/api/v1/tickets/{tid}", headers=auth(w.c1_admin))).json()
        assert detail["status"] == "claimed" and detail["assignee_id"] == str(winner.id)
        claims = [e for e in detail["timeline"] if e["action"] == "claim"]
        assert len(claims) == 1 and claims[0]["actor"]["id"] == str(winner.id)

        async with live.app.state.sessionmaker() as session:  # type: ignore[attr-defined]
            ticket = await session.get(Ticket, uuid.UUID(tid))
            assert ticket is not None
            assert (ticket.assignee_id, ticket.responded_by_id) == (winner.id, winner.id)
            assert ticket.event_count == 2
            n_claims = await session.scalar(
                select(func.count())
                .select_from(TicketEvent)
                .where(TicketEvent.ticket_id == ticket.id, TicketEvent.action == "claim")
            )
            assert n_claims == 1
