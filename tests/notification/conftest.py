"""Arrangements for inbox, outbox and live-event tests."""

import pytest

from tests.factories import World, bearer, make_world


@pytest.fixture
async def w(session) -> World:  # type: ignore[no-untyped-def]
    return await make_world(session)


@pytest.fixture
def auth(settings, clock):  # type: ignore[no-untyped-def]
    return lambda user: bearer(settings, clock, user)
