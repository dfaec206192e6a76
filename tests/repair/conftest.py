"""Shared arrangements for 乐修匠 tests: the world, a published price list in S1 (and one item in
S2), craftsmen registered through the API, and helpers to create orders and take actions."""

from dataclasses import dataclass
from typing import Any

import pytest

from app.auth.permissions import Role
from app.user.models import User
from tests.factories import World, bearer, make_category, make_user, make_world

REPAIRS = "/api/v1/repairs"
ORDERS = f"{REPAIRS}/orders"


@dataclass
class Crew:
    """Craftsmen of S1 (and one of S2), each with a profile put through the API."""

    plumber: User  # plumbing + electrical, the whole of S1
    c1_plumber: User  # plumbing, C1 only
    electrician: User  # electrical only: does not fit plumbing orders
    c2_plumber: User  # plumbing, C2 only: does not fit C1 orders
    s2_plumber: User  # plumbing in S2
    unprofiled: User  # holds the role but has no profile


@dataclass
class Prices:
    """Price-list item ids (as returned by the API)."""

    faucet: str  # S1 plumbing 更换水龙头 20.00/个 (market 50.00)
    pipe: str  # S1 plumbing 疏通下水管 35.00/次 (no market price)
    switch: str  # S1 electrical 更换开关 15.00/个
    retired: str  # S1 plumbing, deactivated
    s2_faucet: str  # S2 plumbing 更换水龙头


@pytest.fixture
def auth(settings, clock):  # type: ignore[no-untyped-def]
    def _auth(user: User) -> dict[str, str]:
        return bearer(settings, clock, user)

    return _auth


@pytest.fixture
async def w(session) -> World:  # type: ignore[no-untyped-def]
    world = await make_world(session)
    world.category = await make_category(session, world.s1, name="设施损坏")  # for 随手拍 reports
    await session.commit()
    return world


async def put_profile(client, auth, staff: User, user: User, **body: Any) -> dict:  # type: ignore[no-untyped-def]
    r = await client.put(f"{REPAIRS}/craftsmen/{user.id}", json=body, headers=auth(staff))
    assert r.status_code == 200, r.text
    return r.json()


async def new_price_item(client, auth, staff: User, **body: Any) -> dict:  # type: ignore[no-untyped-def]
    r = await client.post(f"{REPAIRS}/price-items", json=body, headers=auth(staff))
    assert r.status_code == 201, r.text
    return r.json()


@pytest.fixture
async def crew(session, client, auth, w) -> Crew:  # type: ignore[no-untyped-def]
    phones = iter(range(13600000001, 13600000100))

    def craftsman(name: str, subdistrict=None) -> Any:  # type: ignore[no-untyped-def]
        return make_user(
            session, (Role.CRAFTSMAN, subdistrict or w.s1), phone=str(next(phones)), display_name=name
        )

    crew = Crew(
        plumber=await craftsman("王师傅"),
        c1_plumber=await craftsman("李师傅(C1)"),
        electrician=await craftsman("赵电工"),
        c2_plumber=await craftsman("钱师傅(C2)"),
        s2_plumber=await craftsman("孙师傅(S2)", w.s2),
        unprofiled=await craftsman("周师傅"),
    )
    await session.commit()
    s1 = str(w.s1.id)
    await put_profile(
        client,
        auth,
        w.sub_admin,
        crew.plumber,
        subdistrict_id=s1,
        skills=["plumbing", "electrical"],
        organisation="区总工会志愿队",
    )
    await put_profile(
        client,
        auth,
        w.sub_admin,
        crew.c1_plumber,
        subdistrict_id=s1,
        skills=["plumbing"],
        community_ids=[str(w.c1.id)],
    )
    await put_profile(client, auth, w.sub_admin, crew.electrician, subdistrict_id=s1, skills=["electrical"])
    await put_profile(
        client,
        auth,
        w.sub_admin,
        crew.c2_plumber,
        subdistrict_id=s1,
        skills=["plumbing"],
        community_ids=[str(w.c2.id)],
    )
    await put_profile(
        client, auth, w.s2_admin, crew.s2_plumber, subdistrict_id=str(w.s2.id), skills=["plumbing"]
    )
    return crew


@pytest.fixture
async def prices(client, auth, w) -> Prices:  # type: ignore[no-untyped-def]
    s1 = str(w.s1.id)

    async def item(staff: User, **body: Any) -> str:
        return (await new_price_item(client, auth, staff, **body))["id"]

    retired = await item(
        w.sub_admin, subdistrict_id=s1, category="plumbing", name="更换老式阀门", unit="个", price_cents=1000
    )
    r = await client.patch(
        f"{REPAIRS}/price-items/{retired}", json={"is_active": False}, headers=auth(w.sub_admin)
    )
    assert r.status_code == 200 and r.json()["is_active"] is False, r.text
    return Prices(
        faucet=await item(
            w.sub_admin,
            subdistrict_id=s1,
            category="plumbing",
            name="更换水龙头",
            unit="个",
            price_cents=2000,
            market_price_cents=5000,
        ),
        pipe=await item(
            w.sub_admin,
            subdistrict_id=s1,
            category="plumbing",
            name="疏通下水管",
            unit="次",
            price_cents=3500,
        ),
        switch=await item(
            w.sub_admin,
            subdistrict_id=s1,
            category="electrical",
            name="更换开关",
            unit="个",
            price_cents=1500,
        ),
        retired=retired,
        s2_faucet=await item(
            w.s2_admin,
            subdistrict_id=str(w.s2.id),
            category="plumbing",
            name="更换水龙头",
            unit="个",
            price_cents=2500,
        ),
    )


@pytest.fixture
def order(client, auth, w):  # type: ignore[no-untyped-def]
    """Create an order (as the resident unless told); returns the 201 body."""

    async def _order(user: User | None = None, *, headers: dict | None = None, **fields: Any) -> dict:
        body = {"category": "plumbing", "description": "厨房水龙头一直滴水", **fields}
        r = await client.post(ORDERS, json=body, headers={**auth(user or w.resident), **(headers or {})})
        assert r.status_code == 201, r.text
        return r.json()

    return _order


@pytest.fixture
def act(client, auth):  # type: ignore[no-untyped-def]
    """POST /repairs/orders/{id}/<path> as `user`; returns the response. Actions whose body is all
    optional (arrive, hand-back, ...) still take a JSON object, so `{}` is sent by default."""

    async def _act(oid: str, path: str, user: User, body: dict | None = None):  # type: ignore[no-untyped-def]
        return await client.post(f"{ORDERS}/{oid}/{path}", json=body or {}, headers=auth(user))

    return _act


@pytest.fixture
def ok(act):  # type: ignore[no-untyped-def]
    """Take an action that must succeed; returns the order as the actor sees it."""

    async def _ok(oid: str, path: str, user: User, body: dict | None = None) -> dict:
        r = await act(oid, path, user, body)
        assert r.status_code == 200, r.text
        return r.json()

    return _ok


@pytest.fixture
def get(client, auth):  # type: ignore[no-untyped-def]
    async def _get(oid: str, user: User) -> dict:
        r = await client.get(f"{ORDERS}/{oid}", headers=auth(user))
        assert r.status_code == 200, r.text
        return r.json()

    return _get


def code(r) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    return r.status_code, r.json()["code"]
