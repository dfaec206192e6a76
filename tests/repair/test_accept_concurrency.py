"""Craftsmen accept at the same moment: one winner per order, and nobody takes more than their
cap, on SQLite and PostgreSQL. Runs a live app on a fresh database (no shared test transaction),
so the requests really overlap in the database."""

import asyncio
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import func, select

from app.auth.permissions import Role
from app.repair.models import RepairEvent, RepairOrder
from app.repair.state import RepairStatus
from app.user.models import User
from tests.dbutil import DatabaseFactory
from tests.factories import World, make_user
from tests.live import Live, live_app
from tests.repair.conftest import ORDERS, REPAIRS

ACCEPTORS = 20


class RepairLive(Live):
    async def craftsmen(self, w: World, n: int, **profile: object) -> list[User]:
        """n plumbers of S1, registered by the subdistrict's staff."""
        async with self.app.state.sessionmaker() as session:  # type: ignore[attr-defined]
            users = [
                await make_user(session, (Role.CRAFTSMAN, w.s1), display_name=f"师傅{i}") for i in range(n)
            ]
            await session.commit()
        for u in users:
            r = await self.client.put(
                f"{REPAIRS}/craftsmen/{u.id}",
                json={"subdistrict_id": str(w.s1.id), "skills": ["plumbing"], **profile},
                headers=self.auth(w.sub_admin),
            )
            assert r.status_code == 200, r.text
        return users

    async def order(self, w: World, n: int = 0) -> str:
        r = await self.client.post(
            ORDERS,
            json={"category": "plumbing", "description": f"水管漏水 {n}"},
            headers=self.auth(w.resident),
        )
        assert r.status_code == 201, r.text
        return r.json()["id"]

    async def count(self, *where) -> int:  # type: ignore[no-untyped-def]
        async with self.app.state.sessionmaker() as session:  # type: ignore[attr-defined]
            return await session.scalar(select(func.count()).select_from(RepairEvent).where(*where)) or 0


@pytest.fixture
async def live(databases: DatabaseFactory, tmp_path) -> AsyncIterator[RepairLive]:  # type: ignore[no-untyped-def]
    async with live_app(databases, tmp_path, RepairLive) as app:
        yield app


@pytest.fixture
async def w(live: RepairLive) -> World:
    return await live.world()


def unexpected(results: list[httpx.Response], *allowed: int) -> list[str]:
    return [r.text for r in results if r.status_code not in allowed]


class TestConcurrentAccepts:
    async def test_twenty_simultaneous_accepts_have_exactly_one_winner(
        self, live: RepairLive, w: World
    ) -> None:
        craftsmen = await live.craftsmen(w, ACCEPTORS)
        oid = await live.order(w)

        results = await asyncio.gather(
            *(live.client.post(f"{ORDERS}/{oid}/accept", headers=live.auth(c)) for c in craftsmen)
        )

        codes = sorted(r.status_code for r in results)
        assert codes == [200] + [409] * (ACCEPTORS - 1), unexpected(results, 200, 409)
        assert {r.json()["code"] for r in results if r.status_code == 409} == {"repair.already_accepted"}
        winner = craftsmen[[r.status_code for r in results].index(200)]
        (won,) = [r.json() for r in results if r.status_code == 200]
        assert (won["status"], won["craftsman_id"]) == ("accepted", str(winner.id))
        assert won["contact"]["phone"] == "13912345678"  # the winner, and only they, get the phone

        detail = (await live.client.get(f"{ORDERS}/{oid}", headers=live.auth(w.resident))).json()
        assert detail["status"] == "accepted" and detail["craftsman"]["id"] == str(winner.id)
        accepts = [e for e in detail["timeline"] if e["action"] == "accept"]
        assert len(accepts) == 1 and accepts[0]["actor"]["id"] == str(winner.id)

        async with live.app.state.sessionmaker() as session:  # type: ignore[attr-defined]
            order = await session.get(RepairOrder, uuid.UUID(oid))
            assert order is not None
            assert (order.craftsman_id, order.status.value, order.event_count) == (winner.id, "accepted", 2)
        assert await live.count(RepairEvent.order_id == uuid.UUID(oid), RepairEvent.action == "accept") == 1
        # The losers still see nothing of the household.
        loser = next(c for c in craftsmen if c.id != winner.id)
        r = await live.client.get(f"{ORDERS}/{oid}", headers=live.auth(loser))
        assert (r.status_code, r.json()["code"]) == (404, "repair.order_not_found")

    async def test_one_craftsman_accepting_six_orders_at_once_stops_at_the_cap(
        self, live: RepairLive, w: World
    ) -> None:
        (craftsman,) = await live.craftsmen(w, 1, max_active_orders=2)
        orders = [await live.order(w, i) for i in range(6)]

        results = await asyncio.gather(
            *(live.client.post(f"{ORDERS}/{oid}/accept", headers=live.auth(craftsman)) for oid in orders)
        )

        codes = sorted(r.status_code for r in results)
        assert codes == [200, 200] + [409] * 4, unexpected(results, 200, 409)
        assert {r.json()["code"] for r in results if r.status_code == 409} == {"repair.workload_cap_reached"}
        won = {oid for oid, r in zip(orders, results, strict=True) if r.status_code == 200}

        async with live.app.state.sessionmaker() as session:  # type: ignore[attr-defined]
            taken = set(
                await session.scalars(select(RepairOrder.id).where(RepairOrder.craftsman_id == craftsman.id))
            )
            assert {str(t) for t in taken} == won
            statuses = dict(
                (
                    await session.execute(
                        select(RepairOrder.status, func.count()).group_by(RepairOrder.status)
                    )
                ).all()
            )
            assert statuses == {RepairStatus.ACCEPTED: 2, RepairStatus.REQUESTED: 4}
        assert await live.count(RepairEvent.action == "accept") == 2
        me = (await live.client.get(f"{REPAIRS}/craftsmen/me", headers=live.auth(craftsman))).json()
        assert (me["active_orders"], me["max_active_orders"]) == (2, 2)
        # The orders it could not take are still in the pool.
        r = await live.client.get(ORDERS, params={"view": "open"}, headers=live.auth(craftsman))
        assert {o["id"] for o in r.json()["items"]} == set(orders) - won

    async def test_many_craftsmen_many_orders_at_once(self, live: RepairLive, w: World) -> None:
        """Five craftsmen with room for one order each race for five orders (25 requests):
        no order is taken twice and no craftsman takes two."""
        craftsmen = await live.craftsmen(w, 5, max_active_orders=1)
        orders = [await live.order(w, i) for i in range(5)]
        pairs = [(c, oid) for oid in orders for c in craftsmen]

        results = await asyncio.gather(
            *(live.client.post(f"{ORDERS}/{oid}/accept", headers=live.auth(c)) for c, oid in pairs)
        )

        assert not unexpected(results, 200, 409)
        assert {r.json()["code"] for r in results if r.status_code == 409} <= {
            "repair.already_accepted",
            "repair.workload_cap_reached",
        }
        wins = [(c.id, oid) for (c, oid), r in zip(pairs, results, strict=True) if r.status_code == 200]
        assert wins, "somebody must win"
        assert len({c for c, _ in wins}) == len(wins)  # one order per craftsman
        assert len({o for _, o in wins}) == len(wins)  # one craftsman per order
        async with live.app.state.sessionmaker() as session:  # type: ignore[attr-defined]
            rows = (
                await session.execute(
                    select(RepairOrder.id, RepairOrder.craftsman_id).where(
                        RepairOrder.craftsman_id.is_not(None)
                    )
                )
            ).all()
        assert {(c, str(o)) for o, c in rows} == set(wins)
        assert await live.count(RepairEvent.action == "accept") == len(wins)
