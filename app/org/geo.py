"""Coordinates and the grid spatial index. Pure: no database, no web framework.

Everything is stored in WGS-84. The mini-program map speaks GCJ-02, so every input point and
boundary may come in either system and is converted here with prcoords.
"""

import math
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np
import prcoords
import shapely
from shapely import STRtree
from shapely.geometry import MultiPolygon, Point, Polygon, shape
from shapely.geometry.base import BaseGeometry
from shapely.validation import explain_validity


class CoordSystem(StrEnum):
    GCJ02 = "gcj02"
    WGS84 = "wgs84"


class InvalidBoundary(ValueError):
    pass


def in_china(lat: float, lng: float) -> bool:
    return bool(prcoords.sanity_in_china_p(prcoords.Coords(lat, lng)))


def to_wgs84(lat: float, lng: float, system: CoordSystem) -> tuple[float, float]:
    """Return (lat, lng) in WGS-84."""
    if system is CoordSystem.WGS84 or not in_china(lat, lng):
        return lat, lng
    # The "bored" inverse iterates to sub-centimetre precision; the plain one is ~1 m off.
    out = prcoords.gcj_wgs_bored(prcoords.Coords(lat, lng))
    return out.lat, out.lon


def from_wgs84(lat: float, lng: float, system: CoordSystem) -> tuple[float, float]:
    """Return (lat, lng) in `system`, from WGS-84."""
    if system is CoordSystem.WGS84 or not in_china(lat, lng):
        return lat, lng
    out = prcoords.wgs_gcj(prcoords.Coords(lat, lng))
    return out.lat, out.lon


def _convert_geometry(geom: BaseGeometry, fn: Any) -> BaseGeometry:
    """Apply fn(lat, lng) -> (lat, lng) to every vertex."""

    def _xy(coords: np.ndarray) -> np.ndarray:
        return np.array([fn(lat, lng)[::-1] for lng, lat in coords], dtype=float).reshape(coords.shape)

    return shapely.transform(geom, _xy)


def parse_boundary(geojson: dict[str, Any], system: CoordSystem) -> dict[str, Any]:
    """Validate a GeoJSON Polygon/MultiPolygon (or a Feature of one) and return it in WGS-84."""
    if geojson.get("type") == "Feature":
        geojson = geojson.get("geometry") or {}
    if geojson.get("type") not in ("Polygon", "MultiPolygon"):
        raise InvalidBoundary("边界必须是 GeoJSON Polygon 或 MultiPolygon")
    try:
        geom = shape(geojson)
    except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
        raise InvalidBoundary("边界坐标格式不正确") from exc
    if geom.is_empty or geom.area == 0:
        raise InvalidBoundary("边界面积为零")
    for lng, lat in _all_points(geom):
        if not (-90 <= lat <= 90 and -180 <= lng <= 180):
            raise InvalidBoundary("坐标超出经纬度范围（GeoJSON 顺序为 [经度, 纬度]）")
    if not geom.is_valid:
        raise InvalidBoundary(f"边界自相交或不闭合：{explain_validity(geom)}")
    geom = _convert_geometry(geom, lambda lat, lng: to_wgs84(lat, lng, system))
    return _to_geojson(geom)


def boundary_in(geojson: dict[str, Any], system: CoordSystem) -> dict[str, Any]:
    """Return a stored WGS-84 boundary in the requested coordinate system."""
    if system is CoordSystem.WGS84:
        return geojson
    return _to_geojson(_convert_geometry(shape(geojson), lambda lat, lng: from_wgs84(lat, lng, system)))


def _all_points(geom: BaseGeometry) -> Iterable[tuple[float, float]]:
    """Every (lng, lat) vertex; a GeoJSON altitude (third element) is ignored."""
    polys = geom.geoms if isinstance(geom, MultiPolygon) else [geom]
    for poly in polys:
        assert isinstance(poly, Polygon)
        for ring in (poly.exterior, *poly.interiors):
            for lng, lat, *_ in ring.coords:
                yield lng, lat


def _to_geojson(geom: BaseGeometry) -> dict[str, Any]:
    def ring(coords: Any) -> list[list[float]]:
        return [[round(x, 7), round(y, 7)] for x, y, *_ in coords]

    def poly(p: Polygon) -> list[list[list[float]]]:
        return [ring(p.exterior.coords), *(ring(r.coords) for r in p.interiors)]

    if isinstance(geom, MultiPolygon):
        return {"type": "MultiPolygon", "coordinates": [poly(p) for p in geom.geoms]}
    assert isinstance(geom, Polygon)
    return {"type": "Polygon", "coordinates": poly(geom)}


# Local equirectangular projection: metres, accurate to well under 1 % across a city.
_M_PER_DEG_LAT = 110_574.0
_M_PER_DEG_LNG_EQUATOR = 111_320.0


@dataclass(frozen=True)
class GridShape:
    grid_id: uuid.UUID
    code: str
    boundary: dict[str, Any]


@dataclass(frozen=True)
class GridMatch:
    grid_id: uuid.UUID
    inside: bool
    distance_m: float


class GridIndex:
    """An STRtree over grid polygons projected to metres around the grids' mean latitude."""

    def __init__(self, grids: Sequence[GridShape]) -> None:
        self._grids = sorted(grids, key=lambda g: g.code)
        lats = [lat for g in self._grids for _, lat in _all_points(shape(g.boundary))]
        self._lat0 = sum(lats) / len(lats) if lats else 0.0
        self._kx = _M_PER_DEG_LNG_EQUATOR * math.cos(math.radians(self._lat0))
        self._geoms = [self._project(shape(g.boundary)) for g in self._grids]
        self._tree = STRtree(self._geoms) if self._geoms else None

    def __len__(self) -> int:
        return len(self._grids)

    def _project(self, geom: BaseGeometry) -> BaseGeometry:
        return shapely.transform(geom, lambda c: c * np.array([self._kx, _M_PER_DEG_LAT]))

    def locate(self, lat: float, lng: float, *, max_distance_m: float) -> GridMatch | None:
        """The grid containing the WGS-84 point (a boundary counts as inside), else the nearest
        grid within `max_distance_m`, else None. Ties go to the lowest grid code."""
        if self._tree is None:
            return None
        point = Point(lng * self._kx, lat * _M_PER_DEG_LAT)
        hits = sorted(int(i) for i in self._tree.query(point, predicate="intersects"))
        if hits:
            return GridMatch(self._grids[hits[0]].grid_id, inside=True, distance_m=0.0)
        found = self._tree.query_nearest(
            point, max_distance=max_distance_m, return_distance=True, all_matches=True
        )
        indices, distances = found
        if len(indices) == 0:
            return None
        best = min(zip(indices, distances, strict=True), key=lambda p: (p[1], int(p[0])))
        return GridMatch(self._grids[int(best[0])].grid_id, inside=False, distance_m=round(float(best[1]), 1))
