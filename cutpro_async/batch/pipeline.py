"""The orchestrator: every video through analyze → submit → wait → render → wait → download.

Each stage has its own pool, so a slow stage never starves a fast one; the record is saved at
every step a crash must not lose, so a crashed or interrupted run resumes where it stopped
without paying twice; one video's failure is recorded and never stops the others.

A video is saved (top-k 1, a URL, the default naming: five saves):
- `submit_intent`, before the paid `POST /clips` (a restart reconciles instead of paying);
- `submission_id`, after it (a restart polls instead of reconciling);
- each render id, after `renders.create` (a restart waits for that render); the first one
  also carries the chosen clips and the price, which need no save of their own (choosing
  again, or analysing a URL again, costs no credits);
- each clip's file name, before its download (a restart resumes that `.part`, and never takes
  another clip's file for its own);
- each file, once it is durable under its name, except the video's last one, which is saved
  with phase `done` (or `failed`) right after.
Besides: the price of an uploaded file (uploading it again would cost the whole transfer), a
dry run's price, a skip or a failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream

from .._fs import is_intact
from .._groups import sole_error
from ..client import CutPro
from ..errors import (
    APIError,
    CutProError,
    Expired,
    NotFound,
    RenderFailed,
    StoreError,
    SubmissionFailed,
    TransportError,
    UsageError,
)
from ..jobs import Downloaded
from ..models import Clip, DownloadLink, SourceLanguage, Submission, SubmitRequest, Timeframe
from ._templates import used_fields
from .credits import Credits
from .events import (
    BytesDownloaded,
    CreditsSpent,
    Event,
    FileSaved,
    Priced,
    SourcesRead,
    Stage,
    StageFinished,
    StageStarted,
    Summary,
    VideoDone,
    VideoFailed,
    VideoSkipped,
)
from .index import SubmissionIndex, index_key
from .naming import Names, render_name
from .options import RunOptions
from .publishing import Publisher, resolve_accounts
from .record import ChosenClip, Phase, Record, SavedFile, reached
from .sources import Sources, is_url, iterate, normalize, printable
from .store import Store

log = logging.getLogger("cutpro_async")


#: The API's code for a submission whose clips are gone (re-submitting is the only way on).
SUBMISSION_EXPIRED = "SUBMISSION_EXPIRED"


class _Skip(Exception):
    """This video is not processed (budget, balance); the reason is recorded."""


class Batch:
    """Runs sources through the pipeline with one client, one store and one set of options."""

    def __init__(
        self,
        client: CutPro,
        options: RunOptions,
        store: Store,
        index: SubmissionIndex | None = None,
        *,
        endpoint: str | None = None,
    ) -> None:
        self.client = client
        self.options = options
        self.store = store
        #: The machine's index of paid submissions (None: this record only knows its own).
        self.index = index
        #: What names the API the record is bound to (default: the client's base URL; an
        #: embedded simulator, whose port changes, names its kept world instead).
        self.endpoint = endpoint or client.settings.base_url
        self.summary = Summary()
        self.errors: dict[str, BaseException] = {}
        self.skipped: dict[str, str] = {}
        self._known: dict[str, Record] = {}
        self._pools = {s: asyncio.Semaphore(options.concurrency.of(s)) for s in Stage}
        self._listeners: list[Callable[[Event], object]] = []
        self.credits = Credits(options.budget)
        self._names = Names()
        #: Whether the naming template uses the server's file name.
        self._server_named = bool({"filename", "stem", "ext"} & used_fields(options.naming))
        self._soft = anyio.CancelScope()
        #: Set when the record could not be saved: the run stops and `run` raises it.
        self.store_error: StoreError | None = None
        #: The publish stage, once its accounts are known (None: nothing is posted).
        self.publisher: Publisher | None = None
        #: Videos with a file renamed into OUT whose folder fsync is left to the record's
        #: commit: their saves ask the store to fsync OUT first (see `_save`).
        self._renamed: set[str] = set()

    # -- running --------------------------------------------------------------------------

    async def run(
        self, sources: Sources, on_event: Callable[[Event], object] | None = None
    ) -> Summary:
        """Process every source; returns the summary (also kept in `self.summary`)."""
        if on_event is not None:
            self._listeners.append(on_event)
        started = time.monotonic()
        try:
            await self._prepare()
            with self._soft:
                await self._feed(sources)
            self.summary.interrupted = self._soft.cancel_called and self.store_error is None
        finally:
            self.summary.elapsed = time.monotonic() - started
            if on_event is not None:
                self._listeners.remove(on_event)
        if self.store_error is not None:
            raise self.store_error
        return self.summary

    @contextlib.asynccontextmanager
    async def events(self, sources: Sources) -> AsyncIterator[MemoryObjectReceiveStream[Event]]:
        """`async with batch.events(sources) as events: async for event in events: ...`."""
        send, receive = anyio.create_memory_object_stream[Event](math.inf)

        def deliver(event: Event) -> None:
            with contextlib.suppress(anyio.BrokenResourceError, anyio.ClosedResourceError):
                send.send_nowait(event)

        async def drive() -> None:
            async with send:
                await self.run(sources, deliver)

        async with anyio.create_task_group() as group, receive:
            group.start_soon(drive)
            try:
                yield receive
            finally:  # the caller stopped listening: stop taking work, keep records resumable
                self.stop()

    def stop(self) -> None:
        """Stop taking work: running steps end at their next wait, records stay resumable."""
        self._soft.cancel()

    def _emit(self, event: Event) -> None:
        """Count an event and hand it to the listeners."""
        self.summary.count(event)
        for listener in self._listeners:
            listener(event)

    async def _prepare(self) -> None:
        """Check the record belongs to this API; credits already spent; the balance left."""
        records = await self.store.records()
        endpoint = self.endpoint
        bound = await self.store.bind(endpoint)
        unfinished = [r for r in records if not r.phase.is_final and r.video_id]
        if bound != endpoint and unfinished:
            videos = "video" if len(unfinished) == 1 else "videos"
            raise UsageError(
                f"this record has {len(unfinished)} unfinished {videos} made against {bound}, "
                f"not {endpoint}: resume against {bound}, or start a new record elsewhere "
                "(cutpro run: another --out, or --state NEW.sqlite)"
            )
        self.credits = Credits.of(records, self.options.budget)
        self._known = {r.source: r for r in records}  # one read instead of one per video
        for record in records:
            for clip_id, name in record.names.items():
                self._names.keep(clip_id, name)
            for saved in record.files:
                self._names.keep(saved.clip_id, Path(saved.path).name)
        if not self.options.dry_run or self.options.budget is None:
            self.credits.balance = (await self.client.balance.get()).balance
        publish = self.options.publish
        if publish is not None:  # unknown or inactive accounts are refused before paying
            accounts = await resolve_accounts(self.client, publish.targets)
            self.publisher = Publisher(
                self.client,
                publish,
                accounts,
                save=self._save,
                emit=self._emit,
                pool=lambda record: self._stage(record, Stage.PUBLISH),
                records=records,
            )

    async def _feed(self, sources: Sources) -> None:
        """Start one task per source, never more than `max_in_flight` at once."""
        slots = asyncio.Semaphore(self.options.max_in_flight)
        seen: set[str] = set()
        async with anyio.create_task_group() as group:
            position = 0
            async for given in iterate(sources):
                try:
                    source = normalize(given)
                except UsageError as exc:
                    await self._bad_source(position, given, exc)
                    position += 1
                    continue
                if source in seen:  # one record per source: a repeat would race the first
                    self._emit(VideoSkipped(source, "listed twice"))
                    continue
                seen.add(source)
                await slots.acquire()
                group.start_soon(self._video, position, source, slots)
                position += 1
            self._emit(SourcesRead(position))

    async def _bad_source(self, position: int, given: str, exc: UsageError) -> None:
        """A source that cannot be processed (undecodable name, unknown scheme) fails alone."""
        record = Record(printable(given), position)
        try:
            await self._failed(record, exc)
        except StoreError as error:
            self._stop_on(error)

    def _stop_on(self, error: StoreError) -> None:
        """The record cannot be saved: stop taking work (what is saved stays resumable)."""
        if self.store_error is None:
            self.store_error = error
        self.stop()

    async def _video(self, position: int, source: str, slots: asyncio.Semaphore) -> None:
        """One source, start to end; failures are recorded, never raised."""
        record = Record(source, position)
        try:
            record = self._known.pop(source, record)
            if self._finished(record) and await self._files_intact(record):
                self._emit(VideoSkipped(source, f"already {record.phase}"))
                return
            if record.phase == Phase.FAILED:
                if not record.retryable:
                    _forget_submission(record)  # the job itself failed: submit it afresh
                record.phase = reached(record)  # so a new failure says where it stopped
            await self._process(record)
        except StoreError as exc:
            self._stop_on(exc)
        except _Skip as skip:
            await self._outcome(self._skipped(record, str(skip)))
        except CutProError as exc:
            await self._outcome(self._failed(record, exc))
        except Exception as exc:  # a bug must not stop the other videos
            log.exception("unexpected error on %s", source)
            await self._outcome(self._failed(record, exc))
        finally:
            self._renamed.discard(source)
            slots.release()

    async def _save(self, record: Record) -> None:
        """Save a record; once a file of it was renamed into OUT, the store fsyncs OUT before
        committing, so that the record never lists a file whose name a power cut could undo
        (one fsync per commit for every file renamed before it, not one per file)."""
        sync = self.options.out if record.source in self._renamed else None
        await self.store.save(record, sync=sync)

    async def _outcome(self, saving: Awaitable[None]) -> None:
        """Save a skip or failure; if the record cannot be saved, stop the run."""
        try:
            await saving
        except StoreError as exc:
            self._stop_on(exc)

    def _finished(self, record: Record) -> bool:
        """Whether a record needs no work in this run."""
        if record.phase == Phase.DONE and self.publisher and self.publisher.pending(record):
            return False  # an earlier run stopped before posting, or did not publish
        if record.phase == Phase.DONE and self.options.render and record.clips:
            return len(record.files) >= len(record.clips)  # an earlier run may not have rendered
        if record.phase == Phase.FAILED:
            # Once paid for, a video is resumed for free; before that, only when asked to.
            paid = record.submit_intent is not None and record.retryable
            return not (self.options.retry_failed or paid)
        if record.phase == Phase.PRICED:
            return self.options.dry_run
        return record.phase.is_final

    async def _skipped(self, record: Record, reason: str) -> None:
        """Record why a video was not processed (a later run may, e.g. with more budget)."""
        record.error = f"skipped: {reason}"
        self.skipped[record.source] = reason
        with anyio.CancelScope(shield=True):
            await self._save(record)
        self._emit(VideoSkipped(record.source, reason))

    async def _failed(self, record: Record, exc: BaseException) -> None:
        """Record a failure with its reason."""
        phase = record.phase
        record.phase, record.error = Phase.FAILED, f"{type(exc).__name__}: {exc}"
        record.retryable = not isinstance(exc, SubmissionFailed)
        record.attempts += 1
        self.errors[record.source] = exc
        with anyio.CancelScope(shield=True):
            await self._save(record)
        self._emit(VideoFailed(record.source, phase, record.error))

    # -- the stages -----------------------------------------------------------------------

    async def _process(self, record: Record) -> None:
        """Run whatever steps a record still needs."""
        record.error = None
        if record.video_id is None:
            await self._price(record)
            if not is_url(record.source) and not self.options.dry_run:
                await self._save(record)  # an upload is costly to make again
        if self.options.dry_run:
            record.phase = Phase.PRICED
            await self._save(record)
            self._emit(VideoDone(record.source, 0))
            return
        if record.submission_id is None:
            await self._submit(record)
        try:
            await self._clip_and_deliver(record)
        except Expired as exc:
            if exc.code != SUBMISSION_EXPIRED:
                raise
            if not self.options.resubmit:
                raise Expired(
                    exc.status,
                    exc.code,
                    "the clips of this video expired on the server",
                    exc.extra,
                    method=exc.method,
                    path=exc.path,
                    advice="run again with --resubmit (RunOptions(resubmit=True)) to pay for "
                    "a new submission",
                ) from None
            log.info("the submission of %s expired: paying for a new one", record.source)
            _forget_submission(record)
            await self._submit(record)
            await self._clip_and_deliver(record)
        if self.publisher is not None:
            await self.publisher.publish(record)
        record.phase = Phase.DONE
        await self._save(record)
        self._emit(VideoDone(record.source, len(record.files)))

    async def _clip_and_deliver(self, record: Record) -> None:
        """Choose the clips if not yet done, then render and download each (unless not asked)."""
        if record.clips is None:
            await self._choose_clips(record)
        assert record.clips is not None
        if self.options.render and len(record.clips) == 1:
            await self._deliver(record, record.clips[0], 1, [1])  # no task group for one
        elif self.options.render:
            left = [len(record.clips)]  # deliveries still running
            try:
                async with anyio.create_task_group() as group:
                    for rank, clip in enumerate(record.clips, 1):
                        group.start_soon(self._deliver, record, clip, rank, left)
            except BaseExceptionGroup as errors:
                raise sole_error(errors) from None

    def _stage(self, record: Record, stage: Stage) -> _InStage:
        """Hold a place in a stage's pool, with start/finish events (`async with`)."""
        return _InStage(self, record.source, stage)

    async def _price(self, record: Record) -> None:
        """Analyze a URL or upload a file: the video id and its cost (not saved here)."""
        async with self._stage(record, Stage.ANALYZE):
            if is_url(record.source):
                info = await self.client.videos.analyze(record.source)
            else:
                info = await self.client.videos.upload(record.source)
        record.video_id, record.credits_cost = info.video_id, self._cost(info.credits_cost)
        record.duration = info.duration
        record.phase = Phase.PRICED  # saved with the paid step's intent (or the outcome)
        self._emit(Priced(record.source, info.video_id, record.credits_cost))

    def _cost(self, whole_video: float) -> float:
        """The cost of the processed part: 1 credit a minute of the timeframe, at most the whole."""
        frame = self.options.timeframe
        return whole_video if frame is None else min(whole_video, math.ceil(frame.seconds / 60))

    async def _submit(self, record: Record) -> None:
        """The paid step, at most once per source on this machine: adopt what exists (the
        record's own lost attempt, the machine's index, the server's list), else pay.

        The look for what exists happens inside the submit pool, right before paying: a
        look taken earlier could be stale by the time a place in the pool is free.
        """
        assert record.video_id is not None and record.credits_cost is not None
        request = self._request(record)
        key = self._key(record, request) if self.index is not None else ""
        async with self._paying(key), self._stage(record, Stage.SUBMIT):
            found = await self._existing(record, request, key)
            if found is not None:
                self.credits.adopt(record.source, found.credit_cost or 0.0)
                await self._submitted(record, found.submission_id, found.credit_cost or 0.0, key)
                return
            reason = self.credits.reserve(record.source, record.credits_cost)
            if reason is not None:
                raise _Skip(reason)
            try:
                with anyio.CancelScope(shield=True):  # never split paying and recording
                    await self._pay(record, request, key)
            except (APIError, TransportError) as exc:
                if not exc.maybe_processed:  # provably never reached the server: not paid
                    self.credits.refund(record.source)
                    record.submit_intent = None
                raise

    def _key(self, record: Record, request: SubmitRequest) -> str:
        """The machine index's key of this record's paid request."""
        settings = self.client.settings
        return index_key(settings.base_url, settings.workspace_id, record.source, request)

    def _paying(self, key: str) -> contextlib.AbstractAsyncContextManager[None]:
        """Hold the paid step of this key against other processes (when there is an index)."""
        if self.index is None:
            return contextlib.nullcontext()
        return self.index.paying(key)

    async def _existing(
        self, record: Record, request: SubmitRequest, key: str
    ) -> Submission | None:
        """A submission to adopt instead of paying: the one a stopped run may have created,
        one another record on this machine paid for, or a usable one on the server."""
        assert record.video_id is not None
        submissions = self.client.submissions
        if record.submit_intent is not None:  # a previous run stopped inside the paid step
            found = await submissions.reconcile(
                record.video_id, since=record.submit_intent, request=request
            )
            if found is not None:
                return found
        if self.options.resubmit:
            return None
        noted = await self._noted(record, key)
        if noted is not None:
            return noted
        return await submissions.find_reusable(request)

    async def _noted(self, record: Record, key: str) -> Submission | None:
        """What the machine's index says was paid for this source, if the server still has it
        usable; the record then follows that video (analysing again may give a new id)."""
        if self.index is None:
            return None
        entry = await self.index.lookup(key)
        if entry is None:
            return None
        video_id, submission_id = entry
        try:
            sub = await self.client.submissions.get(video_id, submission_id)
        except (NotFound, Expired):
            sub = None
        if sub is None or not await self.client.submissions.usable(video_id, sub):
            await self.index.forget(key)
            return None
        record.video_id = video_id
        return sub

    def _request(self, record: Record) -> SubmitRequest:
        """The submission this run asks for, its timeframe cut to the video's length."""
        assert record.video_id is not None
        opts, frame = self.options, self.options.timeframe
        if frame is None and record.duration is not None:
            # The whole video, said explicitly: the list of submissions shows timeframes, so
            # only an explicit one can be matched against what others paid for.
            frame = Timeframe(0, record.duration)
        elif frame is not None and record.duration is not None:
            if frame.start >= record.duration:
                raise UsageError(
                    f"the timeframe starts at {frame.start:g} s, after the video's end "
                    f"({record.duration:g} s)"
                )
            frame = Timeframe(frame.start, min(frame.end, record.duration))
        return SubmitRequest(
            record.video_id, SourceLanguage(opts.source_language), opts.strategy_id, frame, None
        )

    async def _pay(self, record: Record, request: SubmitRequest, key: str) -> None:
        """Save the intent (on the server's clock), submit (see `submissions.create`: a lost
        answer is reconciled, never blindly re-sent; a stopped run's attempt is waited for
        within its commit window), save the id."""
        earlier = record.submit_intent  # a stopped run's attempt may still be committing
        if earlier is None:
            record.submit_intent = self.client.server_time()
            record.phase = Phase.SUBMITTING
            await self._save(record)
        created = await self.client.submissions.create(
            request.video_id,
            timeframe=request.timeframe,
            source_language=request.source_language,
            strategy_id=request.strategy_id,
            attempt_started=earlier,  # waits out that attempt's commit window before paying
        )
        self.credits.confirm(record.source, created.credits_charged)
        await self._submitted(record, created.submission_id, created.credits_charged, key)

    async def _submitted(self, record: Record, submission_id: str, price: float, key: str) -> None:
        """Save the submission id (and note it for the machine): from now on a restart polls
        instead of paying."""
        record.submission_id, record.phase = submission_id, Phase.SUBMITTED
        record.credits_charged = price
        await self._save(record)
        if self.index is not None:
            assert record.video_id is not None
            await self.index.note(key, record.video_id, submission_id)
        self._emit(CreditsSpent(record.source, price, self.credits.spent))

    async def _choose_clips(self, record: Record) -> None:
        """Wait for the clips, keep the best `top_k`, apply the template if asked (a free,
        repeatable call)."""
        assert record.video_id is not None and record.submission_id is not None
        async with self._stage(record, Stage.WAIT_CLIPS):
            await self.client.submissions.wait(record.video_id, record.submission_id)
        chosen: list[Clip] = []
        best = self.client.clips.iter(
            record.video_id,
            record.submission_id,
            min_rating=self.options.min_rating,
            page_size=min(100, self.options.top_k),  # the best come first: no more is read
        )
        # Closed here when left early: not by the loop's finalizer (a task and a wake-up).
        async with contextlib.aclosing(best):
            async for clip in best:
                chosen.append(clip)
                if len(chosen) == self.options.top_k:
                    break
        record.clips = [
            ChosenClip(
                c.id, c.title, c.rating, c.start_time, c.end_time, c.description, list(c.keywords)
            )
            for c in chosen
        ]  # saved with the first render id (or phase `done`): choosing again is free
        if self.options.template_id and chosen and not record.template_applied:
            await self.client.clips.apply_template(
                record.video_id,
                record.submission_id,
                self.options.template_id,
                [c.id for c in chosen],
            )
            record.template_applied = True
        record.phase = Phase.CLIPPED

    async def _files_intact(self, record: Record) -> bool:
        """Whether every file a finished record lists is still there as saved (size; with
        `verify`, SHA-256); if not, the rerun fetches it again without paying again."""
        if record.phase != Phase.DONE or not self.options.render:
            return True
        for saved in record.files:
            if not await self._intact(saved):
                log.info("%s is missing or changed: fetching it again", saved.path)
                return False
        return True

    async def _intact(self, saved: SavedFile) -> bool:
        """Whether a saved clip is still a regular file of its size (and hash, with verify)."""
        sha256 = saved.sha256 if self.options.verify else None
        return await anyio.to_thread.run_sync(is_intact, saved.path, saved.bytes, sha256)

    async def _deliver(self, record: Record, clip: ChosenClip, rank: int, left: list[int]) -> None:
        """Render one clip (again only if its render expired), wait for it, download it.

        The file is saved in the record at once, unless it is the video's last delivery
        (`left`: those still running), whose file the `done` save that follows records.
        """
        for saved in record.files:
            if saved.clip_id == clip.id:
                if await self._intact(saved):
                    left[0] -= 1
                    return
                # Changed since it was saved: remove it, or the download would take the file
                # under that name for complete.
                with contextlib.suppress(FileNotFoundError):
                    await anyio.Path(saved.path).unlink()
        try:
            done, render_id = await self._fetch(record, clip, rank)
        except (RenderFailed, Expired) as exc:
            if isinstance(exc, RenderFailed) and exc.status != "expired":
                raise
            if isinstance(exc, Expired) and exc.code == SUBMISSION_EXPIRED:
                raise
            log.info("render of clip %s expired before download; rendering it again", clip.id)
            record.renders.pop(clip.id, None)
            done, render_id = await self._fetch(record, clip, rank)
        record.files = [f for f in record.files if f.clip_id != clip.id]
        record.files.append(SavedFile(clip.id, render_id, str(done.path), done.size, done.sha256))
        left[0] -= 1
        if left[0]:
            await self._save(record)
        self._emit(FileSaved(record.source, clip.id, done.path, done.size, done.sha256))

    async def _fetch(self, record: Record, clip: ChosenClip, rank: int) -> tuple[Downloaded, str]:
        """The clip's render, finished and downloaded: (the file, render id)."""
        render_id = await self._render(record, clip)
        async with self._stage(record, Stage.WAIT_RENDER):
            await self.client.renders.wait(render_id)
        name, link = await self._name(record, clip, rank, render_id)

        def progress(done: int, total: int | None) -> None:
            self._emit(BytesDownloaded(record.source, clip.id, done, total))

        async with self._stage(record, Stage.DOWNLOAD):
            done = await self.client.renders.download(
                render_id,
                self.options.out,
                name=name,
                on_progress=progress if self._listeners else None,  # not counted either
                link=link,
                sync_folder=False,  # with the record's commit: see `_save`
            )
        self._renamed.add(record.source)
        return done, render_id

    async def _name(
        self, record: Record, clip: ChosenClip, rank: int, render_id: str
    ) -> tuple[str, DownloadLink | None]:
        """The clip's file name: the recorded one, else the template's, made unique among
        the folder's clips and recorded before the download starts (a rerun resumes it).

        With a name new to the record (no download of it can have started), also the
        render's download link, so that the download neither asks for it again nor looks
        for a file before its request; with a recorded one, None (that download looks).
        """
        recorded = record.names.get(clip.id)
        if recorded is not None:
            return recorded, None
        link = await self.client.renders.download_link(render_id)
        filename = f"{render_id}.mp4"
        if self._server_named:
            filename = link.filename or filename
        wanted = render_name(
            self.options.naming,
            filename=filename,
            video_id=record.video_id,
            clip_id=clip.id,
            render_id=render_id,
            rank=rank,
            title=clip.title,
        )
        name = self._names.claim(clip.id, wanted)
        if name != wanted:
            log.info("%s is another clip's name: clip %s is saved as %s", wanted, clip.id, name)
        record.names[clip.id] = name
        await self._save(record)
        return name, link

    async def _render(self, record: Record, clip: ChosenClip) -> str:
        """The render of a clip: the recorded one, a new one, or the one already running."""
        if clip.id in record.renders:
            return record.renders[clip.id]
        assert record.video_id is not None and record.submission_id is not None
        async with self._stage(record, Stage.RENDER):
            created = await self.client.renders.create(
                record.video_id, record.submission_id, clip.id, adopt_running=True
            )
        render_id = created.render_id
        record.renders[clip.id] = render_id
        await self._save(record)
        return render_id


class _InStage:
    """A video's place in a stage's pool, with `StageStarted` and `StageFinished` events."""

    __slots__ = ("_batch", "_source", "_stage")

    def __init__(self, batch: Batch, source: str, stage: Stage) -> None:
        self._batch, self._source, self._stage = batch, source, stage

    async def __aenter__(self) -> None:
        pool = self._batch._pools[self._stage]
        await pool.acquire()
        if not self._batch._listeners:  # the summary does not count stages
            return
        try:
            self._batch._emit(StageStarted(self._source, self._stage))
        except BaseException:
            pool.release()
            raise

    async def __aexit__(self, *exc_info: object) -> None:
        try:  # success or not, the video has left the stage
            if self._batch._listeners:
                self._batch._emit(StageFinished(self._source, self._stage))
        finally:
            self._batch._pools[self._stage].release()


def _forget_submission(record: Record) -> None:
    """Drop a failed job and all that followed it, so that the video is submitted again."""
    record.submit_intent = record.submission_id = record.clips = None
    record.renders, record.files, record.template_applied = {}, [], False
