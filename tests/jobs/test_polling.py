"""The polling engine: intervals that back off and aim at the server's estimate, and `watch`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cutpro_async import Polling
from cutpro_async.errors import WaitTimeout
from cutpro_async.jobs._polling import next_interval, wait_for, watch

STEADY = Polling(first=1.0, max_interval=10.0, factor=2.0, jitter=0.0)


@attrs.frozen
class State:
    """A job state as a waiter sees it."""

    status: str
    estimated_time: float | None = None


def test_first_interval_is_first() -> None:
    """With no previous wait, the first interval is `first`."""
    assert next_interval(STEADY, None, State("queued")) == 1.0


def test_intervals_grow_by_factor_up_to_the_cap() -> None:
    """Each interval is the previous one times `factor`, never above `max_interval`."""
    intervals, previous = [], None
    for _ in range(8):
        previous = next_interval(STEADY, previous, State("queued"))
        intervals.append(previous)
    assert intervals == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0, 10.0, 10.0]


@pytest.mark.parametrize(
    ("estimate", "expected"),
    [(3.0, 3.0), (0.2, 1.0), (600.0, 10.0), (None, 8.0), (0.0, 8.0), (-5.0, 8.0)],
)
def test_interval_aims_at_the_estimate(estimate: float | None, expected: float) -> None:
    """A positive `estimated_time` sets the interval, clamped to [first, max_interval]."""
    assert next_interval(STEADY, 4.0, State("active", estimate)) == expected


@pytest.mark.parametrize("estimate", [float("nan"), float("inf")])
def test_non_finite_estimates_are_ignored(estimate: float) -> None:
    """NaN or infinite estimates fall back to plain back-off."""
    assert next_interval(STEADY, 4.0, State("active", estimate)) == 8.0


def test_state_without_estimate_field_backs_off() -> None:
    """A state type with no `estimated_time` at all backs off normally."""

    @attrs.frozen
    class Bare:
        status: str

    assert next_interval(STEADY, 2.0, Bare("queued")) == 4.0


@given(
    first=st.floats(0.001, 5),
    span=st.floats(1, 20),
    factor=st.floats(1, 4),
    jitter=st.floats(0, 0.99),
    previous=st.none() | st.floats(0.001, 100),
    estimate=st.none() | st.floats(-10, 1000),
)
def test_jitter_stays_within_bounds(
    first: float,
    span: float,
    factor: float,
    jitter: float,
    previous: float | None,
    estimate: float | None,
) -> None:
    """Whatever the settings, the interval lies within ±jitter of [first, max_interval]."""
    polling = Polling(first=first, max_interval=first * span, factor=factor, jitter=jitter)
    got = next_interval(polling, previous, State("active", estimate))
    low = min(first, previous * factor if previous is not None else first)
    assert low * (1 - jitter) * 0.999999 <= got <= polling.max_interval * (1 + jitter) * 1.000001


@given(jitter=st.floats(0.01, 0.99), previous=st.floats(0.1, 5))
def test_jitter_is_relative_to_the_unjittered_interval(jitter: float, previous: float) -> None:
    """A jittered interval stays within ±jitter of the one computed without jitter."""
    plain = next_interval(Polling(first=0.1, max_interval=10, factor=1.5, jitter=0), previous, None)
    jittered = Polling(first=0.1, max_interval=10, factor=1.5, jitter=jitter)
    got = next_interval(jittered, previous, None)
    assert plain * (1 - jitter) * 0.999999 <= got <= plain * (1 + jitter) * 1.000001


def scripted(*statuses: str) -> tuple[Callable[[], Awaitable[State]], list[int]]:
    """A fetch that returns these statuses in turn (then the last forever), counting calls."""
    calls = [0]

    async def fetch() -> State:
        calls[0] += 1
        return State(statuses[min(calls[0], len(statuses)) - 1])

    return fetch, calls


FAST = Polling(first=0.001, max_interval=0.002)


@pytest.mark.anyio
async def test_watch_yields_each_status_once_until_done() -> None:
    """`watch` yields only changes of status, and stops after the terminal one."""
    fetch, calls = scripted("queued", "queued", "active", "active", "active", "done")
    seen = [
        s.status
        async for s in watch(
            fetch, lambda s: s.status == "done", polling=FAST, timeout=None, what="job"
        )
    ]
    assert seen == ["queued", "active", "done"]
    assert calls[0] == 6


@pytest.mark.anyio
async def test_finished_job_costs_one_poll() -> None:
    """A job already terminal is returned after a single fetch, with no wait."""
    fetch, calls = scripted("done")
    updates: list[str] = []
    final = await wait_for(
        fetch,
        lambda s: s.status == "done",
        polling=Polling(first=60, max_interval=60),
        timeout=None,
        what="job",
        on_update=lambda s: updates.append(s.status),
    )
    assert final.status == "done"
    assert calls[0] == 1
    assert updates == ["done"]


@pytest.mark.anyio
async def test_deadline_raises_wait_timeout() -> None:
    """A job still running at the deadline raises `WaitTimeout`, also a builtin `TimeoutError`."""
    fetch, calls = scripted("active")
    with pytest.raises(WaitTimeout) as caught:
        await wait_for(fetch, lambda s: False, polling=FAST, timeout=0.05, what="job j1")
    assert isinstance(caught.value, TimeoutError)
    assert "job j1" in str(caught.value) and "active" in str(caught.value)
    assert calls[0] >= 2
