"""Open311 GeoReport v2 over our tickets: services, statuses, dates and windows. Pure.

* A service is one of our categories; its service_code is the category's id (unique across
  subdistricts and stable when a category is renamed or recoded).
* Our statuses map to the spec's open/closed, plus an extended status with the names of
  mySociety's Open311 extension (what FixMyStreet reads from servicerequestupdates).
* Dates are W3C/ISO 8601; a time without a zone is taken as UTC; we answer in UTC with a 'Z'.
"""

import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

from app.open311 import exceptions as exc
from app.ticket.state import TicketStatus

S = TicketStatus

SPECIFICATION: Final = "http://wiki.open311.org/GeoReport_v2"
# The spec: a request list spans at most 90 days (the last 90 by default) and 1000 requests.
WINDOW: Final = timedelta(days=90)
MAX_ROWS: Final = 1000
MAX_IDS: Final = 1000

# (open/closed, mySociety extended status)
STATUS: Final[dict[TicketStatus, tuple[str, str]]] = {
    S.SUBMITTED: ("open", "open"),
    S.CLAIMED: ("open", "investigating"),  # a grid worker took it on
    S.ON_SITE: ("open", "in_progress"),
    S.ESCALATED: ("open", "internal_referral"),  # 吹哨: handed to a department
    S.DEPARTMENT_HANDLING: ("open", "in_progress"),
    S.DEPARTMENT_DONE: ("open", "action_scheduled"),  # done by the department, community to sign off
    S.RESOLVED: ("closed", "fixed"),
    S.CLOSED: ("closed", "fixed"),  # confirmed by the resident, or closed after the waiting time
    S.REJECTED: ("closed", "not_councils_responsibility"),  # 不予受理
    S.MERGED: ("closed", "duplicate"),
}
EXTENDED_STATUSES: Final = frozenset(ext for _, ext in STATUS.values())


def status_of(status: TicketStatus) -> str:
    return STATUS[status][0]


def extended_status_of(status: TicketStatus) -> str:
    return STATUS[status][1]


def statuses_for(values: Iterable[str]) -> frozenset[TicketStatus]:
    """Our statuses matching a `status` filter: open, closed or an extended status name."""
    out: set[TicketStatus] = set()
    for value in values:
        matched = {s for s, names in STATUS.items() if value in names}
        if not matched:
            raise exc.InvalidParameter(
                f"status 只能是 open、closed 或 {'、'.join(sorted(EXTENDED_STATUSES))}", parameter="status"
            )
        out |= matched
    return frozenset(out)


def service_code(category_id: uuid.UUID) -> str:
    return str(category_id)


def parse_uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def parse_list(value: str | None) -> list[str]:
    """A comma-delimited parameter ("a,b, c") as its non-empty items."""
    if value is None:
        return []
    return [v.strip() for v in value.split(",") if v.strip()]


def parse_datetime(value: str, *, parameter: str) -> datetime:
    """A W3C datetime (2010-01-01T00:00:00Z, with an offset, or a bare date) as aware UTC."""
    value = value.strip()
    if " " in value and "T" in value:
        value = value.replace(" ", "+")  # an offset's '+' sent unescaped in a query string
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise exc.InvalidParameter(
            f"{parameter} 应为 W3C 时间格式，例如 2026-01-01T00:00:00Z", parameter=parameter
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


@dataclass(frozen=True)
class Window:
    start: datetime  # inclusive
    end: datetime  # inclusive


def window(start: datetime | None, end: datetime | None, *, now: datetime) -> Window:
    """The date range of a list: the last 90 days by default, 90 days from the one bound given,
    at most 90 days when both are given."""
    if start is None and end is None:
        return Window(now - WINDOW, now)
    if start is None:
        assert end is not None
        return Window(end - WINDOW, end)
    if end is None:
        return Window(start, start + WINDOW)
    if end < start:
        raise exc.InvalidParameter("end_date 不能早于 start_date", parameter="end_date")
    if end - start > WINDOW:
        raise exc.InvalidParameter("start_date 与 end_date 之间不能超过 90 天", parameter="end_date")
    return Window(start, end)


def iso(value: datetime | None) -> str | None:
    """UTC with a 'Z' (what the oldest clients parse), to the second."""
    if value is None:
        return None
    return value.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


_CJK = re.compile(r"[\u3400-\u9fff]")


def person_name(first: str | None, last: str | None) -> str | None:
    """One name from the spec's first_name/last_name: family name first for Chinese names."""
    first, last = (first or "").strip(), (last or "").strip()
    if not first and not last:
        return None
    if _CJK.search(first + last):
        return f"{last}{first}"
    return " ".join(p for p in (first, last) if p)


# --- the service definition: what every service accepts beyond the spec's fields ------------

COORD_SYSTEMS: Final = {
    "wgs84": "WGS-84（GPS，国际标准，默认）",
    "gcj02": "GCJ-02（国测局坐标：高德、腾讯地图）",
}
ATTRIBUTES: Final = [
    {
        "variable": True,
        "code": "coord_system",
        "datatype": "singlevaluelist",
        "required": False,
        "datatype_description": "lat/long 所用的坐标系；不填为 WGS-84",
        "order": 1,
        "description": "坐标系",
        "values": [{"key": k, "name": v} for k, v in COORD_SYSTEMS.items()],
    },
    {
        "variable": True,
        "code": "consent_note",
        "datatype": "text",
        "required": False,
        "datatype_description": "2–200 字；不填时记为“居民通过（接入方）反映问题”",
        "order": 2,
        "description": "代居民上报（填写了 first_name/last_name/phone）时，居民同意代报的说明",
        "values": [],
    },
]
ATTRIBUTE_CODES: Final = frozenset(a["code"] for a in ATTRIBUTES)
_ATTRIBUTE_KEY = re.compile(r"^attribute\[([^\]]*)\]$")


def attributes_from_form(items: Iterable[tuple[str, str]]) -> dict[str, str]:
    """attribute[code]=value pairs of a form, checked against the service definition."""
    out: dict[str, str] = {}
    for key, value in items:
        m = _ATTRIBUTE_KEY.match(key)
        if m is None:
            continue
        code = m.group(1)
        if code not in ATTRIBUTE_CODES:
            raise exc.InvalidParameter(f"未知的属性 attribute[{code}]", parameter=key)
        out[code] = value.strip()
    system = out.get("coord_system")
    if system is not None and system not in COORD_SYSTEMS:
        raise exc.InvalidParameter("attribute[coord_system] 只能是 wgs84 或 gcj02", parameter="attribute")
    return out


def default_consent_note(partner_name: str) -> str:
    return f"居民通过{partner_name}反映问题（Open311 接入）"[:200]
