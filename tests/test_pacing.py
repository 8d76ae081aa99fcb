"""Client-side pacing: per-endpoint windows, the global rate, pauses after 429s.

The pacer's own tests run on a virtual clock (`virtual`): an event loop whose time jumps to
the next timer instead of sleeping, with `_pacing`'s `time.monotonic` reading the same clock.
Their times are exact, whatever the machine's load, so they are asserted as equalities. The
tests against the simulator assert only counts (requests sent, 429s received), never time.
"""

from __future__ import annotations

import asyncio
import selectors
from collections.abc import Callable, Coroutine
from types import SimpleNamespace
from typing import Any, TypeVar

import anyio
import anyio.lowlevel
import pytest

from cutpro_async import Budget, Pacing, RateLimited, RetryPolicy, _pacing
from cutpro_async._pacing import Pacer
from cutpro_async.testing import FakeCutPro
from tests.resources.conftest import make_client, video_url

T = TypeVar("T")
START = 1000.0  # the virtual clock's reading when a test starts


class _Clock:
    """The virtual time, in seconds."""

    def __init__(self) -> None:
        self.now = START


class _Selector(selectors.DefaultSelector):
    """A selector that never waits: a timeout moves the virtual clock on instead."""

    def __init__(self, clock: _Clock) -> None:
        super().__init__()
        self.clock = clock

    def select(self, timeout: float | None = None) -> list[Any]:
        if timeout is not None and timeout > 0:
            self.clock.now += timeout
            timeout = 0
        return list(super().select(timeout))


class _VirtualLoop(asyncio.SelectorEventLoop):
    """An asyncio loop on the virtual clock: sleeping costs no real time."""

    def __init__(self, clock: _Clock) -> None:
        super().__init__(_Selector(clock))
        self.clock = clock

    def time(self) -> float:
        return self.clock.now


@pytest.fixture
def virtual(monkeypatch: pytest.MonkeyPatch) -> Callable[[Coroutine[Any, Any, T]], T]:
    """Run a coroutine on the virtual clock, which `_pacing` reads as `time.monotonic`."""
    clock = _Clock()
    monkeypatch.setattr(_pacing, "time", SimpleNamespace(monotonic=lambda: clock.now))

    def run(work: Coroutine[Any, Any, T]) -> T:
        loop = _VirtualLoop(clock)
        try:
            return loop.run_until_complete(work)
        finally:
            loop.close()

    return run


def now() -> float:
    """Seconds on the virtual clock since the test started."""
    return _pacing.time.monotonic() - START


async def turns(pacer: Pacer, routes: list[str]) -> list[tuple[str, float]]:
    """Ask for a turn on each route at once; (route, when granted) in order of granting."""
    granted: list[tuple[str, float]] = []

    async def one(route: str) -> None:
        slot = await pacer.wait_turn(route)
        granted.append((route, now()))
        if slot is not None:
            slot.finish()  # answered at once

    async with anyio.create_task_group() as tg:
        for route in routes:
            tg.start_soon(one, route)
            await anyio.lowlevel.checkpoint()  # keep the order of asking
    return granted


def times(granted: list[tuple[str, float]]) -> list[float]:
    """The grant times alone."""
    return [when for _, when in granted]


def test_a_window_allows_its_budget_per_span(virtual: Any) -> None:
    """Budget(3, 0.2): three turns at once, the next three 0.2 s later, then the seventh."""
    pacer = Pacer(Pacing(requests_per_second=None, endpoints={"X": Budget(3, 0.2)}, margin=0))
    got = times(virtual(turns(pacer, ["X"] * 7)))
    assert got == pytest.approx([0, 0, 0, 0.2, 0.2, 0.2, 0.4])


def test_a_window_margin_widens_the_span(virtual: Any) -> None:
    """The margin is added to the window, so the server never sees one request too many."""
    pacer = Pacer(Pacing(requests_per_second=None, endpoints={"X": Budget(1, 0.1)}, margin=0.1))
    assert times(virtual(turns(pacer, ["X"] * 2))) == pytest.approx([0, 0.2])


def test_a_window_counts_from_the_answer(virtual: Any) -> None:
    """A slot is final only once answered: the next window opens a span after the answer."""
    pacer = Pacer(Pacing(requests_per_second=None, endpoints={"X": Budget(1, 0.2)}, margin=0))

    async def main() -> list[float]:
        first = await pacer.wait_turn("X")
        assert first is not None
        await anyio.sleep(0.5)  # a slow answer
        first.finish()
        second = await pacer.wait_turn("X")
        assert second is not None
        return [now()]

    assert virtual(main()) == pytest.approx([0.7])


def test_other_routes_do_not_wait_for_a_full_window(virtual: Any) -> None:
    """A route without a budget overtakes requests queued on a full window."""
    pacer = Pacer(Pacing(requests_per_second=None, endpoints={"X": Budget(2, 0.3)}, margin=0))
    granted = virtual(turns(pacer, ["X", "X", "X", "Y"]))
    assert [route for route, _ in granted] == ["X", "X", "Y", "X"]
    assert times(granted) == pytest.approx([0, 0, 0, 0.3])


def test_the_global_rate_spaces_requests(virtual: Any) -> None:
    """10 requests/second with no burst: turns exactly 0.1 s apart."""
    pacer = Pacer(Pacing(requests_per_second=10, burst=1, endpoints={}))
    assert times(virtual(turns(pacer, ["A", "B", "A", "B"]))) == pytest.approx([0, 0.1, 0.2, 0.3])


def test_a_burst_goes_first_then_the_rate_applies(virtual: Any) -> None:
    """burst=3 at 5/s: three turns at once, then one every 0.2 s."""
    pacer = Pacer(Pacing(requests_per_second=5, burst=3, endpoints={}))
    assert times(virtual(turns(pacer, ["A"] * 5))) == pytest.approx([0, 0, 0, 0.2, 0.4])


def test_a_429_on_a_budgeted_route_pauses_only_that_route(virtual: Any) -> None:
    """After a 429 with a 0.3 s hint, that route waits it out; another route goes first."""
    pacer = Pacer(Pacing(requests_per_second=None, endpoints={"X": Budget(10, 1)}))

    async def main() -> list[tuple[str, float]]:
        pacer.on_rate_limited("X", 0.3)
        return await turns(pacer, ["X", "Y"])

    granted = virtual(main())
    assert [route for route, _ in granted] == ["Y", "X"]
    assert times(granted) == pytest.approx([0, 0.3])


def test_a_429_elsewhere_pauses_and_slows_the_global_rate(virtual: Any) -> None:
    """A 429 on a route without a budget pauses everything, then halves the rate."""
    pacer = Pacer(Pacing(requests_per_second=20, burst=1, endpoints={}))

    async def main() -> list[tuple[str, float]]:
        pacer.on_rate_limited("GET /renders", 0.2)
        return await turns(pacer, ["A", "B", "C"])

    # Paused for 0.2 s, then 10/s (0.1 s apart), not 20/s.
    assert times(virtual(main())) == pytest.approx([0.2, 0.3, 0.4])


def test_successes_bring_the_global_rate_back(virtual: Any) -> None:
    """After the halving, each success adds a twentieth of the rate back, up to the ceiling."""
    pacer = Pacer(Pacing(requests_per_second=20, burst=1, endpoints={}))

    async def main() -> None:
        pacer.on_rate_limited("GET /renders", 0.2)

    virtual(main())
    for _ in range(9):
        pacer.on_success()
    assert times(virtual(turns(pacer, ["A", "B"]))) == pytest.approx([0.2, 0.2 + 1 / 19])
    for _ in range(5):  # never above the ceiling: 20/s, 0.05 s apart
        pacer.on_success()
    after = 0.2 + 2 / 19
    assert times(virtual(turns(pacer, ["A", "B"]))) == pytest.approx([after, after + 1 / 20])


def test_a_new_request_rate_paces_from_then_on(virtual: Any) -> None:
    """20/s lowered to 5/s: turns 0.2 s apart; None lifts the global rate; a pacer without
    one gets one when given a rate."""
    pacer = Pacer(Pacing(requests_per_second=20, burst=1, endpoints={}))
    pacer.request_rate = 5
    assert pacer.request_rate == 5
    assert times(virtual(turns(pacer, ["A", "B", "C"]))) == pytest.approx([0, 0.2, 0.4])
    pacer.request_rate = None  # all at once, when the last paced turn was granted
    assert times(virtual(turns(pacer, ["A", "B", "C"]))) == pytest.approx([0.4, 0.4, 0.4])
    unpaced = Pacer(Pacing(requests_per_second=None, burst=1, endpoints={}))
    assert unpaced.request_rate is None
    unpaced.request_rate = 10
    assert times(virtual(turns(unpaced, ["A", "B"]))) == pytest.approx([0.4, 0.5])


def test_429s_halve_within_a_new_request_rate_and_climb_back_to_it(virtual: Any) -> None:
    """At a ceiling of 5/s (from 20/s), a 429 halves the rate to 2.5/s and successes bring
    it back to 5/s, never above; a new ceiling keeps a halved rate at half of it."""
    pacer = Pacer(Pacing(requests_per_second=20, burst=1, endpoints={}))
    pacer.request_rate = 5

    async def limited() -> list[tuple[str, float]]:
        pacer.on_rate_limited("GET /renders", 0.2)
        return await turns(pacer, ["A", "B"])

    assert times(virtual(limited())) == pytest.approx([0.2, 0.6])  # paused, then 2.5/s
    for _ in range(40):
        pacer.on_success()
    assert times(virtual(turns(pacer, ["A", "B"]))) == pytest.approx([1.0, 1.2])  # 5/s
    assert times(virtual(limited())) == pytest.approx([1.4, 1.8])  # halved again: 2.5/s
    pacer.request_rate = 10  # half of the new ceiling: 5/s
    assert pacer.request_rate == 10
    assert times(virtual(turns(pacer, ["A", "B"]))) == pytest.approx([2.2, 2.4])


def test_a_request_rate_must_be_positive() -> None:
    """A rate of zero or below is refused, saying what is expected."""
    pacer = Pacer(Pacing(requests_per_second=20, endpoints={}))
    with pytest.raises(ValueError, match="must be > 0"):
        pacer.request_rate = 0
    assert pacer.request_rate == 20


def test_a_pause_during_a_wait_is_honoured(virtual: Any) -> None:
    """A request already sleeping for its window also waits out a 429 that arrives meanwhile."""
    pacer = Pacer(Pacing(requests_per_second=None, endpoints={"X": Budget(1, 0.2)}, margin=0))

    async def main() -> float:
        first = await pacer.wait_turn("X")
        assert first is not None
        first.finish()
        async with anyio.create_task_group() as tg:
            tg.start_soon(pacer.wait_turn, "X")  # sleeps until 0.2 s
            await anyio.sleep(0.05)
            pacer.on_rate_limited("X", 0.4)  # pauses until 0.45 s
        return now()

    assert virtual(main()) == pytest.approx(0.45)


def test_a_cancelled_wait_frees_its_slot(virtual: Any) -> None:
    """A request cancelled while waiting does not hold up the ones queued behind it."""
    pacer = Pacer(Pacing(requests_per_second=None, endpoints={"X": Budget(1, 0.2)}, margin=0))

    async def main() -> list[tuple[str, float]]:
        first = await pacer.wait_turn("X")
        assert first is not None
        first.finish()
        with anyio.move_on_after(0.1):
            await pacer.wait_turn("X")  # would start at 0.2; cancelled at 0.1
        return await turns(pacer, ["X"])

    # The cancelled request's slot counts from its cancellation (0.1), so the next is at 0.3,
    # not at 0.4 as it would behind a request that started at 0.2.
    assert times(virtual(main())) == pytest.approx([0.3])


# -- against the simulator: counts only ---------------------------------------------------


@pytest.mark.anyio
async def test_unpaced_bursts_do_meet_the_servers_limit() -> None:
    """Without pacing, 20 analyses of a 10-per-hour endpoint: exactly 10 are refused (429)."""
    async with (
        FakeCutPro(analyze_limit=10, analyze_window=3600) as fake,
        make_client(
            fake,
            pacing=Pacing(requests_per_second=None, endpoints={}),
            retry=RetryPolicy(max_retries=0),
        ) as cp,
    ):
        results = await asyncio.gather(
            *(cp.videos.analyze(video_url()) for _ in range(20)), return_exceptions=True
        )
    assert sum(isinstance(r, RateLimited) for r in results) == 10
    assert fake.requests["POST /clips/info"] == 20


@pytest.mark.anyio
async def test_pacing_keeps_an_analyze_run_free_of_429s() -> None:
    """40 concurrent analyses under Budget(10, 0.2), the server's own limit: every one is
    sent once and none refused (a window counts from the answer, the server from arrival)."""
    budget = {"POST /clips/info": Budget(10, 0.2)}
    async with (
        FakeCutPro(analyze_limit=10, analyze_window=0.2) as fake,
        make_client(fake, pacing=Pacing(endpoints=budget)) as cp,
    ):
        infos = await asyncio.gather(*(cp.videos.analyze(video_url()) for _ in range(40)))
    assert len({info.video_id for info in infos}) == 40
    assert fake.requests["POST /clips/info"] == 40  # no request was refused and repeated


@pytest.mark.anyio
async def test_a_lowered_request_rate_keeps_a_client_under_the_keys_limit() -> None:
    """A client of 20 requests a second lowered to 4 (`CutPro.request_rate`) sends 12
    requests to a key limited to 10 a second: none is refused (at 20 a second, two would
    be)."""
    async with (
        FakeCutPro(request_limit=10, request_window=1) as fake,
        make_client(fake, pacing=Pacing(requests_per_second=20, burst=1, endpoints={})) as cp,
    ):
        assert cp.request_rate == 20
        cp.request_rate = 4
        assert cp.request_rate == 4
        await asyncio.gather(*(cp.balance.get() for _ in range(12)))
    assert fake.requests["GET /balance"] == 12
    assert not fake.rate_limited
