"""A rate-limited analysis run: wall time against the theoretical minimum, and its 429s.

    python -m benchmarks.pacing [--quick]

The simulator allows 10 `POST /clips/info` per window; the client is told the same budget.
N URLs cannot take less than about N / rate; a client that paces itself gets no 429 at all.
"""

from __future__ import annotations

import asyncio
import sys
import time

import requests

from cutpro_async import Budget, CutPro, Pacing

from ._report import Metric, table
from ._simproc import SimProcess

LIMIT = 10


async def _analyze_all(sim: SimProcess, count: int, window: float) -> float:
    """Seconds to analyze `count` URLs concurrently under the paced budget."""
    pacing = Pacing(endpoints={"POST /clips/info": Budget(LIMIT, window)})
    async with CutPro(sim.api_key, base_url=sim.base_url, pacing=pacing) as cp:
        start = time.perf_counter()
        urls = [f"https://www.youtube.com/watch?v=pace{i}" for i in range(count)]
        await asyncio.gather(*(cp.videos.analyze(u) for u in urls))
        return time.perf_counter() - start


def scenario(quick: bool) -> list[Metric]:
    """Wall time over N / rate, and the 429s the simulator had to send."""
    count, window = (25, 1.0) if quick else (60, 3.0)
    args = ["--analyze-limit", str(LIMIT), "--analyze-window", str(window)]
    with SimProcess(args) as sim:
        wall = asyncio.run(_analyze_all(sim, count, window))
        origin = sim.base_url.rsplit("/api/", 1)[0]
        seen = requests.get(f"{origin}/_sim/requests", timeout=10).json()
    refused = seen.get("POST /clips/info", 0) - count
    minimum = count / (LIMIT / window)
    return [
        Metric("pacing", f"{count} analyses: wall time / (N / rate)", wall / minimum, 1.1, "lower"),
        Metric("pacing", "429 answers received", float(refused), 0, "lower", "429s"),
    ]


if __name__ == "__main__":
    print(table(scenario("--quick" in sys.argv)))
