"""Arithmetic of the KPI figures: medians, percentiles and rates. Pure.

Percentiles use the nearest-rank method: p90 is the smallest observed value with at least 90 % of
the values at or below it. The result is always a response time that really happened, and reads as
"90 % of reports were answered within this many seconds" without interpolating between tickets.
The median is the usual one (the mean of the two middle values for an even count).
"""

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields

# Rates are fractions 0–1 rounded to four places (a percentage with two decimals).
RATE_DIGITS = 4


def median(values: Sequence[float], *, presorted: bool = False) -> float | None:
    """The middle value (mean of the two middle ones for an even count); None for no values."""
    if not values:
        return None
    xs = values if presorted else sorted(values)
    n = len(xs)
    mid = n // 2
    if n % 2:
        return float(xs[mid])
    return (xs[mid - 1] + xs[mid]) / 2


def percentile(values: Sequence[float], p: float, *, presorted: bool = False) -> float | None:
    """Nearest-rank percentile `p` (0 < p <= 100); None for no values."""
    if not 0 < p <= 100:
        raise ValueError("p must be in (0, 100]")
    if not values:
        return None
    xs = values if presorted else sorted(values)
    # A small tolerance keeps p * n from landing just above a whole number through float error
    # (0.9 * 10 is 9.000000000000002, which would otherwise pick the 10th value).
    rank = max(1, math.ceil(p / 100 * len(xs) - 1e-9))
    return float(xs[rank - 1])


def p90(values: Sequence[float], *, presorted: bool = False) -> float | None:
    return percentile(values, 90, presorted=presorted)


def rate(part: int, whole: int) -> float | None:
    """part / whole as a fraction 0–1; None when there is nothing to divide by."""
    if whole <= 0:
        return None
    return round(part / whole, RATE_DIGITS)


def mean(total: float | None, count: int, *, digits: int = 2) -> float | None:
    """total / count rounded; None when the count is zero."""
    if count <= 0 or total is None:
        return None
    return round(total / count, digits)


@dataclass(frozen=True)
class Counts:
    """Additive tallies of a set of tickets; sums of groups give the tally of their union.

    "Due" counts hold the tickets whose promise has been put to the test: answered (or finished),
    or still waiting past the deadline. Tickets still inside their deadline count neither way.
    """

    tickets: int = 0
    valid: int = 0  # not rejected, not merged: the base of the closure rate
    responded: int = 0
    response_due: int = 0
    responded_on_time: int = 0
    resolved: int = 0  # resolved or closed (办结)
    resolve_due: int = 0
    resolved_on_time: int = 0
    rated: int = 0
    rating_sum: int = 0
    satisfied: int = 0  # rating >= 4
    escalated: int = 0
    ever_resolved: int = 0
    reopened: int = 0

    def __add__(self, other: "Counts") -> "Counts":
        return Counts(*(getattr(self, name) + getattr(other, name) for name in _COUNT_FIELDS))


_COUNT_FIELDS = tuple(f.name for f in fields(Counts))


def total(counts: Iterable[Counts]) -> Counts:
    return sum(counts, Counts())
