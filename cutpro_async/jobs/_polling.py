"""Polling a remote job until it finishes: adaptive intervals, a deadline, state changes.

Every poll is an ordinary API call, so it goes through the client's pacing: thousands of
waiters share the request budget instead of hammering the API.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Protocol, TypeVar

import anyio

from ..config import Polling
from ..errors import WaitTimeout


class Pollable(Protocol):
    """A job state: a status and, sometimes, the server's estimate of the time left."""

    @property
    def status(self) -> Any: ...


S = TypeVar("S", bound=Pollable)


def next_interval(polling: Polling, previous: float | None, state: object) -> float:
    """The wait before the next poll: back off, aim at `estimated_time`, add jitter."""
    grown = polling.first if previous is None else previous * polling.factor
    interval = min(polling.max_interval, grown)
    estimate = getattr(state, "estimated_time", None)
    if isinstance(estimate, int | float) and math.isfinite(estimate) and estimate > 0:
        interval = min(polling.max_interval, max(polling.first, float(estimate)))
    return interval * random.uniform(1 - polling.jitter, 1 + polling.jitter)


async def watch(
    fetch: Callable[[], Awaitable[S]],
    is_done: Callable[[S], bool],
    *,
    polling: Polling,
    timeout: float | None,
    what: str,
) -> AsyncIterator[S]:
    """Yield each new status of a job until it is done; `WaitTimeout` past the deadline.

    The first poll happens at once, so a job that is already finished costs one request.
    """
    deadline = math.inf if timeout is None else time.monotonic() + timeout
    interval: float | None = None
    last = None
    while True:
        state = await fetch()
        if state.status != last:
            last = state.status
            yield state
        if is_done(state):
            return
        left = deadline - time.monotonic()
        if left <= 0:
            raise WaitTimeout(
                f"{what} is still {state.status} after {timeout:g} s; it goes on "
                "running remotely: wait again later, or raise timeout="
            )
        interval = next_interval(polling, interval, state)
        await anyio.sleep(min(interval, left))


async def wait_for(
    fetch: Callable[[], Awaitable[S]],
    is_done: Callable[[S], bool],
    *,
    polling: Polling,
    timeout: float | None,
    what: str,
    on_update: Callable[[S], object] | None = None,
) -> S:
    """Poll until done and return the final state, calling `on_update` on each change."""
    final: S | None = None
    async for state in watch(fetch, is_done, polling=polling, timeout=timeout, what=what):
        if on_update is not None:
            on_update(state)
        final = state
    assert final is not None
    return final
