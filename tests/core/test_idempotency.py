"""Idempotency-Key records: a retry gets the first answer, and two racing requests with one key
never both stand."""

from datetime import timedelta

import pytest

from app.auth.permissions import Role
from app.core import idempotency
from tests.factories import make_user

SCOPE = "POST /api/v1/things"


async def _remember(session, user, now, key="k1", body=None, resource="r1"):  # type: ignore[no-untyped-def]
    await idempotency.remember(
        session,
        user_id=user.id,
        scope=SCOPE,
        key=key,
        body_hash=idempotency.request_hash(body or {"a": 1}),
        now=now,
        status_code=201,
        resource_id=resource,
        response={"id": resource},
    )
    await session.flush()


async def test_a_second_answer_for_a_live_key_is_refused(session, clock) -> None:  # type: ignore[no-untyped-def]
    user = await make_user(session, Role.RESIDENT)
    await _remember(session, user, clock.now())
    # What a request that raced the first one (and lost) would try to store.
    with pytest.raises(idempotency.IdempotencyKeyInFlight):
        await _remember(session, user, clock.now() + timedelta(seconds=1), resource="r2")
    seen = await idempotency.lookup(
        session,
        user_id=user.id,
        scope=SCOPE,
        key="k1",
        body_hash=idempotency.request_hash({"a": 1}),
        now=clock.now(),
    )
    assert seen is not None and seen.resource_id == "r1"


async def test_an_expired_record_is_replaced(session, clock) -> None:  # type: ignore[no-untyped-def]
    user = await make_user(session, Role.RESIDENT)
    await _remember(session, user, clock.now())
    later = clock.now() + idempotency.KEEP_FOR + timedelta(minutes=1)
    await _remember(session, user, later, resource="r2")
    seen = await idempotency.lookup(
        session,
        user_id=user.id,
        scope=SCOPE,
        key="k1",
        body_hash=idempotency.request_hash({"a": 1}),
        now=later,
    )
    assert seen is not None and seen.resource_id == "r2"


async def test_once_runs_once_and_replays(session, clock) -> None:  # type: ignore[no-untyped-def]
    user = await make_user(session, Role.RESIDENT)
    runs = []

    async def run():  # type: ignore[no-untyped-def]
        runs.append(1)
        return 201, "r1", {"id": "r1", "n": len(runs)}

    kw = {"user_id": user.id, "scope": SCOPE, "key": "k9", "body": {"a": 1}, "now": clock.now(), "run": run}
    first = await idempotency.once(session, **kw)
    await session.flush()
    again = await idempotency.once(session, **kw)
    assert first == again == (201, {"id": "r1", "n": 1}) and len(runs) == 1
    with pytest.raises(idempotency.IdempotencyKeyReused):
        await idempotency.once(session, **{**kw, "body": {"a": 2}})
    # Without a key every call runs.
    await idempotency.once(session, **{**kw, "key": None})
    assert len(runs) == 2
