"""Download throughput and memory of the client, side by side with bare aiohttp.

    python -m benchmarks.downloads [--mib 256] [--rounds 3] [--big-mib 1024] [--parallel 8]

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
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

from cutpro_async import CutPro

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


def main() -> None:
    """Run the scenarios and print the figures against their targets."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mib", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--parallel", type=int, default=8)
    parser.add_argument("--parallel-mib", type=int, default=512)
    parser.add_argument("--big-mib", type=int, default=1024)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    parser.add_argument("--api-key", help=argparse.SUPPRESS)
    parser.add_argument("--tmp", help=argparse.SUPPRESS)
    parser.add_argument("--urls", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return _child(args)
    ratios = throughput(args.mib, args.rounds)
    print(
        f"download throughput, client / bare aiohttp ({args.mib} MiB): median "
        f"{statistics.median(ratios):.2f}x (min {min(ratios):.2f}, max {max(ratios):.2f}; "
        "target >= 0.9x)"
    )
    many = memory(args.parallel_mib, args.parallel)
    print(
        f"{args.parallel} concurrent {args.parallel_mib} MiB downloads: client peak RSS "
        f"{many['peak']:.0f} MiB (target < 150 MiB)"
    )
    one = memory(args.big_mib, 1)
    print(
        f"one {args.big_mib} MiB download adds {one['peak'] - one['before']:.0f} MiB of RSS "
        f"(from {one['before']:.0f} to {one['peak']:.0f}; target < 64 MiB)"
    )
    return None


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
