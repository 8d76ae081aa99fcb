"""The whole pipeline on an instant simulator: the client's own cost against a fair baseline.

    python -m benchmarks --only pipeline [--quick]      (or python -m benchmarks.pipeline)

Each video goes analyze → look-up → submit → poll → best clip → render → poll → link →
download, on a simulator that answers at once (jobs finish instantly, the analysis limit
lifted for both alike, `s3-kms` storage: the client checks length, MP4 structure and sha256,
as the baseline does). With nothing to wait for, CPU is all there is:

- **client**: `Batch` with its durable SQLite record, 64 videos per stage, 100 connections.
- **bare**: `_bare.bare_pipeline`, the same requests, checks and durability by hand, 64
  videos at a time on aiohttp's 100 connections.

Each round runs them ABBA (BAAB in odd rounds), every run against a fresh simulator process.
Target: client CPU per video <= 1.3x bare's (median of the rounds). Wall time and requests
per video are reported. Then memory: a fresh child process holds 10,000 videos in flight at
once (all waiting for their clips), and the RSS it grew by per video must stay <= 16 KiB.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import attrs
import requests

from cutpro_async import CutPro, Limits, Pacing, Polling
from cutpro_async.batch import Batch, Concurrency, RunOptions, SQLiteStore, Stage, StageStarted

from ._bare import BareSettings, bare_pipeline
from ._report import Metric, summarize, table
from ._rounds import ratios, schedule
from ._simproc import SimProcess

# The same lifted rate limit for every contender; renders that do not expire on a fast clock.
LIFTED = [
    "--analyze-limit",
    "1000000",
    "--analyze-window",
    "1",
    "--render-expiry-hours",
    "1e9",
    "--submission-expiry-days",
    "1e9",
    "--credits",
    "1e12",
]
STORAGE = ["--storage-profile", "s3-kms", "--render-bytes", "65536"]
INSTANT = ["--time-scale", "1e7", *STORAGE, *LIFTED]
NAMES = ("client", "bare")
WIDTH = 64  # videos per stage (client) or at a time (bare)
POLLING = Polling(first=0.05, max_interval=0.5)


def urls(count: int, tag: str) -> list[str]:
    """Distinct video URLs of 10 minutes each."""
    return [f"https://www.youtube.com/watch?v={tag}{i}&duration=600" for i in range(count)]


def requests_seen(sim: SimProcess) -> int:
    """API and storage requests the simulator has served (its own /_sim pages left out)."""
    origin = sim.base_url.rsplit("/api/", 1)[0]
    counts: dict[str, int] = requests.get(f"{origin}/_sim/requests", timeout=30).json()
    return sum(n for key, n in counts.items() if "/_sim/" not in key)


def client(
    sim: SimProcess,
    *,
    polling: Polling = POLLING,
    pacing: Pacing | None = None,
) -> CutPro:
    """The client as the benchmarks set it: 100 connections (aiohttp's default, which the
    baselines use), pacing off unless given (the simulator's limits are lifted alike)."""
    return CutPro(
        sim.api_key,
        base_url=sim.base_url,
        pacing=pacing or Pacing(requests_per_second=None, endpoints={}),
        polling=polling,
        limits=Limits(max_connections=100, file_threads=4),
    )


def stages(width: int) -> Concurrency:
    """`width` videos in every working stage; the waiting stages wide."""
    return Concurrency(
        analyze=width, submit=width, wait_clips=1000, render=width, wait_render=1000, download=width
    )


async def run_client(cp: CutPro, sources: list[str], folder: Path) -> int:
    """`Batch` over the sources with its durable record; returns the files saved."""
    options = RunOptions(out=folder, top_k=1, concurrency=stages(WIDTH))
    store = await SQLiteStore.open(folder / "state.sqlite")
    try:
        summary = await Batch(cp, options, store).run(sources)
    finally:
        await store.close()
    if summary.done != len(sources):
        raise RuntimeError(f"the client finished {summary.done} of {len(sources)}: {summary}")
    return summary.files


@attrs.frozen
class Run:
    """One contender's run: wall seconds, this process's CPU seconds, requests, videos."""

    wall: float
    cpu: float  # user + system, every thread
    requests: int
    videos: int
    system: float = 0.0  # of which in the kernel

    @property
    def cpu_per_video(self) -> float:
        """CPU seconds per video."""
        return self.cpu / self.videos


def measure(name: str, videos: int, tag: str) -> Run:
    """Run one contender against a fresh instant simulator."""
    sources = urls(videos, tag)
    with SimProcess(INSTANT) as sim, tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        work: Callable[[], int]
        if name == "client":

            async def ours() -> int:
                async with client(sim) as cp:
                    return await run_client(cp, sources, folder)

            work = lambda: asyncio.run(ours())  # noqa: E731
        else:
            work = lambda: asyncio.run(  # noqa: E731
                bare_pipeline(sim.base_url, sim.api_key, sources, folder, BareSettings(WIDTH))
            )
        before = requests_seen(sim)
        gc.collect()
        usage, start = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
        files = work()
        wall, after = time.perf_counter() - start, resource.getrusage(resource.RUSAGE_SELF)
        seen = requests_seen(sim) - before
    if files != videos:
        raise RuntimeError(f"{name} saved {files} files for {videos} videos")
    user, system = after.ru_utime - usage.ru_utime, after.ru_stime - usage.ru_stime
    return Run(wall, user + system, seen, videos, system)


def rounds(videos: int, count: int) -> dict[str, list[list[Run]]]:
    """`count` rounds of client and bare, ABBA then BAAB; runs per contender per round."""
    measure("client", 50, "warm-c")  # unmeasured: imports, caches, thread pools
    measure("bare", 50, "warm-b")
    runs: dict[str, list[list[Run]]] = {name: [[] for _ in range(count)] for name in NAMES}
    for index, name in schedule(NAMES, count):
        tag = f"{name[0]}{index}-{len(runs[name][index])}-"
        run = measure(name, videos, tag)
        runs[name][index].append(run)
        print(
            f"  round {index} {name}: {run.wall:.2f} s, {1000 * run.cpu_per_video:.2f} ms CPU "
            f"per video ({1000 * run.system / run.videos:.2f} ms of it in the kernel), "
            f"{run.requests / run.videos:.1f} requests per video",
            flush=True,
        )
    return runs


def per_round(runs: list[list[Run]], figure: Callable[[Run], float]) -> list[float]:
    """A figure averaged over each round's runs."""
    return [statistics.fmean(figure(run) for run in pair) for pair in runs]


# -- memory: videos in flight ---------------------------------------------------------------


def _rss_kib() -> int:
    """This process's resident memory now."""
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))


async def _inflight(base_url: str, api_key: str, count: int) -> dict[str, float]:
    """In this (fresh) process: RSS before, and once `count` videos all wait for their clips."""
    concurrency = Concurrency(
        analyze=256, submit=256, wait_clips=count, render=8, wait_render=count, download=4
    )
    with tempfile.TemporaryDirectory() as tmp:
        options = RunOptions(out=tmp, top_k=1, concurrency=concurrency, max_in_flight=count)
        polling = Polling(first=600, max_interval=600)
        async with CutPro(
            api_key,
            base_url=base_url,
            pacing=Pacing(requests_per_second=None, endpoints={}),
            polling=polling,
            limits=Limits(max_connections=100),
        ) as cp:
            await cp.balance.get()
            store = await SQLiteStore.open(Path(tmp) / "state.sqlite")
            batch = Batch(cp, options, store)
            gc.collect()
            baseline, waiting, peak = _rss_kib(), 0, 0

            def watch(event: object) -> None:
                nonlocal waiting, peak
                if isinstance(event, StageStarted) and event.stage is Stage.WAIT_CLIPS:
                    waiting += 1
                    if waiting == count:
                        peak = _rss_kib()
                        batch.stop()

            await batch.run(urls(count, "inflight"), on_event=watch)
            await store.close()
    return {"baseline_kib": baseline, "peak_kib": peak, "count": count}


def inflight(count: int) -> float:
    """KiB of RSS per video with `count` in flight, measured in a fresh child process."""
    with SimProcess(["--time-scale", "1", *STORAGE, *LIFTED]) as sim:
        cmd = [sys.executable, "-m", "benchmarks.pipeline", "--inflight-child", str(count)]
        cmd += ["--base-url", sim.base_url, "--api-key", sim.api_key]
        root = Path(__file__).resolve().parent.parent
        out = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=root).stdout
    got = json.loads(out.strip().splitlines()[-1])
    if not got["peak_kib"]:
        raise RuntimeError(f"the {count} videos never were all in flight: {got}")
    return float(got["peak_kib"] - got["baseline_kib"]) / count


def scenario(quick: bool) -> list[Metric]:
    """CPU per video against the fair baseline; wall time, requests; memory per video."""
    videos, count, held, memory_rounds = (200, 5, 2000, 3) if quick else (500, 5, 10_000, 3)
    runs = rounds(videos, count)
    client_cpu = per_round(runs["client"], lambda r: r.cpu_per_video)
    bare_cpu = per_round(runs["bare"], lambda r: r.cpu_per_video)
    client_wall = per_round(runs["client"], lambda r: r.wall)
    bare_wall = per_round(runs["bare"], lambda r: r.wall)
    per_video = [inflight(held) for _ in range(memory_rounds)]
    print(f"  RSS per video in flight: {' '.join(f'{k:.1f}' for k in per_video)} KiB", flush=True)
    name = f"{videos} videos"
    ms = [1000 * c for c in client_cpu]
    return [
        summarize(
            "pipeline",
            f"{name}: client CPU per video / bare",
            ratios(client_cpu, bare_cpu),
            1.3,
            "lower",
        ),
        summarize("pipeline", f"{name}: client CPU per video", ms, None, "lower", "ms"),
        summarize(
            "pipeline",
            f"{name}: bare CPU per video",
            [1000 * c for c in bare_cpu],
            None,
            "lower",
            "ms",
        ),
        summarize(
            "pipeline",
            f"{name}: kernel CPU per video, client / bare",
            ratios(
                per_round(runs["client"], lambda r: r.system / r.videos),
                per_round(runs["bare"], lambda r: r.system / r.videos),
            ),
            None,
            "lower",
        ),
        summarize(
            "pipeline",
            f"{name}: wall time, client / bare",
            ratios(client_wall, bare_wall),
            None,
            "lower",
        ),
        summarize(
            "pipeline",
            "requests per video, client",
            per_round(runs["client"], lambda r: r.requests / r.videos),
            None,
            "lower",
            "req",
        ),
        summarize(
            "pipeline",
            "requests per video, bare",
            per_round(runs["bare"], lambda r: r.requests / r.videos),
            None,
            "lower",
            "req",
        ),
        summarize("pipeline", f"RSS per video, {held:,} in flight", per_video, 16, "lower", "KiB"),
    ]


def workload(quick: bool) -> None:
    """The client's part alone, for `--profile`: one run on a fresh instant simulator."""
    measure("client", 500 if quick else 2000, "profile-")


def bare_workload(quick: bool) -> None:
    """The fair baseline alone, for `--profile pipeline-bare` (to set against the client's)."""
    measure("bare", 500 if quick else 2000, "profile-")


def main() -> None:
    """Print the table, or run as the memory-measuring child process."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--inflight-child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    parser.add_argument("--api-key", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inflight_child:
        got = asyncio.run(_inflight(args.base_url, args.api_key, args.inflight_child))
        print(json.dumps(got), flush=True)
    else:
        print(table(scenario(args.quick)))


if __name__ == "__main__":
    main()
