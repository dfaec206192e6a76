"""Request and response shapes of the organisation tree."""

import uuid
from typing import Any

from pydantic import Field

from app.core.schemas import Code, InSchema, Name, OutSchema
from app.org.geo import CoordSystem

_SQUARE = {
    "type": "Polygon",
    "coordinates": [
        [
            [108.9500, 34.2700],
            [108.9550, 34.2700],
            [108.9550, 34.2740],
            [108.9500, 34.2740],
            [108.9500, 34.2700],
        ]
    ],
}
Boundary = dict[str, Any]


class SubdistrictCreate(InSchema):
    code: Code = Field(examples=["xyl"])
    name: Name = Field(examples=["西一路街道"])
    city: str = Field(default="", max_length=32, examples=["西安市"])
    district: str = Field(default="", max_length=32, examples=["新城区"])


class SubdistrictUpdate(InSchema):
    name: Name | None = None
    city: str | None = Field(default=None, max_length=32)
    district: str | None = Field(default=None, max_length=32)


class SubdistrictRead(OutSchema):
    id: uuid.UUID
    code: str
    name: str
    city: str
    district: str


class CommunityCreate(InSchema):
    subdistrict_id: uuid.UUID
    code: Code = Field(examples=["xyl-c1"])
    name: Name = Field(examples=["西一路社区"])


class CommunityUpdate(InSchema):
    name: Name | None = None


class CommunityRead(OutSchema):
    id: uuid.UUID
    subdistrict_id: uuid.UUID
    code: str
    name: str


class GridCreate(InSchema):
    community_id: uuid.UUID
    code: Code = Field(examples=["xyl-c1-g5"])
    name: Name = Field(examples=["第五网格"])
    boundary: Boundary = Field(
        description="GeoJSON Polygon 或 MultiPolygon，坐标顺序 [经度, 纬度]", examples=[_SQUARE]
    )
    coord_system: CoordSystem = Field(default=CoordSystem.GCJ02, description="boundary 的坐标系")


class GridUpdate(InSchema):
    name: Name | None = None
    boundary: Boundary | None = None
    coord_system: CoordSystem = CoordSystem.GCJ02
    is_active: bool | None = None


class GridRead(OutSchema):
    id: uuid.UUID
    community_id: uuid.UUID
    code: str
    name: str
    is_active: bool
    boundary: Boundary = Field(description="GeoJSON，坐标系见 coord_system")
    coord_system: CoordSystem = CoordSystem.WGS84


class GridLocation(OutSchema):
    grid: GridRead
    match: str = Field(
        description="inside：点在网格内（含边界）；nearest：不在任何网格内，取最近的网格", examples=["inside"]
    )
    distance_m: float = Field(description="点到网格边界的距离（米），在网格内为 0")


class BuildingCreate(InSchema):
    community_id: uuid.UUID
    grid_id: uuid.UUID | None = None
    name: Name = Field(examples=["3号楼"])
    compound: str = Field(default="", max_length=64, examples=["尚德苑小区"])
    lat: float | None = Field(default=None, ge=-90, le=90)
    lng: float | None = Field(default=None, ge=-180, le=180)
    coord_system: CoordSystem = CoordSystem.GCJ02


class BuildingUpdate(InSchema):
    grid_id: uuid.UUID | None = None
    name: Name | None = None
    compound: str | None = Field(default=None, max_length=64)


class BuildingRead(OutSchema):
    id: uuid.UUID
    community_id: uuid.UUID
    grid_id: uuid.UUID | None
    name: str
    compound: str
    lat: float | None = Field(description="WGS-84")
    lng: float | None = Field(description="WGS-84")


class DepartmentCreate(InSchema):
    subdistrict_id: uuid.UUID
    name: Name = Field(examples=["城市管理执法中队"])
    phone: str = Field(default="", max_length=32)
    category_ids: list[uuid.UUID] = Field(default_factory=list, max_length=50)


class DepartmentUpdate(InSchema):
    name: Name | None = None
    phone: str | None = Field(default=None, max_length=32)
    category_ids: list[uuid.UUID] | None = Field(default=None, max_length=50)


class DepartmentRead(OutSchema):
    id: uuid.UUID
    subdistrict_id: uuid.UUID
    name: str
    phone: str
    category_ids: list[uuid.UUID] = Field(default_factory=list, description="本部门处理的问题分类")


class CategoryCreate(InSchema):
    subdistrict_id: uuid.UUID
    code: Code = Field(examples=["sanitation"])
    name: Name = Field(examples=["环境卫生"])
    priority: int = Field(default=3, ge=1, le=5, description="1 最紧急，5 最低")
    respond_minutes: int = Field(default=10, ge=1, le=24 * 60, description="响应时限（分钟）")
    resolve_hours: int = Field(default=72, ge=1, le=24 * 90, description="办结时限（小时）")


class CategoryUpdate(InSchema):
    name: Name | None = None
    priority: int | None = Field(default=None, ge=1, le=5)
    respond_minutes: int | None = Field(default=None, ge=1, le=24 * 60)
    resolve_hours: int | None = Field(default=None, ge=1, le=24 * 90)
    is_active: bool | None = None


class CategoryRead(OutSchema):
    id: uuid.UUID
    subdistrict_id: uuid.UUID
    code: str
    name: str
    priority: int
    respond_minutes: int
    resolve_hours: int
    is_active: bool


class GridWorkerIn(InSchema):
    user_id: uuid.UUID


class GridWorkerRead(OutSchema):
    user_id: uuid.UUID
    display_name: str
    phone: str | None = Field(description="非本社区工作人员看到的是打码后的号码")
    is_part_time: bool
