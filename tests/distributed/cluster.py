"""Several worker processes on one batch, SIGKILLed at seeded random moments and restarted
(one of them, optionally, never): the scenario of the distributed kill tests.

`run_cluster` starts a simulator in the calling process, enqueues the batch, starts the
workers (`worker_runner.py`, each with its own id and output folder), kills a random live
worker now and then and restarts it under the same id (except the `never_restart`-th victim,
whose videos the others must adopt), waits until every live worker has found the batch done,
and reports the simulator's ledger, the batch tables, the disks, what was adopted, and any
step that ran again after its result was recorded.
"""

from __future__ import annotations

import hashlib
import os
import random
import signal
import time
from pathlib import Path
from typing import Any

import anyio
import attrs
from anyio.abc import Process

from cutpro_async import CutPro
from cutpro_async.distributed import (
    BatchOptions,
    BatchStatus,
    Enqueued,
    SavedClip,
    Tables,
    VideoRow,
    batch_status,
    enqueue,
    tidy,
    work,
)
from cutpro_async.distributed.presence import workers
from cutpro_async.distributed.refetch import Refetched
from cutpro_async.testing import FakeCutPro

from .conftest import FAST_ENGINE, SIM_SETTINGS, fast_client
from .worker_runner import create_step_starts, start_worker

MP4_BRAND = b"ftyp"
BATCH = "kill"


@attrs.frozen
class ClusterReport:
    """What a killed-and-restarted cluster left: the ledger, the tables, the disks."""

    videos: int
    kills: int  # SIGKILLs sent (each followed by a restart of the same worker id)
    codes: dict[str, list[int]]  # every exit code of each worker id, in order
    rows: list[VideoRow]
    charges: list[int]  # how many times each row's video was charged, in source order
    total_charges: int
    files: list[SavedClip]
    files_complete: int  # files whose size, SHA-256 and MP4 brand match their row
    orphans: int  # `.part` files of clips another worker saved, left by killed workers
    parts_left: list[str]  # `.part` files left after removing those
    analyses: int  # `POST /clips/info` received
    analyze_429s: int  # of which refused by the simulator's rate limit
    paid_requests: int  # `POST /clips` received (dropped answers included)
    injected: dict[str, int]
    key_leaks: list[str]
    seconds: float
    lost: str | None  # the worker killed and never restarted
    adopted: int  # unfinished workflows the live workers took over from gone ones
    adopted_from: dict[str, int]  # per gone worker
    refetched: Refetched | None  # the lost worker's clips, fetched again by a live one
    rerun_steps: int  # steps that started again after DBOS recorded their result
    step_starts: int  # step starts in all (re-runs of steps cut short included)
    status: BatchStatus
    enqueued_again: Enqueued
    unfinished_after: int  # ENQUEUED or PENDING workflows after the second enqueue

    @property
    def finished_by(self) -> dict[str, int]:
        """How many files each worker holds."""
        held: dict[str, int] = {}
        for saved in self.files:
            held[saved.worker] = held.get(saved.worker, 0) + 1
        return held


def kill_urls(count: int) -> list[str]:
    """`count` distinct videos of 5 to 14 minutes."""
    return [
        f"https://www.youtube.com/watch?v=cluster{i}&duration={300 + 60 * (i % 10)}"
        for i in range(count)
    ]


def complete(files: list[SavedClip]) -> int:
    """Files on disk whose size, SHA-256 and MP4 brand match what their row says."""
    count = 0
    for saved in files:
        path = Path(saved.path)
        data = path.read_bytes() if path.is_file() else b""
        if (
            data[4:8] == MP4_BRAND
            and len(data) == saved.bytes
            and hashlib.sha256(data).hexdigest() == saved.sha256
        ):
            count += 1
    return count


def parts_in(folder: Path) -> list[str]:
    """`.part` files left anywhere under `folder`."""
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*.part"))


#: The kill test's faults: a third of the paid requests' answers dropped after their commit,
#: some 5xx on every API route, some downloads cut short.
KILL_FAULTS = "drop=0.3, 5xx=0.03, truncate=0.1"


async def kill_run(
    folder: Path, db_url: str, videos: int, kills: int, *, sim: dict[str, Any] | None = None
) -> ClusterReport:
    """The kill test of issue 14 at a size: 3 workers under `KILL_FAULTS`, `kills` SIGKILLs
    0.8 to 1.8 s apart at seeded moments, every victim restarted but the second one."""
    return await run_cluster(
        folder,
        db_url,
        videos,
        KILL_FAULTS,
        workers=3,
        kills=kills,
        kill_between=(0.8, 1.8),
        seed=20261129,
        deadline=900,
        never_restart=2,
        sim=sim,
    )


async def run_cluster(
    folder: Path,
    db_url: str,
    videos: int,
    faults: str,
    *,
    workers: int,
    kills: int,
    kill_between: tuple[float, float],
    seed: int,
    top_k: int = 2,
    deadline: float = 120.0,
    never_restart: int = 0,
    sim: dict[str, Any] | None = None,
) -> ClusterReport:
    """Run a batch of `videos` on `workers` worker processes, killing a random live one up to
    `kills` times (each after a seeded random number of seconds within `kill_between`) and
    restarting it (all but the `never_restart`-th victim, 1-based; 0: all), until every live
    worker has exited on a finished batch."""
    chance = random.Random(seed)
    urls = kill_urls(videos)
    settings = {**SIM_SETTINGS, **(sim or {})}
    async with FakeCutPro(faults=faults, credits=100 * videos, seed=seed, **settings) as fake:
        options = BatchOptions(top_k=top_k)
        await enqueue(db_url, BATCH, urls, options)
        await create_step_starts(db_url)
        env = {**os.environ, "CUTPRO_API_KEY": fake.api_key, "CUTPRO_API_URL": fake.base_url}
        ids = [f"w{n}" for n in range(1, workers + 1)]
        codes: dict[str, list[int]] = {worker: [] for worker in ids}
        started = time.monotonic()
        running: dict[str, Process] = {}

        async def start(worker: str) -> None:
            out = folder / f"out-{worker}"
            running[worker] = await start_worker(db_url, worker, out, env, folder / f"{worker}.log")

        sent = 0
        lost: str | None = None
        try:
            with anyio.fail_after(deadline):
                for worker in ids:
                    await start(worker)
                await joined(db_url, len(ids))  # kills land on working workers
                for _ in range(kills):
                    await anyio.sleep(chance.uniform(*kill_between))
                    live = [w for w in ids if running[w].returncode is None]
                    if not live:
                        break  # the batch is done: nothing left to kill
                    victim = chance.choice(live)
                    running[victim].send_signal(signal.SIGKILL)
                    code = await running[victim].wait()
                    if code == -signal.SIGKILL:  # else it had just found the batch done
                        codes[victim].append(code)
                        sent += 1
                        if sent == never_restart:
                            lost = victim
                        else:
                            await start(victim)
                for worker in ids:
                    if worker != lost:
                        codes[worker].append(await running[worker].wait())
        finally:
            for process in running.values():
                if process.returncode is None:
                    process.kill()
                    await process.wait()
        seconds = time.monotonic() - started
        refetched = None
        if lost is not None:  # its disk is gone with it: a live worker fetches its clips again
            survivor = next(worker for worker in ids if worker != lost)

            def client() -> CutPro:
                return fast_client(fake.api_key, fake.base_url)

            again = await work(
                db_url,
                survivor,
                folder / f"out-{survivor}",
                client,
                settings=FAST_ENGINE,
                refetch_missing=True,
            )
            refetched = again.refetched
        async with Tables(db_url) as tables:
            rows = await tables.videos(BATCH)
            files = await tables.files(BATCH)
            starts, reruns = (await tables.run(_RERUNS))[0]
        status = await batch_status(db_url, BATCH, FAST_ENGINE.heartbeat_timeout)
        again = await enqueue(db_url, BATCH, urls, options)
        unfinished_after = await _unfinished(db_url)
        taken = await adopted_from(db_url)
        orphans = 0
        for worker in ids:  # what a worker killed mid-download left, finished by another
            orphans += await tidy(db_url, folder / f"out-{worker}")
        ledger = fake.charges_per_video()
        requests = fake.requests
        injected, leaks = dict(fake.injected), list(fake.key_leaks)
    return ClusterReport(
        videos=videos,
        kills=sent,
        codes=codes,
        rows=rows,
        charges=[ledger[row.video_id or ""] for row in rows],
        total_charges=sum(ledger.values()),
        files=files,
        files_complete=complete(files),
        orphans=orphans,
        parts_left=parts_in(folder),
        analyses=requests["POST /clips/info"],
        analyze_429s=fake.rate_limited["POST /clips/info"],
        paid_requests=requests["POST /clips"],
        injected=injected,
        key_leaks=leaks,
        seconds=seconds,
        lost=lost,
        adopted=sum(taken.values()),
        adopted_from=taken,
        refetched=refetched,
        rerun_steps=int(reruns),
        step_starts=int(starts),
        status=status,
        enqueued_again=again,
        unfinished_after=unfinished_after,
    )


#: (step starts, starts of a step after DBOS had recorded its result).
_RERUNS = (
    "SELECT count(*), count(*) FILTER (WHERE s.started_ms > o.completed_at_epoch_ms) "
    "FROM test_step_starts s LEFT JOIN dbos.operation_outputs o "
    "ON o.workflow_uuid = s.workflow_id AND o.function_id = s.step_id"
)


async def _unfinished(db_url: str) -> int:
    """Workflows enqueued or pending in the system database."""
    async with Tables(db_url) as tables:
        rows = await tables.run(
            "SELECT count(*) FROM dbos.workflow_status WHERE status IN ('ENQUEUED', 'PENDING')"
        )
    return int(rows[0][0])


async def joined(db_url: str, count: int) -> None:
    """Wait until `count` workers have joined (their rows in `cutpro_workers`)."""
    while len(await workers(db_url, FAST_ENGINE.heartbeat_timeout)) < count:
        await anyio.sleep(0.1)


async def adopted_from(db_url: str) -> dict[str, int]:
    """Workflows adopted from each worker (by the live ones), as `cutpro_workers` says."""
    found = await workers(db_url, FAST_ENGINE.heartbeat_timeout)
    return {row.worker_id: row.adopted for row in found if row.adopted}
