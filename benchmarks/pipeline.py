"""The whole pipeline for many videos, side by side with what users would write instead.

    python -m benchmarks.pipeline [--quick]

On an instant simulator (its own process, rate limit lifted for every contender alike), each
video goes analyze → submit → poll → best clip → render → poll → download:
  (a) the documented curl flow done sequentially with `requests`,
  (b) the same flow in a 32-thread `requests` pool,
  (c) a hand-written bare-aiohttp pipeline (64 videos at a time),
  (d) cutpro_async's `Batch` (durable SQLite record, per-stage pools).
Targets: (d) wall time <= 1.3x (c) and >= 10x faster than (b). Then, on a slow simulator,
10,000 videos in flight at once: peak RSS per in-flight video <= 20 KiB.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import requests

from cutpro_async import CutPro, Limits, Pacing, Polling
from cutpro_async.batch import Batch, Concurrency, RunOptions, SQLiteStore, Stage, StageStarted

from ._report import Metric, summarize, table
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


def _urls(count: int, tag: str) -> list[str]:
    """Distinct video URLs."""
    return [f"https://www.youtube.com/watch?v={tag}{i}&duration=600" for i in range(count)]


def _requests_flow(session: requests.Session, base: str, url: str, folder: Path) -> None:
    """The quickstart flow with `requests`, for one video."""
    info = session.post(f"{base}/clips/info", json={"url": url}).json()
    video = info["video_id"]
    sub = session.post(f"{base}/clips", json={"video_id": video}).json()["submission_id"]
    path = f"{base}/clips/{video}/submissions/{sub}"
    while session.get(path).json()["status"] not in ("completed", "failed"):
        time.sleep(0.05)
    clip = session.get(f"{path}/clips", params={"limit": 1}).json()["clips"][0]["id"]
    render = session.post(f"{path}/clips/{clip}/render").json()["render_id"]
    while session.get(f"{base}/renders/{render}").json()["status"] not in ("completed", "failed"):
        time.sleep(0.05)
    link = session.get(f"{base}/renders/{render}/download").json()["url"]
    with requests.get(link, stream=True) as resp, (folder / f"{video}.mp4").open("wb") as out:
        for block in resp.iter_content(1024 * 1024):
            out.write(block)


def _session(key: str) -> requests.Session:
    """A `requests` session with the API key."""
    session = requests.Session()
    session.headers["X-Api-Key"] = key
    return session


def sequential(sim: SimProcess, urls: list[str], folder: Path) -> None:
    """(a) One video after the other."""
    session = _session(sim.api_key)
    for url in urls:
        _requests_flow(session, sim.base_url, url, folder)


def thread_pool(sim: SimProcess, urls: list[str], folder: Path) -> None:
    """(b) 32 threads, a session each."""
    sessions: dict[int, requests.Session] = {}

    def one(url: str) -> None:
        import threading

        session = sessions.setdefault(threading.get_ident(), _session(sim.api_key))
        _requests_flow(session, sim.base_url, url, folder)

    with concurrent.futures.ThreadPoolExecutor(32) as pool:
        list(pool.map(one, urls))


async def bare_aiohttp(sim: SimProcess, urls: list[str], folder: Path) -> None:
    """(c) The same flow with aiohttp, 64 videos at a time."""
    gate = asyncio.Semaphore(64)
    base = sim.base_url
    async with aiohttp.ClientSession(headers={"X-Api-Key": sim.api_key}) as s:

        async def call(method: str, url: str, **kw: Any) -> Any:
            async with s.request(method, url, **kw) as resp:
                return await resp.json()

        async def one(url: str) -> None:
            async with gate:
                video = (await call("POST", f"{base}/clips/info", json={"url": url}))["video_id"]
                sub = (await call("POST", f"{base}/clips", json={"video_id": video}))[
                    "submission_id"
                ]
                path = f"{base}/clips/{video}/submissions/{sub}"
                while (await call("GET", path))["status"] not in ("completed", "failed"):
                    await asyncio.sleep(0.05)
                clip = (await call("GET", f"{path}/clips", params={"limit": 1}))["clips"][0]["id"]
                render = (await call("POST", f"{path}/clips/{clip}/render"))["render_id"]
                while (await call("GET", f"{base}/renders/{render}"))["status"] not in (
                    "completed",
                    "failed",
                ):
                    await asyncio.sleep(0.05)
                link = (await call("GET", f"{base}/renders/{render}/download"))["url"]
                async with aiohttp.ClientSession() as storage, storage.get(link) as resp:
                    with (folder / f"{video}.mp4").open("wb") as out:
                        async for block in resp.content.iter_chunked(1024 * 1024):
                            out.write(block)

        await asyncio.gather(*(one(u) for u in urls))


def _client(sim: SimProcess, polling: Polling) -> CutPro:
    """A client with pacing off (the simulator's limits are lifted for everyone) and the same
    100-connection pool as aiohttp's default, which the bare pipeline uses."""
    pacing = Pacing(requests_per_second=None, endpoints={})
    limits = Limits(max_connections=100)
    return CutPro(sim.api_key, base_url=sim.base_url, pacing=pacing, polling=polling, limits=limits)


async def ours(sim: SimProcess, urls: list[str], folder: Path) -> None:
    """(d) cutpro_async's batch, with its durable record."""
    # 64 at a time in every stage, as the bare pipeline has 64 videos in flight.
    concurrency = Concurrency(
        analyze=64, submit=64, wait_clips=1000, render=64, wait_render=1000, download=64
    )
    options = RunOptions(out=folder, top_k=1, concurrency=concurrency)
    async with _client(sim, Polling(first=0.05, max_interval=0.5)) as cp:
        store = await SQLiteStore.open(folder / "state.sqlite")
        try:
            summary = await Batch(cp, options, store).run(urls)
        finally:
            await store.close()
    assert summary.done == len(urls), summary


def _requests_seen(sim: SimProcess) -> int:
    """Requests the simulator has served so far (API and storage)."""
    counts: dict[str, int] = requests.get(
        sim.base_url.rsplit("/api/", 1)[0] + "/_sim/requests"
    ).json()
    return sum(counts.values())


def pipeline(videos: int, contenders: list[str]) -> dict[str, dict[str, float]]:
    """Wall time, client CPU per video and requests per video for each contender."""
    runners = {
        "sequential": sequential,
        "threads32": thread_pool,
        "bare_aiohttp": lambda *a: asyncio.run(bare_aiohttp(*a)),
        "cutpro_async": lambda *a: asyncio.run(ours(*a)),
    }
    results = {}
    with SimProcess(["--time-scale", "1e7", "--render-bytes", "65536", *LIFTED]) as sim:
        for name in contenders:
            with tempfile.TemporaryDirectory() as tmp:
                before, cpu = _requests_seen(sim), time.process_time()
                start = time.perf_counter()
                runners[name](sim, _urls(videos, name), Path(tmp))
                wall = time.perf_counter() - start
                results[name] = {
                    "wall": wall,
                    "cpu_per_video_ms": 1000 * (time.process_time() - cpu) / videos,
                    "requests_per_video": (_requests_seen(sim) - before - 1) / videos,
                }
    return results


def _rss_kib() -> int:
    """This process's resident memory now."""
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))


async def _inflight(sim: SimProcess, count: int) -> tuple[float, float]:
    """(baseline MiB, RSS growth KiB per video) with `count` videos all waiting at once."""
    concurrency = Concurrency(
        analyze=256, submit=256, wait_clips=count, render=8, wait_render=count, download=4
    )
    with tempfile.TemporaryDirectory() as tmp:
        options = RunOptions(out=tmp, top_k=1, concurrency=concurrency, max_in_flight=count)
        async with _client(sim, Polling(first=60, max_interval=120)) as cp:
            await cp.balance.get()
            store = await SQLiteStore.open(Path(tmp) / "state.sqlite")
            batch = Batch(cp, options, store)
            baseline, waiting, peak = _rss_kib(), 0, 0

            def watch(event: object) -> None:
                nonlocal waiting, peak
                if isinstance(event, StageStarted) and event.stage is Stage.WAIT_CLIPS:
                    waiting += 1
                    if waiting == count:
                        peak = _rss_kib()
                        batch.stop()

            await batch.run(_urls(count, "inflight"), on_event=watch)
            await store.close()
    return baseline / 1024, (peak - baseline) / count


def scenario(quick: bool) -> list[Metric]:
    """Wall-time ratios against the alternatives, cost per video, memory per waiting video."""
    videos, rounds, inflight = (200, 1, 2000) if quick else (1000, 3, 10_000)
    vs_bare, vs_threads, cpu, calls, walls = [], [], [], [], []
    for _ in range(rounds):
        res = pipeline(videos, ["bare_aiohttp", "cutpro_async", "threads32"])
        ours_wall = res["cutpro_async"]["wall"]
        walls.append(ours_wall)
        vs_bare.append(ours_wall / res["bare_aiohttp"]["wall"])
        vs_threads.append(res["threads32"]["wall"] / ours_wall)
        cpu.append(res["cutpro_async"]["cpu_per_video_ms"])
        calls.append(res["cutpro_async"]["requests_per_video"])
    seq_videos = videos // 5
    seq = pipeline(seq_videos, ["sequential"])["sequential"]
    seq_wall = seq["wall"] / seq_videos * videos  # per-video cost, scaled to the same count
    with SimProcess(["--time-scale", "1", *LIFTED]) as sim:
        _, per_video = asyncio.run(_inflight(sim, inflight))
    name = f"{videos} videos"
    return [
        summarize("pipeline", f"{name}: wall time / bare aiohttp", vs_bare, 1.3, "lower"),
        summarize(
            "pipeline", f"{name}: speed-up over 32 requests threads", vs_threads, 10, "higher"
        ),
        Metric(
            "pipeline",
            f"{name}: speed-up over sequential requests",
            seq_wall / statistics.median(walls),
            None,
            "higher",
        ),
        summarize("pipeline", "client CPU per video", cpu, None, "lower", "ms"),
        summarize("pipeline", "requests per video", calls, None, "lower", "req"),
        Metric("pipeline", f"RSS per video, {inflight} in flight", per_video, 20, "lower", "KiB"),
    ]


if __name__ == "__main__":
    print(table(scenario("--quick" in sys.argv)))
