"""One video, one DBOS workflow, in coarse steps; each step is recorded once it returns.

    analyze  `POST /clips/info`, each try started in the analysis window that every worker
             shares (`pace.SharedWindow`, the API's 10 a minute per key)
    intent   the intent to pay, on the server's clock, kept in the video's row (the first
             one stays) and recorded as this step's result
    pay      `fencing.pay_once`: under the video's lock, adopt what exists or pay once
    clips    wait for the clipping job, choose the best `top_k`, apply the template, render
             each chosen clip under a render slot shared by every worker
    deliver  a child workflow on the delivery queue (`DELIVER_QUEUE`), taken by any worker
             with a free download slot, whose one step downloads the video's clips into that
             worker's folder, verified (its rows name the worker that holds each file), and
             says the video is done

The video's workflow ends once its delivery is queued; the delivery's workflow ends the video
(done, or failed with the error). A video without clips to download ends in its own workflow.

A step that fails raises `StepFailed` (recorded like a result: a recovery replays it), and
the workflow ends by recording the failure: the workflow itself succeeds, its video failed.
Steps reach the worker's client and tables through `current()`, set by `engine.work`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import anyio
import attrs
from dbos import DBOS

from .._retry import retry_after
from ..batch.index import index_key
from ..batch.naming import render_name
from ..client import CutPro
from ..errors import (
    CutProError,
    Expired,
    RateLimited,
    RenderFailed,
    ServerError,
    SubmissionFailed,
    TransportError,
    UsageError,
)
from ..models import DownloadLink, SourceLanguage, SubmitRequest, Timeframe
from .fencing import Fenced, LockSessions, pay_once
from .limits import GlobalSlots
from .options import DELIVER_QUEUE, DELIVER_WORKFLOW, VIDEO_WORKFLOW, BatchOptions, EngineSettings
from .pace import SharedWindow
from .tables import SavedClip, Tables

log = logging.getLogger("cutpro_async")
T = TypeVar("T")

#: How many times a video's analysis is sent (each in the shared window) before it fails.
ANALYSIS_TRIES = 6
#: How many times the paid step takes the video's lock again after losing it.
PAY_TRIES = 3
#: The API's code for a submission whose clips are gone.
SUBMISSION_EXPIRED = "SUBMISSION_EXPIRED"


class StepFailed(Exception):
    """A step of a video failed for good in this run: the message, the phase it failed in,
    and whether running it again could help."""

    def __init__(self, message: str, phase: str, retryable: bool = True) -> None:
        super().__init__(message, phase, retryable)
        self.message, self.phase, self.retryable = message, phase, retryable

    def __str__(self) -> str:
        return self.message


@attrs.define
class Worker:
    """What the steps of this process use: its client, tables, folder and identity."""

    client: CutPro
    #: The same API, each request sent once: analyses are retried in their shared window.
    analyzer: CutPro
    #: The analyses' starts, paced for every worker at once.
    analyses: SharedWindow
    tables: Tables
    db_url: str
    worker_id: str
    out: Path
    settings: EngineSettings
    #: The renders in flight across every worker (see `limits`).
    renders: GlobalSlots
    downloads: anyio.CapacityLimiter
    #: Paid steps at once in this worker (each holds a session for its lock).
    paying: anyio.CapacityLimiter
    #: Videos this process ended (done or failed), and how many of them failed.
    finished: int = 0
    failed: int = 0
    #: Unfinished workflows of gone workers this one put back on their queues.
    adopted: int = 0
    #: Called with (workflow id, step id) as each step starts (tests audit re-runs with it).
    on_step: Callable[[str, int], Awaitable[None]] | None = None
    #: The paid locks' sessions, kept from one paid step to the next (None: one per step).
    lock_sessions: LockSessions | None = None


async def _starting() -> Worker:
    """The worker, told that a step starts (if it listens)."""
    worker = current()
    if worker.on_step is not None:
        workflow_id, step_id = DBOS.workflow_id, DBOS.step_id
        assert workflow_id is not None and step_id is not None
        await worker.on_step(workflow_id, step_id)
    return worker


_worker: Worker | None = None


def install(worker: Worker | None) -> None:
    """Make `worker` what this process's steps use (None: none)."""
    global _worker
    _worker = worker


def current() -> Worker:
    """The worker of this process (set by `engine.work`)."""
    if _worker is None:
        raise RuntimeError("no cutpro worker runs in this process (start one with engine.work)")
    return _worker


def single_shot(client: CutPro) -> CutPro:
    """A client of the same API and settings that sends each request once (no retries)."""
    settings = client.settings
    return CutPro(
        settings.api_key,
        workspace_id=settings.workspace_id,
        base_url=settings.base_url,
        timeouts=settings.timeouts,
        retry=attrs.evolve(settings.retry, max_retries=0),
        pacing=settings.pacing,
        limits=settings.limits,
        polling=settings.polling,
        allow_insecure_http=settings.allow_insecure_http,
    )


@contextlib.contextmanager
def failing(phase: str) -> Iterator[None]:
    """Turn an error of the client (or a bug) into `StepFailed` in `phase`."""
    try:
        yield
    except (StepFailed, Fenced):  # Fenced: this process lost the video, it records nothing
        raise
    except CutProError as exc:
        retryable = not isinstance(exc, SubmissionFailed | UsageError)
        raise StepFailed(f"{type(exc).__name__}: {exc}", phase, retryable) from None
    except Exception as exc:  # a bug must fail the video, not the worker
        log.exception("unexpected error in phase %s", phase)
        raise StepFailed(f"{type(exc).__name__}: {exc}", phase) from None


# -- the video workflow -------------------------------------------------------------------


@DBOS.workflow(name=VIDEO_WORKFLOW)
async def video_workflow(batch_id: str, source: str, options: dict[str, Any]) -> dict[str, Any]:
    """One source of a batch, from analysis to its clips' delivery on the delivery queue."""
    workflow_id = DBOS.workflow_id
    assert workflow_id is not None
    opts = BatchOptions.from_json(options)
    try:
        priced = await analyze_step(workflow_id, source)
        intent = await intent_step(workflow_id)
        paid = await pay_step(workflow_id, source, priced, options, intent)
        ranked = await clips_step(workflow_id, paid, options)
        if not opts.render or not ranked:
            return await finish_step(workflow_id, 0)
        # The downloads are a workflow on the delivery queue, taken by any worker with a free
        # download slot, so the batch's downloads spread over every worker's bandwidth
        # whichever worker holds the video; it ends the video.
        job = {"paid": paid, "naming": opts.naming, "clips": ranked}
        await DBOS.enqueue_workflow_async(DELIVER_QUEUE, deliver_workflow, workflow_id, job)
        return {"phase": "delivering", "files": len(ranked)}
    except StepFailed as failure:
        return await fail_step(workflow_id, failure.message, failure.phase, failure.retryable)


async def _all(*work: Awaitable[T]) -> list[T]:
    """The results of `work` run concurrently, each to its end; the first failure raised."""
    results: list[T] = []
    for outcome in await asyncio.gather(*work, return_exceptions=True):
        if isinstance(outcome, BaseException):
            raise outcome
        results.append(outcome)
    return results


@DBOS.step(name="cutpro.analyze")
async def analyze_step(workflow_id: str, source: str) -> dict[str, Any]:
    """`POST /clips/info`: the video id, its cost and length (also written to its row). A
    try that fails for a passing reason is tried again, each try in the shared window."""
    worker = await _starting()
    policy = worker.client.settings.retry
    reason, wait = "", 0.0
    with failing("new"):
        for attempt in range(ANALYSIS_TRIES):
            await anyio.sleep(wait)
            await worker.analyses.start()
            try:
                info = await worker.analyzer.videos.analyze(source)
            except (ServerError, TransportError, RateLimited) as exc:
                # Not retried by the client: each try must take its start in the window.
                after = retry_after(None, exc.extra) if isinstance(exc, RateLimited) else None
                reason = f"{type(exc).__name__}: {exc}"
                backoff = min(policy.backoff_max, policy.backoff_initial * 2**attempt)
                wait = max(backoff, after or 0.0)
                continue
            await worker.tables.priced(
                workflow_id, worker.worker_id, info.video_id, info.credits_cost, info.duration
            )
            return {
                "video_id": info.video_id,
                "credits_cost": info.credits_cost,
                "duration": info.duration,
            }
    raise StepFailed(f"the analysis failed {ANALYSIS_TRIES} times; last: {reason}", "new")


@DBOS.step(name="cutpro.intent")
async def intent_step(workflow_id: str) -> datetime:
    """The intent to pay (the server's time), kept before the paid step can send anything."""
    worker = await _starting()
    with failing("priced"):
        return await worker.tables.intent(
            workflow_id, worker.worker_id, worker.client.server_time()
        )


@DBOS.step(name="cutpro.pay")  # never retried by DBOS: pay_once decides what is safe
async def pay_step(
    workflow_id: str,
    source: str,
    priced: dict[str, Any],
    options: dict[str, Any],
    intent: datetime,
) -> dict[str, Any]:
    """The paid step: adopt the video's submission if one exists, else pay, once."""
    worker, opts = await _starting(), BatchOptions.from_json(options)
    with failing("submitting"):
        request = submit_request(priced, opts)
        settings = worker.client.settings
        key = index_key(settings.base_url, settings.workspace_id, source, request)
        for _ in range(PAY_TRIES):
            try:
                async with worker.paying:
                    paid = await pay_once(
                        worker.client,
                        worker.db_url,
                        workflow_id=workflow_id,
                        holder=worker.worker_id,
                        key=key,
                        request=request,
                        intent=intent,
                        resubmit=opts.resubmit,
                        lease=worker.settings.lease,
                        sessions=worker.lock_sessions,
                    )
                return attrs.asdict(paid)
            except Fenced as exc:
                # The lock's session ended (a pause, a cut connection) before this step
                # could record: take it again; under it the row and the server say what
                # happened, so a second try adopts rather than pays again. (If another
                # worker took the video over meanwhile, DBOS refuses this step's record.)
                lost = exc
                log.warning("%s; taking the video's lock again", exc)
        raise StepFailed(f"{lost} ({PAY_TRIES} times in a row)", "submitting")


def submit_request(priced: dict[str, Any], options: BatchOptions) -> SubmitRequest:
    """The submission a video asks for, its timeframe cut to the video's length (the whole
    video said explicitly, so that the server's list can be matched against it)."""
    duration: float | None = priced.get("duration")
    frame = options.frame
    if frame is None and duration is not None:
        frame = Timeframe(0, duration)
    elif frame is not None and duration is not None:
        if frame.start >= duration:
            raise UsageError(
                f"the timeframe starts at {frame.start:g} s, after the video's end ({duration:g} s)"
            )
        frame = Timeframe(frame.start, min(frame.end, duration))
    return SubmitRequest(
        priced["video_id"],
        SourceLanguage(options.source_language),
        options.strategy_id,
        frame,
        None,
    )


@DBOS.step(name="cutpro.clips")
async def clips_step(
    workflow_id: str, paid: dict[str, Any], options: dict[str, Any]
) -> list[dict[str, Any]]:
    """Wait for the clipping job, choose the best clips, apply the template if asked, and
    render them if the batch renders (each under one of the render slots every worker
    shares, adopting a running render): the chosen clips, ranked, with their render ids."""
    worker, opts = await _starting(), BatchOptions.from_json(options)
    chosen = await _choose(worker, workflow_id, paid, opts)
    render_ids: list[str | None] = [None] * len(chosen)
    if opts.render:
        with failing("clipped"):
            render_ids = [*await _all(*(_render(worker, paid, clip) for clip in chosen))]
    return [
        {"clip": clip, "render_id": render_id, "rank": rank}
        for rank, (clip, render_id) in enumerate(zip(chosen, render_ids, strict=True), 1)
    ]


async def _choose(
    worker: Worker, workflow_id: str, paid: dict[str, Any], opts: BatchOptions
) -> list[dict[str, Any]]:
    """Wait for the clipping job, choose the best clips, apply the template if asked."""
    video_id, submission_id = paid["video_id"], paid["submission_id"]
    client = worker.client
    with failing("submitted"):
        await client.submissions.wait(video_id, submission_id)
        chosen: list[dict[str, Any]] = []
        async for clip in client.clips.iter(video_id, submission_id, min_rating=opts.min_rating):
            chosen.append(
                {
                    "id": clip.id,
                    "title": clip.title,
                    "rating": clip.rating,
                    "start_time": clip.start_time,
                    "end_time": clip.end_time,
                }
            )
            if len(chosen) == opts.top_k:
                break
        if opts.template_id and chosen:
            await client.clips.apply_template(
                video_id, submission_id, opts.template_id, [c["id"] for c in chosen]
            )
        await worker.tables.clipped(workflow_id, worker.worker_id)
    return chosen


async def _render(worker: Worker, paid: dict[str, Any], clip: dict[str, Any]) -> str:
    """Render one clip and wait for it, holding a render slot meanwhile."""
    client = worker.client
    async with worker.renders.hold():  # from before the render starts until it is ready
        created = await client.renders.create(
            paid["video_id"], paid["submission_id"], clip["id"], adopt_running=True
        )
        await client.renders.wait(created.render_id)
    return created.render_id


@DBOS.workflow(name=DELIVER_WORKFLOW)
async def deliver_workflow(workflow_id: str, job: dict[str, Any]) -> dict[str, Any]:
    """A video's downloads (`job`: its `paid`, the batch's `naming`, its ranked `clips` with
    their render ids), on whichever worker took it from the delivery queue: the files land
    in that worker's folder, and the video ends here (done, or failed)."""
    try:
        return await deliver_step(workflow_id, job)
    except StepFailed as failure:
        return await fail_step(workflow_id, failure.message, failure.phase, failure.retryable)


@DBOS.step(name="cutpro.deliver")
async def deliver_step(workflow_id: str, job: dict[str, Any]) -> dict[str, Any]:
    """Download the video's clips into this worker's folder (each resuming its `.part`,
    verified); then the video's row says done."""
    worker = await _starting()
    base = {"paid": job["paid"], "naming": job["naming"]}
    with failing("clipped"):
        await _all(*(_deliver(worker, workflow_id, {**base, **clip}) for clip in job["clips"]))
        return await _finished(worker, workflow_id, len(job["clips"]))


async def _deliver(worker: Worker, workflow_id: str, job: dict[str, Any]) -> None:
    """Download one clip's render (a render that expired meanwhile is rendered once more)
    and note the file in its row."""
    try:
        saved = await _download(worker, workflow_id, job)
    except (RenderFailed, Expired) as exc:
        if isinstance(exc, RenderFailed) and exc.status != "expired":
            raise
        if isinstance(exc, Expired) and exc.code == SUBMISSION_EXPIRED:
            raise
        clip = job["clip"]
        log.info("render of clip %s expired before download; rendering it again", clip["id"])
        render_id = await _render(worker, job["paid"], clip)
        saved = await _download(worker, workflow_id, {**job, "render_id": render_id})
    await worker.tables.saved(saved)


async def _download(worker: Worker, workflow_id: str, job: dict[str, Any]) -> SavedClip:
    """Download a clip's render into this worker's folder, named as the batch says."""
    client, video_id, clip = worker.client, job["paid"]["video_id"], job["clip"]
    render_id, rank, naming = job["render_id"], job["rank"], job["naming"]

    def name(link: DownloadLink) -> str:
        return render_name(
            naming,
            filename=link.filename or f"{render_id}.mp4",
            video_id=video_id,
            clip_id=clip["id"],
            render_id=render_id,
            rank=rank,
            title=clip["title"],
        )

    async with worker.downloads:
        done = await client.renders.download(render_id, worker.out, name=name)
    return SavedClip(
        workflow_id,
        clip["id"],
        rank,
        render_id,
        worker.worker_id,
        str(done.path),
        done.size,
        done.sha256,
        clip.get("title"),
        clip.get("rating"),
        clip.get("start_time"),  # absent from clips chosen before the manifest had them
        clip.get("end_time"),
    )


#: The steps that only end a video's row are retried by DBOS this many times (one idempotent
#: update each), so that a passing database error does not end the workflow with its row
#: unfinished.
ENDING_TRIES = 5


@DBOS.step(name="cutpro.finish", retries_allowed=True, max_attempts=ENDING_TRIES)
async def finish_step(workflow_id: str, files: int) -> dict[str, Any]:
    """The video is done: its row says so."""
    return await _finished(await _starting(), workflow_id, files)


async def _finished(worker: Worker, workflow_id: str, files: int) -> dict[str, Any]:
    """Note in the video's row that it is done, with `files` clips saved."""
    await worker.tables.finished(workflow_id, worker.worker_id)
    worker.finished += 1
    return {"phase": "done", "files": files}


@DBOS.step(name="cutpro.fail", retries_allowed=True, max_attempts=ENDING_TRIES)
async def fail_step(workflow_id: str, error: str, phase: str, retryable: bool) -> dict[str, Any]:
    """The video failed: its row says where and why (skipped over budget: it says so)."""
    worker = await _starting()
    ended = await worker.tables.finished(
        workflow_id, worker.worker_id, error=error, retryable=retryable
    )
    worker.finished += 1
    worker.failed += ended != "skipped"
    return {"phase": "failed", "failed_in": phase, "error": error, "retryable": retryable}
