"""Shared arrangements for ticket tests: the world plus categories and a helper to report."""

import pytest

from tests.factories import World, bearer, make_category, make_world


@pytest.fixture
async def w(session) -> World:  # type: ignore[no-untyped-def]
    world = await make_world(session)
    world.category = await make_category(
        session, world.s1, name="设施损坏", respond_minutes=10, resolve_hours=72
    )
    world.other_category = await make_category(session, world.s2, name="环境卫生")
    await session.commit()
    return world


@pytest.fixture
def auth(settings, clock):  # type: ignore[no-untyped-def]
    def _auth(user) -> dict[str, str]:  # type: ignore[no-untyped-def]
        return bearer(settings, clock, user)

    return _auth


# A point inside G1 (square 108.950–108.954 E, 34.270–34.274 N, WGS-84).
IN_G1 = {"lat": 34.272, "lng": 108.952, "coord_system": "wgs84"}


@pytest.fixture
def report(client, auth, w):  # type: ignore[no-untyped-def]
    async def _report(user=None, *, location=IN_G1, headers=None, **fields):  # type: ignore[no-untyped-def]
        body = {
            "category_id": str(w.category.id),
            "description": "井盖破损，晚上很危险",
            "location": location,
            **fields,
        }
        r = await client.post(
            "/api/v1/tickets", json=body, headers={**auth(user or w.resident), **(headers or {})}
        )
        return r

    return _report
