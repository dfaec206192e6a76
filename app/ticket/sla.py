"""The 10-minute promise and the resolve deadline: arithmetic on stored deadlines. Pure."""

import math
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class Deadlines:
    respond_by: datetime
    resolve_by: datetime


def deadlines(*, submitted_at: datetime, respond_minutes: int, resolve_hours: int) -> Deadlines:
    return Deadlines(
        submitted_at + timedelta(minutes=respond_minutes), submitted_at + timedelta(hours=resolve_hours)
    )


def seconds_left(deadline: datetime, now: datetime) -> int:
    """Whole seconds until the deadline (negative once it has passed)."""
    return math.floor((deadline - now).total_seconds())


def response_rung_due(
    *, respond_by: datetime, level: int, now: datetime, unclaimed_escalate: timedelta
) -> int:
    """The response-ladder rung that should have fired by now (0 none, 1 grid+community, 2 subdistrict),
    if it is above `level`; otherwise `level`."""
    if now >= respond_by + unclaimed_escalate:
        return max(level, 2)
    if now >= respond_by:
        return max(level, 1)
    return level


def resolve_rung_due(*, resolve_by: datetime, level: int, now: datetime, overdue_escalate: timedelta) -> int:
    """The resolve-ladder rung due by now (1 community admin, 2 subdistrict admin)."""
    if now >= resolve_by + overdue_escalate:
        return max(level, 2)
    if now >= resolve_by:
        return max(level, 1)
    return level


def haversine_m(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """Great-circle distance in metres."""
    r = 6_371_008.8
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * r * math.asin(math.sqrt(a))
