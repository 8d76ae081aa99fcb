"""A careless user's batch: bad names, bad sources, deleted files, a full disk, expired clips.
Each is caught before paying or fails alone, and a rerun repairs what it can without paying
again (issue 12)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cutpro_async import UsageError
from cutpro_async.batch import Batch, MemoryStore, Phase, Record, RunOptions, StoreError

from .conftest import charges_of, check_files, names, sha256_of, simulated, video_url, video_urls

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    ("naming", "says"),
    [
        ("{title}_{titel}.mp4", "unknown field {titel}"),
        ("{0}.mp4", "named fields"),
        ("{rank", "bad naming template"),
        ("clips/{clip_id}.mp4", "not a folder"),
        ("", "template is needed"),
    ],
)
def test_a_bad_naming_template_is_refused_before_anything_runs(naming: str, says: str) -> None:
    """Unknown fields and bad syntax are a `UsageError` listing the fields, at construction."""
    with pytest.raises(UsageError, match=says.replace("{", r"\{")):
        RunOptions(out="x", naming=naming)


@pytest.mark.parametrize(
    ("field", "value"),
    [("top_k", 0), ("min_rating", 11), ("budget", -1), ("max_in_flight", 0)],
)
def test_bad_numbers_are_usage_errors(field: str, value: float) -> None:
    """Out-of-range options say which and what they should be."""
    with pytest.raises(UsageError, match=field):
        RunOptions(out="x", **{field: value})  # type: ignore[arg-type]


@pytest.mark.parametrize("naming", ["same.mp4", "{rank}.mp4", "{title}.mp4"])
async def test_names_that_collide_never_overwrite_or_skip_a_clip(
    tmp_path: Path, naming: str
) -> None:
    """3 videos x 3 clips with one name for many: 9 files, 9 distinct paths, rerun keeps them."""
    urls = video_urls(3)
    store = MemoryStore()
    options = RunOptions(out=tmp_path, top_k=3, naming=naming)
    async with simulated() as (fake, cp):
        summary = await Batch(cp, options, store).run(urls)
        records = await store.records()
        again = await Batch(cp, options, store).run(urls)
    assert summary.files == 9 and len(names(tmp_path, "*.mp4")) == 9
    assert check_files(records, top_k=3) == 9
    paths = [f.path for r in records for f in r.files]
    assert len(set(paths)) == 9
    assert all(r.names == {f.clip_id: Path(f.path).name for f in r.files} for r in records)
    assert (again.skipped, again.files) == (3, 0) and charges_of(fake, records) == [1, 1, 1]


async def test_the_default_name_is_the_servers_as_in_the_library(tmp_path: Path) -> None:
    """The batch names a clip as `renders.download` does by default."""
    store = MemoryStore()
    async with simulated() as (_, cp):
        await Batch(cp, RunOptions(out=tmp_path / "batch", top_k=1), store).run([video_url()])
        [record] = await store.records()
        [saved] = record.files
        library = await cp.renders.download(saved.render_id, tmp_path / "library")
    assert Path(saved.path).name == library.path.name


async def test_a_bad_source_fails_alone(tmp_path: Path) -> None:
    """A name that is not UTF-8 and an `s3://` line fail with their reason; the others finish,
    and a rerun does not trip over their records."""
    good = video_urls(2)
    undecodable = str(tmp_path / "caf\udce9.mp4")  # what Python makes of a Latin-1 name
    sources = [good[0], undecodable, "s3://bucket/talk.mp4", good[1]]
    store = MemoryStore()
    async with simulated() as (_, cp):
        batch = Batch(cp, RunOptions(out=tmp_path, top_k=1), store)
        summary = await batch.run(sources)
        rerun = await Batch(cp, RunOptions(out=tmp_path, top_k=1), store).run(sources)
    assert (summary.done, summary.failed) == (2, 2)
    by_source = {r.source: r for r in await store.records()}
    escaped = str(tmp_path / "caf\\xe9.mp4")
    assert by_source[escaped].phase == Phase.FAILED
    assert "not valid UTF-8" in (by_source[escaped].error or "")
    assert "s3://" in (by_source["s3://bucket/talk.mp4"].error or "")
    assert (rerun.done, rerun.skipped) == (0, 2) and rerun.failed == 2


async def test_a_missing_local_file_says_so(tmp_path: Path) -> None:
    """A local source that does not exist fails alone, with read (not download) wording."""
    store = MemoryStore()
    async with simulated() as (_, cp):
        summary = await Batch(cp, RunOptions(out=tmp_path, top_k=1), store).run(
            [str(tmp_path / "missing.mp4"), video_url()]
        )
    [record] = [r for r in await store.records() if r.phase == Phase.FAILED]
    assert (summary.done, summary.failed) == (1, 1)
    assert "missing.mp4" in (record.error or "") and "partial download" not in (record.error or "")


async def test_a_rerun_fetches_deleted_and_changed_files_without_paying(tmp_path: Path) -> None:
    """A clip deleted from OUT comes back; a same-size change is caught with `verify`."""
    url = video_url()
    store = MemoryStore()
    async with simulated() as (fake, cp):
        await Batch(cp, RunOptions(out=tmp_path, top_k=2), store).run([url])
        [record] = await store.records()
        first, second = (Path(f.path) for f in record.files)
        original = sha256_of(second)
        first.unlink()
        data = bytearray(second.read_bytes())
        data[-1] ^= 0xFF
        second.write_bytes(bytes(data))
        plain = await Batch(cp, RunOptions(out=tmp_path, top_k=2), store).run([url])
        assert first.exists() and sha256_of(second) != original  # size alone cannot tell
        verified = await Batch(cp, RunOptions(out=tmp_path, top_k=2, verify=True), store).run([url])
        [record] = await store.records()
    assert (plain.done, plain.files, verified.done, verified.files) == (1, 1, 1, 1)
    assert sha256_of(second) == original
    assert check_files([record], top_k=2) == 2 and charges_of(fake, [record]) == [1]


async def test_an_expired_submission_pays_again_only_with_resubmit(tmp_path: Path) -> None:
    """Clips and render gone on the server: the rerun says so; `resubmit=True` pays once more."""
    url = video_url()
    store = MemoryStore()
    async with simulated() as (fake, cp):
        await Batch(cp, RunOptions(out=tmp_path, top_k=1), store).run([url])
        [record] = await store.records()
        assert record.submission_id
        os.unlink(record.files[0].path)
        fake.expire_submission(record.submission_id)
        fake.advance(73 * 3600)  # past the render's 72 hours
        refused = await Batch(cp, RunOptions(out=tmp_path, top_k=1), store).run([url])
        [failed] = await store.records()
        refusal = failed.error or ""  # the store hands out the record the next run changes
        paid = await Batch(cp, RunOptions(out=tmp_path, top_k=1, resubmit=True), store).run([url])
        [record] = await store.records()
    assert refused.failed == 1 and "--resubmit" in refusal
    assert paid.done == 1 and check_files([record], top_k=1) == 1
    assert fake.charges_per_video()[record.video_id or ""] == 2


class FullDisk(MemoryStore):
    """A store whose disk fills after `room` saves."""

    def __init__(self, room: int) -> None:
        super().__init__()
        self.room = room

    async def save(self, record: Record, *, sync: Path | None = None) -> None:
        """Save, or fail as a full disk does."""
        if self.room <= 0:
            raise StoreError("cannot write the run record: the disk is full; free space")
        self.room -= 1
        await super().save(record, sync=sync)


async def test_a_full_disk_stops_the_run_cleanly(tmp_path: Path) -> None:
    """The first save that fails stops the run: one `StoreError` (no exception group), what
    was saved stays, and a rerun with room continues without paying twice."""
    urls = video_urls(4)
    store = FullDisk(room=12)
    async with simulated() as (fake, cp):
        batch = Batch(cp, RunOptions(out=tmp_path, top_k=1), store)
        with pytest.raises(StoreError, match="disk is full"):
            await batch.run(urls)
        store.room = 10_000
        rerun = await Batch(cp, RunOptions(out=tmp_path, top_k=1), store).run(urls)
        records = await store.records()
    assert rerun.failed == 0 and rerun.done + rerun.skipped == 4
    assert check_files(records, top_k=1) == 4
    assert max(charges_of(fake, records)) == 1
