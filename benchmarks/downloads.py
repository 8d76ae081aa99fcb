"""Download throughput and memory of the client, side by side with bare aiohttp.

    python -m benchmarks.downloads [--quick]

1. Throughput: the client's `CutPro.download` versus a bare aiohttp read-and-write of the
   same file from the same simulator process (target >= 0.9x).
2. Memory: 8 concurrent 512 MiB downloads keep the client's peak RSS < 150 MiB, and one
   1 GiB download adds < 64 MiB; each runs in a fresh child process that reports its RSS.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

from cutpro_async import CutPro

from ._report import Metric, summarize, table
from ._simproc import SimProcess, render_links

MIB = 1024 * 1024


async def _bare(url: str, path: Path) -> float:
    """Seconds for the plain aiohttp way: 1 MiB reads, writes on the event loop."""
    start = time.perf_counter()
    timeout = aiohttp.ClientTimeout(total=None, sock_read=60)
    async with aiohttp.ClientSession(timeout=timeout) as s, s.get(url) as resp:
        with path.open("wb") as out:
            async for block in resp.content.iter_chunked(MIB):
                out.write(block)
    return time.perf_counter() - start


async def _client(sim: SimProcess, urls: list[str], folder: Path) -> float:
    """Seconds for the client to download every link into `folder`, concurrently."""
    async with CutPro(sim.api_key, base_url=sim.base_url) as cp:
        start = time.perf_counter()
        await asyncio.gather(*(cp.download(u, folder / f"{i}.mp4") for i, u in enumerate(urls)))
        return time.perf_counter() - start


def throughput(mib: int, rounds: int, where: str | None) -> list[float]:
    """Client/bare throughput ratios (bare seconds / client seconds), one per round.

    `where` is the folder to write in: the disk by default, or a tmpfs such as /dev/shm to
    see the client's own cost without the disk (the client fsyncs before its final rename,
    the bare reference does not).
    """
    ratios = []
    with SimProcess(["--time-scale", "100000", "--render-bytes", str(mib * MIB)]) as sim:
        (url,) = asyncio.run(render_links(sim, 1))
        with tempfile.TemporaryDirectory(dir=where) as tmp:
            for index in range(rounds):
                folder = Path(tmp) / str(index)
                folder.mkdir()
                # Alternate which side goes first, so drift in the machine's speed cancels out.
                if index % 2:
                    client = asyncio.run(_client(sim, [url], folder))
                    bare = asyncio.run(_bare(url, folder / "bare.mp4"))
                else:
                    bare = asyncio.run(_bare(url, folder / "bare.mp4"))
                    client = asyncio.run(_client(sim, [url], folder))
                ratios.append(bare / client)
                for file in folder.iterdir():
                    file.unlink()
    return ratios


def _peak_rss_mib() -> float:
    """This process's peak RSS."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _child(args: argparse.Namespace) -> None:
    """In a fresh process: download the given links, print RSS before and at peak."""
    sim = SimProcess(base_url=args.base_url, api_key=args.api_key)
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:

        async def run() -> tuple[float, float]:
            async with CutPro(sim.api_key, base_url=sim.base_url) as cp:
                await cp.balance.get()  # the client is warm before the baseline
                before = _peak_rss_mib()
                urls = args.urls
                await asyncio.gather(
                    *(cp.download(u, Path(tmp) / f"{i}.mp4") for i, u in enumerate(urls))
                )
                return before, _peak_rss_mib()

        before, peak = asyncio.run(run())
    print(json.dumps({"before": before, "peak": peak}))


def memory(mib: int, count: int) -> dict[str, float]:
    """Peak RSS of a child process downloading `count` files of `mib` MiB concurrently."""
    with SimProcess(["--time-scale", "100000", "--render-bytes", str(mib * MIB)]) as sim:
        urls = asyncio.run(render_links(sim, count))
        with tempfile.TemporaryDirectory() as tmp:
            cmd = [
                sys.executable,
                "-m",
                "benchmarks.downloads",
                "--child",
                "--base-url",
                sim.base_url,
                "--api-key",
                sim.api_key,
                "--tmp",
                tmp,
                "--urls",
                *urls,
            ]
            out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    result: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    return result


def scenario(quick: bool) -> list[Metric]:
    """Throughput ratios on disk and tmpfs; memory of parallel and big downloads."""
    mib, rounds = (64, 3) if quick else (256, 5)
    parallel_mib, big_mib = (128, 256) if quick else (512, 1024)
    metrics = []
    for label, where in (("disk", None), ("tmpfs", "/dev/shm")):
        if where is None or os.path.isdir(where):
            ratios = throughput(mib, rounds, where)
            metrics.append(
                summarize(
                    "downloads",
                    f"throughput on {label} / bare aiohttp ({mib} MiB)",
                    ratios,
                    0.9,
                    "higher",
                )
            )
    many = memory(parallel_mib, 8)
    metrics.append(
        Metric(
            "downloads",
            f"peak RSS, 8 parallel {parallel_mib} MiB downloads",
            many["peak"],
            150,
            "lower",
            "MiB",
        )
    )
    one = memory(big_mib, 1)
    metrics.append(
        Metric(
            "downloads",
            f"RSS added by one {big_mib} MiB download",
            one["peak"] - one["before"],
            64,
            "lower",
            "MiB",
        )
    )
    return metrics


def main() -> None:
    """Print the table, or run as the measuring child process."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    parser.add_argument("--api-key", help=argparse.SUPPRESS)
    parser.add_argument("--tmp", help=argparse.SUPPRESS)
    parser.add_argument("--urls", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args)
    else:
        print(table(scenario(args.quick)))


if __name__ == "__main__":
    main()
