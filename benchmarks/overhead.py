"""Per-call CPU overhead of the client versus a bare aiohttp call (target <= 1.5x).

    python -m benchmarks.overhead [--quick]

The simulator runs in its own process, a fresh one per round; only this process's CPU time is
counted. Both sides make the same sequential GET /balance calls over keep-alive, ABBA in even
rounds and BAAB in odd ones, and the ratio of CPU per call is reported as a median with its
spread.
"""

from __future__ import annotations

import asyncio
import sys
import time

import aiohttp
import orjson

from cutpro_async import CutPro, Pacing

from ._report import Metric, summarize, table
from ._rounds import order
from ._simproc import SimProcess


async def _bare(sim: SimProcess, calls: int) -> float:
    """CPU seconds for `calls` bare aiohttp GETs with JSON decoding."""
    headers = {"X-Api-Key": sim.api_key}
    async with aiohttp.ClientSession() as session:
        start = time.process_time()
        for _ in range(calls):
            async with session.get(sim.base_url + "/balance", headers=headers) as resp:
                orjson.loads(await resp.read())
        return time.process_time() - start


async def _client(sim: SimProcess, calls: int) -> float:
    """CPU seconds for `calls` client calls (pacing on, at a rate that never waits)."""
    pacing = Pacing(requests_per_second=1e6, burst=1000)
    async with CutPro(sim.api_key, base_url=sim.base_url, pacing=pacing) as cp:
        start = time.process_time()
        for _ in range(calls):
            await cp.balance.get()
        return time.process_time() - start


def measure(calls: int, rounds: int) -> list[float]:
    """Client/bare CPU ratios, one per round, each round on a fresh simulator (ABBA, BAAB)."""
    ratios = []
    for index in range(rounds):
        with SimProcess(["--time-scale", "100000"]) as sim:
            asyncio.run(_bare(sim, 200))  # warm up both paths
            asyncio.run(_client(sim, 200))
            cpu = {"client": 0.0, "bare": 0.0}
            for who in order(("bare", "client"), index):
                cpu[who] += asyncio.run(
                    _client(sim, calls) if who == "client" else _bare(sim, calls)
                )
            ratios.append(cpu["client"] / cpu["bare"])
    return ratios


def scenario(quick: bool) -> list[Metric]:
    """The per-call CPU ratio against its target."""
    ratios = measure(1000 if quick else 3000, 3 if quick else 7)
    return [summarize("overhead", "client CPU per call / bare aiohttp", ratios, 1.5, "lower")]


def workload(quick: bool) -> None:
    """The client's part alone, for `--profile`: sequential calls."""
    with SimProcess(["--time-scale", "100000"]) as sim:
        asyncio.run(_client(sim, 3000 if quick else 20_000))


if __name__ == "__main__":
    print(table(scenario("--quick" in sys.argv)))
