"""Deadline arithmetic: pure functions of stored times and the clock."""

from datetime import UTC, datetime, timedelta

import pytest

from app.ticket import sla

T0 = datetime(2026, 11, 22, 2, 0, tzinfo=UTC)


class TestDeadlines:
    def test_respond_and_resolve_deadlines_are_counted_from_submission(self) -> None:
        due = sla.deadlines(submitted_at=T0, respond_minutes=10, resolve_hours=72)
        assert due.respond_by == T0 + timedelta(minutes=10)
        assert due.resolve_by == T0 + timedelta(hours=72)

    def test_categories_can_promise_other_times(self) -> None:
        due = sla.deadlines(submitted_at=T0, respond_minutes=30, resolve_hours=4)
        assert (due.respond_by - T0, due.resolve_by - T0) == (timedelta(minutes=30), timedelta(hours=4))


class TestSecondsLeft:
    @pytest.mark.parametrize(
        ("elapsed", "left"),
        [
            (timedelta(0), 600),
            (timedelta(minutes=3), 420),
            (timedelta(minutes=9, seconds=59, milliseconds=500), 0),
            (timedelta(minutes=10), 0),
            (timedelta(minutes=10, milliseconds=1), -1),
            (timedelta(minutes=11), -60),
        ],
    )
    def test_whole_seconds_to_the_deadline_going_negative_once_passed(self, elapsed, left) -> None:  # type: ignore[no-untyped-def]
        assert sla.seconds_left(T0 + timedelta(minutes=10), T0 + elapsed) == left


class TestResponseLadder:
    respond_by = T0 + timedelta(minutes=10)
    later = timedelta(minutes=20)

    @pytest.mark.parametrize(
        ("at", "level", "due"),
        [
            (timedelta(minutes=9), 0, 0),
            (timedelta(minutes=10), 0, 1),
            (timedelta(minutes=29), 0, 1),
            (timedelta(minutes=30), 0, 2),
            (timedelta(minutes=30), 1, 2),
            (timedelta(minutes=15), 1, 1),
            (timedelta(minutes=15), 2, 2),  # a rung already fired is never taken back
            (timedelta(minutes=5), 2, 2),
        ],
    )
    def test_rung_due_by_now(self, at, level, due) -> None:  # type: ignore[no-untyped-def]
        got = sla.response_rung_due(
            respond_by=self.respond_by, level=level, now=T0 + at, unclaimed_escalate=self.later
        )
        assert got == due


class TestResolveLadder:
    resolve_by = T0 + timedelta(hours=72)
    later = timedelta(hours=24)

    @pytest.mark.parametrize(
        ("at", "level", "due"),
        [
            (timedelta(hours=71), 0, 0),
            (timedelta(hours=72), 0, 1),
            (timedelta(hours=95), 0, 1),
            (timedelta(hours=96), 0, 2),
            (timedelta(hours=96), 1, 2),
            (timedelta(hours=80), 2, 2),
        ],
    )
    def test_rung_due_by_now(self, at, level, due) -> None:  # type: ignore[no-untyped-def]
        got = sla.resolve_rung_due(
            resolve_by=self.resolve_by, level=level, now=T0 + at, overdue_escalate=self.later
        )
        assert got == due


class TestHaversine:
    def test_same_point_is_zero_metres(self) -> None:
        assert sla.haversine_m(34.27, 108.95, 34.27, 108.95) == 0

    def test_a_thousandth_of_a_degree_of_latitude_is_about_111_metres(self) -> None:
        assert sla.haversine_m(34.270, 108.95, 34.271, 108.95) == pytest.approx(111.2, abs=0.2)

    def test_longitude_degrees_shrink_with_latitude(self) -> None:
        # cos(34.27°) ≈ 0.8264 → 0.001° of longitude ≈ 91.9 m in Xi'an.
        assert sla.haversine_m(34.27, 108.950, 34.27, 108.951) == pytest.approx(91.9, abs=0.2)

    def test_distance_is_symmetric(self) -> None:
        a, b = (34.2704, 108.9541), (34.2811, 108.9402)
        assert sla.haversine_m(*a, *b) == pytest.approx(sla.haversine_m(*b, *a))

    def test_a_known_long_distance(self) -> None:
        # Xi'an Bell Tower to Beijing Tiananmen: about 910 km.
        assert sla.haversine_m(34.2610, 108.9423, 39.9087, 116.3975) == pytest.approx(910_000, rel=0.01)
