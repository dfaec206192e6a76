"""The world of tests/factories.py, a category in S1 (the 10-minute promise) and one in S2, and a
partner key for S1 issued through the staff API."""

from dataclasses import dataclass
from typing import Any

import pytest

from tests.factories import World, bearer, make_category, make_world

BASE = "/open311/v2"
KEYS = "/api/v1/open311/keys"
# Inside G1 (square 108.950–108.954 E, 34.270–34.274 N, WGS-84).
IN_G1 = {"lat": "34.272", "long": "108.952"}


@pytest.fixture
async def w(session) -> World:  # type: ignore[no-untyped-def]
    world = await make_world(session)
    world.category = await make_category(
        session, world.s1, code="facility", name="设施损坏", respond_minutes=10, resolve_hours=72
    )
    world.other_category = await make_category(session, world.s2, code="sanitation", name="环境卫生")
    await session.commit()
    return world


@pytest.fixture
def auth(settings, clock):  # type: ignore[no-untyped-def]
    return lambda user: bearer(settings, clock, user)


@dataclass
class Partner:
    key: str
    id: str
    service_user_id: str


@pytest.fixture
def issue(client, auth, w):  # type: ignore[no-untyped-def]
    async def _issue(user: Any = None, *, subdistrict: Any = None, **body: Any) -> Partner:
        payload = {"subdistrict_id": str((subdistrict or w.s1).id), "partner_name": "12345 热线", **body}
        r = await client.post(KEYS, json=payload, headers=auth(user or w.sub_admin))
        assert r.status_code == 201, r.text
        data = r.json()
        return Partner(key=data["api_key"], id=data["id"], service_user_id=data["service_user_id"])

    return _issue


@pytest.fixture
async def partner(issue) -> Partner:  # type: ignore[no-untyped-def]
    return await issue()


@pytest.fixture
def post_request(client, w, partner):  # type: ignore[no-untyped-def]
    async def _post(fmt: str = "json", *, key: str | None = None, **fields: Any):  # type: ignore[no-untyped-def]
        form = {
            "api_key": partner.key if key is None else key,
            "service_code": str(w.category.id),
            "description": "井盖破损，晚上很危险",
            **IN_G1,
            **fields,
        }
        form = {k: v for k, v in form.items() if v is not None}
        return await client.post(f"{BASE}/requests.{fmt}", data=form)

    return _post
