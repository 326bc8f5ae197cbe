"""The benchmark's statistics: percentiles within the histogram's stated error, merging, and
the duplicate/reordering accounting."""

import math

from hypothesis import given
from hypothesis import strategies as st

from app.bench.stats import Histogram, Seen, Tally, bucket_floor, bucket_of


def exact_percentile(values: list[int], p: float) -> int:
    ordered = sorted(values)
    return ordered[max(1, round(len(ordered) * p / 100)) - 1]


@given(st.integers(min_value=0, max_value=2**40 - 1))
def test_every_value_falls_in_a_bucket_that_contains_it(value: int) -> None:
    index = bucket_of(value)
    assert bucket_floor(index) <= value < bucket_floor(index + 1)


def test_buckets_are_contiguous() -> None:
    assert [bucket_of(v) for v in range(1000)] == sorted(bucket_of(v) for v in range(1000))
    assert all(bucket_floor(bucket_of(v)) == v for v in range(128))


@given(st.lists(st.integers(min_value=0, max_value=10_000_000), min_size=1, max_size=300))
def test_percentiles_are_within_one_sixty_fourth_of_the_exact_value(values: list[int]) -> None:
    histogram = Histogram()
    for value in values:
        histogram.add(value)
    for p in (50, 90, 99):
        exact = exact_percentile(values, p)
        assert math.isclose(histogram.percentile(p), exact, rel_tol=1 / 64, abs_tol=1)
    assert histogram.percentile(100) == max(values)
    assert histogram.max == max(values)
    assert histogram.total == len(values)


def test_an_empty_histogram_reports_zero() -> None:
    assert Histogram().percentile(99) == 0
    assert Histogram().mean == 0.0


def test_merging_equals_adding_everything_to_one() -> None:
    one, two, both = Histogram(), Histogram(), Histogram()
    for v in range(0, 5000, 7):
        one.add(v)
        both.add(v)
    for v in range(3, 90000, 11):
        two.add(v)
        both.add(v)
    one.merge(two)
    assert one == both


def test_seen_counts_duplicates_and_late_arrivals() -> None:
    tally, seen = Tally(), Seen()
    results = [seen.record(seq, tally) for seq in (0, 1, 3, 2, 3, 1000, 999)]
    assert results == [True, True, True, True, False, True, True]
    assert tally.duplicates == 1
    assert tally.out_of_order == 2  # 2 after 3, and 999 after 1000
