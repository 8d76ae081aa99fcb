"""Enqueue a batch and work on it, from any number of processes and machines sharing one
PostgreSQL.

    result = await enqueue(db_url, None, urls, BatchOptions(top_k=3))
    report = await work(db_url, "host-a-1", Path("clips"), lambda: CutPro(), until_empty=True)

`enqueue` notes the batch and one row per source in the batch tables and enqueues one DBOS
workflow per source, with an id derived from the batch id and the source: the same batch
enqueued again adds nothing. `work` runs this process as one DBOS executor (`worker_id`, which
must stay the same across restarts of this worker and differ from every other worker's; a
second process with a live worker's id is refused): it joins the workers' heartbeat table
(`presence`), recovers the workflows it left unfinished, then takes videos and deliveries
from the queues, starts analyses in the window every worker shares (`pace`), beats, takes
its share of the request rate (`limits`), and adopts the unfinished workflows of workers
silent for longer than the heartbeat timeout, until no workflow of its version is queued or
pending on any worker (`until_empty`: it stays while others work, to adopt theirs if they
die), or until cancelled. `refetch_missing` first fetches again, free, the clips whose file
is out of reach (`refetch`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import anyio
import attrs
from dbos import DBOS, DBOSClient, DBOSConfig, EnqueueOptions

from .._groups import sole_error
from ..batch.sources import is_url, normalize
from ..client import CutPro
from ..errors import UsageError
from . import workflows
from .fencing import LockSessions
from .limits import GlobalSlots, share_rate
from .options import (
    ANALYZE_WINDOW,
    APP_NAME,
    DELIVER_QUEUE,
    VIDEO_QUEUE,
    VIDEO_WORKFLOW,
    WORKFLOW_NAMES,
    WORKFLOW_VERSION,
    BatchOptions,
    EngineSettings,
    batch_id_of,
    check_batch_id,
    workflow_id_of,
)
from .pace import SharedWindow
from .presence import Presence, PresumedGone
from .refetch import Refetched, refetch
from .tables import Tables, ensure_schema, opened

log = logging.getLogger("cutpro_async")
_UNFINISHED = ["ENQUEUED", "PENDING"]


@attrs.frozen
class Enqueued:
    """What `enqueue` did: the batch's id, its videos, and how many of them were new."""

    batch_id: str
    videos: int
    new: int
    repeated: int  # sources listed more than once (enqueued once)


@attrs.frozen
class WorkReport:
    """What one `work` call did: videos this worker ended (done or failed), how many failed,
    its time, unfinished workflows of other workflow versions it left alone, the `.part`
    files of downloads finished elsewhere that it removed, and what it adopted."""

    worker_id: str
    finished: int
    failed: int
    seconds: float
    other_versions: int
    tidied: int = 0
    adopted: int = 0  # unfinished workflows of gone workers this one put back on their queues
    refetched: Refetched | None = None  # clips out of reach fetched again (if asked)


def default_worker_id(slot: int = 1) -> str:
    """A worker id for slot `slot` of this machine: `<host name>-<slot>` (stable across
    restarts, as recovery needs; two workers of one machine need two slots)."""
    return f"{socket.gethostname()}-{slot}"


def _sources(sources: Iterable[str]) -> tuple[list[str], int]:
    """The sources normalised, in order, without repeats (and how many repeats there were);
    a distributed batch takes URLs only (a local file lives on one machine)."""
    kept: list[str] = []
    seen: set[str] = set()
    repeated = 0
    for given in sources:
        if not given.strip() or given.lstrip().startswith("#"):
            continue
        source = normalize(given)
        if not is_url(source):
            raise UsageError(
                f"{source} is a local file: a distributed batch takes URLs (a file lives on "
                "one machine); run it with cutpro run, or publish it first"
            )
        if source in seen:
            repeated += 1
            continue
        seen.add(source)
        kept.append(source)
    return kept, repeated


async def enqueue(
    db_url: str,
    batch_id: str | None,
    sources: Iterable[str],
    options: BatchOptions | None = None,
) -> Enqueued:
    """Enqueue one workflow per source (ids derived from `batch_id` and the source, so a
    second call with the same batch adds nothing); `batch_id=None` derives it from the
    sources and options. A batch id already used with other options is refused."""
    options = options or BatchOptions()
    kept, repeated = _sources(sources)
    batch_id = check_batch_id(batch_id or batch_id_of(kept, options))
    wanted = options.to_json()
    await anyio.to_thread.run_sync(DBOS.migrate, db_url)  # the engine's own tables
    async with opened(db_url) as tables:
        kept_options = await tables.add_batch(batch_id, wanted)
        if kept_options != wanted:
            raise UsageError(
                f"batch {batch_id} was enqueued with other options ({kept_options}); give "
                "this one another batch id"
            )
        rows = [(workflow_id_of(batch_id, s), s, n) for n, s in enumerate(kept)]
        new = await tables.add_videos(batch_id, rows)
        await enqueue_videos(db_url, batch_id, [(w, s) for w, s, _ in rows], wanted)
    return Enqueued(batch_id, len(kept), len(new), repeated)


async def enqueue_videos(
    db_url: str, batch_id: str, videos: Sequence[tuple[str, str]], options: dict[str, Any]
) -> None:
    """Enqueue the video workflow of each (workflow id, source) of a batch with its options
    (as JSON); an id the engine already has adds nothing."""
    if not videos:
        return
    async with system_client(db_url) as client:
        for workflow_id, source in videos:
            enqueue_options: EnqueueOptions = {
                "workflow_name": VIDEO_WORKFLOW,
                "queue_name": VIDEO_QUEUE,
                "workflow_id": workflow_id,
                "app_version": WORKFLOW_VERSION,
            }
            await client.enqueue_async(enqueue_options, batch_id, source, options)


@contextlib.asynccontextmanager
async def system_client(db_url: str) -> AsyncIterator[DBOSClient]:
    """A DBOS client of the system database (outside any worker), destroyed after use."""
    client = await anyio.to_thread.run_sync(_client, db_url)
    try:
        yield client
    finally:
        await anyio.to_thread.run_sync(client.destroy)


async def running_workflows(client: DBOSClient, batch_id: str) -> int:
    """How many workflows of the batch are queued or running (any version, any worker)."""
    found = await client.list_workflows_async(
        workflow_id_prefix=f"{batch_id}:",
        status=_UNFINISHED,
        load_input=False,
        load_output=False,
    )
    return len(found)


def _client(db_url: str) -> DBOSClient:
    """A DBOS client of the system database (connects at once)."""
    return DBOSClient(system_database_url=db_url, application_name=APP_NAME)


async def work(
    db_url: str,
    worker_id: str,
    out: Path,
    client_factory: Callable[[], CutPro],
    *,
    until_empty: bool = True,
    settings: EngineSettings | None = None,
    on_step: Callable[[str, int], Awaitable[None]] | None = None,
    refetch_missing: bool = False,
    lost: Sequence[str] = (),
) -> WorkReport:
    """Run this process as worker `worker_id`: recover its unfinished videos, then take
    queued ones, saving clips under `out`; returns once the batch has nothing queued and
    nothing of this worker's pending (`until_empty`), else runs until cancelled. One worker
    per process (DBOS runs one executor per process). `on_step` is called as each step
    starts, with its workflow and step ids. `refetch_missing` first fetches again, free, the
    clips whose file is out of reach (`refetch`), those held by `lost` workers included."""
    settings = settings or EngineSettings()
    folder = await anyio.Path(out).resolve()  # the tables name files by absolute paths
    await folder.mkdir(parents=True, exist_ok=True)
    out = Path(folder)
    started = time.monotonic()
    await ensure_schema(db_url)
    async with (
        client_factory() as client,
        workflows.single_shot(client) as analyzer,
        Tables(db_url) as tables,
    ):
        await client.balance.get()  # checks the key, and learns the server's clock
        cap = await _render_cap(client, settings)
        renders = GlobalSlots(db_url, "renders", cap, lease=settings.heartbeat_timeout)
        analyses = SharedWindow(
            db_url, ANALYZE_WINDOW, settings.analyze_limit, settings.analyze_period
        )
        locks = LockSessions(db_url, settings.lease, keep=settings.pay_concurrency)
        worker = workflows.Worker(
            client,
            analyzer,
            analyses,
            tables,
            db_url,
            worker_id,
            out,
            settings,
            renders,
            anyio.CapacityLimiter(settings.download_concurrency),
            anyio.CapacityLimiter(settings.pay_concurrency),
            on_step=on_step,
            lock_sessions=locks,
        )
        presence = Presence(
            db_url, worker_id, str(out), settings.heartbeat, settings.heartbeat_timeout
        )
        await presence.join()  # before DBOS: a second process with this id never launches
        workflows.install(worker)
        gone = False
        fetched: Refetched | None = None
        try:
            if refetch_missing:
                fetched = await refetch(
                    client,
                    tables,
                    worker_id,
                    out,
                    lost=lost,
                    timeout=settings.heartbeat_timeout,
                    concurrency=settings.download_concurrency,
                    renders=renders,
                )
            other = await _run(db_url, worker, presence, settings, until_empty)
        except PresumedGone:
            gone = True
            raise
        finally:
            workflows.install(None)
            with anyio.CancelScope(shield=True):
                await (presence.close() if gone else presence.leave())
                await renders.close()
                await analyses.close()
                await locks.close()
        tidied = await _tidy(out, tables)
    seconds = time.monotonic() - started
    return WorkReport(
        worker_id, worker.finished, worker.failed, seconds, other, tidied, worker.adopted, fetched
    )


async def tidy(db_url: str, out: Path) -> int:
    """Remove from `out` the `.part` files (and sidecars) of clips saved by some worker since
    (a worker stopped mid-download, its video finished elsewhere); returns how many."""
    async with opened(db_url) as tables:
        return await _tidy(Path(out), tables)


async def _tidy(out: Path, tables: Tables) -> int:
    """Remove the `.part` files (and sidecars) of downloads that another worker finished
    after this one was stopped (its video went to whoever took it over); returns how many."""
    removed = 0
    for part in await anyio.to_thread.run_sync(lambda: sorted(out.glob("*.part"))):
        if await tables.saved_as(part.name.removesuffix(".part")):
            for path in (part, part.with_name(part.name + ".json")):
                await anyio.Path(path).unlink(missing_ok=True)
            removed += 1
    return removed


async def _render_cap(client: CutPro, settings: EngineSettings) -> int:
    """The renders in flight allowed across every worker: the settings', else the plan's."""
    if settings.render_concurrency is not None:
        return settings.render_concurrency
    limits = await client.renders.limits()
    return max(1, int(limits.plan.max_concurrent_renders))


def _config(db_url: str, worker_id: str, settings: EngineSettings) -> DBOSConfig:
    """DBOS's settings for this worker."""
    return {
        "name": APP_NAME,
        "system_database_url": db_url,
        "executor_id": worker_id,
        "application_version": WORKFLOW_VERSION,
        "sys_db_pool_size": settings.pool_size,
        # A paused worker's open transactions are ended as its presence is, so that its
        # row locks never hold up the workers adopting its videos.
        "sys_db_idle_transaction_timeout_sec": settings.heartbeat_timeout,
        "log_level": settings.log_level,
        # Only a fallback: the listener waits on LISTEN/NOTIFY, at no cost while idle.
        "notification_listener_polling_interval_sec": min(1.0, settings.result_polling),
        # DBOS's notifier thread wakes this often to send the NOTIFYs of events, messages
        # and streams, which these workflows do not use: 100 times a second by default,
        # about 4 ms of CPU a second in an idle worker.
        "notification_coalesce_sec": 1.0,
    }


async def _run(
    db_url: str,
    worker: workflows.Worker,
    presence: Presence,
    settings: EngineSettings,
    until_empty: bool,
) -> int:
    """Launch DBOS on this event loop (workflows run here, beside the client), listen to the
    queues, beat and adopt, wait; returns how many unfinished workflows belong to other
    versions. `PresumedGone` if this worker was silent too long and must stop."""
    loop = asyncio.get_running_loop()
    # DBOS makes its own pool this loop's default executor, and shuts it down when destroyed:
    # the caller's loop gets its own back then (asyncio keeps it in a private attribute).
    saved: Executor | None = getattr(loop, "_default_executor", None)
    DBOS(config=_config(db_url, worker.worker_id, settings))
    try:
        DBOS.launch()  # recovers this executor's pending workflows; runs them on this loop
        await _queues(settings)
        other = await _other_versions()
        if other:
            log.warning(
                "%d unfinished videos were started by another version of the workflow code "
                "than %s: this worker leaves them to workers of their version",
                other,
                WORKFLOW_VERSION,
            )
        async with anyio.create_task_group() as group:
            group.start_soon(_keep_alive, worker, presence, settings)
            group.start_soon(_adopting, worker, presence, settings)
            while True:
                await anyio.sleep(settings.idle_polling)
                if until_empty and await _idle():
                    group.cancel_scope.cancel()
                    return other
    except BaseExceptionGroup as errors:
        raise sole_error(errors) from None
    finally:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(_destroy)
        loop.set_default_executor(saved or ThreadPoolExecutor())
    raise AssertionError("unreachable")  # pragma: no cover


async def _queues(settings: EngineSettings) -> None:
    """Declare the queues this worker listens to (the last declaration's limits apply)."""
    await DBOS.register_queue_async(
        VIDEO_QUEUE,
        worker_concurrency=settings.worker_concurrency,
        polling_interval_sec=settings.queue_polling,
        on_conflict="always_update",
    )
    # A worker holds as many deliveries again as it downloads, the others waiting their turn
    # on its download slots: a slot that frees never idles until the next poll.
    await DBOS.register_queue_async(
        DELIVER_QUEUE,
        worker_concurrency=2 * settings.download_concurrency,
        polling_interval_sec=settings.queue_polling,
        on_conflict="always_update",
    )


async def _keep_alive(
    worker: workflows.Worker, presence: Presence, settings: EngineSettings
) -> None:
    """Beat every `heartbeat` seconds (the render slots' session too) and take this worker's
    share of the request rate."""
    while True:
        live = await presence.beat()
        await worker.renders.ping()
        for client in (worker.client, worker.analyzer):
            share_rate(client, settings.requests_per_second, live)
        await anyio.sleep(settings.heartbeat)


async def _adopting(worker: workflows.Worker, presence: Presence, settings: EngineSettings) -> None:
    """Every `heartbeat` seconds, adopt the videos of workers gone since (a task of its own:
    an adoption may wait for a paused worker's transactions to be ended, and the beats
    must go on meanwhile)."""
    while True:
        await anyio.sleep(settings.heartbeat)
        gone = await presence.gone()
        if gone:
            worker.adopted += await _adopt(presence, gone)


async def _adopt(presence: Presence, gone: list[str]) -> int:
    """Put the unfinished workflows of `gone` workers back on their queues (DBOS's recovery
    by executor id; the queue gives each to one live worker); returns how many."""
    adopted = 0
    async with presence.adopting() as got:
        if not got:  # another worker is adopting right now
            return 0
        for worker_id in gone:
            handles = await anyio.to_thread.run_sync(DBOS._recover_pending_workflows, [worker_id])
            if handles:
                await presence.adopted(worker_id, len(handles))
                log.warning(
                    "worker %s is gone (silent for more than %g s): %d of its unfinished "
                    "workflows put back on their queues for the live workers",
                    worker_id,
                    presence.timeout,
                    len(handles),
                )
                adopted += len(handles)
    return adopted


def _destroy() -> None:
    """Stop DBOS (its threads, its connections)."""
    DBOS.destroy()


async def _idle() -> bool:
    """Nothing of this version is queued or pending on any worker: the batches are done.
    (A worker waits while others work, so that it can adopt their videos if they die.)"""
    found = await DBOS.list_workflows_async(
        status=_UNFINISHED,
        name=list(WORKFLOW_NAMES),
        app_version=WORKFLOW_VERSION,
        load_input=False,
        load_output=False,
        limit=1,
    )
    return not found


async def _other_versions() -> int:
    """Unfinished workflows of this application started by other workflow versions."""
    found: list[Any] = await DBOS.list_workflows_async(
        status=_UNFINISHED,
        name=[VIDEO_WORKFLOW],
        load_input=False,
        load_output=False,
    )
    return sum(1 for status in found if status.app_version != WORKFLOW_VERSION)
