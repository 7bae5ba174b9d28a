"""The tests' one way of waiting returns what it waited for, and says what never came."""

from __future__ import annotations

import itertools

import pytest

from ..waiting import wait_for


def test_given_a_condition_that_comes_true_then_its_value_is_returned() -> None:
    answers = iter([None, 0, "", "ready"])

    assert wait_for(lambda: next(answers), timeout=5, interval=0) == "ready"


def test_given_a_condition_that_never_holds_then_the_failure_names_it_and_the_last_value() -> None:
    counter = itertools.count()

    with pytest.raises(AssertionError) as failure:
        wait_for(lambda: next(counter) < 0, timeout=0.05, interval=0.01, what="the counter to dip")

    assert "waiting for the counter to dip" in str(failure.value)
    assert "last seen: False" in str(failure.value)
