"""On/off duty and location heartbeat shapes."""

from datetime import datetime

from pydantic import Field, model_validator

from app.core.schemas import InSchema, OutSchema
from app.org.geo import CoordSystem


class DutyIn(InSchema):
    on_duty: bool = Field(description="true 上岗，false 下岗（下岗时清除位置）")
    lat: float | None = Field(default=None, ge=-90, le=90, examples=[34.2704])
    lng: float | None = Field(default=None, ge=-180, le=180, examples=[108.9541])
    coord_system: CoordSystem = Field(default=CoordSystem.GCJ02, description="小程序地图为 gcj02")

    @model_validator(mode="after")
    def _both_or_neither(self) -> "DutyIn":
        if (self.lat is None) != (self.lng is None):
            raise ValueError("lat 和 lng 需要同时提供")
        return self


class HeartbeatIn(InSchema):
    lat: float = Field(ge=-90, le=90, examples=[34.2704])
    lng: float = Field(ge=-180, le=180, examples=[108.9541])
    coord_system: CoordSystem = Field(default=CoordSystem.GCJ02, description="小程序地图为 gcj02")


class DutyLocation(OutSchema):
    lat: float
    lng: float
    coord_system: CoordSystem


class DutyRead(OutSchema):
    on_duty: bool
    since: datetime | None = Field(default=None, description="本次上岗（或下岗）的时间")
    last_seen_at: datetime | None = Field(default=None, description="最近一次上岗或位置上报的时间")
    location: DutyLocation | None = Field(default=None, description="只在上岗期间保留的最近位置")
