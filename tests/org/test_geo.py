"""Pure unit tests of app.org.geo: coordinate systems, boundary validation, the grid index."""

import math
import uuid
from typing import Any

import pytest

from app.org import geo
from app.org.geo import CoordSystem, GridIndex, GridShape, InvalidBoundary
from tests.factories import square

# A point in Xi'an (钟楼 area), WGS-84.
XIAN = (34.2720, 108.9520)
# Metres per degree the module uses; hand computations below rely on them.
M_PER_DEG_LAT = 110_574.0
M_PER_DEG_LNG_EQUATOR = 111_320.0


def metres_between(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Haversine distance in metres between two (lat, lng) points: an independent yardstick."""
    r = 6_371_000.0
    la1, lo1, la2, lo2 = map(math.radians, (*a, *b))
    h = math.sin((la2 - la1) / 2) ** 2 + math.cos(la1) * math.cos(la2) * math.sin((lo2 - lo1) / 2) ** 2
    return 2 * r * math.asin(math.sqrt(h))


def ring(geojson: dict[str, Any]) -> list[list[float]]:
    assert geojson["type"] == "Polygon"
    return geojson["coordinates"][0]


def flat(coords: list[list[float]]) -> list[float]:
    return [v for position in coords for v in position]


def gcj_polygon(wgs: dict[str, Any]) -> dict[str, Any]:
    """The same polygon with every vertex converted to GCJ-02."""
    out = []
    for lng, lat in ring(wgs):
        glat, glng = geo.from_wgs84(lat, lng, CoordSystem.GCJ02)
        out.append([glng, glat])
    return {"type": "Polygon", "coordinates": [out]}


def shape(code: str, boundary: dict[str, Any]) -> GridShape:
    return GridShape(grid_id=uuid.uuid4(), code=code, boundary=boundary)


class TestGcjConversion:
    def test_a_point_in_xian_moves_by_a_few_hundred_metres(self) -> None:
        glat, glng = geo.from_wgs84(*XIAN, CoordSystem.GCJ02)
        moved = metres_between(XIAN, (glat, glng))
        assert 200 < moved < 800
        # The GCJ-02 offset in Xi'an is to the east (and a little south).
        assert glng > XIAN[1]
        assert glat < XIAN[0]

    def test_gcj_to_wgs_undoes_wgs_to_gcj_within_a_millionth_of_a_degree(self) -> None:
        for lat, lng in [XIAN, (39.9087, 116.3975), (31.2304, 121.4737), (22.5431, 114.0579)]:
            glat, glng = geo.from_wgs84(lat, lng, CoordSystem.GCJ02)
            back = geo.to_wgs84(glat, glng, CoordSystem.GCJ02)
            assert back == pytest.approx((lat, lng), abs=1e-6)
            assert (glat, glng) != pytest.approx((lat, lng), abs=1e-4)

    def test_wgs84_input_is_returned_unchanged(self) -> None:
        assert geo.to_wgs84(*XIAN, CoordSystem.WGS84) == XIAN
        assert geo.from_wgs84(*XIAN, CoordSystem.WGS84) == XIAN

    @pytest.mark.parametrize("point", [(48.8566, 2.3522), (40.7128, -74.0060), (-33.8688, 151.2093)])
    def test_points_outside_china_are_not_shifted(self, point: tuple[float, float]) -> None:
        assert not geo.in_china(*point)
        assert geo.from_wgs84(*point, CoordSystem.GCJ02) == point
        assert geo.to_wgs84(*point, CoordSystem.GCJ02) == point

    def test_xian_is_in_china(self) -> None:
        assert geo.in_china(*XIAN)


class TestParseBoundary:
    def test_a_wgs84_polygon_is_accepted_as_is(self) -> None:
        poly = square(108.950, 34.270)
        out = geo.parse_boundary(poly, CoordSystem.WGS84)
        assert out["type"] == "Polygon"
        assert flat(ring(out)) == pytest.approx(flat(ring(poly)), abs=1e-9)

    def test_a_multipolygon_is_accepted(self) -> None:
        a, b = square(108.950, 34.270), square(108.960, 34.270)
        multi = {"type": "MultiPolygon", "coordinates": [a["coordinates"], b["coordinates"]]}
        out = geo.parse_boundary(multi, CoordSystem.WGS84)
        assert out["type"] == "MultiPolygon"
        assert len(out["coordinates"]) == 2
        assert flat(out["coordinates"][1][0]) == pytest.approx(flat(ring(b)), abs=1e-9)

    def test_a_feature_is_unwrapped_to_its_geometry(self) -> None:
        poly = square(108.950, 34.270)
        feature = {"type": "Feature", "properties": {"name": "第一网格"}, "geometry": poly}
        out = geo.parse_boundary(feature, CoordSystem.WGS84)
        assert out["type"] == "Polygon"
        assert flat(ring(out)) == pytest.approx(flat(ring(poly)), abs=1e-9)

    def test_a_polygon_with_a_hole_keeps_the_hole(self) -> None:
        outer = ring(square(108.950, 34.270, size=0.004))
        hole = ring(square(108.951, 34.271, size=0.001))
        out = geo.parse_boundary({"type": "Polygon", "coordinates": [outer, hole]}, CoordSystem.WGS84)
        assert len(out["coordinates"]) == 2

    def test_a_gcj02_boundary_is_stored_in_wgs84(self) -> None:
        wgs = square(108.950, 34.270)
        gcj = gcj_polygon(wgs)
        # The input really is somewhere else ...
        assert ring(gcj)[0] != pytest.approx(ring(wgs)[0], abs=1e-4)
        out = geo.parse_boundary(gcj, CoordSystem.GCJ02)
        # ... and comes back as the WGS-84 square (7 decimals are kept: ~1 cm).
        for got, want in zip(ring(out), ring(wgs), strict=True):
            assert got == pytest.approx(want, abs=1e-6)

    def test_boundary_in_gcj02_is_the_inverse_of_parsing_gcj02(self) -> None:
        wgs = square(108.950, 34.270)
        shown = geo.boundary_in(wgs, CoordSystem.GCJ02)
        for got, want in zip(ring(shown), ring(gcj_polygon(wgs)), strict=True):
            assert got == pytest.approx(want, abs=1e-6)
        assert geo.boundary_in(wgs, CoordSystem.WGS84) == wgs

    def test_three_dimensional_positions_are_accepted_and_flattened(self) -> None:
        # RFC 7946 allows an altitude as a third element of a position.
        poly = {
            "type": "Polygon",
            "coordinates": [[[lng, lat, 400.0] for lng, lat in ring(square(108.95, 34.27))]],
        }
        out = geo.parse_boundary(poly, CoordSystem.WGS84)
        assert flat(ring(out)) == pytest.approx(flat(ring(square(108.95, 34.27))), abs=1e-9)

    @pytest.mark.parametrize(
        "geojson",
        [
            pytest.param({"type": "Point", "coordinates": [108.95, 34.27]}, id="point"),
            pytest.param(
                {"type": "LineString", "coordinates": [[108.95, 34.27], [108.96, 34.28]]}, id="line"
            ),
            pytest.param({"type": "Feature", "geometry": None}, id="feature-without-geometry"),
            pytest.param({"coordinates": ring(square(108.95, 34.27))}, id="no-type"),
        ],
    )
    def test_non_polygons_are_rejected(self, geojson: dict[str, Any]) -> None:
        with pytest.raises(InvalidBoundary, match="Polygon"):
            geo.parse_boundary(geojson, CoordSystem.WGS84)

    def test_a_self_intersecting_bowtie_is_rejected(self) -> None:
        bowtie = {
            "type": "Polygon",
            "coordinates": [
                [
                    [108.950, 34.270],
                    [108.958, 34.274],
                    [108.958, 34.270],
                    [108.950, 34.272],
                    [108.950, 34.270],
                ]
            ],
        }
        with pytest.raises(InvalidBoundary, match="自相交"):
            geo.parse_boundary(bowtie, CoordSystem.WGS84)

    def test_a_symmetric_bowtie_is_rejected(self) -> None:
        # Its two lobes cancel out to zero signed area.
        bowtie = {
            "type": "Polygon",
            "coordinates": [
                [
                    [108.950, 34.270],
                    [108.954, 34.274],
                    [108.954, 34.270],
                    [108.950, 34.274],
                    [108.950, 34.270],
                ]
            ],
        }
        with pytest.raises(InvalidBoundary):
            geo.parse_boundary(bowtie, CoordSystem.WGS84)

    def test_a_zero_area_polygon_is_rejected(self) -> None:
        flat = {
            "type": "Polygon",
            "coordinates": [[[108.950, 34.270], [108.952, 34.270], [108.954, 34.270], [108.950, 34.270]]],
        }
        with pytest.raises(InvalidBoundary, match="面积为零"):
            geo.parse_boundary(flat, CoordSystem.WGS84)

    @pytest.mark.parametrize(
        "coords",
        [
            pytest.param(
                [[34.270, 108.950], [34.270, 108.954], [34.274, 108.954], [34.270, 108.950]],
                id="lat-lng-swapped",
            ),
            pytest.param(
                [[108.95, 34.27], [190.0, 34.27], [190.0, 34.28], [108.95, 34.27]], id="lng-over-180"
            ),
            pytest.param(
                [[108.95, -91.0], [108.96, -91.0], [108.96, -90.5], [108.95, -91.0]], id="lat-under-90"
            ),
        ],
    )
    def test_out_of_range_coordinates_are_rejected(self, coords: list[list[float]]) -> None:
        with pytest.raises(InvalidBoundary, match="超出经纬度范围"):
            geo.parse_boundary({"type": "Polygon", "coordinates": [coords]}, CoordSystem.WGS84)

    @pytest.mark.parametrize(
        "coordinates",
        [
            pytest.param("nope", id="string"),
            pytest.param([[[108.95, 34.27], [108.96, 34.27]]], id="two-points"),
            pytest.param([[["a", "b"], [108.96, 34.27], [108.96, 34.28], ["a", "b"]]], id="text"),
        ],
    )
    def test_malformed_coordinates_are_rejected(self, coordinates: Any) -> None:
        with pytest.raises(InvalidBoundary):
            geo.parse_boundary({"type": "Polygon", "coordinates": coordinates}, CoordSystem.WGS84)


class TestGridIndexLocate:
    def test_a_point_inside_a_grid_finds_it(self) -> None:
        g1, g2 = shape("g1", square(108.950, 34.270)), shape("g2", square(108.960, 34.270))
        index = GridIndex([g1, g2])
        match = index.locate(34.272, 108.962, max_distance_m=300)
        assert match == geo.GridMatch(g2.grid_id, inside=True, distance_m=0.0)
        match = index.locate(34.272, 108.952, max_distance_m=300)
        assert match is not None and match.grid_id == g1.grid_id and match.inside

    @pytest.mark.parametrize(
        "point",
        [
            pytest.param((34.270, 108.952), id="south-edge"),
            pytest.param((34.274, 108.952), id="north-edge"),
            pytest.param((34.272, 108.950), id="west-edge"),
            pytest.param((34.272, 108.954), id="east-edge"),
            pytest.param((34.270, 108.950), id="corner"),
        ],
    )
    def test_a_point_exactly_on_the_edge_counts_as_inside(self, point: tuple[float, float]) -> None:
        g = shape("g1", square(108.950, 34.270))
        match = GridIndex([g]).locate(*point, max_distance_m=0)
        assert match == geo.GridMatch(g.grid_id, inside=True, distance_m=0.0)

    def test_a_point_on_a_shared_edge_goes_to_the_lower_code_whatever_the_order(self) -> None:
        # "b" lies west, "a" east; they share the edge lng = 108.954.
        west, east = shape("b-west", square(108.950, 34.270)), shape("a-east", square(108.954, 34.270))
        for grids in ([west, east], [east, west]):
            match = GridIndex(grids).locate(34.272, 108.954, max_distance_m=300)
            assert match is not None
            assert match.grid_id == east.grid_id
            assert match.inside

    def test_a_point_near_a_grid_gets_the_nearest_one_with_its_distance(self) -> None:
        # The square's north edge is at lat 34.270; the point is 0.001° north of it.
        g = shape("g1", square(108.950, 34.266))
        match = GridIndex([g]).locate(34.271, 108.952, max_distance_m=300)
        assert match is not None
        assert match.grid_id == g.grid_id
        assert not match.inside
        # Hand computation: 0.001° of latitude ≈ 110.574 m.
        assert match.distance_m == pytest.approx(0.001 * M_PER_DEG_LAT, abs=0.1)
        assert match.distance_m == pytest.approx(110.6, abs=0.05)
        # Within 1 % of the great-circle distance.
        assert match.distance_m == pytest.approx(
            metres_between((34.271, 108.952), (34.270, 108.952)), rel=0.01
        )

    def test_an_east_west_distance_shrinks_with_the_cosine_of_latitude(self) -> None:
        g = shape("g1", square(108.950, 34.270))
        match = GridIndex([g]).locate(34.272, 108.955, max_distance_m=300)
        assert match is not None and not match.inside
        # 0.001° of longitude at ~34.27° N ≈ 111320 · cos(34.27°) · 0.001 ≈ 92.0 m.
        expected = M_PER_DEG_LNG_EQUATOR * math.cos(math.radians(34.272)) * 0.001
        assert 91 < expected < 93
        assert match.distance_m == pytest.approx(expected, abs=0.2)

    def test_the_nearest_of_several_grids_wins(self) -> None:
        near, far = shape("z-near", square(108.950, 34.270)), shape("a-far", square(108.960, 34.270))
        # 0.001° east of "near" (≈ 92 m), 0.005° west of "far" (≈ 460 m).
        match = GridIndex([far, near]).locate(34.272, 108.955, max_distance_m=1000)
        assert match is not None and match.grid_id == near.grid_id

    def test_beyond_the_maximum_distance_nothing_is_found(self) -> None:
        index = GridIndex([shape("g1", square(108.950, 34.266))])
        assert index.locate(34.271, 108.952, max_distance_m=100) is None
        assert index.locate(34.271, 108.952, max_distance_m=120) is not None
        assert index.locate(35.0, 110.0, max_distance_m=300) is None

    def test_an_empty_index_finds_nothing(self) -> None:
        index = GridIndex([])
        assert len(index) == 0
        assert index.locate(*XIAN, max_distance_m=10_000) is None

    def test_a_multipolygon_grid_is_found_in_either_part(self) -> None:
        a, b = square(108.950, 34.270), square(108.970, 34.270)
        g = shape("g1", {"type": "MultiPolygon", "coordinates": [a["coordinates"], b["coordinates"]]})
        index = GridIndex([g])
        for point in [(34.272, 108.952), (34.272, 108.972)]:
            match = index.locate(*point, max_distance_m=0)
            assert match is not None and match.grid_id == g.grid_id and match.inside
        # Between the two parts: outside, 0.008° of longitude (≈ 740 m) from each.
        assert index.locate(34.272, 108.962, max_distance_m=300) is None
