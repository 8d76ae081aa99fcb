"""The pipeline under a realistic clock: the makespan against its lower bound.

    python -m benchmarks --only latency [--quick]      (or python -m benchmarks.latency)

The simulator answers as `--latency realistic` says (per route, lognormal around 50 to 300 ms,
seeded), runs its jobs 600 times faster than the API's own durations (a 10-minute video's
clipping job takes 0.33 s, a render 0.06 to 0.18 s), keeps 5 render slots per workspace and
the analysis limit on: 125 `POST /clips/info` per 10 s. (The API's 10 per 60 s would make
1,000 videos take 100 minutes; a 10 s window keeps a round trip a small part of the window, as
on the real API.) Each contender gets a fresh simulator with the same seed:

- **client**: `Batch`, told the API's budget (`Pacing(endpoints={"POST /clips/info":
  Budget(125, 10)})`, the default margin), a window's 125 analyses in flight at once, 64
  videos in every other working stage.
- **threads**: `_threads.thread_pipeline`, 32 `requests` threads doing the same pipeline with
  a shared window on the analyses.

Both poll on the same schedule (first 0.1 s, x1.6, at most 1 s). Target: the client's
makespan <= 1.10x the lower bound computed from the model (`_bound`); the thread pool's
makespan is reported against the client's, without target. 1,000 videos in the full suite
(a bound of 74 s), 250 with `--quick` (14 s): the same code paths.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path

import attrs
import requests

from cutpro_async import Budget, Pacing, Polling
from cutpro_async.batch import Batch, RunOptions, SQLiteStore
from cutpro_async.testing import LatencyModel

from ._bare import BareSettings, Schedule
from ._bound import Bound, lower_bound
from ._report import Metric, table
from ._simproc import SimProcess
from ._threads import thread_pipeline
from .pipeline import STORAGE, client, requests_seen, stages, urls

LIMIT, WINDOW = 125, 10.0
TIME_SCALE = 600.0
VIDEO_SECONDS = 600.0
SEED = 13
POLLING = Polling(first=0.1, max_interval=1.0)
SCHEDULE = Schedule(first=0.1, factor=1.6, ceiling=1.0, jitter=0.1)  # the same, by hand
ARGS = [
    "--latency",
    "realistic",
    "--seed",
    str(SEED),
    "--time-scale",
    str(TIME_SCALE),
    "--analyze-limit",
    str(LIMIT),
    "--analyze-window",
    str(WINDOW),
    "--render-expiry-hours",
    "1e9",
    "--submission-expiry-days",
    "1e9",
    "--credits",
    "1e12",
    *STORAGE,
]


def bound(videos: int) -> Bound:
    """The lower bound of a run of `videos` under this scenario's model and limits."""
    return lower_bound(
        LatencyModel.realistic(),
        videos=videos,
        limit=LIMIT,
        window=WINDOW,
        time_scale=TIME_SCALE,
        video_seconds=VIDEO_SECONDS,
    )


async def _client(sim: SimProcess, sources: list[str], folder: Path) -> tuple[float, float]:
    """(makespan, CPU seconds) of `Batch` over the sources."""
    pacing = Pacing(requests_per_second=None, endpoints={"POST /clips/info": Budget(LIMIT, WINDOW)})
    # A whole window of analyses in flight at once; 64 videos in every other working stage.
    concurrency = attrs.evolve(stages(64), analyze=LIMIT)
    options = RunOptions(out=folder, top_k=1, concurrency=concurrency)
    async with client(sim, polling=POLLING, pacing=pacing) as cp:
        store = await SQLiteStore.open(folder / "state.sqlite")
        try:
            cpu, start = time.process_time(), time.perf_counter()
            summary = await Batch(cp, options, store).run(sources)
            wall, cpu = time.perf_counter() - start, time.process_time() - cpu
        finally:
            await store.close()
    if summary.done != len(sources):
        raise RuntimeError(f"the client finished {summary.done} of {len(sources)}: {summary}")
    return wall, cpu


def run(name: str, videos: int) -> dict[str, float]:
    """One contender against a fresh simulator: makespan, CPU, requests, refused analyses."""
    sources = urls(videos, f"lat-{name}-")
    with SimProcess(ARGS) as sim, tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if name == "client":
            wall, cpu = asyncio.run(_client(sim, sources, folder))
        else:
            settings = BareSettings(polling=SCHEDULE, analyze_budget=(LIMIT, WINDOW))
            cpu, start = time.process_time(), time.perf_counter()
            files = thread_pipeline(sim.base_url, sim.api_key, sources, folder, settings)
            wall, cpu = time.perf_counter() - start, time.process_time() - cpu
            if files != videos:
                raise RuntimeError(f"the threads saved {files} files for {videos} videos")
        origin = sim.base_url.rsplit("/api/", 1)[0]
        counts = requests.get(f"{origin}/_sim/requests", timeout=30).json()
        seen = requests_seen(sim)
    result = {
        "wall": wall,
        "cpu": cpu,
        "requests": seen / videos,
        "refused": counts.get("POST /clips/info", 0) - videos,
    }
    print(
        f"  {name}: {videos} videos in {wall:.1f} s, {1000 * cpu / videos:.1f} ms CPU per "
        f"video, {seen / videos:.1f} requests per video, {result['refused']} analyses refused",
        flush=True,
    )
    return result


def scenario(quick: bool) -> list[Metric]:
    """The client's makespan over the model's lower bound; the thread pool's over the client's."""
    videos = 250 if quick else 1000
    limit = bound(videos)
    if limit.renders >= limit.pace:
        print(f"  warning: the render slots bind ({limit.renders:.1f} s >= {limit.pace:.1f} s)")
    steps = ", ".join(f"{what} {1000 * s:.0f} ms" for what, s in limit.path)
    print(
        f"  lower bound {limit.total:.2f} s = first analysis {limit.first:.2f} s + pace "
        f"{limit.pace:.1f} s + critical path {limit.critical_path:.2f} s ({steps}); "
        f"render slots busy >= {limit.renders:.1f} s",
        flush=True,
    )
    ours = run("client", videos)
    threads = run("threads", videos)
    name = f"{videos} videos under latency"
    return [
        Metric(
            "latency", f"{name}: makespan / lower bound", ours["wall"] / limit.total, 1.1, "lower"
        ),
        Metric("latency", f"{name}: client makespan", ours["wall"], None, "lower", "s"),
        Metric("latency", f"{name}: lower bound", limit.total, None, "lower", "s"),
        Metric(
            "latency",
            f"{name}: 32 requests threads' makespan / client's",
            threads["wall"] / ours["wall"],
            None,
            "higher",
        ),
        Metric(
            "latency",
            f"{name}: client CPU per video",
            1000 * ours["cpu"] / videos,
            None,
            "lower",
            "ms",
        ),
        Metric(
            "latency",
            f"{name}: analyses refused (429), client",
            ours["refused"],
            0,
            "lower",
            "429s",
        ),
    ]


def workload(quick: bool) -> None:
    """The client's part alone, for `--profile`: 250 videos under the latency model."""
    run("client", 250)


if __name__ == "__main__":
    print(table(scenario("--quick" in sys.argv)))
