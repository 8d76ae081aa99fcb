"""A distributed batch that reads as `Batch` does: `run(sources)` returns a `Summary`.

    async with CutPro() as cp:  # one machine, SQLite
        summary = await Batch(cp, RunOptions(out="clips"), store).run(urls)
    # many machines, PostgreSQL: the same call, each worker's files under its own folder
    summary = await DistributedBatch(db_url, CutPro, Path("clips")).run(urls)

Both are a `cutpro_async.batch.Runner`. `run` is `prepare` (the budget, enqueue: nothing new
the second time, new attempts), `work` (this process as one worker until nothing is queued),
then `wait` (for the videos other workers still hold); `cutpro run --db` calls the three
itself to say what happens between them. The summary counts the whole batch as its tables
hold it at the end (every worker and every run of it), not only what this process did.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable
from pathlib import Path

import anyio
import attrs

from ..batch.events import Summary
from ..batch.sources import Sources, iterate, normalize
from ..client import CutPro
from .engine import Enqueued, WorkReport, enqueue, running_workflows, system_client, work
from .options import BatchOptions, EngineSettings, batch_id_of
from .rerun import retry, set_budget
from .status import BatchStatus, batch_status, manifest_rows

log = logging.getLogger("cutpro_async")


def run_worker_id() -> str:
    """The worker id of a process that runs a batch (`<host>-run`: apart from `cutpro
    worker`'s `<host>-1`, and stable across its restarts, as recovery needs)."""
    return f"{socket.gethostname()}-run"


@attrs.define
class DistributedBatch:
    """One batch on PostgreSQL (`db_url`), run by this process as worker `worker_id` beside
    any others, clips saved under `out`. `budget` (credits, the whole batch's) replaces the
    batch's cap; None keeps it. `retry_failed` gives failed videos a new attempt."""

    db_url: str
    client_factory: Callable[[], CutPro]
    out: Path
    options: BatchOptions = attrs.field(factory=BatchOptions)
    settings: EngineSettings = attrs.field(factory=EngineSettings)
    batch_id: str | None = None
    worker_id: str = attrs.field(factory=run_worker_id)
    budget: float | None = None
    retry_failed: bool = False
    #: What `prepare` enqueued, how many videos it gave a new attempt, what `work` did.
    enqueued: Enqueued | None = attrs.field(default=None, init=False)
    retried: int = attrs.field(default=0, init=False)
    report: WorkReport | None = attrs.field(default=None, init=False)
    _stopping: anyio.CancelScope = attrs.field(factory=anyio.CancelScope, init=False)

    async def run(self, sources: Sources) -> Summary:
        """Enqueue `sources`, work on the batch, wait for the other workers; the summary."""
        started = time.monotonic()
        with self._stopping:
            await self.prepare(sources)
            await self.work()
            await self.wait()
        return await self.summary(time.monotonic() - started)

    def stop(self) -> None:
        """Stop: this worker leaves (its unfinished videos resume when it runs again, or
        are adopted by the live workers once it has been silent for the heartbeat timeout)."""
        self._stopping.cancel()

    async def prepare(self, sources: Sources) -> Enqueued:
        """Set the budget, enqueue every source (nothing new for a batch enqueued before),
        give a new attempt to the videos that may have one."""
        listed = list(dict.fromkeys([normalize(source) async for source in iterate(sources)]))
        if self.batch_id is None:
            self.batch_id = batch_id_of(listed, self.options)
        if self.budget is not None:  # before anything is enqueued: no worker pays under the old
            await set_budget(self.db_url, self.batch_id, self.options, self.budget)
        self.enqueued = await enqueue(self.db_url, self.batch_id, listed, self.options)
        self.retried = await retry(self.db_url, self.batch_id, failed=self.retry_failed)
        return self.enqueued

    async def work(self) -> WorkReport:
        """Work on the queues as one worker until nothing of the batches is queued."""
        self.report = await work(
            self.db_url,
            self.worker_id,
            self.out,
            self.client_factory,
            until_empty=True,
            settings=self.settings,
        )
        return self.report

    async def wait(self) -> BatchStatus:
        """Wait until every video of the batch has ended (others may hold some still), or
        until no workflow of it is left to end the others (then their rows stay unfinished,
        which `status().unfinished` says, and a warning)."""
        status, idle = await self.status(), 0
        if status.unfinished:
            async with system_client(self.db_url) as client:
                while status.unfinished and idle < 2:  # twice: a rerun may be between steps
                    await anyio.sleep(self.settings.idle_polling)
                    running = await running_workflows(client, status.batch_id)
                    idle = 0 if running else idle + 1
                    status = await self.status()
        if status.unfinished:
            log.warning(
                "%d videos of batch %s are unfinished but no workflow is left to end them",
                status.unfinished,
                status.batch_id,
            )
        return status

    async def status(self) -> BatchStatus:
        """The batch as its tables hold it now, across every worker."""
        if self.batch_id is None:
            raise RuntimeError("the batch has no id before prepare() or run()")
        return await batch_status(self.db_url, self.batch_id, self.settings.heartbeat_timeout)

    async def summary(self, elapsed: float = 0.0) -> Summary:
        """The whole batch's totals now, as a `Summary` (`elapsed`: this run's seconds)."""
        status = await self.status()
        rows = await manifest_rows(self.db_url, status.batch_id)
        return Summary(
            done=status.phases.get("done", 0),
            failed=status.phases.get("failed", 0),
            skipped=status.phases.get("skipped", 0),
            credits_spent=status.credits,
            files=len(rows),
            bytes=sum(int(row["bytes"] or 0) for row in rows),
            elapsed=elapsed,
            interrupted=self._stopping.cancel_called,
        )
