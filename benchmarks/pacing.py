"""A rate-limited analysis run: wall time against the true minimum, and its 429s.

    python -m benchmarks --only pacing [--quick]      (or python -m benchmarks.pacing)

The simulator allows L = 10 `POST /clips/info` per W-second sliding window; the client is told
the same budget (`Budget(10, W)`, its default margin). The first window allows a burst of L, so
N analyses cannot take less than (ceil(N / L) - 1) * W: that true minimum, not N / rate, is
what the wall time is set against (target <= 1.05x), with no 429 at all. Every round runs on a
fresh simulator; the ratio is reported as the median of the rounds with its spread.
"""

from __future__ import annotations

import asyncio
import sys
import time

import requests

from cutpro_async import Budget, CutPro, Pacing

from ._bound import analysis_pace
from ._report import Metric, summarize, table
from ._simproc import SimProcess

LIMIT = 10


async def _analyze_all(sim: SimProcess, count: int, window: float) -> float:
    """Seconds to analyze `count` URLs concurrently under the paced budget."""
    pacing = Pacing(endpoints={"POST /clips/info": Budget(LIMIT, window)})
    async with CutPro(sim.api_key, base_url=sim.base_url, pacing=pacing) as cp:
        await cp.balance.get()  # the connection is open before the clock starts
        urls = [f"https://www.youtube.com/watch?v=pace{i}" for i in range(count)]
        start = time.perf_counter()
        await asyncio.gather(*(cp.videos.analyze(u) for u in urls))
        return time.perf_counter() - start


def one_round(count: int, window: float) -> tuple[float, int]:
    """(wall seconds, analyses refused) on a fresh simulator."""
    args = ["--analyze-limit", str(LIMIT), "--analyze-window", str(window)]
    with SimProcess(args) as sim:
        wall = asyncio.run(_analyze_all(sim, count, window))
        origin = sim.base_url.rsplit("/api/", 1)[0]
        seen = requests.get(f"{origin}/_sim/requests", timeout=10).json()
    return wall, seen.get("POST /clips/info", 0) - count


def scenario(quick: bool) -> list[Metric]:
    """Wall time over the true minimum, and the 429s the simulator had to send."""
    count, window, rounds = (40, 2.0, 3) if quick else (50, 2.0, 5)
    minimum = analysis_pace(count, LIMIT, window)
    walls, refused = [], []
    for _ in range(rounds):
        wall, no = one_round(count, window)
        walls.append(wall)
        refused.append(float(no))
        print(f"  {count} analyses in {wall:.2f} s (minimum {minimum:.1f} s), {no} refused")
    name = f"{count} analyses at {LIMIT} per {window:g} s"
    return [
        summarize(
            "pacing",
            f"{name}: wall time / true minimum",
            [w / minimum for w in walls],
            1.05,
            "lower",
        ),
        summarize("pacing", "429 answers received", refused, 0, "lower", "429s"),
    ]


def workload(quick: bool) -> None:
    """The client's part alone, for `--profile`: one paced run."""
    one_round(40, 2.0)


if __name__ == "__main__":
    print(table(scenario("--quick" in sys.argv)))
