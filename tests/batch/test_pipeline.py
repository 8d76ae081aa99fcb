"""The orchestrator end to end: faults, reruns, budget, lazy input, failures and events."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cutpro_async.batch import (
    Batch,
    CreditsSpent,
    Event,
    FileSaved,
    MemoryStore,
    Phase,
    Priced,
    RunOptions,
    SourcesRead,
    SQLiteStore,
    Stage,
    StageFinished,
    StageStarted,
    VideoDone,
    VideoFailed,
    VideoSkipped,
)
from cutpro_async.batch.manifest import rows

from .conftest import charges_of, check_files, names, sha256_of, simulated, video_url, video_urls

pytestmark = pytest.mark.anyio

FAULTS = "5xx=0.03,reset=0.02,drop=0.3,truncate=0.05,429:1=0.002"
SUBMIT = "POST /clips"


def by_type(events: list[Event]) -> Counter[str]:
    """How many events of each type."""
    return Counter(type(event).__name__ for event in events)


async def test_two_hundred_videos_through_faults(tmp_path: Path) -> None:
    """200 videos under 5xx, resets, dropped submits, truncated downloads and a few 429s all end
    done, each charged exactly once, every file matching its recorded size and hash."""
    urls = video_urls(200)
    async with simulated(faults=FAULTS, seed=7) as (fake, cp):
        store = await SQLiteStore.open(tmp_path / "state.sqlite")
        try:
            summary = await Batch(cp, RunOptions(out=tmp_path, top_k=1), store).run(urls)
            records = await store.records()
        finally:
            await store.close()
        assert fake.injected.get("drop", 0) > 0 and fake.injected.get("truncate", 0) > 0
        assert fake.key_leaks == []
        charges = fake.charges_per_video()
        spent = fake.credits_spent()
    assert (summary.done, summary.failed, summary.skipped) == (200, 0, 0)
    assert [r.source for r in records] == urls
    assert len(charges) == 200 and set(charges.values()) == {1}
    assert charges_of(fake, records) == [1] * 200
    assert check_files(records, top_k=1) == 200
    assert summary.credits_spent == spent == 200 * 10
    assert names(tmp_path, "*.mp4") == sorted(Path(row["path"]).name for row in rows(records))
    assert names(tmp_path, "*.part") == []


async def test_rerun_with_same_record_skips_everything(tmp_path: Path) -> None:
    """A second run over the same SQLite record skips every video and calls the API only for
    the balance."""
    urls = video_urls(12)
    async with simulated() as (fake, cp):
        store = await SQLiteStore.open(tmp_path / "state.sqlite")
        try:
            first = await Batch(cp, RunOptions(out=tmp_path, top_k=2), store).run(urls)
            before = Counter(fake.requests)
            again = await Batch(cp, RunOptions(out=tmp_path, top_k=2), store).run(urls)
            after = Counter(fake.requests)
            records = await store.records()
        finally:
            await store.close()
    assert first.done == 12
    assert (again.done, again.skipped, again.failed, again.credits_spent) == (0, 12, 0, 0)
    assert after - before == Counter({"GET /balance": 1})
    assert check_files(records, top_k=2) == 24


async def test_over_budget_videos_are_skipped(tmp_path: Path) -> None:
    """A budget smaller than the total cost skips the videos past it and never overspends."""
    events: list[Event] = []
    async with simulated() as (fake, cp):
        summary = await Batch(cp, RunOptions(out=tmp_path, top_k=1, budget=35), MemoryStore()).run(
            video_urls(8), on_event=events.append
        )
        spent = fake.credits_spent()
    skipped = [e for e in events if isinstance(e, VideoSkipped)]
    assert (summary.done, summary.skipped, summary.failed) == (3, 5, 0)
    assert all(e.reason.startswith("over budget") for e in skipped)
    assert spent == summary.credits_spent == 30 <= 35


async def test_budget_counts_what_the_record_already_spent(tmp_path: Path) -> None:
    """A resumed record's earlier spending counts against the budget of the next run."""
    async with simulated() as (fake, cp):
        store = MemoryStore()
        await Batch(cp, RunOptions(out=tmp_path, top_k=1), store).run(video_urls(2))
        summary = await Batch(cp, RunOptions(out=tmp_path, top_k=1, budget=25), store).run(
            video_urls(2)
        )
        spent = fake.credits_spent()
    assert (summary.done, summary.skipped) == (0, 2)
    assert spent == 20


async def test_small_balance_skips_with_not_enough_credits(tmp_path: Path) -> None:
    """With a balance for two videos, two are done and the rest skipped for lack of credits."""
    events: list[Event] = []
    async with simulated(credits=25) as (fake, cp):
        summary = await Batch(cp, RunOptions(out=tmp_path, top_k=1), MemoryStore()).run(
            video_urls(6), on_event=events.append
        )
        spent, balance = fake.credits_spent(), fake.balance()
    skipped = [e for e in events if isinstance(e, VideoSkipped)]
    assert (summary.done, summary.skipped, summary.failed) == (2, 4, 0)
    assert all(e.reason.startswith("not enough credits") for e in skipped)
    assert (spent, balance) == (20, 5)


async def test_dry_run_prices_everything_and_spends_nothing(tmp_path: Path) -> None:
    """A dry run reports the sum of the costs and sends no submission request at all."""
    urls = [video_url(duration=d) for d in (300, 600, 1500, 61)]
    async with simulated() as (fake, cp):
        store = MemoryStore()
        summary = await Batch(cp, RunOptions(out=tmp_path, dry_run=True), store).run(urls)
        records = await store.records()
        spent = fake.credits_spent()
        routes = set(fake.requests)
    assert summary.credits_priced == 5 + 10 + 25 + 2
    assert (summary.done, summary.credits_spent, spent) == (4, 0, 0)
    assert [r.phase for r in records] == [Phase.PRICED] * 4
    assert routes <= {"GET /balance", "POST /clips/info"}
    assert names(tmp_path) == []


async def test_dry_run_with_timeframe_prices_the_timeframe(tmp_path: Path) -> None:
    """A timeframe prices its own minutes, never more than the whole video."""
    urls = [video_url(duration=d) for d in (1800, 120)]
    async with simulated() as (_, cp):
        options = RunOptions(out=tmp_path, dry_run=True, timeframe=(0, 300))
        summary = await Batch(cp, options, MemoryStore()).run(urls)
    assert summary.credits_priced == 5 + 2


async def test_input_is_pulled_lazily(tmp_path: Path) -> None:
    """With `max_in_flight=5` the source generator is never read far ahead of the work."""
    pulled = 0
    seen_at_third_done: list[int] = []
    done = 0

    async def sources() -> AsyncIterator[str]:
        nonlocal pulled
        for _ in range(40):
            pulled += 1
            yield video_url()

    def on_event(event: Event) -> None:
        nonlocal done
        if isinstance(event, VideoDone):
            done += 1
            if done == 3:
                seen_at_third_done.append(pulled)

    async with simulated() as (_, cp):
        options = RunOptions(out=tmp_path, top_k=1, max_in_flight=5)
        summary = await Batch(cp, options, MemoryStore()).run(sources(), on_event=on_event)
    # 5 in flight, at most 2 finished and released, and one item read while waiting for a slot.
    assert seen_at_third_done and seen_at_third_done[0] <= 5 + 3 + 1
    assert (summary.done, pulled) == (40, 40)


async def test_one_failure_never_stops_the_others(tmp_path: Path) -> None:
    """A video whose clipping fails is recorded as failed while the others finish."""
    events: list[Event] = []
    urls = [*video_urls(3), video_url("fail"), *video_urls(3)]
    async with simulated() as (_, cp):
        store = MemoryStore()
        batch = Batch(cp, RunOptions(out=tmp_path, top_k=1), store)
        summary = await batch.run(urls, on_event=events.append)
        records = {r.source: r for r in await store.records()}
    failed = [e for e in events if isinstance(e, VideoFailed)]
    assert (summary.done, summary.failed) == (6, 1)
    assert [e.source for e in failed] == [urls[3]]
    assert "SubmissionFailed" in failed[0].error and "download_failed" in failed[0].error
    bad = records[urls[3]]
    assert (bad.phase, bad.retryable, bad.attempts) == (Phase.FAILED, False, 1)
    assert type(batch.errors[urls[3]]).__name__ == "SubmissionFailed"
    check_files([r for s, r in records.items() if s != urls[3]], top_k=1)


async def test_failed_submission_is_not_retried_unless_asked(tmp_path: Path) -> None:
    """A rerun skips a video whose clipping failed; `retry_failed=True` processes it again."""
    bad = video_url("fail")
    async with simulated() as (_, cp):
        store = MemoryStore()
        await Batch(cp, RunOptions(out=tmp_path, top_k=1), store).run([bad])
        events: list[Event] = []
        rerun = await Batch(cp, RunOptions(out=tmp_path, top_k=1), store).run(
            [bad], on_event=events.append
        )
        retried = await Batch(cp, RunOptions(out=tmp_path, top_k=1, retry_failed=True), store).run(
            [bad]
        )
        record = await store.load(bad)
    assert (rerun.skipped, rerun.failed) == (1, 0)
    assert [e for e in events if not isinstance(e, SourcesRead)] == [
        VideoSkipped(bad, "already failed")
    ]
    assert SourcesRead(1) in events
    assert (retried.failed, retried.skipped) == (1, 0)
    assert record is not None and record.attempts == 2


async def test_retry_failed_submits_again(tmp_path: Path) -> None:
    """`retry_failed=True` on a video whose clipping job failed starts a new submission."""
    bad = video_url("fail")
    async with simulated() as (fake, cp):
        store = MemoryStore()
        await Batch(cp, RunOptions(out=tmp_path, top_k=1), store).run([bad])
        await Batch(cp, RunOptions(out=tmp_path, top_k=1, retry_failed=True), store).run([bad])
        submits = fake.requests[SUBMIT]
    assert submits == 2


async def test_events_iteration_reports_every_stage(tmp_path: Path) -> None:
    """`batch.events()` yields start/finish of every stage, prices, credits, files and done, and
    the summary agrees with the events."""
    urls = video_urls(4)
    async with simulated() as (fake, cp):
        batch = Batch(cp, RunOptions(out=tmp_path, top_k=2), MemoryStore())
        events: list[Event] = []
        async with batch.events(urls) as stream:
            async for event in stream:
                events.append(event)
        spent = fake.credits_spent()
    for url in urls:
        mine = [e for e in events if not isinstance(e, SourcesRead) and e.source == url]
        started = Counter(e.stage for e in mine if isinstance(e, StageStarted))
        finished = Counter(e.stage for e in mine if isinstance(e, StageFinished))
        assert set(started) == set(Stage) - {Stage.PUBLISH} and started == finished
        # One wait for the clipping job, then one render wait and one download per clip.
        assert started[Stage.WAIT_CLIPS] == 1
        assert started[Stage.WAIT_RENDER] == started[Stage.DOWNLOAD] == 2
        kinds = [type(e) for e in mine if not isinstance(e, StageStarted | StageFinished)]
        assert kinds.count(Priced) == kinds.count(CreditsSpent) == kinds.count(VideoDone) == 1
        assert kinds.count(FileSaved) == 2 and kinds[-1] is VideoDone
    counts = by_type(events)
    assert counts["SourcesRead"] == 1 and SourcesRead(4) in events
    summary = batch.summary
    assert (summary.done, summary.files) == (counts["VideoDone"], counts["FileSaved"]) == (4, 8)
    assert summary.credits_spent == sum(e.credits for e in events if isinstance(e, CreditsSpent))
    assert summary.credits_spent == spent == 40
    assert summary.bytes == sum(e.size for e in events if isinstance(e, FileSaved))
    for saved in (e for e in events if isinstance(e, FileSaved)):
        assert sha256_of(saved.path) == saved.sha256


async def test_leaving_events_early_stops_cleanly(tmp_path: Path) -> None:
    """Breaking out of `batch.events()` stops the batch without errors or failed records."""
    store = MemoryStore()
    async with simulated() as (_, cp):
        batch = Batch(cp, RunOptions(out=tmp_path, top_k=1), store)
        async with batch.events(video_urls(8)) as stream:
            async for event in stream:
                if isinstance(event, VideoDone):
                    break
    assert all(r.phase != Phase.FAILED for r in await store.records())


async def test_duplicate_source_is_processed_once(tmp_path: Path) -> None:
    """A source listed twice in one run is clipped once, charged once, and nothing fails."""
    url = video_url()
    async with simulated() as (fake, cp):
        store = await SQLiteStore.open(tmp_path / "state.sqlite")
        try:
            summary = await Batch(cp, RunOptions(out=tmp_path, top_k=1), store).run([url, url])
            records = await store.records()
        finally:
            await store.close()
        charges = charges_of(fake, records)
    assert summary.failed == 0 and charges == [1]
    assert records[0].phase == Phase.DONE and summary.credits_spent == 10


async def test_local_file_that_does_not_exist_fails_alone(tmp_path: Path) -> None:
    """A missing local file fails that source only; a URL beside it is done."""
    missing = tmp_path / "nope.mp4"
    url = video_url()
    async with simulated() as (fake, cp):
        batch = Batch(cp, RunOptions(out=tmp_path / "out", top_k=1), MemoryStore())
        summary = await batch.run([str(missing), url])
        spent = fake.credits_spent()
    assert (summary.done, summary.failed) == (1, 1)
    assert str(missing) in batch.errors
    assert spent == 10


async def test_a_stop_leaves_records_resumable(tmp_path: Path) -> None:
    """`stop()` after the first charge ends the run early; a second run finishes it with no
    second charge."""
    urls = video_urls(6)
    store = MemoryStore()
    async with simulated() as (fake, cp):
        batch = Batch(cp, RunOptions(out=tmp_path, top_k=1), store)

        def stop_on_first_charge(event: Event) -> None:
            if isinstance(event, CreditsSpent):
                batch.stop()

        first = await batch.run(urls, on_event=stop_on_first_charge)
        second = await Batch(cp, RunOptions(out=tmp_path, top_k=1), store).run(urls)
        records = await store.records()
        charges = charges_of(fake, records)
    assert first.interrupted and first.done < 6
    assert second.done + first.done == 6 and not second.interrupted
    assert charges == [1] * 6
    check_files(records, top_k=1)


async def test_rejected_submission_gives_its_budget_back(tmp_path: Path) -> None:
    """A submission the API refuses outright does not use up the run's budget."""
    short, long = video_url(duration=600), video_url(duration=1200)  # (700, 900) fits only one
    async with simulated() as (fake, cp):
        options = RunOptions(out=tmp_path, top_k=1, timeframe=(700, 900), budget=5, max_in_flight=1)
        summary = await Batch(cp, options, MemoryStore()).run([short, long])
        spent = fake.credits_spent()
    assert (summary.failed, summary.done, summary.skipped) == (1, 1, 0)
    assert spent == 4


async def test_timeframe_longer_than_the_video_clips_all_of_it(tmp_path: Path) -> None:
    """`timeframe=(0, 1800)` on a 10-minute video clips those 10 minutes for 10 credits."""
    async with simulated() as (fake, cp):
        options = RunOptions(out=tmp_path, top_k=1, timeframe=(0, 1800))
        summary = await Batch(cp, options, MemoryStore()).run([video_url(duration=600)])
        spent = fake.credits_spent()
    assert (summary.done, summary.failed, spent) == (1, 0, 10)
