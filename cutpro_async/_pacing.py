"""Client-side pacing: a global rate (GCRA) plus sliding-window budgets per endpoint.

Each call reserves its start time synchronously (first come, first served), then sleeps until
then, before it takes a pooled connection. A window counts a request from the moment its
answer arrived (the server saw it at some point before that), so connection set-up or a slow
answer can never make the server see one request too many. A 429 on a route with its own
window pauses only that window for the server's wait; a 429 on any other route pauses the
global rate and halves it (once per pause, never below a sixteenth of it), and it climbs back
by a twentieth of it per success. The global rate's ceiling can change at run time
(`Pacer.request_rate`, e.g. a worker's share of a key's rate): the halving and the climb
follow the new ceiling.
"""

from __future__ import annotations

import time
from collections import deque

import anyio

from .config import Budget, Pacing


class Slot:
    """One request's place in a window: when it happened, and whether its answer came."""

    __slots__ = ("answered", "at")

    def __init__(self, at: float) -> None:
        self.at = at
        self.answered = anyio.Event()

    def finish(self) -> None:
        """The answer arrived (or the request gave up): the server has seen it by now."""
        self.at = time.monotonic()
        self.answered.set()


class _Window:
    """At most `requests` requests in any `seconds` window (matches sliding-window servers)."""

    def __init__(self, budget: Budget, margin: float) -> None:
        self.span = budget.seconds + margin
        self._slots: deque[Slot] = deque(maxlen=budget.requests)
        self.paused_until = 0.0

    def reserve(self, now: float) -> tuple[Slot, Slot | None]:
        """A slot for the next request, and the one `requests` places before it (if any)."""
        before = self._slots[0] if len(self._slots) == self._slots.maxlen else None
        start = max(now, self.paused_until, before.at + self.span if before else now)
        slot = Slot(start)
        self._slots.append(slot)
        return slot, before


class _Rate:
    """A generic cell rate: `rate` per second with bursts of `burst` (GCRA)."""

    def __init__(self, rate: float, burst: int) -> None:
        self.ceiling = rate
        self.rate = rate
        self._burst = burst
        self._tat = 0.0  # theoretical arrival time of the next request
        self.paused_until = 0.0

    def reserve(self, now: float) -> float:
        """The start time of the next request."""
        interval = 1 / self.rate
        start = max(now, self.paused_until, self._tat - (self._burst - 1) * interval)
        self._tat = max(self._tat, start) + interval
        return start

    def set_ceiling(self, ceiling: float) -> None:
        """Move the ceiling; the rate keeps its place below it (a halved rate stays half)."""
        self.rate *= ceiling / self.ceiling
        self.ceiling = ceiling

    def slow_down(self, now: float) -> None:
        """Halve the rate after a 429, once per pause (a burst of 429s is one signal)."""
        if now >= self.paused_until:
            self.rate = max(self.ceiling / 16, self.rate / 2)

    def recover(self) -> None:
        """Climb back towards the configured rate: a twentieth of it per success."""
        self.rate = min(self.ceiling, self.rate + self.ceiling / 20)


class Pacer:
    """The pacing of one client, shared by all of its requests."""

    def __init__(self, pacing: Pacing) -> None:
        rps = pacing.requests_per_second
        self._burst = pacing.burst
        self._global = _Rate(rps, pacing.burst) if rps is not None else None
        self._windows = {key: _Window(b, pacing.margin) for key, b in pacing.endpoints.items()}

    @property
    def request_rate(self) -> float | None:
        """The global rate's ceiling, in requests a second (None: no global rate)."""
        return self._global.ceiling if self._global is not None else None

    @request_rate.setter
    def request_rate(self, ceiling: float | None) -> None:
        """Set the global rate's ceiling from now on (None: no global rate).

        A rate slowed by 429s keeps its place below the new ceiling (half of it stays half)
        and climbs back towards it; a client without a global rate gets one, with the
        configured burst.
        """
        if ceiling is not None and not ceiling > 0:
            raise ValueError(f"a request rate must be > 0 requests a second, not {ceiling!r}")
        if ceiling is None:
            self._global = None
        elif self._global is None:
            self._global = _Rate(ceiling, self._burst)
        else:
            self._global.set_ceiling(ceiling)

    async def wait_turn(self, route: str) -> Slot | None:
        """Sleep until this request may start, honouring every applicable limit.

        For a route with a window, returns its slot: call `finish()` once the answer came.
        """
        if self._global is None and not self._windows:
            return None  # no limit at all: nothing to reserve, nothing can pause
        now = time.monotonic()
        start = self._global.reserve(now) if self._global is not None else now
        window = self._windows.get(route)
        slot = before = None
        if window is not None:
            slot, before = window.reserve(start)
            start = slot.at
        try:
            if start > now:
                await _sleep_until(start)
            if window is not None and before is not None:
                await before.answered.wait()  # its time is only final once answered
                await _sleep_until(before.at + window.span)
            # A 429 may have paused the budget while this call slept.
            while (paused := self._paused_until(route)) > time.monotonic():
                await _sleep_until(paused)
        except BaseException:
            if slot is not None:  # a cancelled wait must not hold up the requests behind it
                slot.finish()
            raise
        return slot

    def _paused_until(self, route: str) -> float:
        """Until when a 429 pauses requests to `route`."""
        window = self._windows.get(route)
        paused = window.paused_until if window is not None else 0.0
        if self._global is not None and self._global.paused_until > paused:
            paused = self._global.paused_until
        return paused

    def on_rate_limited(self, route: str, retry_after: float | None) -> None:
        """A 429 arrived for `route`: pause its own window; without one, pause and halve the
        global rate (nothing to pause when the client has no global rate)."""
        now = time.monotonic()
        pause = now + (retry_after or 1.0)
        window = self._windows.get(route)
        if window is not None:
            window.paused_until = max(window.paused_until, pause)
        elif self._global is not None:
            self._global.slow_down(now)
            self._global.paused_until = max(self._global.paused_until, pause)

    def on_success(self) -> None:
        """A request succeeded: let the global rate recover."""
        if self._global is not None and self._global.rate < self._global.ceiling:
            self._global.recover()


async def _sleep_until(deadline: float) -> None:
    """Sleep until a monotonic time (no-op if it has passed)."""
    delay = deadline - time.monotonic()
    if delay > 0:
        await anyio.sleep(delay)
