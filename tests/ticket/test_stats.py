"""KPI arithmetic: medians, nearest-rank percentiles, rates and additive tallies. Pure."""

import pytest

from app.ticket import stats


class TestMedian:
    def test_odd_count_is_the_middle_value(self) -> None:
        assert stats.median([300, 60, 120]) == 120

    def test_even_count_is_the_mean_of_the_two_middle_values(self) -> None:
        assert stats.median([60, 120, 300, 900]) == 210

    def test_single_value(self) -> None:
        assert stats.median([42.5]) == 42.5

    def test_no_values_gives_none(self) -> None:
        assert stats.median([]) is None

    def test_presorted_input_is_used_as_is(self) -> None:
        assert stats.median([1, 2, 3, 100], presorted=True) == 2.5


class TestPercentile:
    def test_p90_of_ten_values_is_the_ninth(self) -> None:
        assert stats.p90([10, 20, 30, 40, 50, 60, 70, 80, 90, 100]) == 90

    def test_p90_of_eleven_values_rounds_the_rank_up(self) -> None:
        # ceil(0.9 * 11) = 10: the 10th smallest value.
        assert stats.p90(list(range(1, 12))) == 10

    def test_p90_is_always_an_observed_value(self) -> None:
        values = [60, 120, 180, 900]
        assert stats.p90(values) == 900
        assert stats.p90(values) in values

    def test_order_of_input_does_not_matter(self) -> None:
        assert stats.p90([100, 10, 90, 20, 80, 30, 70, 40, 60, 50]) == 90

    def test_p100_is_the_maximum_and_small_p_the_minimum(self) -> None:
        assert stats.percentile([5, 1, 3], 100) == 5
        assert stats.percentile([5, 1, 3], 1) == 1

    def test_p50_nearest_rank_of_even_count_is_the_lower_middle(self) -> None:
        assert stats.percentile([1, 2, 3, 4], 50) == 2

    def test_no_values_gives_none(self) -> None:
        assert stats.p90([]) is None

    @pytest.mark.parametrize("p", [0, -1, 100.5])
    def test_p_outside_0_100_is_refused(self, p: float) -> None:
        with pytest.raises(ValueError):
            stats.percentile([1, 2], p)


class TestRateAndMean:
    def test_rate_is_a_fraction_rounded_to_four_places(self) -> None:
        assert stats.rate(3, 4) == 0.75
        assert stats.rate(2, 3) == 0.6667

    def test_rate_of_nothing_is_none_not_zero(self) -> None:
        assert stats.rate(0, 0) is None

    def test_rate_may_be_zero_or_one(self) -> None:
        assert stats.rate(0, 5) == 0
        assert stats.rate(5, 5) == 1

    def test_mean_rounds_to_two_places(self) -> None:
        assert stats.mean(14, 3) == 4.67

    def test_mean_of_nothing_is_none(self) -> None:
        assert stats.mean(0, 0) is None


class TestCounts:
    def test_counts_add_field_by_field(self) -> None:
        a = stats.Counts(tickets=2, responded=1, rating_sum=9)
        b = stats.Counts(tickets=3, responded=3, rated=1)
        assert a + b == stats.Counts(tickets=5, responded=4, rating_sum=9, rated=1)

    def test_total_of_no_groups_is_all_zero(self) -> None:
        assert stats.total([]) == stats.Counts()

    def test_total_sums_every_group(self) -> None:
        groups = [stats.Counts(tickets=1, escalated=1), stats.Counts(tickets=4, reopened=2)]
        assert stats.total(groups) == stats.Counts(tickets=5, escalated=1, reopened=2)
