"""The monitor's percentiles."""

from __future__ import annotations

import pytest

from pitmaster.web.monitoring import percentile


@pytest.mark.parametrize(
    ("point", "expected"), [(50, 50.0), (95, 95.0), (99, 99.0), (100, 100.0), (1, 1.0)]
)
def test_given_a_hundred_values_then_the_nearest_rank_percentile_is_that_value(
    point: int, expected: float
) -> None:
    assert percentile([float(v) for v in range(1, 101)], point) == expected


def test_given_no_values_then_there_is_no_percentile() -> None:
    assert percentile([], 50) is None
    assert percentile([3.0], 99) == 3.0
