"""Base schemas and shared constrained types."""

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, Generic, TypeVar

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
)
from pydantic_core import PydanticCustomError

NUL = "\x00"


def _holds_nul(value: Any) -> bool:
    """Whether a validated value holds U+0000 in any string, however deeply nested (models
    nested in it check their own fields)."""
    if isinstance(value, str):
        return NUL in value
    if isinstance(value, Mapping):
        return any(_holds_nul(k) or _holds_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple | set | frozenset):
        return any(_holds_nul(v) for v in value)
    return False


class InSchema(BaseModel):
    """Base of every request body: unknown fields refused, strings stripped, no U+0000 anywhere
    (PostgreSQL cannot store it: it would fail as a 500 at the database)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        if _holds_nul(value):
            raise PydanticCustomError("string_contains_nul", "text must not contain U+0000")
        return value


class OutSchema(BaseModel):
    model_config = ConfigDict(from_attributes=True)


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(default=None, description="传回此值获取下一页；为空表示没有更多")


NonEmptyStr = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
Code = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[A-Za-z0-9_\-]{1,32}$")]
PhoneCN = Annotated[
    str,
    StringConstraints(strip_whitespace=True, pattern=r"^1[3-9]\d{9}$"),
    Field(examples=["13800138000"], description="中国大陆手机号"),
]
Limit = Annotated[int, Field(ge=1, le=100, description="每页条数")]

# The years a time given to the API may fall in, in UTC. Far wider than any real use, and far
# enough from datetime's limits (years 1 and 9999) that the arithmetic done on inputs (a 30-day
# default window, a session's length) and the conversion to UTC cannot overflow.
API_MIN_YEAR, API_MAX_YEAR = 2000, 2100


def _within_api_years(value: datetime) -> datetime:
    try:
        year = value.astimezone(UTC).year
    except OverflowError:  # 0001-01-01T00:00+01:00 is before year 1 in UTC
        year = None
    if year is None or not API_MIN_YEAR <= year <= API_MAX_YEAR:
        raise PydanticCustomError(
            "datetime_out_of_range",
            "datetime must fall in the years {min_year}-{max_year} (UTC)",
            {"min_year": API_MIN_YEAR, "max_year": API_MAX_YEAR},
        )
    return value


# Every time the API accepts, as a query parameter or a body field: with a zone, in 2000–2100 UTC.
ApiDatetime = Annotated[AwareDatetime, AfterValidator(_within_api_years)]


def _valid_bbox(value: str) -> str:
    min_lng, min_lat, max_lng, max_lat = (float(v) for v in value.split(","))
    if not (-180 <= min_lng <= max_lng <= 180 and -90 <= min_lat <= max_lat <= 90):
        raise PydanticCustomError(
            "bbox_out_of_range",
            "longitudes must be in [-180, 180], latitudes in [-90, 90], each minimum at most its maximum",
        )
    return value


_NUMBER = r"-?\d+(\.\d+)?"
# A map viewport "min_lng,min_lat,max_lng,max_lat": four plain decimals, within range.
BBox = Annotated[
    str,
    StringConstraints(pattern=rf"^{_NUMBER}(,{_NUMBER}){{3}}$"),
    AfterValidator(_valid_bbox),
]
