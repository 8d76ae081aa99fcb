"""Resuming a record from every phase it can stop in, without paying twice."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cutpro_async import CutPro
from cutpro_async.batch import Batch, Event, MemoryStore, Phase, Record, RunOptions, VideoFailed
from cutpro_async.testing import FakeCutPro

from .conftest import charges_of, check_files, sha256_of, simulated, video_url

pytestmark = pytest.mark.anyio

ANALYZE = "POST /clips/info"
SUBMIT = "POST /clips"
CLIPS = "GET /clips/{videoId}/submissions/{submissionId}/clips"
RENDER = "POST /clips/{videoId}/submissions/{submissionId}/clips/{clipId}/render"


async def priced(cp: CutPro, store: MemoryStore, out: Path, url: str) -> Record:
    """A record left at `priced` (analysed, nothing paid), made by a dry run."""
    await Batch(cp, RunOptions(out=out, dry_run=True), store).run([url])
    record = await store.load(url)
    assert record is not None and record.phase == Phase.PRICED and record.video_id
    return record


async def mark_submitting(store: MemoryStore, record: Record) -> datetime:
    """Save the intent to pay, as the pipeline does right before `POST /clips`."""
    record.submit_intent, record.phase = datetime.now(UTC), Phase.SUBMITTING
    await store.save(record)
    return record.submit_intent


async def clipped(cp: CutPro, store: MemoryStore, out: Path, url: str, top_k: int) -> Record:
    """A record whose clips are chosen and nothing rendered, as after a crash right then."""
    await Batch(cp, RunOptions(out=out, top_k=top_k, render=False), store).run([url])
    record = await store.load(url)
    assert record is not None and record.clips is not None and len(record.clips) == top_k
    record.phase = Phase.CLIPPED
    await store.save(record)
    return record


async def resume(cp: CutPro, store: MemoryStore, out: Path, url: str, **options: object) -> Record:
    """Run the pipeline again on the same record; the record afterwards."""
    summary = await Batch(cp, RunOptions(out=out, **options), store).run([url])  # type: ignore[arg-type]
    assert (summary.done, summary.failed, summary.skipped) == (1, 0, 0)
    record = await store.load(url)
    assert record is not None
    return record


def new_requests(fake: FakeCutPro, before: Counter[str]) -> Counter[str]:
    """Requests made since `before` was taken."""
    return Counter(fake.requests) - before


async def test_resume_from_priced_does_not_analyze_again(tmp_path: Path) -> None:
    """A priced record is submitted and finished without a second analysis."""
    url, store = video_url(), MemoryStore()
    async with simulated() as (fake, cp):
        await priced(cp, store, tmp_path, url)
        record = await resume(cp, store, tmp_path, url, top_k=2)
        charges = charges_of(fake, [record])
        analyses = fake.requests[ANALYZE]
    assert (charges, analyses) == ([1], 1)
    check_files([record], top_k=2)


async def test_submitting_record_whose_submit_went_through_is_adopted(tmp_path: Path) -> None:
    """A crash after the paid POST committed (intent saved, id not) is reconciled: the
    submission is adopted and not paid again."""
    url, store = video_url(), MemoryStore()
    async with simulated() as (fake, cp):
        record = await priced(cp, store, tmp_path, url)
        intent = await mark_submitting(store, record)
        assert record.video_id is not None
        created = await cp.submissions.create(record.video_id, attempt_started=intent)
        events: list[Event] = []
        summary = await Batch(cp, RunOptions(out=tmp_path, top_k=1), store).run(
            [url], on_event=events.append
        )
        done = await store.load(url)
        charges = charges_of(fake, [record])
        submits = fake.requests[SUBMIT]
    assert done is not None and done.submission_id == created.submission_id
    assert (charges, submits, summary.done, summary.credits_spent) == ([1], 1, 1, 10)
    check_files([done], top_k=1)


async def test_submitting_record_whose_submit_never_left_is_paid_once(tmp_path: Path) -> None:
    """A crash after saving the intent but before the POST submits exactly once on resume."""
    url, store = video_url(), MemoryStore()
    async with simulated() as (fake, cp):
        record = await priced(cp, store, tmp_path, url)
        await mark_submitting(store, record)
        done = await resume(cp, store, tmp_path, url, top_k=1)
        charges, submits = charges_of(fake, [done]), fake.requests[SUBMIT]
    assert (charges, submits) == ([1], 1)
    check_files([done], top_k=1)


async def test_dropped_submit_is_reconciled_not_paid_twice(tmp_path: Path) -> None:
    """A `POST /clips` that commits and then drops the connection is adopted, not re-paid."""
    url, store = video_url(), MemoryStore()
    async with simulated(faults="drop=1#1@POST /clips") as (fake, cp):
        done = await resume(cp, store, tmp_path, url, top_k=1)
        charges, dropped = charges_of(fake, [done]), fake.injected.get("drop")
    assert (charges, dropped) == ([1], 1)
    check_files([done], top_k=1)


async def test_submitting_record_with_strategy_is_adopted(tmp_path: Path) -> None:
    """The reconcile after a crash also finds a submission made with a strategy."""
    url, store = video_url(), MemoryStore()
    async with simulated() as (fake, cp):
        record = await priced(cp, store, tmp_path, url)
        intent = await mark_submitting(store, record)
        assert record.video_id is not None
        created = await cp.submissions.create(
            record.video_id, strategy_id="strat_1", attempt_started=intent
        )
        await cp.submissions.wait(record.video_id, created.submission_id)
        await resume(cp, store, tmp_path, url, top_k=1, strategy_id="strat_1")
        charges = charges_of(fake, [record])
    assert charges == [1]


async def test_resume_from_submitted_polls_instead_of_paying(tmp_path: Path) -> None:
    """A record with a submission id is polled and finished, never submitted again."""
    url, store = video_url(), MemoryStore()
    async with simulated() as (fake, cp):
        record = await priced(cp, store, tmp_path, url)
        assert record.video_id is not None
        created = await cp.submissions.create(record.video_id)
        record.submission_id, record.phase = created.submission_id, Phase.SUBMITTED
        record.submit_intent = datetime.now(UTC)
        await store.save(record)
        done = await resume(cp, store, tmp_path, url, top_k=3)
        charges, submits = charges_of(fake, [done]), fake.requests[SUBMIT]
    assert (charges, submits) == ([1], 1)
    check_files([done], top_k=3)


async def test_resume_from_clipped_renders_the_chosen_clips(tmp_path: Path) -> None:
    """A record whose clips were chosen renders and downloads exactly those clips."""
    url, store = video_url(), MemoryStore()
    async with simulated() as (fake, cp):
        record = await clipped(cp, store, tmp_path, url, top_k=2)
        chosen = [c.id for c in record.clips or []]
        before = Counter(fake.requests)
        done = await resume(cp, store, tmp_path, url, top_k=2)
        delta = new_requests(fake, before)
        charges = charges_of(fake, [done])
    assert [f.clip_id for f in sorted(done.files, key=lambda f: chosen.index(f.clip_id))] == chosen
    assert (delta[SUBMIT], delta[CLIPS], delta[RENDER], charges) == (0, 0, 2, [1])
    check_files([done], top_k=2)


async def test_no_render_then_render_downloads_the_clips(tmp_path: Path) -> None:
    """A run with `render=False` followed by one with rendering downloads the chosen clips."""
    url, store = video_url(), MemoryStore()
    async with simulated() as (fake, cp):
        await Batch(cp, RunOptions(out=tmp_path, top_k=2, render=False), store).run([url])
        summary = await Batch(cp, RunOptions(out=tmp_path, top_k=2), store).run([url])
        record = await store.load(url)
        charges = charges_of(fake, [record]) if record else []
    assert summary.done == 1 and charges == [1]
    assert record is not None
    check_files([record], top_k=2)


async def test_resume_with_recorded_renders_does_not_render_again(tmp_path: Path) -> None:
    """Renders already recorded are waited for and downloaded, not requested again."""
    url, store = video_url(), MemoryStore()
    async with simulated() as (fake, cp):
        record = await clipped(cp, store, tmp_path, url, top_k=2)
        assert record.video_id and record.submission_id and record.clips
        for clip in record.clips:
            made = await cp.renders.create(record.video_id, record.submission_id, clip.id)
            record.renders[clip.id] = made.render_id
        await store.save(record)
        before = Counter(fake.requests)
        done = await resume(cp, store, tmp_path, url, top_k=2)
        delta = new_requests(fake, before)
    assert delta[RENDER] == 0
    assert {f.render_id for f in done.files} == set(record.renders.values())
    check_files([done], top_k=2)


async def test_partial_download_is_completed(tmp_path: Path) -> None:
    """A `.part` left by a crash mid-download is completed into the same bytes."""
    url, store = video_url(), MemoryStore()
    async with simulated() as (_, cp):
        record = await clipped(cp, store, tmp_path / "out", url, top_k=1)
        assert record.video_id and record.submission_id and record.clips
        clip = record.clips[0]
        render = await cp.renders.create(record.video_id, record.submission_id, clip.id)
        await cp.renders.wait(render.render_id)
        reference = (await cp.renders.download(render.render_id, tmp_path / "ref")).path
        record.renders[clip.id] = render.render_id
        await store.save(record)
        part = tmp_path / "out" / f"{reference.name}.part"  # the default name: the server's
        data = reference.read_bytes()
        part.parent.mkdir(parents=True, exist_ok=True)
        part.write_bytes(data[: len(data) // 2])
        done = await resume(cp, store, tmp_path / "out", url, top_k=1)
    assert sha256_of(done.files[0].path) == sha256_of(reference)
    assert not part.exists()
    check_files([done], top_k=1)


async def test_expired_render_is_rendered_again(tmp_path: Path) -> None:
    """A recorded render that expired (72 API-hours) is rendered once more and downloaded."""
    url, store = video_url(), MemoryStore()
    async with simulated() as (fake, cp):
        record = await clipped(cp, store, tmp_path, url, top_k=2)
        assert record.video_id and record.submission_id and record.clips
        for clip in record.clips:
            made = await cp.renders.create(record.video_id, record.submission_id, clip.id)
            await cp.renders.wait(made.render_id)
            record.renders[clip.id] = made.render_id
        await store.save(record)
        old = set(record.renders.values())
        fake.advance(73 * 3600)
        before = Counter(fake.requests)
        done = await resume(cp, store, tmp_path, url, top_k=2)
        delta, charges = new_requests(fake, before), charges_of(fake, [done])
    assert delta[RENDER] == 2 and charges == [1]
    assert not old & {f.render_id for f in done.files}
    check_files([done], top_k=2)


async def test_paid_video_that_failed_later_is_resumed_for_free(tmp_path: Path) -> None:
    """A video that failed after it was paid for is picked up again on rerun, at no charge."""
    url, store = video_url(), MemoryStore()
    events: list[Event] = []
    async with simulated(faults="expire=1") as (fake, cp):
        first = await Batch(cp, RunOptions(out=tmp_path, top_k=1), store).run(
            [url], on_event=events.append
        )
        fake.set_faults("")
        done = await resume(cp, store, tmp_path, url, top_k=1)
        charges = charges_of(fake, [done])
    failures = [e for e in events if isinstance(e, VideoFailed)]
    assert first.failed == 1 and len(failures) == 1
    assert charges == [1] and done.attempts == 1
    check_files([done], top_k=1)


async def test_a_resumed_failure_says_the_phase_it_reached(tmp_path: Path) -> None:
    """A paid video failing again on rerun reports where it stopped (`clipped`), not `failed`."""
    url, store = video_url(), MemoryStore()
    events: list[Event] = []
    async with simulated(faults="expire=1") as (_, cp):
        for _ in range(2):
            await Batch(cp, RunOptions(out=tmp_path, top_k=1), store).run(
                [url], on_event=events.append
            )
    phases = [e.phase for e in events if isinstance(e, VideoFailed)]
    assert phases == [Phase.CLIPPED, Phase.CLIPPED]
