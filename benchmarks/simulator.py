"""How fast the simulator serves: it must never be what limits a benchmark.

    python -m benchmarks.simulator [--quick]

Prints small-JSON requests per second of simulator CPU (one core: the server is one process,
one thread; target >= 3,000) and file throughput compared, in the same run, with writing the
same number of bytes to disk (target: about disk speed), with the simulator's peak RSS.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time

import aiohttp

from ._report import Metric, summarize, table
from ._simproc import SimProcess, render_links

CHUNK = 1024 * 1024


async def _json_load(sim: SimProcess, total: int, concurrency: int) -> tuple[float, float]:
    """(wall seconds, simulator CPU seconds) for `total` GET /balance calls."""
    headers = {"X-Api-Key": sim.api_key}
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(headers=headers, connector=connector) as session:
        url = sim.base_url + "/balance"

        async def worker(count: int) -> None:
            for _ in range(count):
                async with session.get(url) as resp:
                    await resp.read()
                    assert resp.status == 200, resp.status

        await worker(50)  # warm up
        cpu, start = sim.cpu_seconds(), time.perf_counter()
        await asyncio.gather(*(worker(total // concurrency) for _ in range(concurrency)))
        return time.perf_counter() - start, sim.cpu_seconds() - cpu


async def _download(url: str, path: str) -> tuple[int, float]:
    """(bytes, seconds) to stream a file to disk."""
    start, size = time.perf_counter(), 0
    timeout = aiohttp.ClientTimeout(total=None, sock_read=60)
    async with aiohttp.ClientSession(timeout=timeout) as s, s.get(url) as resp:
        with open(path, "wb") as out:  # noqa: ASYNC230 - the bare-aiohttp reference, on purpose
            async for block in resp.content.iter_chunked(CHUNK):
                out.write(block)
                size += len(block)
    return size, time.perf_counter() - start


def _disk_write(path: str, size: int) -> float:
    """Seconds to write `size` bytes to disk in 1 MiB blocks (the reference speed)."""
    block = os.urandom(CHUNK)
    start = time.perf_counter()
    with open(path, "wb") as out:
        for _ in range(size // CHUNK):
            out.write(block)
    return time.perf_counter() - start


def scenario(quick: bool) -> list[Metric]:
    """Small-JSON rate per simulator CPU-second; how busy it is while streaming a file."""
    requests, mib, rounds = (3000, 64, 3) if quick else (10_000, 256, 5)
    size = mib * CHUNK
    with SimProcess(["--time-scale", "100000", "--render-bytes", str(size)]) as sim:
        rates = [requests / asyncio.run(_json_load(sim, requests, 64))[1] for _ in range(rounds)]
        (url,) = asyncio.run(render_links(sim, 1))
        with tempfile.TemporaryDirectory() as tmp:
            cpu_before = sim.cpu_seconds()
            got, seconds = asyncio.run(_download(url, os.path.join(tmp, "a.mp4")))
            busy = (sim.cpu_seconds() - cpu_before) / seconds
            disk = _disk_write(os.path.join(tmp, "b.bin"), size)
        rss = sim.peak_rss_mib()
    assert got == size, (got, size)
    return [
        summarize(
            "simulator",
            "small JSON requests per simulator CPU-second",
            rates,
            3000,
            "higher",
            "req/s",
        ),
        Metric(
            "simulator", f"CPU busy while serving a {mib} MiB file", 100 * busy, 100, "lower", "%"
        ),
        Metric(
            "simulator",
            "file served and written / plain disk write",
            disk / seconds,
            None,
            "higher",
        ),
        Metric("simulator", f"peak RSS serving a {mib} MiB file", rss, None, "lower", "MiB"),
    ]


if __name__ == "__main__":
    print(table(scenario("--quick" in sys.argv)))
