"""A video is saved at the steps a crash must not lose, and only there."""

from __future__ import annotations

from pathlib import Path

import attrs
import pytest

from cutpro_async.batch import Batch, MemoryStore, Phase, Record, RunOptions, SQLiteStore

from .conftest import simulated, video_urls

pytestmark = pytest.mark.anyio

STORAGE_GET = "storage GET /files"


@attrs.frozen
class Seen:
    """What one save wrote of a record."""

    phase: Phase
    intent: bool
    submission: bool
    clips: int | None
    renders: int
    names: int
    files: int


class Watching(MemoryStore):
    """A memory store that notes every save and checks the disk at that moment: every file
    the record lists is complete under its name; a file name is saved before its download."""

    def __init__(self, out: Path) -> None:
        super().__init__()
        self.out = out
        self.seen: dict[str, list[Seen]] = {}
        self.named: dict[str, set[str]] = {}
        self.syncs = 0  # saves that asked for OUT's fsync

    async def save(self, record: Record, *, sync: Path | None = None) -> None:
        """Note the record's state, check the disk, keep it; a record that lists files must
        ask for its folder's fsync."""
        self.check_disk(record)
        if record.files:
            assert sync == self.out, "a save that lists files must have OUT fsynced first"
        self.syncs += sync is not None
        self.seen.setdefault(record.source, []).append(
            Seen(
                record.phase,
                record.submit_intent is not None,
                record.submission_id is not None,
                None if record.clips is None else len(record.clips),
                len(record.renders),
                len(record.names),
                len(record.files),
            )
        )
        await super().save(record, sync=sync)

    def check_disk(self, record: Record) -> None:
        """Every listed file is complete; a name saved for the first time has no file yet."""
        for saved in record.files:
            assert Path(saved.path).stat().st_size == saved.bytes  # published before listed
        known = self.named.setdefault(record.source, set())
        for name in set(record.names.values()) - known:
            assert not (self.out / name).exists()  # named before its download starts
            known.add(name)


async def test_top_k_one_saves_five_times(tmp_path: Path) -> None:
    """A URL at top-k 1: intent, submission id, render id (with the clips), file name, done
    (with the file); no save of the price, the clips or the file alone."""
    urls = video_urls(6)
    store = Watching(tmp_path)
    async with simulated() as (_, cp):
        summary = await Batch(cp, RunOptions(out=tmp_path, top_k=1), store).run(urls)
    assert summary.done == 6
    expected = [
        Seen(Phase.SUBMITTING, True, False, None, 0, 0, 0),
        Seen(Phase.SUBMITTED, True, True, None, 0, 0, 0),
        Seen(Phase.CLIPPED, True, True, 1, 1, 0, 0),
        Seen(Phase.CLIPPED, True, True, 1, 1, 1, 0),
        Seen(Phase.DONE, True, True, 1, 1, 1, 1),
    ]
    assert all(store.seen[url] == expected for url in urls), store.seen


async def test_top_k_three_saves_every_file_but_the_last_at_once(tmp_path: Path) -> None:
    """At top-k 3 each render id and name is saved; the first two files are saved as they
    land, the last with phase `done`."""
    urls = video_urls(3)
    store = Watching(tmp_path)
    async with simulated() as (_, cp):
        summary = await Batch(cp, RunOptions(out=tmp_path, top_k=3), store).run(urls)
    assert summary.done == 3
    for url in urls:
        seen = store.seen[url]
        assert len(seen) == 2 + 3 + 3 + 2 + 1
        files = [s.files for s in seen]
        assert files == sorted(files)  # the record never loses a file
        assert max(files[:-1]) == 2  # the last file is saved with `done`
        assert seen[-1] == Seen(Phase.DONE, True, True, 3, 3, 3, 3)


async def test_an_upload_keeps_its_price_and_a_dry_run_saves_once(tmp_path: Path) -> None:
    """An uploaded file's price is saved at once (uploading again would cost the transfer); a
    dry run saves each video once, priced."""
    sample = Path(__file__).parents[2] / "cutpro_async" / "testing" / "data" / "sample.mp4"
    store = Watching(tmp_path)
    async with simulated() as (_, cp):
        await Batch(cp, RunOptions(out=tmp_path, top_k=1), store).run([str(sample)])
        dry = Watching(tmp_path)
        urls = video_urls(2)
        await Batch(cp, RunOptions(out=tmp_path, dry_run=True), dry).run(urls)
    phases = [s.phase for s in next(iter(store.seen.values()))]
    assert phases[:2] == [Phase.PRICED, Phase.SUBMITTING]
    assert all([s.phase for s in dry.seen[url]] == [Phase.PRICED] for url in urls)


async def test_a_file_done_but_not_yet_recorded_is_kept_on_rerun(tmp_path: Path) -> None:
    """Killed after a clip's file took its name but before the save that records it (the
    video's `done`): the rerun takes that file as it is, without paying or downloading."""
    urls = video_urls(3)
    async with simulated() as (fake, cp):
        store = await SQLiteStore.open(tmp_path / "state.sqlite")
        try:
            await Batch(cp, RunOptions(out=tmp_path, top_k=1), store).run(urls)
            for record in await store.records():  # as the record stood before `done`
                record.phase, record.files = Phase.CLIPPED, []
                await store.save(record)
            before = dict(fake.requests)
            summary = await Batch(cp, RunOptions(out=tmp_path, top_k=1), store).run(urls)
            records = await store.records()
        finally:
            await store.close()
        assert summary.done == 3
        assert fake.requests.get(STORAGE_GET, 0) == before.get(STORAGE_GET, 0)
        assert fake.requests["POST /clips"] == before["POST /clips"]
        assert fake.charges_per_video() and set(fake.charges_per_video().values()) == {1}
    assert all(len(r.files) == 1 and r.phase is Phase.DONE for r in records)
