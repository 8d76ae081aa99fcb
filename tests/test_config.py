"""The configuration value objects: defaults, validation, immutability."""

from __future__ import annotations

import attrs
import pytest

from cutpro_async import (
    DEFAULT_LIMITS,
    DEFAULT_PACING,
    DEFAULT_RETRY,
    DEFAULT_TIMEOUTS,
    Budget,
    Limits,
    Pacing,
    RetryPolicy,
    Timeouts,
)


def test_defaults_are_the_default_constructions() -> None:
    """Each `DEFAULT_*` equals its class built with no arguments."""
    assert Timeouts() == DEFAULT_TIMEOUTS
    assert RetryPolicy() == DEFAULT_RETRY
    assert Pacing() == DEFAULT_PACING
    assert Limits() == DEFAULT_LIMITS


def test_default_values_follow_the_design() -> None:
    """Calls are bounded as a whole; downloads only by a stall timeout; /clips/info is paced."""
    assert DEFAULT_TIMEOUTS.total is not None
    assert DEFAULT_TIMEOUTS.stall is not None
    assert DEFAULT_RETRY.max_retries > 0
    assert DEFAULT_RETRY.backoff_initial < DEFAULT_RETRY.backoff_max
    assert DEFAULT_PACING.endpoints["POST /clips/info"] == Budget(10, 60.0)


def test_none_disables_a_timeout_or_the_global_rate() -> None:
    """`None` means "no limit" for timeouts and the global request rate."""
    assert Timeouts(total=None, connect=None).total is None
    assert Pacing(requests_per_second=None).requests_per_second is None


@pytest.mark.parametrize(
    "build",
    [
        lambda: Timeouts(connect=0),
        lambda: Timeouts(read=-1),
        lambda: Timeouts(total=0),
        lambda: Timeouts(stall=-0.5),
        lambda: RetryPolicy(max_retries=-1),
        lambda: RetryPolicy(backoff_initial=0),
        lambda: RetryPolicy(backoff_max=-1),
        lambda: RetryPolicy(max_retry_after=-1),
        lambda: RetryPolicy(budget_initial=-1),
        lambda: RetryPolicy(budget_ratio=-0.1),
        lambda: Budget(0, 60),
        lambda: Budget(10, 0),
        lambda: Pacing(requests_per_second=0),
        lambda: Pacing(burst=0),
        lambda: Pacing(margin=-0.01),
        lambda: Limits(max_connections=0),
        lambda: Limits(max_json_bytes=0),
    ],
)
def test_bad_values_raise_value_error(build: object) -> None:
    """Zero or negative sizes, counts and durations are refused with a ValueError."""
    with pytest.raises(ValueError):
        build()  # type: ignore[operator]


def test_the_zero_or_positive_values_that_make_sense_are_accepted() -> None:
    """`max_retries=0` (no retries) and a zero retry budget are legitimate choices."""
    assert RetryPolicy(max_retries=0, budget_initial=0, budget_ratio=0).max_retries == 0
    assert RetryPolicy(max_retry_after=0).max_retry_after == 0


def test_value_objects_are_frozen() -> None:
    """Settings cannot be changed in place; `attrs.evolve` makes a changed copy."""
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        DEFAULT_RETRY.max_retries = 9  # type: ignore[misc]
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        DEFAULT_TIMEOUTS.read = 1  # type: ignore[misc]
    changed = attrs.evolve(DEFAULT_RETRY, max_retries=9)
    assert changed.max_retries == 9
    assert DEFAULT_RETRY.max_retries != 9


def test_pacing_keeps_its_own_copy_of_the_budgets() -> None:
    """Changing the dict given to `Pacing` afterwards does not change the pacing."""
    budgets = {"POST /clips/info": Budget(5, 60)}
    pacing = Pacing(endpoints=budgets)
    budgets["GET /renders"] = Budget(1, 1)
    assert dict(pacing.endpoints) == {"POST /clips/info": Budget(5, 60)}


def test_pacings_with_different_budgets_differ() -> None:
    """Two `Pacing` values with different endpoint budgets are not equal."""
    assert Pacing(endpoints={}) != Pacing()
