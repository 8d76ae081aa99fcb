"""Retry decisions in isolation: backoff bounds, server wait hints, the retry budget."""

from __future__ import annotations

import email.utils
import time

import pytest
from multidict import CIMultiDict

from cutpro_async import RetryPolicy
from cutpro_async._retry import SAFE_METHODS, RetryBudget, backoff, retry_after


def test_safe_methods_exclude_post_and_patch() -> None:
    """GET and DELETE may be repeated by default; POST and PATCH may not."""
    assert {"GET", "DELETE"} <= SAFE_METHODS
    assert "POST" not in SAFE_METHODS
    assert "PATCH" not in SAFE_METHODS


@pytest.mark.parametrize("attempt", range(8))
def test_backoff_is_full_jitter_below_a_capped_ceiling(attempt: int) -> None:
    """Retry n waits within [0, min(backoff_max, backoff_initial * 2**n)]."""
    policy = RetryPolicy(backoff_initial=0.5, backoff_max=4.0)
    ceiling = min(4.0, 0.5 * 2**attempt)
    waits = [backoff(policy, attempt) for _ in range(200)]
    assert all(0 <= w <= ceiling for w in waits)
    assert max(waits) > ceiling / 2  # jittered across the range, not a constant


def test_retry_after_prefers_the_body_hint() -> None:
    """`extra.retry_after` wins over the `Retry-After` header."""
    assert retry_after(CIMultiDict({"Retry-After": "30"}), {"retry_after": 2.5}) == 2.5


def test_retry_after_reads_the_header_in_seconds() -> None:
    """A bare `Retry-After: N` gives N seconds, whatever the header's case."""
    assert retry_after(CIMultiDict({"retry-after": "7"}), {}) == 7.0
    assert retry_after(CIMultiDict({"Retry-After": " 3 "}), {}) == 3.0


def test_retry_after_reads_an_http_date() -> None:
    """A `Retry-After` date is turned into the seconds left until it (never negative)."""
    soon = email.utils.formatdate(time.time() + 30, usegmt=True)
    wait = retry_after(CIMultiDict({"Retry-After": soon}), {})
    assert wait is not None
    assert 25 <= wait <= 31
    past = email.utils.formatdate(time.time() - 300, usegmt=True)
    assert retry_after(CIMultiDict({"Retry-After": past}), {}) == 0.0


@pytest.mark.parametrize(
    ("headers", "extra"),
    [
        ({}, {}),
        ({"Retry-After": "soon"}, {}),
        ({}, {"retry_after": "5"}),
        ({}, {"retry_after": True}),
        ({}, {"retry_after": -1}),
    ],
)
def test_retry_after_ignores_unusable_hints(
    headers: dict[str, str], extra: dict[str, object]
) -> None:
    """Missing, unparsable, boolean or negative hints give None."""
    assert retry_after(CIMultiDict(headers), extra) is None


def test_a_bad_body_hint_falls_back_to_the_header() -> None:
    """When `extra.retry_after` is unusable the header still counts."""
    assert retry_after(CIMultiDict({"Retry-After": "4"}), {"retry_after": "x"}) == 4.0


def test_retry_budget_spends_its_initial_tokens() -> None:
    """`budget_initial` retries are allowed, then none until successes earn more."""
    budget = RetryBudget(RetryPolicy(budget_initial=2, budget_ratio=0.5))
    assert budget.try_spend()
    assert budget.try_spend()
    assert not budget.try_spend()
    budget.on_success()
    assert not budget.try_spend()  # half a retry earned
    budget.on_success()
    assert budget.try_spend()  # one whole retry


def test_retry_budget_is_capped() -> None:
    """A long run of successes does not bank more than the initial allowance."""
    budget = RetryBudget(RetryPolicy(budget_initial=3, budget_ratio=1))
    for _ in range(100):
        budget.on_success()
    assert [budget.try_spend() for _ in range(4)] == [True, True, True, False]


def test_a_zero_ratio_never_earns_retries() -> None:
    """With `budget_ratio=0` only the initial retries exist."""
    budget = RetryBudget(RetryPolicy(budget_initial=1, budget_ratio=0))
    for _ in range(10):
        budget.on_success()
    assert [budget.try_spend() for _ in range(2)] == [True, False]
