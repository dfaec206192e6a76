"""Grid workers on and off duty: location kept in WGS-84 only while on duty, heartbeats, the
retention purge, and who may use it."""

from datetime import timedelta

import pytest

from app.duty.models import WorkerDuty
from app.org import geo
from app.ticket.jobs import sweep
from tests.factories import World, bearer, make_world

DUTY = "/api/v1/workers/me/duty"
HEARTBEAT = "/api/v1/workers/me/heartbeat"
# A point in Xi'an as the mini-program map (GCJ-02) reports it.
GCJ = {"lat": 34.2704, "lng": 108.9541}


@pytest.fixture
async def w(session) -> World:  # type: ignore[no-untyped-def]
    return await make_world(session)


@pytest.fixture
def auth(settings, clock):  # type: ignore[no-untyped-def]
    return lambda user: bearer(settings, clock, user)


async def stored(session, user) -> WorkerDuty | None:  # type: ignore[no-untyped-def]
    return await session.get(WorkerDuty, user.id, populate_existing=True)


class TestGoingOnAndOffDuty:
    async def test_a_worker_who_never_went_on_duty_is_off_duty(self, client, auth, w) -> None:
        r = await client.get(DUTY, headers=auth(w.worker))
        assert r.status_code == 200, r.text
        assert r.json() == {"on_duty": False, "since": None, "last_seen_at": None, "location": None}

    async def test_on_duty_stores_the_location_in_wgs84(self, client, auth, w, session, clock) -> None:
        r = await client.post(DUTY, json={"on_duty": True, **GCJ}, headers=auth(w.worker))
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["on_duty"] is True
        assert body["since"] == body["last_seen_at"] == clock.now().isoformat().replace("+00:00", "Z")
        assert body["location"]["coord_system"] == "gcj02"
        assert body["location"]["lat"] == pytest.approx(GCJ["lat"], abs=1e-6)
        assert body["location"]["lng"] == pytest.approx(GCJ["lng"], abs=1e-6)

        row = await stored(session, w.worker)
        wgs = geo.to_wgs84(GCJ["lat"], GCJ["lng"], geo.CoordSystem.GCJ02)
        assert (row.lat, row.lng) == pytest.approx(wgs)
        assert abs(row.lat - GCJ["lat"]) > 1e-4  # really converted, not stored as given

        r = await client.get(DUTY, headers=auth(w.worker), params={"coord_system": "wgs84"})
        assert r.json()["location"] == {
            "lat": pytest.approx(wgs[0]),
            "lng": pytest.approx(wgs[1]),
            "coord_system": "wgs84",
        }

    async def test_going_off_duty_clears_the_location(self, client, auth, w, session, clock) -> None:
        await client.post(DUTY, json={"on_duty": True, **GCJ}, headers=auth(w.worker))
        clock.advance(timedelta(hours=2))
        r = await client.post(DUTY, json={"on_duty": False}, headers=auth(w.worker))
        assert r.status_code == 200, r.text
        assert r.json()["on_duty"] is False and r.json()["location"] is None
        row = await stored(session, w.worker)
        assert (row.on_duty, row.lat, row.lng, row.since) == (False, None, None, clock.now())

    async def test_going_on_duty_again_keeps_the_start_time(self, client, auth, w, clock) -> None:
        first = (await client.post(DUTY, json={"on_duty": True}, headers=auth(w.worker))).json()
        clock.advance(timedelta(minutes=5))
        again = (await client.post(DUTY, json={"on_duty": True}, headers=auth(w.worker))).json()
        assert again["since"] == first["since"] and again["last_seen_at"] > first["last_seen_at"]

    async def test_lat_without_lng_is_refused(self, client, auth, w) -> None:
        r = await client.post(DUTY, json={"on_duty": True, "lat": 34.27}, headers=auth(w.worker))
        assert r.status_code == 422 and r.json()["code"] == "request.invalid"


class TestHeartbeat:
    async def test_heartbeat_updates_location_and_last_seen_from_the_clock(
        self, client, auth, w, session, clock
    ) -> None:
        await client.post(DUTY, json={"on_duty": True}, headers=auth(w.worker))
        clock.advance(timedelta(minutes=3))
        r = await client.post(HEARTBEAT, json={**GCJ, "coord_system": "wgs84"}, headers=auth(w.worker))
        assert r.status_code == 200, r.text
        row = await stored(session, w.worker)
        assert row.last_seen_at == clock.now()
        assert (row.lat, row.lng) == (GCJ["lat"], GCJ["lng"])
        assert r.json()["location"] == {**GCJ, "coord_system": "wgs84"}

    async def test_heartbeat_off_duty_is_refused_and_stores_nothing(self, client, auth, w, session) -> None:
        r = await client.post(HEARTBEAT, json=GCJ, headers=auth(w.worker))
        assert r.status_code == 409 and r.json()["code"] == "duty.not_on_duty"
        row = await stored(session, w.worker)
        assert row is None or (row.lat, row.lng) == (None, None)

    async def test_heartbeats_keep_a_worker_on_duty_past_the_retention_window(
        self, client, auth, w, session, clock, maker, settings
    ) -> None:
        await client.post(DUTY, json={"on_duty": True, **GCJ}, headers=auth(w.worker))
        for _ in range(3):
            clock.advance(timedelta(minutes=20))
            assert (await client.post(HEARTBEAT, json=GCJ, headers=auth(w.worker))).status_code == 200
            assert (await sweep(maker, clock=clock, settings=settings)).locations_purged == 0
        assert (await stored(session, w.worker)).on_duty is True


class TestLocationRetention:
    async def test_location_is_purged_after_the_retention_window_without_heartbeat(
        self, client, auth, w, session, clock, maker, settings
    ) -> None:
        await client.post(DUTY, json={"on_duty": True, **GCJ}, headers=auth(w.worker))
        retention = timedelta(minutes=settings.duty.location_retention_minutes)
        clock.advance(retention)
        assert (await sweep(maker, clock=clock, settings=settings)).locations_purged == 0
        clock.advance(timedelta(seconds=1))
        assert (await sweep(maker, clock=clock, settings=settings)).locations_purged == 1
        r = await client.get(DUTY, headers=auth(w.worker))
        assert r.json()["on_duty"] is False and r.json()["location"] is None
        row = await stored(session, w.worker)
        assert (row.lat, row.lng) == (None, None)


class TestAccess:
    @pytest.mark.parametrize("who", ["resident", "c1_admin", "sub_admin", "dept_staff"])
    @pytest.mark.parametrize(
        ("method", "path", "body"),
        [("GET", DUTY, None), ("POST", DUTY, {"on_duty": True}), ("POST", HEARTBEAT, GCJ)],
    )
    async def test_only_grid_workers(self, client, auth, w, who, method, path, body) -> None:
        r = await client.request(method, path, json=body, headers=auth(getattr(w, who)))
        assert r.status_code == 403, r.text
        assert r.json()["code"] == "duty.grid_worker_only"

    async def test_login_is_required(self, client, w) -> None:
        r = await client.get(DUTY)
        assert r.status_code == 401
