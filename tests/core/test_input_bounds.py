"""Bad input gets a clear error (issue #8): what the fuzzer found, each checked directly.

* a map box (bbox) that is not four plain decimals in range: 422, never a 500 from float();
* times outside the years 2000–2100 (UTC), in a query or a body: 422 (date arithmetic and the UTC
  conversion would overflow near years 1 and 9999);
* U+0000 in a body, query string or path: 422 on both databases (PostgreSQL cannot store it), and
  the database's own refusal of it, should any reach it, a 422 too;
* an unexpected error: the 500 envelope with the security and CORS headers, logged once with its
  traceback.
"""

import logging
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from fastapi import APIRouter
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy import text

from app.auth.permissions import Role
from app.core.config import Settings
from app.core.db import SessionDep
from app.core.schemas import ApiDatetime, InSchema
from app.ticket.kpi import InvalidDateRange, date_window
from tests.conftest import make_settings
from tests.factories import World, bearer, make_category, make_user, make_world
from tests.fakes import FrozenClock

H5 = "https://h5.linli.example.cn"
IN_G1 = {"lat": 34.272, "lng": 108.952, "coord_system": "wgs84"}


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return make_settings(database_url, tmp_path, cors_origins=[H5])


@pytest.fixture
async def world(session) -> World:  # type: ignore[no-untyped-def]
    return await make_world(session)


def _only_error(r: httpx.Response) -> dict[str, str]:
    """The single field error of a 422 envelope."""
    assert r.status_code == 422, r.text
    body = r.json()
    assert set(body) == {"code", "message", "details"}
    assert body["code"] == "request.invalid"
    (error,) = body["details"]["errors"]
    assert any("\u4e00" <= ch <= "\u9fff" for ch in error["message"])  # in plain Chinese
    return error


class TestBBox:
    @pytest.fixture
    async def auth(self, session, settings: Settings, clock: FrozenClock, world: World):  # type: ignore[no-untyped-def]
        return bearer(settings, clock, world.resident)

    async def test_anything_but_four_decimals_in_range_is_a_422(
        self, client: httpx.AsyncClient, auth
    ) -> None:  # type: ignore[no-untyped-def]
        not_four_decimals = [
            "0,0,0,.",
            "1.2.3,0,0,0",
            "0,0,0,1.",
            ".5,0,1,1",
            "1e5,0,0,0",
            "0,0,0",
            "a,b,c,d",
        ]
        out_of_range = [
            "-180.5,0,0,1",  # longitude below -180
            "0,0,181,1",  # longitude above 180
            "0,-90.01,1,0",  # latitude below -90
            "0,0,1,91",  # latitude above 90
            "109,34,108,35",  # min longitude over max
            "108,35,109,34",  # min latitude over max
        ]
        for bbox, kind in [(b, "string_pattern_mismatch") for b in not_four_decimals] + [
            (b, "bbox_out_of_range") for b in out_of_range
        ]:
            error = _only_error(await client.get("/api/v1/tickets", params={"bbox": bbox}, headers=auth))
            assert (error["field"], error["location"], error["type"]) == ("bbox", "query", kind), bbox

    async def test_a_valid_box_filters(self, client: httpx.AsyncClient, session, auth, world: World) -> None:  # type: ignore[no-untyped-def]
        category = await make_category(session, world.s1)
        await session.commit()
        body = {"category_id": str(category.id), "description": "路灯不亮", "location": IN_G1}
        created = await client.post("/api/v1/tickets", json=body, headers=auth)
        assert created.status_code == 201, created.text
        around = await client.get("/api/v1/tickets", params={"bbox": "108.9,34.2,109,34.3"}, headers=auth)
        assert around.status_code == 200
        assert [t["id"] for t in around.json()["items"]] == [created.json()["id"]]
        # Whole-world edges are in range; a box elsewhere holds nothing.
        edges = await client.get("/api/v1/tickets", params={"bbox": "-180,-90,180,90"}, headers=auth)
        assert edges.status_code == 200 and len(edges.json()["items"]) == 1
        away = await client.get("/api/v1/tickets", params={"bbox": "-1,-1.5,0,0"}, headers=auth)
        assert away.status_code == 200 and away.json()["items"] == []


# Every operation taking a time range, with the other parameters it needs and who may call it.
RANGE_OPERATIONS = [
    ("/api/v1/tickets", {}, "resident"),
    ("/api/v1/tickets/export", {}, "superadmin"),
    ("/api/v1/stats/response", {"scope": "subdistrict", "scope_id": "{s1}"}, "superadmin"),
    ("/api/v1/repairs/stats", {"subdistrict_id": "{s1}"}, "superadmin"),
    ("/api/v1/courses/stats", {"subdistrict_id": "{s1}"}, "superadmin"),
    ("/api/v1/courses/volunteer-hours", {"subdistrict_id": "{s1}"}, "superadmin"),
    ("/api/v1/courses/volunteer-hours/export", {"subdistrict_id": "{s1}"}, "superadmin"),
    ("/api/v1/courses/volunteer-hours/me", {}, "teacher"),
    ("/api/v1/audit-log", {}, "superadmin"),
]
OUT_OF_RANGE = [
    "0001-01-01T00:00:00Z",
    "0001-01-01T00:00:00+01:00",  # before year 1 once in UTC
    "9999-12-31T23:59:59-01:00",  # after year 9999 once in UTC
    "9999-12-31T23:59:59Z",
    "1999-12-31T23:59:59Z",
    "2000-01-01T07:59:59+08:00",  # 1999 in UTC
    "2101-01-01T00:00:00Z",
]


class TestTimeRanges:
    @pytest.fixture
    async def callers(self, session, settings: Settings, clock: FrozenClock, world: World):  # type: ignore[no-untyped-def]
        teacher = await make_user(session, (Role.TEACHER, world.c1))
        await session.commit()
        users = {"resident": world.resident, "superadmin": world.superadmin, "teacher": teacher}
        return {role: bearer(settings, clock, user) for role, user in users.items()}, {"s1": str(world.s1.id)}

    @pytest.mark.parametrize(("url", "params", "role"), RANGE_OPERATIONS)
    async def test_outside_2000_2100_is_a_422_and_the_bounds_are_accepted(  # type: ignore[no-untyped-def]
        self, client: httpx.AsyncClient, callers, url: str, params: dict, role: str
    ) -> None:
        auth, ids = callers
        query = {k: v.format(**ids) for k, v in params.items()}
        for param in ("date_from", "date_to"):
            for when in OUT_OF_RANGE:
                error = _only_error(await client.get(url, params=query | {param: when}, headers=auth[role]))
                expected = (param, "query", "datetime_out_of_range")
                assert (error["field"], error["location"], error["type"]) == expected, (param, when)
        # 1999-12-31T23:00-01:00 is 2000-01-01T00:00 UTC: inside, though its local year is 1999.
        for date_from, date_to in [
            ("1999-12-31T23:00:00-01:00", "2000-01-31T00:00:00Z"),
            ("2100-12-01T00:00:00Z", "2100-12-31T23:59:59.999999Z"),
        ]:
            r = await client.get(
                url, params=query | {"date_from": date_from, "date_to": date_to}, headers=auth[role]
            )
            assert r.status_code == 200, r.text

    async def test_date_window_itself_never_overflows(self) -> None:
        """Defence in depth: a caller that skipped the API bounds gets InvalidDateRange."""
        year_1 = datetime(1, 1, 1, tzinfo=UTC)
        with pytest.raises(InvalidDateRange):
            date_window(None, year_1, now=datetime(2026, 1, 1, tzinfo=UTC))
        start, end = date_window(None, datetime(2000, 1, 1, tzinfo=UTC), now=datetime(2026, 1, 1, tzinfo=UTC))
        assert (start.year, end.year) == (1999, 2000)


async def test_times_in_bodies_outside_2000_2100_are_a_422(  # type: ignore[no-untyped-def]
    client: httpx.AsyncClient, session, settings: Settings, clock: FrozenClock, world: World
) -> None:
    """Every body field holding a time. With a (random) id in the path: validation answers first."""
    admin = bearer(settings, clock, world.superadmin)
    session_times = {"starts_at": "2027-01-01T10:00:00+08:00", "ends_at": "2027-01-01T12:00:00+08:00"}
    cases = [
        (
            "POST",
            "/api/v1/courses/{id}/sessions",
            {"venue": "活动室", "capacity": 5, **session_times},
            "starts_at",
        ),
        (
            "POST",
            "/api/v1/courses/{id}/sessions",
            {"venue": "活动室", "capacity": 5, **session_times},
            "ends_at",
        ),
        ("PATCH", "/api/v1/courses/sessions/{id}", session_times, "starts_at"),
        ("PATCH", "/api/v1/courses/sessions/{id}", session_times, "ends_at"),
        ("POST", "/api/v1/courses/help-requests/{id}/schedule", {"place": "家中"}, "scheduled_for"),
        ("POST", "/api/v1/repairs/orders/{id}/schedule", {}, "visit_at"),
    ]
    for method, url, body, field in cases:
        for when in ("0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "2101-01-01T00:00:00Z"):
            payload = {**body, field: when}
            r = await client.request(method, url.format(id=uuid.uuid4()), json=payload, headers=admin)
            error = _only_error(r)
            expected = (field, "body", "datetime_out_of_range")
            assert (error["field"], error["location"], error["type"]) == expected, (url, field, when)


class TestNul:
    def test_the_input_base_rejects_it_anywhere(self) -> None:
        class Inner(InSchema):
            name: str

        class Outer(InSchema):
            title: str = "ok"
            tags: list[str] = Field(default_factory=list)
            extra: dict[str, str] = Field(default_factory=dict)
            inner: Inner | None = None
            at: ApiDatetime | None = None

        for data, loc in [
            ({"title": "a\x00b"}, ("title",)),
            ({"tags": ["fine", "a\x00"]}, ("tags",)),
            ({"extra": {"k\x00": "v"}}, ("extra",)),
            ({"extra": {"k": "\x00"}}, ("extra",)),
            ({"inner": {"name": "\x00"}}, ("inner", "name")),
        ]:
            with pytest.raises(ValidationError) as caught:
                Outer.model_validate(data)
            ((error),) = caught.value.errors()
            assert (error["type"], error["loc"]) == ("string_contains_nul", loc)
        # Other control characters and the escaped text "\\u0000" are ordinary text.
        assert Outer.model_validate({"title": "a\tb\\u0000"}).title == "a\tb\\u0000"

    def test_output_schemas_are_not_concerned(self) -> None:
        class Out(BaseModel):
            name: str

        assert Out(name="a\x00").name == "a\x00"

    async def test_in_a_body(self, client: httpx.AsyncClient, session, settings, clock, world: World) -> None:  # type: ignore[no-untyped-def]
        r = await client.patch(
            "/api/v1/me", json={"display_name": "a\x00b"}, headers=bearer(settings, clock, world.resident)
        )
        error = _only_error(r)
        assert (error["field"], error["location"], error["type"]) == (
            "display_name",
            "body",
            "string_contains_nul",
        )
        r = await client.patch(
            f"/api/v1/communities/{world.c1.id}",
            json={"name": "a\x00b"},
            headers=bearer(settings, clock, world.superadmin),
        )
        assert _only_error(r)["type"] == "string_contains_nul"

    async def test_in_the_query_string(
        self, client: httpx.AsyncClient, session, settings, clock, world: World
    ) -> None:  # type: ignore[no-untyped-def]
        admin = bearer(settings, clock, world.superadmin)
        for query in ("q=a%00b", "q=%00", "cursor=%00&limit=5"):
            error = _only_error(await client.get(f"/api/v1/users?{query}", headers=admin))
            assert (error["location"], error["type"]) == ("query", "string_contains_nul")
        # "%2500" is the text "%00", not a NUL.
        assert (await client.get("/api/v1/users?q=%2500", headers=admin)).status_code == 200

    async def test_in_the_path(
        self, client: httpx.AsyncClient, session, settings, clock, world: World
    ) -> None:  # type: ignore[no-untyped-def]
        r = await client.get("/api/v1/tickets/a%00b", headers=bearer(settings, clock, world.resident))
        assert _only_error(r)["location"] == "path"

    async def test_what_the_database_refuses_is_a_422(  # type: ignore[no-untyped-def]
        self, app, client: httpx.AsyncClient, backend: str
    ) -> None:
        """The last line: PostgreSQL refusing the text (SQLSTATE 22021, or 22P05 in jsonb) is a 422."""
        router = APIRouter(prefix="/_test")

        @router.post("/store")
        async def store(session: SessionDep, value: dict) -> dict:  # raw dict: no InSchema in the way
            await session.execute(text("SELECT CAST(:v AS TEXT)"), {"v": value["text"]})
            return {"stored": True}

        @router.post("/store-json")
        async def store_json(session: SessionDep, value: dict) -> dict:
            cast = "JSONB" if backend == "postgresql" else "TEXT"
            await session.execute(text(f"SELECT CAST(:v AS {cast})"), {"v": value["json"]})
            return {"stored": True}

        app.include_router(router)
        r = await client.post("/_test/store", json={"text": "a\x00b"})
        r_json = await client.post("/_test/store-json", json={"json": '{"k": "a\\u0000b"}'})
        if backend == "sqlite":  # SQLite stores NUL as any other character
            assert r.status_code == r_json.status_code == 200
            return
        for response in (r, r_json):
            error = _only_error(response)
            assert error["type"] == "string_contains_nul"

    async def test_a_password_login_with_it(self, client: httpx.AsyncClient, backend: str) -> None:
        """A form field, checked by no schema: on PostgreSQL the database refuses it, a 422."""
        r = await client.post("/api/v1/auth/token", data={"username": "a\x00b", "password": "whatever"})
        if backend == "sqlite":
            assert r.status_code == 401 and r.json()["code"] == "auth.invalid_credentials"
        else:
            assert _only_error(r)["type"] == "string_contains_nul"


class TestUnexpectedErrors:
    @pytest.fixture
    def boom_app(self, app):  # type: ignore[no-untyped-def]
        router = APIRouter(prefix="/_test")

        @router.get("/boom")
        async def boom() -> None:
            raise RuntimeError("unexpected internals")

        @router.get("/db-boom")
        async def db_boom(session: SessionDep) -> None:
            await session.execute(text("SELECT * FROM no_such_table"))

        app.include_router(router)
        return app

    @pytest.mark.parametrize("path", ["/_test/boom", "/_test/db-boom"])
    async def test_500_has_the_envelope_and_every_header_and_is_logged_once(  # type: ignore[no-untyped-def]
        self, boom_app, path: str, caplog: pytest.LogCaptureFixture
    ) -> None:
        transport = httpx.ASGITransport(app=boom_app, raise_app_exceptions=False)
        with caplog.at_level(logging.ERROR, logger="linli.errors"):
            async with httpx.AsyncClient(transport=transport, base_url="https://test") as c:
                r = await c.get(path, headers={"Origin": H5})
        assert r.status_code == 500
        assert r.json() == {"code": "server.error", "message": "服务器出错了，请稍后再试", "details": {}}
        assert "internals" not in r.text and "no_such_table" not in r.text
        assert r.headers["access-control-allow-origin"] == H5
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["x-frame-options"] == "DENY"
        assert r.headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"
        assert r.headers["strict-transport-security"] == "max-age=31536000"
        records = [rec for rec in caplog.records if rec.name == "linli.errors"]
        assert len(records) == 1 and records[0].exc_info is not None  # with its traceback

    async def test_the_exception_is_still_raised_on_for_the_server(self, boom_app) -> None:  # type: ignore[no-untyped-def]
        """As with Starlette's own handling: servers log it, test clients may raise it."""
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=boom_app), base_url="http://test"
        ) as c:
            with pytest.raises(RuntimeError, match="unexpected internals"):
                await c.get("/_test/boom")
