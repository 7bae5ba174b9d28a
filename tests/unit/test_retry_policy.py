"""RetryPolicy: barbeque's backoff formula as properties, and which endings are retried."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pitmaster.models import MAX_DELAY_SECONDS, JobDefinition, Status
from pitmaster.retry import ALL_ENDINGS, Ending, RetryPolicy, ending_of

# The API allows retry_limit up to 100 and delays up to 30 days.
retries = st.integers(min_value=0, max_value=100)
seconds = st.floats(min_value=0, max_value=MAX_DELAY_SECONDS, allow_nan=False)
caps = st.none() | seconds


def formula(retries: int, base_delay: float, max_delay: float | None) -> float:
    """barbeque: delay = min(2**retries * base_delay, max_delay)."""
    delay: float = 2**retries * base_delay  # int ** int is Any to mypy (it may be a float)
    return delay if max_delay is None else min(delay, max_delay)


# -- delay -------------------------------------------------------------------------


@given(n=retries, base_delay=seconds, max_delay=caps)
def test_given_no_jitter_when_delay_asked_then_it_is_barbeques_formula(
    n: int, base_delay: float, max_delay: float | None
) -> None:
    policy = RetryPolicy(base_delay=base_delay, max_delay=max_delay, jitter=False)

    assert policy.delay(n) == formula(n, base_delay, max_delay)


@given(n=retries, base_delay=seconds, max_delay=caps, seed=st.integers(0, 2**32 - 1))
def test_given_jitter_when_delay_asked_then_it_lies_between_0_and_the_formula(
    n: int, base_delay: float, max_delay: float | None, seed: int
) -> None:
    policy = RetryPolicy(base_delay=base_delay, max_delay=max_delay, jitter=True)

    delay = policy.delay(n, uniform=random.Random(seed).uniform)

    assert 0 <= delay <= formula(n, base_delay, max_delay)


@given(n=retries, base_delay=seconds, max_delay=caps)
def test_given_jitter_when_delay_asked_then_uniform_draws_over_0_to_the_formula(
    n: int, base_delay: float, max_delay: float | None
) -> None:
    # Full jitter: the whole interval [0, delay], not only its upper half.
    drawn: list[tuple[float, float]] = []

    def lowest(low: float, high: float) -> float:
        drawn.append((low, high))
        return low

    policy = RetryPolicy(base_delay=base_delay, max_delay=max_delay, jitter=True)

    assert policy.delay(n, uniform=lowest) == 0.0
    assert drawn == [(0.0, formula(n, base_delay, max_delay))]


@given(n=retries, base_delay=seconds, max_delay=caps)
def test_given_no_jitter_when_retries_grow_then_the_delay_never_shrinks(
    n: int, base_delay: float, max_delay: float | None
) -> None:
    policy = RetryPolicy(base_delay=base_delay, max_delay=max_delay, jitter=False)

    assert policy.delay(n) <= policy.delay(n + 1)


@given(n=retries, base_delay=seconds, max_delay=seconds)
def test_given_a_max_delay_when_delay_asked_then_never_above_it(
    n: int, base_delay: float, max_delay: float
) -> None:
    policy = RetryPolicy(base_delay=base_delay, max_delay=max_delay, jitter=False)

    assert policy.delay(n) <= max_delay


def test_given_the_default_real_random_with_jitter_then_delays_vary_within_bounds() -> None:
    policy = RetryPolicy(base_delay=10, max_delay=None, jitter=True)

    delays = {policy.delay(3) for _ in range(50)}

    assert all(0 <= delay <= 80 for delay in delays)
    assert len(delays) > 1  # jitter really draws


@pytest.mark.parametrize(
    ("n", "expected"),
    [(0, 15.0), (1, 30.0), (2, 60.0), (3, 120.0), (4, 240.0), (5, 300.0), (20, 300.0)],
)
def test_given_base_15_and_max_300_when_retrying_then_the_known_sequence(
    n: int, expected: float
) -> None:
    assert RetryPolicy(base_delay=15, max_delay=300).delay(n) == expected


# -- should_retry ------------------------------------------------------------------

SHOULD_RETRY: list[tuple[str, RetryPolicy, Ending, int | None, int, bool]] = [
    ("no retries by default", RetryPolicy(), Ending.FAILED, 1, 0, False),
    ("failed within the limit", RetryPolicy(retry_limit=3), Ending.FAILED, 1, 0, True),
    ("last retry allowed", RetryPolicy(retry_limit=3), Ending.FAILED, 1, 2, True),
    ("limit reached", RetryPolicy(retry_limit=3), Ending.FAILED, 1, 3, False),
    ("past the limit", RetryPolicy(retry_limit=3), Ending.FAILED, 1, 7, False),
    ("oom retried by default", RetryPolicy(retry_limit=1), Ending.OOM, 137, 0, True),
    ("timeout retried by default", RetryPolicy(retry_limit=1), Ending.TIMEOUT, 143, 0, True),
    ("lost retried by default", RetryPolicy(retry_limit=1), Ending.LOST, None, 0, True),
    ("error retried by default", RetryPolicy(retry_limit=1), Ending.ERROR, None, 0, True),
    (
        "ending not in retry_on",
        RetryPolicy(retry_limit=1, retry_on=frozenset({Ending.FAILED})),
        Ending.TIMEOUT,
        143,
        0,
        False,
    ),
    (
        "ending in retry_on",
        RetryPolicy(retry_limit=1, retry_on=frozenset({Ending.TIMEOUT})),
        Ending.TIMEOUT,
        143,
        0,
        True,
    ),
    (
        "empty retry_on retries nothing",
        RetryPolicy(retry_limit=5, retry_on=frozenset()),
        Ending.FAILED,
        1,
        0,
        False,
    ),
    (
        "exit code listed",
        RetryPolicy(retry_limit=1, retry_exit_codes=frozenset({3, 75})),
        Ending.FAILED,
        75,
        0,
        True,
    ),
    (
        "exit code not listed",
        RetryPolicy(retry_limit=1, retry_exit_codes=frozenset({3, 75})),
        Ending.FAILED,
        4,
        0,
        False,
    ),
    (
        "exit codes do not restrict oom",
        RetryPolicy(retry_limit=1, retry_exit_codes=frozenset({3})),
        Ending.OOM,
        137,
        0,
        True,
    ),
    (
        "exit codes do not restrict timeout",
        RetryPolicy(retry_limit=1, retry_exit_codes=frozenset({3})),
        Ending.TIMEOUT,
        137,
        0,
        True,
    ),
    (
        "listed exit code but failed not in retry_on",
        RetryPolicy(
            retry_limit=1, retry_on=frozenset({Ending.OOM}), retry_exit_codes=frozenset({3})
        ),
        Ending.FAILED,
        3,
        0,
        False,
    ),
    (
        "listed exit code but limit reached",
        RetryPolicy(retry_limit=1, retry_exit_codes=frozenset({3})),
        Ending.FAILED,
        3,
        1,
        False,
    ),
]


@pytest.mark.parametrize(
    ("policy", "ending", "exit_code", "retries_made", "expected"),
    [case[1:] for case in SHOULD_RETRY],
    ids=[case[0] for case in SHOULD_RETRY],
)
def test_given_a_policy_and_an_ending_then_should_retry_follows_the_table(
    policy: RetryPolicy,
    ending: Ending,
    exit_code: int | None,
    retries_made: int,
    expected: bool,
) -> None:
    assert policy.should_retry(ending, exit_code, retries_made) is expected


@given(
    limit=st.integers(0, 100),
    n=retries,
    ending=st.sampled_from(sorted(ALL_ENDINGS)),
    exit_code=st.none() | st.integers(1, 255),
)
def test_given_any_ending_when_the_limit_is_reached_then_never_retried(
    limit: int, n: int, ending: Ending, exit_code: int | None
) -> None:
    policy = RetryPolicy(retry_limit=limit)

    assert policy.should_retry(ending, exit_code, n) is (n < limit)


# -- ending_of ---------------------------------------------------------------------

ENDINGS: list[tuple[Status, str | None, Ending | None]] = [
    (Status.FAILED, "exited 1", Ending.FAILED),
    (Status.FAILED, "exited 137", Ending.FAILED),
    (Status.FAILED, None, Ending.FAILED),
    (Status.FAILED, "oom", Ending.OOM),
    (Status.FAILED, "timeout", Ending.TIMEOUT),
    (Status.ERROR, "lost", Ending.LOST),
    (Status.ERROR, "image 'x' is not present", Ending.ERROR),
    (Status.ERROR, None, Ending.ERROR),
    (Status.SUCCESS, "exited 0", None),
    (Status.CANCELLED, "cancelled", None),
    (Status.PENDING, None, None),
    (Status.RUNNING, None, None),
    (Status.RETRIED, "exited 1", None),
]


@pytest.mark.parametrize(("status", "reason", "expected"), ENDINGS)
def test_given_a_status_and_reason_then_ending_of_names_its_kind(
    status: Status, reason: str | None, expected: Ending | None
) -> None:
    assert ending_of(status, reason) is expected


# -- from a job definition ----------------------------------------------------------


def _definition(**policy: object) -> JobDefinition:
    now = datetime(2026, 3, 1, tzinfo=UTC)
    fields: dict[str, object] = {
        "id": 1,
        "app": "shop",
        "job": "mail",
        "command": ("m",),
        "description": "",
        "retry_limit": 0,
        "base_delay": 15.0,
        "max_delay": None,
        "jitter": False,
        "retry_on": None,
        "retry_exit_codes": None,
        "timeout_seconds": None,
        "stop_grace_seconds": 10.0,
        "memory": None,
        "cpus": None,
        "pids_limit": None,
        "network": None,
        "created_at": now,
        "updated_at": now,
    }
    fields.update(policy)
    return JobDefinition(**fields)  # type: ignore[arg-type]


def test_given_a_job_definition_when_its_policy_is_built_then_every_field_is_carried() -> None:
    definition = _definition(
        retry_limit=4,
        base_delay=2.5,
        max_delay=40.0,
        jitter=True,
        retry_on=("failed", "timeout"),
        retry_exit_codes=(3, 75),
    )

    assert RetryPolicy.of(definition) == RetryPolicy(
        retry_limit=4,
        base_delay=2.5,
        max_delay=40.0,
        jitter=True,
        retry_on=frozenset({Ending.FAILED, Ending.TIMEOUT}),
        retry_exit_codes=frozenset({3, 75}),
    )


def test_given_null_retry_on_and_codes_when_built_then_every_ending_and_any_code() -> None:
    policy = RetryPolicy.of(_definition(retry_limit=1))

    assert policy.retry_on == ALL_ENDINGS
    assert policy.retry_exit_codes is None
    assert all(policy.should_retry(ending, 42, 0) for ending in Ending)


def test_given_empty_retry_on_when_built_then_nothing_is_retried() -> None:
    policy = RetryPolicy.of(_definition(retry_limit=3, retry_on=()))

    assert policy.retry_on == frozenset()
    assert not any(policy.should_retry(ending, 1, 0) for ending in Ending)
