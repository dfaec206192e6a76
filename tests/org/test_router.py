"""The organisation API over HTTP: grid lookup by location, scope rules, grid workers,
departments, pagination and coordinate systems."""

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.permissions import Role
from app.core.config import Settings
from app.org import geo
from app.org.geo import CoordSystem
from app.org.models import Building, Community, Department, Grid, Subdistrict
from app.user.models import GridMember, User
from tests.factories import (
    World,
    bearer,
    make_building,
    make_category,
    make_grid,
    make_user,
    make_world,
    square,
)
from tests.fakes import FrozenClock

API = "/api/v1"
GRIDS = f"{API}/grids"
LOCATE = f"{API}/grids/locate"

Auth = Callable[[User], dict[str, str]]

# G1 = square(108.950, 34.270): lng 108.950–108.954, lat 34.270–34.274 (WGS-84).
INSIDE_G1 = (34.272, 108.952)
FAR_AWAY = (34.000, 108.500)
BOWTIE = {
    "type": "Polygon",
    "coordinates": [
        [[108.950, 34.270], [108.958, 34.274], [108.958, 34.270], [108.950, 34.272], [108.950, 34.270]]
    ],
}


@pytest.fixture
async def w(session: AsyncSession) -> World:
    return await make_world(session)


@pytest.fixture
def auth(settings: Settings, clock: FrozenClock) -> Auth:
    return lambda user: bearer(settings, clock, user)


def assert_error(r: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The response is the error envelope with this status and code."""
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"code", "message", "details"}
    assert body["code"] == code
    assert body["message"]
    return body


def grid_body(
    community: Community,
    code: str,
    boundary: dict[str, Any] | None = None,
    coord_system: str | None = "wgs84",
    **kw: Any,
) -> dict[str, Any]:
    body = {
        "community_id": str(community.id),
        "code": code,
        "name": kw.pop("name", f"网格 {code}"),
        "boundary": boundary or square(108.970, 34.280),
        **kw,
    }
    if coord_system is not None:
        body["coord_system"] = coord_system
    return body


async def locate(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    lat: float,
    lng: float,
    coord_system: str | None = "wgs84",
) -> httpx.Response:
    params: dict[str, Any] = {"lat": lat, "lng": lng}
    if coord_system is not None:
        params["coord_system"] = coord_system
    return await client.get(LOCATE, params=params, headers=headers)


def vertices(boundary: dict[str, Any]) -> list[list[float]]:
    assert boundary["type"] == "Polygon"
    return boundary["coordinates"][0]


async def all_pages(
    client: httpx.AsyncClient, url: str, headers: dict[str, str], **params: Any
) -> list[dict]:
    items: list[dict] = []
    cursor = None
    for _ in range(100):
        r = await client.get(
            url, params={**params, **({"cursor": cursor} if cursor else {})}, headers=headers
        )
        assert r.status_code == 200, r.text
        items += r.json()["items"]
        cursor = r.json()["next_cursor"]
        if cursor is None:
            return items
    raise AssertionError("pagination never ended")


# The arranging session shares the test's connection, so it sees what the app committed; these
# helpers always query the database instead of trusting the session's identity map.


async def stored_grid(session: AsyncSession, **where: Any) -> Grid | None:
    return await session.scalar(select(Grid).filter_by(**where).execution_options(populate_existing=True))


async def name_of(session: AsyncSession, model: Any, row_id: Any) -> str | None:
    return await session.scalar(select(model.name).where(model.id == row_id))


async def is_bound(session: AsyncSession, user: User, grid: Grid) -> bool:
    n = await session.scalar(
        select(func.count())
        .select_from(GridMember)
        .where(GridMember.user_id == user.id, GridMember.grid_id == grid.id)
    )
    assert n in (0, 1)
    return n == 1


# --- locating a grid ---------------------------------------------------------------------


class TestLocateGrid:
    async def test_point_inside_a_grid_returns_it(self, client, w, auth) -> None:
        r = await locate(client, auth(w.resident), *INSIDE_G1)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["grid"]["id"] == str(w.g1.id)
        assert body["grid"]["code"] == w.g1.code
        assert body["grid"]["community_id"] == str(w.c1.id)
        assert body["match"] == "inside"
        assert body["distance_m"] == 0
        assert body["grid"]["coord_system"] == "wgs84"
        assert body["grid"]["boundary"] == w.g1.boundary

    async def test_point_in_another_grid_returns_that_one(self, client, w, auth) -> None:
        r = await locate(client, auth(w.resident), 34.302, 108.992)
        assert r.status_code == 200, r.text
        assert r.json()["grid"]["id"] == str(w.g3.id)

    async def test_point_exactly_on_the_edge_counts_as_inside(self, client, w, auth) -> None:
        r = await locate(client, auth(w.resident), 34.270, 108.952)
        assert r.status_code == 200, r.text
        assert r.json()["grid"]["id"] == str(w.g1.id)
        assert r.json()["match"] == "inside"

    async def test_point_on_a_shared_edge_goes_to_the_grid_with_the_lower_code(
        self, client, session, w, auth
    ) -> None:
        west = await make_grid(session, w.c1, square(108.930, 34.270), code="zz-west")
        east = await make_grid(session, w.c1, square(108.934, 34.270), code="aa-east")
        await session.commit()
        r = await locate(client, auth(w.resident), 34.272, 108.934)
        assert r.status_code == 200, r.text
        assert r.json()["grid"]["id"] == str(east.id) != str(west.id)

    async def test_point_just_outside_returns_the_nearest_grid_with_its_distance(
        self, client, w, auth
    ) -> None:
        # 0.001° south of G1's south edge: ≈ 110.6 m away, nearer G1 than any other grid.
        r = await locate(client, auth(w.resident), 34.269, 108.952)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["match"] == "nearest"
        assert body["grid"]["id"] == str(w.g1.id)
        assert body["distance_m"] > 0
        assert body["distance_m"] == pytest.approx(110.6, abs=0.5)

    async def test_point_far_from_every_grid_is_not_found(self, client, w, auth, settings) -> None:
        r = await locate(client, auth(w.resident), *FAR_AWAY)
        body = assert_error(r, 404, "grid.not_found_at_point")
        assert body["details"]["max_distance_m"] == settings.geo.nearest_grid_max_meters
        assert body["details"]["lat"] == FAR_AWAY[0]

    async def test_a_gcj02_point_is_converted_before_the_lookup(self, client, w, auth) -> None:
        # Just inside G1, 0.0005° from its east edge; GCJ-02 moves it ~430 m east.
        wgs = (34.2725, 108.9535)
        gcj = geo.from_wgs84(*wgs, CoordSystem.GCJ02)
        as_gcj = await locate(client, auth(w.resident), *gcj, coord_system="gcj02")
        assert as_gcj.status_code == 200, as_gcj.text
        assert as_gcj.json()["grid"]["id"] == str(w.g1.id)
        assert as_gcj.json()["match"] == "inside"
        # The same numbers taken as WGS-84 are somewhere else.
        as_wgs = await locate(client, auth(w.resident), *gcj, coord_system="wgs84")
        assert as_wgs.status_code == 404 or as_wgs.json()["grid"]["id"] != str(w.g1.id)

    async def test_the_default_coordinate_system_is_gcj02(self, client, w, auth) -> None:
        wgs = (34.2725, 108.9535)
        gcj = geo.from_wgs84(*wgs, CoordSystem.GCJ02)
        r = await locate(client, auth(w.resident), *gcj, coord_system=None)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["grid"]["id"] == str(w.g1.id)
        assert body["match"] == "inside"
        # The grid comes back ready to draw on the GCJ-02 map.
        assert body["grid"]["coord_system"] == "gcj02"
        expected = geo.boundary_in(w.g1.boundary, CoordSystem.GCJ02)
        assert body["grid"]["boundary"] == expected != w.g1.boundary

    @pytest.mark.parametrize(
        ("lat", "lng", "field"),
        [
            (91, 108.95, "lat"),
            (-90.5, 108.95, "lat"),
            (34.27, 181, "lng"),
            ("north", 108.95, "lat"),
            ("nan", 108.95, "lat"),
        ],
    )
    async def test_an_invalid_point_is_refused(self, client, w, auth, lat, lng, field) -> None:
        r = await client.get(LOCATE, params={"lat": lat, "lng": lng}, headers=auth(w.resident))
        body = assert_error(r, 422, "request.invalid")
        assert [e["field"] for e in body["details"]["errors"]] == [field]

    async def test_an_unknown_coordinate_system_is_refused(self, client, w, auth) -> None:
        r = await locate(client, auth(w.resident), *INSIDE_G1, coord_system="bd09")
        body = assert_error(r, 422, "request.invalid")
        assert body["details"]["errors"][0]["field"] == "coord_system"

    async def test_missing_token_is_401_with_a_bearer_challenge(self, client, w) -> None:
        r = await client.get(
            LOCATE, params={"lat": INSIDE_G1[0], "lng": INSIDE_G1[1], "coord_system": "wgs84"}
        )
        assert_error(r, 401, "auth.token_missing")
        assert r.headers["WWW-Authenticate"] == "Bearer"


class TestSpatialIndexFollowsChanges:
    async def test_moving_a_grid_moves_where_it_is_found(self, client, w, auth) -> None:
        point = (34.272, 108.9502)  # in G1, ≈ 350 m west of G2
        before = await locate(client, auth(w.resident), *point)
        assert before.status_code == 200 and before.json()["grid"]["id"] == str(w.g1.id)

        moved = await client.patch(
            f"{GRIDS}/{w.g1.id}",
            headers=auth(w.c1_admin),
            json={"boundary": square(108.970, 34.280), "coord_system": "wgs84"},
        )
        assert moved.status_code == 200, moved.text
        assert moved.json()["boundary"] == square(108.970, 34.280)

        # G1 has gone and G2 is ≈ 350 m away, beyond the 300 m "nearest" radius.
        after = await locate(client, auth(w.resident), *point)
        assert_error(after, 404, "grid.not_found_at_point")
        there = await locate(client, auth(w.resident), 34.282, 108.972)
        assert there.status_code == 200, there.text
        assert there.json()["grid"]["id"] == str(w.g1.id)
        assert there.json()["match"] == "inside"

    async def test_a_new_grid_is_found_at_once(self, client, w, auth) -> None:
        spot = (34.282, 108.972)
        assert_error(await locate(client, auth(w.resident), *spot), 404, "grid.not_found_at_point")
        created = await client.post(GRIDS, headers=auth(w.c1_admin), json=grid_body(w.c1, "fresh-grid"))
        assert created.status_code == 201, created.text
        r = await locate(client, auth(w.resident), *spot)
        assert r.status_code == 200, r.text
        assert r.json()["grid"]["id"] == created.json()["id"]

    async def test_a_deactivated_grid_is_no_longer_returned(self, client, w, auth) -> None:
        assert (await locate(client, auth(w.resident), 34.302, 108.992)).json()["grid"]["id"] == str(w.g3.id)
        r = await client.patch(f"{GRIDS}/{w.g3.id}", headers=auth(w.s2_admin), json={"is_active": False})
        assert r.status_code == 200, r.text
        assert r.json()["is_active"] is False

        assert_error(await locate(client, auth(w.resident), 34.302, 108.992), 404, "grid.not_found_at_point")
        listed = await client.get(GRIDS, headers=auth(w.resident))
        assert str(w.g3.id) not in {g["id"] for g in listed.json()["items"]}
        with_inactive = await client.get(GRIDS, params={"include_inactive": True}, headers=auth(w.resident))
        assert str(w.g3.id) in {g["id"] for g in with_inactive.json()["items"]}

        back = await client.patch(f"{GRIDS}/{w.g3.id}", headers=auth(w.s2_admin), json={"is_active": True})
        assert back.status_code == 200, back.text
        again = await locate(client, auth(w.resident), 34.302, 108.992)
        assert again.status_code == 200 and again.json()["grid"]["id"] == str(w.g3.id)


# --- scope rules -------------------------------------------------------------------------


class TestGridWriteScope:
    async def test_community_admin_creates_grids_in_their_own_community_only(
        self, client, session, w, auth
    ) -> None:
        ok = await client.post(GRIDS, headers=auth(w.c1_admin), json=grid_body(w.c1, "c1-new"))
        assert ok.status_code == 201, ok.text
        assert ok.json()["community_id"] == str(w.c1.id)
        assert (await stored_grid(session, code="c1-new")) is not None
        for community, code in [(w.c2, "c2-new"), (w.c3, "c3-new")]:
            r = await client.post(GRIDS, headers=auth(w.c1_admin), json=grid_body(community, code))
            assert_error(r, 403, "auth.out_of_scope")
            assert (await stored_grid(session, code=code)) is None

    async def test_community_admin_patches_grids_in_their_own_community_only(
        self, client, session, w, auth
    ) -> None:
        ok = await client.patch(f"{GRIDS}/{w.g1.id}", headers=auth(w.c1_admin), json={"name": "一号网格"})
        assert ok.status_code == 200, ok.text
        assert (await client.get(f"{GRIDS}/{w.g1.id}", headers=auth(w.resident))).json()["name"] == "一号网格"
        for grid in (w.g2, w.g3):
            original = grid.name
            r = await client.patch(
                f"{GRIDS}/{grid.id}", headers=auth(w.c1_admin), json={"name": "抢来的网格"}
            )
            assert_error(r, 403, "auth.out_of_scope")
            assert await name_of(session, Grid, grid.id) == original

    async def test_subdistrict_admin_manages_grids_in_every_community_of_their_subdistrict(
        self, client, session, w, auth
    ) -> None:
        g3_name = w.g3.name
        for community, code, lng in [(w.c1, "s1-a", 108.970), (w.c2, "s1-b", 108.980)]:
            r = await client.post(
                GRIDS, headers=auth(w.sub_admin), json=grid_body(community, code, square(lng, 34.280))
            )
            assert r.status_code == 201, r.text
        assert_error(
            await client.post(GRIDS, headers=auth(w.sub_admin), json=grid_body(w.c3, "s1-c")),
            403,
            "auth.out_of_scope",
        )
        assert (
            await client.patch(f"{GRIDS}/{w.g2.id}", headers=auth(w.sub_admin), json={"name": "二号"})
        ).status_code == 200
        assert_error(
            await client.patch(f"{GRIDS}/{w.g3.id}", headers=auth(w.sub_admin), json={"name": "三号"}),
            403,
            "auth.out_of_scope",
        )
        assert await name_of(session, Grid, w.g2.id) == "二号"
        assert await name_of(session, Grid, w.g3.id) == g3_name

    async def test_superadmin_manages_grids_anywhere(self, client, w, auth) -> None:
        r = await client.post(GRIDS, headers=auth(w.superadmin), json=grid_body(w.c3, "sa-grid"))
        assert r.status_code == 201, r.text
        assert (
            await client.patch(f"{GRIDS}/{w.g3.id}", headers=auth(w.superadmin), json={"name": "改名"})
        ).json()["name"] == "改名"

    async def test_a_taken_grid_code_is_a_conflict(self, client, session, w, auth) -> None:
        r = await client.post(GRIDS, headers=auth(w.c1_admin), json=grid_body(w.c1, w.g1.code, name="另一个"))
        assert_error(r, 409, "org.code_taken")
        count = await session.scalar(select(func.count(Grid.id)).where(Grid.code == w.g1.code))
        assert count == 1

    async def test_an_invalid_boundary_is_refused_and_nothing_is_stored(
        self, client, session, w, auth
    ) -> None:
        r = await client.post(GRIDS, headers=auth(w.c1_admin), json=grid_body(w.c1, "bowtie", BOWTIE))
        body = assert_error(r, 422, "grid.invalid_boundary")
        assert "自相交" in body["message"]
        assert (await stored_grid(session, code="bowtie")) is None

    async def test_an_invalid_boundary_does_not_replace_the_old_one(self, client, session, w, auth) -> None:
        r = await client.patch(
            f"{GRIDS}/{w.g1.id}", headers=auth(w.c1_admin), json={"boundary": BOWTIE, "coord_system": "wgs84"}
        )
        assert_error(r, 422, "grid.invalid_boundary")
        point = {"type": "Point", "coordinates": [108.95, 34.27]}
        r = await client.post(GRIDS, headers=auth(w.c1_admin), json=grid_body(w.c1, "pt", point))
        assert_error(r, 422, "grid.invalid_boundary")
        assert (await stored_grid(session, id=w.g1.id)).boundary == square(108.950, 34.270)

    async def test_a_boundary_with_altitudes_is_accepted(self, client, session, w, auth) -> None:
        flat = square(108.970, 34.280)
        with_alt = {"type": "Polygon", "coordinates": [[[*p, 410.0] for p in vertices(flat)]]}
        r = await client.post(GRIDS, headers=auth(w.c1_admin), json=grid_body(w.c1, "alt", with_alt))
        assert r.status_code == 201, r.text
        assert (await stored_grid(session, code="alt")).boundary == flat

    async def test_a_grid_in_an_unknown_community_is_not_found(self, client, w, auth) -> None:
        body = grid_body(w.c1, "ghost") | {"community_id": "00000000-0000-4000-8000-000000000000"}
        assert_error(
            await client.post(GRIDS, headers=auth(w.superadmin), json=body), 404, "org.community_not_found"
        )


class TestBuildingWriteScope:
    async def test_community_admin_creates_buildings_in_their_own_community_only(
        self, client, session, w, auth
    ) -> None:
        ok = await client.post(
            f"{API}/buildings",
            headers=auth(w.c1_admin),
            json={"community_id": str(w.c1.id), "grid_id": str(w.g1.id), "name": "1号楼"},
        )
        assert ok.status_code == 201, ok.text
        assert ok.json()["grid_id"] == str(w.g1.id)
        for community in (w.c2, w.c3):
            r = await client.post(
                f"{API}/buildings",
                headers=auth(w.c1_admin),
                json={"community_id": str(community.id), "name": "外区楼"},
            )
            assert_error(r, 403, "auth.out_of_scope")
        names = set(await session.scalars(select(Building.name)))
        assert names == {"1号楼"}

    async def test_community_admin_patches_buildings_in_their_own_community_only(
        self, client, session, w, auth
    ) -> None:
        mine, theirs = await make_building(session, w.c1), await make_building(session, w.c2)
        far = await make_building(session, w.c3)
        await session.commit()
        original_names = {b.id: b.name for b in (theirs, far)}
        r = await client.patch(
            f"{API}/buildings/{mine.id}", headers=auth(w.c1_admin), json={"compound": "尚德苑"}
        )
        assert r.status_code == 200 and r.json()["compound"] == "尚德苑"
        for other in (theirs, far):
            r = await client.patch(
                f"{API}/buildings/{other.id}", headers=auth(w.c1_admin), json={"name": "改"}
            )
            assert_error(r, 403, "auth.out_of_scope")
            assert await name_of(session, Building, other.id) == original_names[other.id]

    async def test_subdistrict_admin_manages_buildings_in_their_subdistrict_only(
        self, client, session, w, auth
    ) -> None:
        for community in (w.c1, w.c2):
            r = await client.post(
                f"{API}/buildings",
                headers=auth(w.sub_admin),
                json={"community_id": str(community.id), "name": "街道建的楼"},
            )
            assert r.status_code == 201, r.text
        r = await client.post(
            f"{API}/buildings",
            headers=auth(w.sub_admin),
            json={"community_id": str(w.c3.id), "name": "街道建的楼"},
        )
        assert_error(r, 403, "auth.out_of_scope")
        theirs = await make_building(session, w.c3)
        await session.commit()
        r = await client.patch(f"{API}/buildings/{theirs.id}", headers=auth(w.sub_admin), json={"name": "改"})
        assert_error(r, 403, "auth.out_of_scope")

    async def test_a_building_cannot_be_put_in_a_grid_of_another_community(self, client, w, auth) -> None:
        r = await client.post(
            f"{API}/buildings",
            headers=auth(w.sub_admin),
            json={"community_id": str(w.c1.id), "grid_id": str(w.g2.id), "name": "错网格"},
        )
        assert_error(r, 422, "org.scope_mismatch")

    async def test_a_building_position_given_in_gcj02_is_stored_in_wgs84(self, client, w, auth) -> None:
        glat, glng = geo.from_wgs84(*INSIDE_G1, CoordSystem.GCJ02)
        r = await client.post(
            f"{API}/buildings",
            headers=auth(w.c1_admin),
            json={"community_id": str(w.c1.id), "name": "定位楼", "lat": glat, "lng": glng},
        )
        assert r.status_code == 201, r.text
        assert (r.json()["lat"], r.json()["lng"]) == pytest.approx(INSIDE_G1, abs=1e-6)

    async def test_a_duplicate_building_name_in_a_community_is_a_conflict(
        self, client, session, w, auth
    ) -> None:
        existing = await make_building(session, w.c1)
        await session.commit()
        r = await client.post(
            f"{API}/buildings",
            headers=auth(w.c1_admin),
            json={"community_id": str(w.c1.id), "name": existing.name},
        )
        assert_error(r, 409, "org.code_taken")


class TestSubdistrictLevelScope:
    async def test_subdistrict_admin_creates_communities_departments_and_categories_in_their_own_only(
        self, client, session, w, auth
    ) -> None:
        headers = auth(w.sub_admin)
        for s, expect in [(w.s1, 201), (w.s2, 403)]:
            sid = str(s.id)
            results = [
                await client.post(
                    f"{API}/communities",
                    headers=headers,
                    json={"subdistrict_id": sid, "code": f"new-c-{expect}", "name": "新社区"},
                ),
                await client.post(
                    f"{API}/departments",
                    headers=headers,
                    json={"subdistrict_id": sid, "name": f"新部门{expect}"},
                ),
                await client.post(
                    f"{API}/categories",
                    headers=headers,
                    json={"subdistrict_id": sid, "code": f"new-cat-{expect}", "name": "新分类"},
                ),
            ]
            for r in results:
                if expect == 201:
                    assert r.status_code == 201, r.text
                    assert r.json()["subdistrict_id"] == sid
                else:
                    assert_error(r, 403, "auth.out_of_scope")
        assert await session.scalar(select(Community).where(Community.code == "new-c-201")) is not None
        assert await session.scalar(select(Community).where(Community.code == "new-c-403")) is None
        assert await session.scalar(select(Department).where(Department.name == "新部门403")) is None

    async def test_community_admin_cannot_create_subdistrict_level_objects(self, client, w, auth) -> None:
        sid = str(w.s1.id)
        for url, body in [
            (f"{API}/communities", {"subdistrict_id": sid, "code": "x-c", "name": "社区"}),
            (f"{API}/departments", {"subdistrict_id": sid, "name": "部门"}),
            (f"{API}/categories", {"subdistrict_id": sid, "code": "x-cat", "name": "分类"}),
        ]:
            assert_error(
                await client.post(url, headers=auth(w.c1_admin), json=body), 403, "auth.out_of_scope"
            )

    async def test_only_the_superadmin_creates_a_subdistrict(self, client, session, w, auth) -> None:
        body = {"code": "new-sd", "name": "新街道", "city": "西安市", "district": "新城区"}
        for user in (w.sub_admin, w.c1_admin, w.resident):
            assert_error(
                await client.post(f"{API}/subdistricts", headers=auth(user), json=body),
                403,
                "auth.out_of_scope",
            )
        assert await session.scalar(select(Subdistrict).where(Subdistrict.code == "new-sd")) is None
        r = await client.post(f"{API}/subdistricts", headers=auth(w.superadmin), json=body)
        assert r.status_code == 201, r.text
        listed = await all_pages(client, f"{API}/subdistricts", auth(w.resident))
        assert "new-sd" in {s["code"] for s in listed}
        again = await client.post(f"{API}/subdistricts", headers=auth(w.superadmin), json=body)
        assert_error(again, 409, "org.code_taken")

    @pytest.mark.parametrize("who", ["resident", "worker", "dept_staff"])
    async def test_residents_workers_and_department_staff_cannot_write(
        self, client, session, w, auth, who
    ) -> None:
        user = getattr(w, who)
        headers = auth(user)
        c1, s1 = str(w.c1.id), str(w.s1.id)
        building = await make_building(session, w.c1)
        await session.commit()
        dept_name, s1_name, c1_name, building_name = w.dept.name, w.s1.name, w.c1.name, building.name
        writes = [
            client.post(f"{API}/subdistricts", headers=headers, json={"code": "nope", "name": "不行"}),
            client.patch(f"{API}/subdistricts/{w.s1.id}", headers=headers, json={"name": "不行"}),
            client.post(
                f"{API}/communities", headers=headers, json={"subdistrict_id": s1, "code": "no", "name": "不"}
            ),
            client.patch(f"{API}/communities/{w.c1.id}", headers=headers, json={"name": "不行"}),
            client.post(GRIDS, headers=headers, json=grid_body(w.c1, "nope")),
            client.patch(f"{GRIDS}/{w.g1.id}", headers=headers, json={"is_active": False}),
            client.post(f"{GRIDS}/{w.g1.id}/workers", headers=headers, json={"user_id": str(w.worker.id)}),
            client.delete(f"{GRIDS}/{w.g1.id}/workers/{w.worker.id}", headers=headers),
            client.post(f"{API}/buildings", headers=headers, json={"community_id": c1, "name": "不行"}),
            client.patch(f"{API}/buildings/{building.id}", headers=headers, json={"name": "不行"}),
            client.post(f"{API}/departments", headers=headers, json={"subdistrict_id": s1, "name": "不行"}),
            client.patch(f"{API}/departments/{w.dept.id}", headers=headers, json={"name": "不行"}),
            client.post(
                f"{API}/categories", headers=headers, json={"subdistrict_id": s1, "code": "no", "name": "不"}
            ),
        ]
        for call in writes:
            assert_error(await call, 403, "auth.out_of_scope")
        # Nothing changed.
        assert await session.scalar(select(Grid.is_active).where(Grid.id == w.g1.id)) is True
        assert await is_bound(session, w.worker, w.g1)
        assert await name_of(session, Department, w.dept.id) == dept_name
        assert await name_of(session, Subdistrict, w.s1.id) == s1_name
        assert await name_of(session, Community, w.c1.id) == c1_name
        assert await name_of(session, Building, building.id) == building_name
        assert await session.scalar(select(func.count(Grid.id))) == 3

    @pytest.mark.parametrize("who", ["resident", "other_resident", "worker", "dept_staff"])
    async def test_any_authenticated_user_reads_the_lists(self, client, session, w, auth, who) -> None:
        category = await make_category(session, w.s1)
        building = await make_building(session, w.c1)
        await session.commit()
        headers = auth(getattr(w, who))
        expected = {
            "subdistricts": {w.s1.id, w.s2.id},
            "communities": {w.c1.id, w.c2.id, w.c3.id},
            "grids": {w.g1.id, w.g2.id, w.g3.id},
            "buildings": {building.id},
            "departments": {w.dept.id},
            "categories": {category.id},
        }
        for name, ids in expected.items():
            items = await all_pages(client, f"{API}/{name}", headers)
            assert {str(i) for i in ids} <= {item["id"] for item in items}, name

    async def test_lists_need_a_token(self, client, w) -> None:
        for name in ("subdistricts", "communities", "grids", "buildings", "departments", "categories"):
            assert_error(await client.get(f"{API}/{name}"), 401, "auth.token_missing")


# --- grid workers ------------------------------------------------------------------------


class TestGridWorkers:
    async def test_binding_a_worker_is_idempotent_and_lists_them_once(self, client, session, w, auth) -> None:
        newbie = await make_user(
            session, (Role.GRID_WORKER, w.c1), phone="13600002222", display_name="新网格员"
        )
        await session.commit()
        url = f"{GRIDS}/{w.g1.id}/workers"
        for _ in range(2):
            r = await client.post(url, headers=auth(w.c1_admin), json={"user_id": str(newbie.id)})
            assert r.status_code == 204, r.text
            assert r.content == b""
        listed = (await client.get(url, headers=auth(w.c1_admin))).json()
        assert sorted(x["user_id"] for x in listed) == sorted([str(w.worker.id), str(newbie.id)])
        count = await session.scalar(
            select(func.count()).select_from(GridMember).where(GridMember.user_id == newbie.id)
        )
        assert count == 1

    async def test_the_existing_binding_is_left_alone_when_bound_again(self, client, w, auth) -> None:
        url = f"{GRIDS}/{w.g1.id}/workers"
        r = await client.post(url, headers=auth(w.c1_admin), json={"user_id": str(w.worker.id)})
        assert r.status_code == 204, r.text
        assert [x["user_id"] for x in (await client.get(url, headers=auth(w.c1_admin))).json()] == [
            str(w.worker.id)
        ]

    async def test_only_grid_workers_of_the_grids_community_can_be_bound(
        self, client, session, w, auth
    ) -> None:
        # A resident is not a grid worker at all; the world's worker works in C1, not C2.
        r = await client.post(
            f"{GRIDS}/{w.g1.id}/workers", headers=auth(w.c1_admin), json={"user_id": str(w.resident.id)}
        )
        assert_error(r, 409, "user.not_grid_worker")
        r = await client.post(
            f"{GRIDS}/{w.g2.id}/workers", headers=auth(w.sub_admin), json={"user_id": str(w.worker.id)}
        )
        assert_error(r, 409, "user.not_grid_worker")
        assert not await is_bound(session, w.resident, w.g1)
        assert not await is_bound(session, w.worker, w.g2)

    async def test_binding_an_unknown_user_is_not_found(self, client, w, auth) -> None:
        r = await client.post(
            f"{GRIDS}/{w.g1.id}/workers",
            headers=auth(w.c1_admin),
            json={"user_id": "00000000-0000-4000-8000-000000000000"},
        )
        assert_error(r, 404, "user.not_found")

    async def test_another_communitys_admin_cannot_bind_or_unbind(self, client, session, w, auth) -> None:
        newbie = await make_user(session, (Role.GRID_WORKER, w.c1))
        await session.commit()
        r = await client.post(
            f"{GRIDS}/{w.g1.id}/workers", headers=auth(w.c2_admin), json={"user_id": str(newbie.id)}
        )
        assert_error(r, 403, "auth.out_of_scope")
        r = await client.delete(f"{GRIDS}/{w.g1.id}/workers/{w.worker.id}", headers=auth(w.c2_admin))
        assert_error(r, 403, "auth.out_of_scope")
        assert not await is_bound(session, newbie, w.g1)
        assert await is_bound(session, w.worker, w.g1)

    @pytest.mark.parametrize(
        ("who", "phone"),
        [
            ("resident", "137****1111"),
            ("c2_admin", "137****1111"),
            ("s2_admin", "137****1111"),
            ("worker", "137****1111"),
            ("c1_admin", "13700001111"),
            ("sub_admin", "13700001111"),
            ("superadmin", "13700001111"),
        ],
    )
    async def test_phones_are_masked_for_everyone_outside_the_community_administration(
        self, client, w, auth, who, phone
    ) -> None:
        r = await client.get(f"{GRIDS}/{w.g1.id}/workers", headers=auth(getattr(w, who)))
        assert r.status_code == 200, r.text
        assert r.json() == [
            {"user_id": str(w.worker.id), "display_name": "网格员", "phone": phone, "is_part_time": False}
        ]

    async def test_part_time_workers_are_flagged(self, client, session, w, auth) -> None:
        helper = await make_user(session, (Role.GRID_WORKER, w.c2), grids=(w.g2,), part_time=True)
        await session.commit()
        listed = (await client.get(f"{GRIDS}/{w.g2.id}/workers", headers=auth(w.c2_admin))).json()
        assert [(x["user_id"], x["is_part_time"]) for x in listed] == [(str(helper.id), True)]

    async def test_unbinding_removes_the_worker_and_is_idempotent(self, client, session, w, auth) -> None:
        url = f"{GRIDS}/{w.g1.id}/workers/{w.worker.id}"
        for _ in range(2):
            r = await client.delete(url, headers=auth(w.c1_admin))
            assert r.status_code == 204, r.text
            listed = await client.get(f"{GRIDS}/{w.g1.id}/workers", headers=auth(w.c1_admin))
            assert listed.json() == []
        assert not await is_bound(session, w.worker, w.g1)

    async def test_workers_of_an_unknown_grid_are_not_found(self, client, w, auth) -> None:
        r = await client.get(
            f"{GRIDS}/00000000-0000-4000-8000-000000000000/workers", headers=auth(w.c1_admin)
        )
        assert_error(r, 404, "grid.not_found")


# --- departments -------------------------------------------------------------------------


class TestDepartments:
    async def test_a_department_is_created_with_categories_of_its_subdistrict(
        self, client, session, w, auth
    ) -> None:
        a, b = await make_category(session, w.s1), await make_category(session, w.s1)
        await session.commit()
        r = await client.post(
            f"{API}/departments",
            headers=auth(w.sub_admin),
            json={
                "subdistrict_id": str(w.s1.id),
                "name": "城管中队",
                "phone": "029-1234",
                "category_ids": [str(a.id), str(b.id)],
            },
        )
        assert r.status_code == 201, r.text
        assert set(r.json()["category_ids"]) == {str(a.id), str(b.id)}
        listed = await all_pages(client, f"{API}/departments", auth(w.resident), subdistrict_id=str(w.s1.id))
        [dept] = [d for d in listed if d["id"] == r.json()["id"]]
        assert dept["name"] == "城管中队" and dept["phone"] == "029-1234"
        assert set(dept["category_ids"]) == {str(a.id), str(b.id)}

    async def test_a_category_of_another_subdistrict_is_not_found_and_nothing_is_stored(
        self, client, session, w, auth
    ) -> None:
        mine, foreign = await make_category(session, w.s1), await make_category(session, w.s2)
        await session.commit()
        r = await client.post(
            f"{API}/departments",
            headers=auth(w.sub_admin),
            json={
                "subdistrict_id": str(w.s1.id),
                "name": "跨街道部门",
                "category_ids": [str(mine.id), str(foreign.id)],
            },
        )
        body = assert_error(r, 404, "org.category_not_found")
        assert body["details"]["missing"] == [str(foreign.id)]
        assert await session.scalar(select(Department).where(Department.name == "跨街道部门")) is None

    async def test_patching_category_ids_replaces_the_set(self, client, session, w, auth) -> None:
        cats = [await make_category(session, w.s1) for _ in range(3)]
        foreign = await make_category(session, w.s2)
        await session.commit()
        ids = [str(x.id) for x in cats]
        created = await client.post(
            f"{API}/departments",
            headers=auth(w.sub_admin),
            json={"subdistrict_id": str(w.s1.id), "name": "维修队", "category_ids": ids[:2]},
        )
        assert created.status_code == 201, created.text
        url = f"{API}/departments/{created.json()['id']}"

        async def current() -> set[str]:
            listed = await all_pages(client, f"{API}/departments", auth(w.sub_admin))
            [dept] = [d for d in listed if d["id"] == created.json()["id"]]
            return set(dept["category_ids"])

        r = await client.patch(url, headers=auth(w.sub_admin), json={"category_ids": ids[1:]})
        assert r.status_code == 200, r.text
        assert set(r.json()["category_ids"]) == set(ids[1:])
        assert await current() == set(ids[1:])

        r = await client.patch(url, headers=auth(w.sub_admin), json={"name": "维修一队"})
        assert r.status_code == 200 and r.json()["name"] == "维修一队"
        assert await current() == set(ids[1:])

        r = await client.patch(url, headers=auth(w.sub_admin), json={"category_ids": [str(foreign.id)]})
        assert_error(r, 404, "org.category_not_found")
        assert await current() == set(ids[1:])

        r = await client.patch(url, headers=auth(w.sub_admin), json={"category_ids": []})
        assert r.status_code == 200 and r.json()["category_ids"] == []
        assert await current() == set()

    async def test_another_subdistricts_admin_cannot_patch_a_department(
        self, client, session, w, auth
    ) -> None:
        original = w.dept.name
        r = await client.patch(
            f"{API}/departments/{w.dept.id}", headers=auth(w.s2_admin), json={"name": "抢"}
        )
        assert_error(r, 403, "auth.out_of_scope")
        assert await name_of(session, Department, w.dept.id) == original


# --- pagination and coordinate systems ---------------------------------------------------


class TestGridPagination:
    async def test_walking_pages_of_one_visits_every_grid_once(self, client, session, w, auth) -> None:
        for i in range(3):
            await make_grid(session, w.c2, square(108.960 + 0.004 * i, 34.280))
        await session.commit()
        headers = auth(w.resident)
        everything = (await client.get(GRIDS, params={"limit": 100}, headers=headers)).json()
        assert everything["next_cursor"] is None
        assert len(everything["items"]) == 6

        pages = []
        cursor = None
        while True:
            params: dict[str, Any] = {"limit": 1, **({"cursor": cursor} if cursor else {})}
            r = await client.get(GRIDS, params=params, headers=headers)
            assert r.status_code == 200, r.text
            assert len(r.json()["items"]) == 1
            pages.append(r.json()["items"][0]["id"])
            cursor = r.json()["next_cursor"]
            if cursor is None:
                break
            assert len(pages) < 10, "pagination never ended"
        assert len(pages) == len(set(pages)) == 6
        assert pages == [g["id"] for g in everything["items"]]
        codes = [g["code"] for g in everything["items"]]
        assert codes == sorted(codes)

    async def test_a_garbage_cursor_is_refused(self, client, w, auth) -> None:
        for cursor in ("garbage!!", "bm90LWpzb24", "WzEsMl0"):  # not base64; "not-json"; "[1,2]"
            r = await client.get(GRIDS, params={"cursor": cursor}, headers=auth(w.resident))
            assert_error(r, 422, "request.invalid_cursor")

    @pytest.mark.parametrize("cursor", ["WzFd", "W1tdXQ"])  # "[1]", "[[]]"
    async def test_a_well_formed_cursor_with_values_of_the_wrong_type_is_refused(
        self, client, w, auth, cursor
    ) -> None:
        r = await client.get(GRIDS, params={"cursor": cursor}, headers=auth(w.resident))
        assert_error(r, 422, "request.invalid_cursor")

    @pytest.mark.parametrize("limit", [0, 101])
    async def test_a_limit_out_of_range_is_refused(self, client, w, auth, limit) -> None:
        r = await client.get(GRIDS, params={"limit": limit}, headers=auth(w.resident))
        assert_error(r, 422, "request.invalid")


class TestBoundaryCoordinateSystems:
    async def test_gcj02_boundaries_differ_from_wgs84_ones_by_the_gcj_offset(self, client, w, auth) -> None:
        headers = auth(w.resident)
        wgs = (await client.get(GRIDS, params={"coord_system": "wgs84"}, headers=headers)).json()["items"]
        gcj = (await client.get(GRIDS, params={"coord_system": "gcj02"}, headers=headers)).json()["items"]
        assert [g["id"] for g in wgs] == [g["id"] for g in gcj]
        assert {g["coord_system"] for g in wgs} == {"wgs84"}
        assert {g["coord_system"] for g in gcj} == {"gcj02"}
        for plain, shifted in zip(wgs, gcj, strict=True):
            for (lng, lat), (glng, glat) in zip(
                vertices(plain["boundary"]), vertices(shifted["boundary"]), strict=True
            ):
                elat, elng = geo.from_wgs84(lat, lng, CoordSystem.GCJ02)
                assert (glat, glng) == pytest.approx((elat, elng), abs=1e-6)
                # Several hundred metres in Xi'an: ~0.005° east, ~0.0016° south.
                assert 0.003 < glng - lng < 0.007
                assert -0.003 < glat - lat < -0.0005

    async def test_the_default_listing_is_wgs84(self, client, w, auth) -> None:
        items = (await client.get(GRIDS, headers=auth(w.resident))).json()["items"]
        [g1] = [g for g in items if g["id"] == str(w.g1.id)]
        assert g1["coord_system"] == "wgs84"
        assert g1["boundary"] == square(108.950, 34.270)

    async def test_a_single_grid_can_be_read_in_gcj02(self, client, w, auth) -> None:
        r = await client.get(f"{GRIDS}/{w.g1.id}", params={"coord_system": "gcj02"}, headers=auth(w.resident))
        assert r.status_code == 200, r.text
        assert r.json()["boundary"] == geo.boundary_in(square(108.950, 34.270), CoordSystem.GCJ02)

    async def test_a_boundary_drawn_in_gcj02_is_stored_in_wgs84(self, client, session, w, auth) -> None:
        wgs = square(108.970, 34.280)
        gcj = geo.boundary_in(wgs, CoordSystem.GCJ02)
        # coord_system omitted: the mini-program's GCJ-02 is the default.
        r = await client.post(
            GRIDS, headers=auth(w.c1_admin), json=grid_body(w.c1, "drawn", gcj, coord_system=None)
        )
        assert r.status_code == 201, r.text
        stored = await stored_grid(session, code="drawn")
        assert stored is not None
        for (lng, lat), (elng, elat) in zip(vertices(stored.boundary), vertices(wgs), strict=True):
            assert (lat, lng) == pytest.approx((elat, elng), abs=1e-6)
        # And it is found where it really is.
        found = await locate(client, auth(w.resident), 34.282, 108.972)
        assert found.json()["grid"]["id"] == r.json()["id"]
