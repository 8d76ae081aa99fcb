"""Client-side pacing: per-endpoint windows, the global rate, pauses after 429s.

Unit tests use the real clock with tiny budgets and assert only order and lower bounds.
"""

from __future__ import annotations

import asyncio
import itertools
import time

import anyio
import anyio.lowlevel
import pytest

from cutpro_async import Budget, Pacing, RateLimited, RetryPolicy
from cutpro_async._pacing import Pacer
from cutpro_async.testing import FakeCutPro
from tests.resources.conftest import make_client, video_url

pytestmark = pytest.mark.anyio

EPS = 0.02  # timer granularity: a sleep may end this much early


async def turns(pacer: Pacer, routes: list[str]) -> list[tuple[str, float]]:
    """Ask for a turn on each route at once; (route, when granted) in order of granting."""
    granted: list[tuple[str, float]] = []

    async def one(route: str) -> None:
        slot = await pacer.wait_turn(route)
        granted.append((route, time.monotonic()))
        if slot is not None:
            slot.finish()  # answered at once

    async with anyio.create_task_group() as tg:
        for route in routes:
            tg.start_soon(one, route)
            await anyio.lowlevel.checkpoint()  # keep the order of asking
    return granted


async def test_a_window_allows_its_budget_per_span() -> None:
    """Budget(3, 0.2): any 3 consecutive turns after the first 3 start >= 0.2 s apart."""
    pacer = Pacer(Pacing(requests_per_second=None, endpoints={"X": Budget(3, 0.2)}, margin=0))
    times = [t for _, t in await turns(pacer, ["X"] * 7)]
    for i in range(len(times) - 3):
        assert times[i + 3] - times[i] >= 0.2 - EPS
    assert times[-1] - times[0] >= 0.4 - EPS


async def test_a_window_margin_widens_the_span() -> None:
    """The margin is added to the window, so the server never sees one request too many."""
    pacer = Pacer(Pacing(requests_per_second=None, endpoints={"X": Budget(1, 0.1)}, margin=0.1))
    times = [t for _, t in await turns(pacer, ["X"] * 2)]
    assert times[1] - times[0] >= 0.2 - EPS


async def test_other_routes_do_not_wait_for_a_full_window() -> None:
    """A route without a budget overtakes requests queued on a full window."""
    pacer = Pacer(Pacing(requests_per_second=None, endpoints={"X": Budget(2, 0.3)}))
    order = [route for route, _ in await turns(pacer, ["X", "X", "X", "Y"])]
    assert order.index("Y") < 3
    assert order[-1] == "X"


async def test_the_global_rate_spaces_requests() -> None:
    """10 requests/second with no burst: turns at least 0.1 s apart."""
    pacer = Pacer(Pacing(requests_per_second=10, burst=1, endpoints={}))
    times = [t for _, t in await turns(pacer, ["A", "B", "A", "B"])]
    for earlier, later in itertools.pairwise(times):
        assert later - earlier >= 0.1 - EPS


async def test_a_burst_goes_first_then_the_rate_applies() -> None:
    """burst=3 at 5/s: three turns, then the fourth no sooner than 0.2 s after the first."""
    pacer = Pacer(Pacing(requests_per_second=5, burst=3, endpoints={}))
    times = [t for _, t in await turns(pacer, ["A"] * 4)]
    assert times[3] - times[0] >= 0.2 - EPS
    assert times[3] - times[2] > times[2] - times[0]


async def test_a_429_on_a_budgeted_route_pauses_only_that_route() -> None:
    """After a 429 with a 0.3 s hint, that route waits it out; another route goes first."""
    pacer = Pacer(Pacing(requests_per_second=None, endpoints={"X": Budget(10, 1)}))
    started = time.monotonic()
    pacer.on_rate_limited("X", 0.3)
    granted = await turns(pacer, ["X", "Y"])
    assert [route for route, _ in granted] == ["Y", "X"]
    assert granted[1][1] - started >= 0.3 - EPS


async def test_a_429_elsewhere_pauses_and_slows_the_global_rate() -> None:
    """A 429 on a route without a budget pauses everything, then halves the rate."""
    pacer = Pacer(Pacing(requests_per_second=20, burst=1, endpoints={}))
    started = time.monotonic()
    pacer.on_rate_limited("GET /renders", 0.2)
    times = [t for _, t in await turns(pacer, ["A", "B", "C"])]
    assert times[0] - started >= 0.2 - EPS
    assert times[2] - times[0] >= 2 * 0.1 - EPS  # 10/s after halving, not 20/s


async def test_a_pause_during_a_wait_is_honoured() -> None:
    """A request already sleeping for its window also waits out a 429 that arrives meanwhile."""
    pacer = Pacer(Pacing(requests_per_second=None, endpoints={"X": Budget(1, 0.2)}, margin=0))
    started = time.monotonic()
    first = await pacer.wait_turn("X")
    assert first is not None
    first.finish()
    async with anyio.create_task_group() as tg:
        tg.start_soon(pacer.wait_turn, "X")  # sleeps until ~0.2 s
        await anyio.sleep(0.05)
        pacer.on_rate_limited("X", 0.4)  # pauses until ~0.45 s
    assert time.monotonic() - started >= 0.45 - EPS


# -- against the simulator ----------------------------------------------------------------


async def test_unpaced_bursts_do_meet_the_servers_limit() -> None:
    """Without pacing, 20 quick analyses of a 10-per-0.5 s endpoint get some 429s."""
    async with (
        FakeCutPro(analyze_limit=10, analyze_window=0.5) as fake,
        make_client(
            fake,
            pacing=Pacing(requests_per_second=None, endpoints={}),
            retry=RetryPolicy(max_retries=0),
        ) as cp,
    ):
        results = await asyncio.gather(
            *(cp.videos.analyze(video_url()) for _ in range(20)), return_exceptions=True
        )
    assert any(isinstance(r, RateLimited) for r in results)


async def test_pacing_keeps_an_analyze_run_free_of_429s() -> None:
    """100 concurrent analyses under Budget(10, 0.3): every one is sent once, none refused."""
    budget = {"POST /clips/info": Budget(10, 0.3)}
    async with (
        FakeCutPro(analyze_limit=10, analyze_window=0.3) as fake,
        make_client(fake, pacing=Pacing(endpoints=budget)) as cp,
    ):
        started = time.monotonic()
        infos = await asyncio.gather(*(cp.videos.analyze(video_url()) for _ in range(100)))
        elapsed = time.monotonic() - started
    assert len({info.video_id for info in infos}) == 100
    assert fake.requests["POST /clips/info"] == 100  # no request was refused and repeated
    assert elapsed >= 9 * 0.3
