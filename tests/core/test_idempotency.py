"""Idempotency-Key: a retry gets the first answer; retries racing the first request wait for it
and get its answer too (never a second write, never an error); a failed first request leaves the
key free. The race tests run a live app (tests/live.py) on SQLite and PostgreSQL."""

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, text

from app.auth.exceptions import RefreshReused
from app.auth.permissions import Role
from app.core import idempotency
from app.core.errors import NotFound
from app.core.idempotency import IdempotencyRecord
from app.ticket.models import Ticket
from app.user.models import User
from app.wechat.client import FakeWeChatClient, SecVerdict
from app.wechat.moderation import ContentRisky
from tests.factories import make_category, make_user, make_world
from tests.live import Live

SCOPE = "POST /api/v1/things"
TICKETS = "/api/v1/tickets"
IN_G1 = {"lat": 34.272, "lng": 108.952, "coord_system": "wgs84"}
RACERS = 8


async def _record(session, user_id: uuid.UUID, key: str) -> IdempotencyRecord | None:  # type: ignore[no-untyped-def]
    return await session.get(IdempotencyRecord, (user_id, SCOPE, key), populate_existing=True)


class Runs:
    """A `run` for once() that counts its calls and answers with the call's number."""

    def __init__(self) -> None:
        self.n = 0

    async def __call__(self) -> tuple[int, str | None, dict[str, Any]]:
        self.n += 1
        return 201, f"r{self.n}", {"id": f"r{self.n}"}


class TestOnce:
    async def test_runs_once_and_replays_the_stored_answer(self, session, clock) -> None:  # type: ignore[no-untyped-def]
        user = await make_user(session, Role.RESIDENT)
        run = Runs()
        kw = {
            "user_id": user.id,
            "scope": SCOPE,
            "key": "k9",
            "body": {"a": 1},
            "now": clock.now(),
            "run": run,
        }
        first = await idempotency.once(session, **kw)
        again = await idempotency.once(session, **{**kw, "now": clock.now() + timedelta(days=6)})
        assert first == again == (201, {"id": "r1"}) and run.n == 1
        stored = await _record(session, user.id, "k9")
        assert stored is not None
        assert (stored.status_code, stored.resource_id, stored.response) == (201, "r1", {"id": "r1"})
        assert stored.request_hash == idempotency.request_hash({"a": 1})

    async def test_the_same_key_with_another_body_is_refused(self, session, clock) -> None:  # type: ignore[no-untyped-def]
        user = await make_user(session, Role.RESIDENT)
        run = Runs()
        kw = {
            "user_id": user.id,
            "scope": SCOPE,
            "key": "k1",
            "body": {"a": 1},
            "now": clock.now(),
            "run": run,
        }
        await idempotency.once(session, **kw)
        with pytest.raises(idempotency.IdempotencyKeyReused):
            await idempotency.once(session, **{**kw, "body": {"a": 2}})
        assert run.n == 1

    async def test_keys_are_per_user_and_scope_and_no_key_always_runs(self, session, clock) -> None:  # type: ignore[no-untyped-def]
        a, b = await make_user(session, Role.RESIDENT), await make_user(session, Role.RESIDENT)
        run = Runs()
        kw = {"scope": SCOPE, "key": "k", "body": {}, "now": clock.now(), "run": run}
        answers = [
            await idempotency.once(session, user_id=a.id, **kw),
            await idempotency.once(session, user_id=b.id, **kw),
            await idempotency.once(session, user_id=a.id, **{**kw, "scope": "POST /api/v1/other"}),
            await idempotency.once(session, user_id=a.id, **{**kw, "key": None}),
            await idempotency.once(session, user_id=a.id, **{**kw, "key": ""}),
        ]
        assert [body["id"] for _, body in answers] == ["r1", "r2", "r3", "r4", "r5"]

    async def test_an_expired_record_is_replaced(self, session, clock) -> None:  # type: ignore[no-untyped-def]
        user = await make_user(session, Role.RESIDENT)
        run = Runs()
        kw = {
            "user_id": user.id,
            "scope": SCOPE,
            "key": "k1",
            "body": {"a": 1},
            "now": clock.now(),
            "run": run,
        }
        await idempotency.once(session, **kw)
        later = clock.now() + idempotency.KEEP_FOR + timedelta(minutes=1)
        # Past the window the key is free again, even for another body.
        assert await idempotency.once(session, **{**kw, "now": later, "body": {"a": 2}}) == (
            201,
            {"id": "r2"},
        )
        stored = await _record(session, user.id, "k1")
        assert stored is not None
        assert (stored.resource_id, stored.created_at) == ("r2", later)
        assert stored.request_hash == idempotency.request_hash({"a": 2})
        assert await idempotency.once(session, **{**kw, "now": later, "body": {"a": 2}}) == (
            201,
            {"id": "r2"},
        )
        assert run.n == 2

    async def test_a_failing_run_stores_no_answer(self, session, clock) -> None:  # type: ignore[no-untyped-def]
        user = await make_user(session, Role.RESIDENT)

        async def fail() -> tuple[int, str | None, dict[str, Any]]:
            raise NotFound()

        with pytest.raises(NotFound):
            await idempotency.once(
                session, user_id=user.id, scope=SCOPE, key="k1", body={}, now=clock.now(), run=fail
            )
        # The claim is still in this transaction: the request's rollback (app/core/db.py) takes it
        # away with everything else, as tests below show through the app.
        stored = await _record(session, user.id, "k1")
        assert stored is not None and stored.status_code == idempotency.CLAIMED

    async def test_an_error_whose_writes_are_committed_takes_the_claim_away(self, session, clock) -> None:  # type: ignore[no-untyped-def]
        user = await make_user(session, Role.RESIDENT)

        async def fail() -> tuple[int, str | None, dict[str, Any]]:
            raise RefreshReused()  # commit_on_raise: the request commits its writes

        assert RefreshReused.commit_on_raise
        with pytest.raises(RefreshReused):
            await idempotency.once(
                session, user_id=user.id, scope=SCOPE, key="k1", body={}, now=clock.now(), run=fail
            )
        assert await _record(session, user.id, "k1") is None
        run = Runs()
        kw = {"user_id": user.id, "scope": SCOPE, "key": "k1", "body": {}, "now": clock.now(), "run": run}
        assert await idempotency.once(session, **kw) == (201, {"id": "r1"})

    async def test_purge_expired(self, session, clock) -> None:  # type: ignore[no-untyped-def]
        user = await make_user(session, Role.RESIDENT)
        run = Runs()
        kw = {"user_id": user.id, "scope": SCOPE, "body": {}, "run": run}
        await idempotency.once(session, key="old", now=clock.now() - idempotency.KEEP_FOR, **kw)
        await idempotency.once(session, key="new", now=clock.now(), **kw)
        assert await idempotency.purge_expired(session, now=clock.now() + timedelta(seconds=1)) == 1
        assert await _record(session, user.id, "old") is None
        assert await _record(session, user.id, "new") is not None


# --- racing retries through the app ------------------------------------------------------


class GatedWeChat(FakeWeChatClient):
    """msgSecCheck (the first step of a ticket report's work) counts its calls and holds each one
    until `release` is set; the verdicts are taken in order from `verdicts`, then "pass"."""

    def __init__(self, verdicts: tuple[str, ...] = ()) -> None:
        super().__init__()
        self.calls = 0
        self.entered = asyncio.Event()
        self.release = asyncio.Event()
        self.verdicts = list(verdicts)

    async def msg_sec_check(self, *, openid: str, content: str, scene: int = 3) -> SecVerdict:
        self.calls += 1
        self.entered.set()
        await self.release.wait()
        suggest = self.verdicts.pop(0) if self.verdicts else "pass"
        return SecVerdict(suggest=suggest, label=0 if suggest == "pass" else 20001, trace_id=f"t{self.calls}")


@dataclass
class Race:
    live: Live
    user: User
    category_id: str

    def body(self, description: str = "楼道灯坏了") -> dict[str, Any]:
        return {"category_id": self.category_id, "description": description, "location": IN_G1}

    async def post(self, key: str, body: dict[str, Any]) -> httpx.Response:
        headers = {**self.live.auth(self.user), "Idempotency-Key": key}  # minted at the clock's time
        return await self.live.client.post(TICKETS, json=body, headers=headers)

    async def tickets(self) -> int:
        return await self.live.scalar(select(func.count()).select_from(Ticket))

    async def records(self) -> list[tuple[str, int, str | None]]:
        async with self.live.app.state.sessionmaker() as session:
            rows = await session.execute(
                select(IdempotencyRecord.key, IdempotencyRecord.status_code, IdempotencyRecord.resource_id)
            )
            return [tuple(r) for r in rows]  # type: ignore[misc]

    async def lock_waiters(self) -> int:
        async with self.live.app.state.sessionmaker() as session:
            return await session.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            )

    async def race(
        self, gate: GatedWeChat, requests: list[tuple[str, dict[str, Any]]]
    ) -> list[httpx.Response]:
        """Send the requests at once; hold the first one to reach the work inside it until every
        other request is known to be waiting for it, then let the work go on."""
        self.live.app.state.wechat = gate
        tasks = [asyncio.ensure_future(self.post(key, body)) for key, body in requests]
        try:
            await asyncio.wait_for(gate.entered.wait(), 30)
            if self.live.settings.database.url.startswith("postgresql"):
                # Each other request's claim (an INSERT of the same key) waits on the first's transaction.
                deadline = time.monotonic() + 20
                while await self.lock_waiters() < len(requests) - 1:
                    assert time.monotonic() < deadline, f"not all waited on the claim; work ran {gate.calls}x"
                    await asyncio.sleep(0.01)
            # (On SQLite a writing request holds the write lock from its first statement: the others
            # queue behind it anyway.)
            assert gate.calls == 1
        finally:
            gate.release.set()
            results = await asyncio.gather(*tasks)
        return results


@pytest.fixture
async def race(live: Live) -> AsyncIterator[Race]:
    async with live.app.state.sessionmaker() as session:
        w = await make_world(session)
        category = await make_category(session, w.s1)
        # With an openid the report's text goes to msgSecCheck, where GatedWeChat holds it.
        user = await make_user(session, Role.RESIDENT, home=w.c1, openid="o-racer")
        await session.commit()
    yield Race(live, user, str(category.id))


class TestRacingRetries:
    async def test_retries_racing_the_first_request_all_get_its_answer(self, race: Race) -> None:
        gate = GatedWeChat()
        body = race.body()

        results = await race.race(gate, [("tap", body)] * RACERS)

        assert [r.status_code for r in results] == [201] * RACERS, [r.text for r in results]
        assert len({r.text for r in results}) == 1  # the same body, byte for byte
        assert gate.calls == 1  # the work ran once
        assert await race.tickets() == 1
        assert await race.records() == [("tap", 201, results[0].json()["id"])]
        # A later retry gets the same answer from the store.
        again = await race.post("tap", body)
        assert (again.status_code, again.text) == (201, results[0].text)

    async def test_when_the_first_request_fails_a_waiting_retry_does_the_work(self, race: Race) -> None:
        gate = GatedWeChat(verdicts=("risky",))  # the first report's text is refused: it rolls back
        body = race.body()

        results = await race.race(gate, [("tap", body)] * RACERS)

        codes = Counter(r.status_code for r in results)
        assert codes == {422: 1, 201: RACERS - 1}, [r.text for r in results]
        (refused,) = [r for r in results if r.status_code == 422]
        assert refused.json()["code"] == ContentRisky.code
        created = [r for r in results if r.status_code == 201]
        assert len({r.text for r in created}) == 1
        assert gate.calls == 2  # the failed attempt, then one retry that took the freed key over
        assert await race.tickets() == 1
        assert await race.records() == [("tap", 201, created[0].json()["id"])]

    async def test_a_failed_request_leaves_the_key_free_for_its_retry(self, race: Race) -> None:
        gate = GatedWeChat(verdicts=("risky",))
        gate.release.set()
        race.live.app.state.wechat = gate
        body = race.body()

        first = await race.post("k", body)
        assert first.status_code == 422 and first.json()["code"] == ContentRisky.code
        assert await race.records() == []

        retry = await race.post("k", body)
        assert retry.status_code == 201, retry.text
        assert await race.records() == [("k", 201, retry.json()["id"])]
        assert (await race.post("k", body)).text == retry.text
        assert gate.calls == 2 and await race.tickets() == 1

    async def test_the_same_key_with_different_bodies_at_once(self, race: Race) -> None:
        gate = GatedWeChat()
        a, b = race.body("楼道灯坏了"), race.body("井盖松动")

        results = await race.race(gate, [("tap", a), ("tap", b)] * (RACERS // 2))

        sent = [a, b] * (RACERS // 2)
        winner = next(body for body, r in zip(sent, results, strict=True) if r.status_code == 201)
        for body, r in zip(sent, results, strict=True):
            if body is winner:
                assert r.status_code == 201, r.text
                assert r.json()["description"] == winner["description"]
            else:
                assert r.status_code == 422, r.text
                assert r.json()["code"] == idempotency.IdempotencyKeyReused.code
        assert len({r.text for r in results if r.status_code == 201}) == 1
        assert gate.calls == 1 and await race.tickets() == 1

    async def test_an_expired_key_taken_over_by_racing_requests_runs_once(self, race: Race) -> None:
        gate = GatedWeChat()
        gate.release.set()
        race.live.app.state.wechat = gate
        body = race.body()
        first = await race.post("week", body)
        assert first.status_code == 201, first.text
        race.live.clock.advance(idempotency.KEEP_FOR + timedelta(minutes=1))

        results = await race.race(GatedWeChat(), [("week", body)] * RACERS)

        assert [r.status_code for r in results] == [201] * RACERS, [r.text for r in results]
        assert len({r.json()["id"] for r in results}) == 1
        assert results[0].json()["id"] != first.json()["id"]  # a new report: the old key had expired
        assert await race.tickets() == 2
        assert await race.records() == [("week", 201, results[0].json()["id"])]
