"""Retry decisions in isolation: backoff bounds, server wait hints, the retry budget."""

from __future__ import annotations

import email.utils
import time
from pathlib import Path

import aiohttp
import pytest
from multidict import CIMultiDict

from cutpro_async import RetryEvent, RetryPolicy, ServerError, TransferError
from cutpro_async._retry import (
    SAFE_METHODS,
    Retrier,
    RetryBudget,
    backoff,
    maybe_processed,
    retry_after,
)
from cutpro_async.testing import FakeCutPro
from tests.resources.conftest import completed_submission, make_client

pytestmark = pytest.mark.anyio


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


def test_a_zero_initial_budget_still_earns_retries() -> None:
    """`budget_initial=0`: no retry at first, then one per `1/budget_ratio` successes."""
    budget = RetryBudget(RetryPolicy(budget_initial=0, budget_ratio=0.5))
    assert not budget.try_spend()
    budget.on_success()
    budget.on_success()
    assert budget.try_spend()
    assert not budget.try_spend()


def test_a_zero_ratio_never_earns_retries() -> None:
    """With `budget_ratio=0` only the initial retries exist."""
    budget = RetryBudget(RetryPolicy(budget_initial=1, budget_ratio=0))
    for _ in range(10):
        budget.on_success()
    assert [budget.try_spend() for _ in range(2)] == [True, False]


# -- the one retry loop, through real HTTP ------------------------------------------------


def test_maybe_processed_by_status_and_by_failure() -> None:
    """429 and a hinted 503 were refused unprocessed; 500/502/504, a bare 503 and a cut read
    may have been processed; a failed connect was not."""
    assert not maybe_processed(429)
    assert not maybe_processed(503, hinted=True)
    assert all(maybe_processed(status) for status in (500, 502, 503, 504))
    assert not maybe_processed(404)
    assert maybe_processed(aiohttp.ServerDisconnectedError())
    assert maybe_processed(TimeoutError())
    assert not maybe_processed(aiohttp.ConnectionTimeoutError())


async def test_on_retry_hook_sees_every_retry(fake: FakeCutPro) -> None:
    """The policy's hook is called once per retry with the route, the attempt and the error."""
    events: list[RetryEvent] = []
    retry = RetryPolicy(backoff_initial=0.01, backoff_max=0.02, on_retry=events.append)
    fake.set_faults("502=1#2@GET /balance")
    async with make_client(fake, retry=retry) as cp:
        await cp.balance.get()
    assert [(e.what, e.attempt) for e in events] == [("GET /balance", 1), ("GET /balance", 2)]
    assert all(isinstance(e.error, ServerError) and e.wait >= 0 for e in events)


async def test_a_deadline_stops_retrying_before_max_retries() -> None:
    """With 0.2 s between attempts and a 0.3 s deadline, a failing call is tried twice, not 11."""
    retrier = Retrier(RetryPolicy(max_retries=10, deadline=0.3))
    tried: list[int] = []

    async def attempt(number: int) -> None:
        tried.append(number)
        raise ValueError("still failing")

    with pytest.raises(ValueError):
        await retrier.call(attempt, lambda exc, n: 0.2, what="test", host="example.test")
    assert tried == [0, 1]


async def test_a_storage_outage_does_not_spend_the_api_retry_budget(
    fake: FakeCutPro, tmp_path: Path
) -> None:
    """Downloads that fail on storage use up storage's retries; API calls still get theirs."""
    retry = RetryPolicy(
        max_retries=3, backoff_initial=0.01, backoff_max=0.02, budget_initial=3, budget_ratio=0
    )
    async with make_client(fake, retry=retry) as cp:
        done = await completed_submission(cp)
        render = await cp.renders.create(done.video_id, done.submission_id, done.clips[0].id)
        await cp.renders.wait(render.render_id)
        fake.set_faults("503=1@/files")
        with pytest.raises(TransferError):
            await cp.renders.download(render.render_id, tmp_path)
        with pytest.raises(TransferError):  # storage's budget is spent: no retry at all now
            await cp.renders.download(render.render_id, tmp_path)
        assert fake.requests["storage GET /files"] == 5
        fake.set_faults("502=1#3@GET /balance")
        assert (await cp.balance.get()).balance >= 0  # three API retries left, all used
