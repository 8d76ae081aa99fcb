"""Record stores: SQLite round trips, the lock against a second process, endpoint binding."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import anyio
import orjson
import pytest

from cutpro_async import CutPro, UsageError
from cutpro_async._converter import unstructure
from cutpro_async.batch import (
    Batch,
    ChosenClip,
    MemoryStore,
    Phase,
    Record,
    RunOptions,
    SavedFile,
    SQLiteStore,
    StoreError,
    StoreLocked,
)
from cutpro_async.testing import FakeCutPro

from .conftest import simulated, video_url, video_urls

pytestmark = pytest.mark.anyio

OPEN_SCRIPT = """
import sys, anyio
from cutpro_async.batch import SQLiteStore, StoreLocked
async def main():
    try:
        store = await SQLiteStore.open(sys.argv[1])
    except StoreLocked as exc:
        print(exc)
        raise SystemExit(3)
    await store.close()
anyio.run(main)
"""


def full_record() -> Record:
    """A record with every field set."""
    return Record(
        "https://www.youtube.com/watch?v=x",
        7,
        phase=Phase.CLIPPED,
        video_id="v1",
        credits_cost=12.0,
        submit_intent=datetime(2025, 1, 2, 3, 4, 5, 678000, tzinfo=UTC),
        submission_id="s1",
        clips=[ChosenClip("c1", "A title é", 8.5, 1.25, 61.0)],
        template_applied=True,
        renders={"c1": "r1"},
        files=[SavedFile("c1", "r1", "/tmp/x.mp4", 1234, "ab" * 32)],
        error="ServerError: x",
        retryable=False,
        attempts=2,
    )


def open_elsewhere(path: Path) -> subprocess.CompletedProcess[str]:
    """Try to open the store at `path` from another Python process."""
    return subprocess.run(
        [sys.executable, "-c", OPEN_SCRIPT, str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_sqlite_round_trips_a_record(tmp_path: Path) -> None:
    """A saved record loads back equal, also after the store is closed and reopened."""
    path = tmp_path / "state.sqlite"
    record = full_record()
    store = await SQLiteStore.open(path)
    try:
        await store.save(record)
        await store.save(Record("b", 1))
        assert await store.load(record.source) == record
        assert await store.load("missing") is None
    finally:
        await store.close()
    store = await SQLiteStore.open(path)
    try:
        assert await store.records() == [Record("b", 1), record]
    finally:
        await store.close()


OLD_SCHEMA = """
CREATE TABLE records (
    source TEXT PRIMARY KEY, position INTEGER NOT NULL, stage TEXT NOT NULL, data BLOB NOT NULL
);
CREATE INDEX records_stage ON records (stage);
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


async def test_records_saved_before_the_phase_rename_still_load(tmp_path: Path) -> None:
    """A database whose column and JSON say `stage` opens with every phase kept, and is
    migrated so that it saves and reopens as a new one."""
    path, record = tmp_path / "state.sqlite", full_record()
    data = unstructure(record)
    data["stage"] = data.pop("phase")
    with contextlib.closing(sqlite3.connect(path)) as db, db:
        db.executescript(OLD_SCHEMA)
        db.execute(
            "INSERT INTO records VALUES (?, ?, ?, ?)",
            (record.source, record.position, "clipped", orjson.dumps(data)),
        )
    for _ in range(2):  # the second open finds the migrated schema
        store = await SQLiteStore.open(path)
        try:
            assert await store.load(record.source) == record
            await store.save(Record("b", 8, phase=Phase.DONE))
        finally:
            await store.close()
    with contextlib.closing(sqlite3.connect(path)) as db:
        phases = db.execute("SELECT source, phase FROM records ORDER BY position").fetchall()
    assert phases == [(record.source, "clipped"), ("b", "done")]


async def test_save_replaces_the_previous_version(tmp_path: Path) -> None:
    """Saving a record again replaces it rather than adding a row."""
    store = await SQLiteStore.open(tmp_path / "state.sqlite")
    try:
        record = Record("a", 0)
        await store.save(record)
        record.phase, record.video_id = Phase.PRICED, "v9"
        await store.save(record)
        assert await store.records() == [record]
    finally:
        await store.close()


async def test_a_failed_group_commit_never_lets_a_save_return(tmp_path: Path) -> None:
    """When a transaction fails, every save whose record was in it raises (none returns as if
    written), and the records are written by the next successful commit."""
    store = await SQLiteStore.open(tmp_path / "state.sqlite")
    store._db.execute("PRAGMA query_only = 1")  # every write now fails
    outcomes: dict[str, str] = {}

    async def save(source: str) -> None:
        try:
            await store.save(Record(source, ord(source)))
            outcomes[source] = "returned"
        except StoreError:
            outcomes[source] = "raised"

    async with anyio.create_task_group() as group:
        for source in "ab":
            group.start_soon(save, source)
    assert outcomes == {"a": "raised", "b": "raised"}
    store._db.execute("PRAGMA query_only = 0")
    await store.close()  # commits what is still pending
    again = await SQLiteStore.open(tmp_path / "state.sqlite")
    try:
        assert [r.source for r in await again.records()] == ["a", "b"]
    finally:
        await again.close()


async def test_a_link_at_the_lock_file_is_replaced_not_followed(tmp_path: Path) -> None:
    """A symlink placed at `<state>.lock` is not written through: its target is untouched."""
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious")
    (tmp_path / "state.sqlite.lock").symlink_to(victim)
    store = await SQLiteStore.open(tmp_path / "state.sqlite")
    await store.close()
    assert victim.read_bytes() == b"precious"
    assert not (tmp_path / "state.sqlite.lock").is_symlink()


@pytest.mark.parametrize("suffix", ["", "-wal", "-journal"])
async def test_a_link_at_the_record_is_refused(tmp_path: Path, suffix: str) -> None:
    """The SQLite record (or a side file of it) being a symlink is a clear `UsageError`, and
    the link's target is untouched."""
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious")
    (tmp_path / f"state.sqlite{suffix}").symlink_to(victim)
    with pytest.raises(UsageError, match="symbolic link"):
        await SQLiteStore.open(tmp_path / "state.sqlite")
    assert victim.read_bytes() == b"precious"


async def test_second_process_is_refused_while_open(tmp_path: Path) -> None:
    """Another process cannot open a record that is open, and says who holds it; once closed
    it can."""
    path = tmp_path / "state.sqlite"
    store = await SQLiteStore.open(path)
    try:
        refused = open_elsewhere(path)
    finally:
        await store.close()
    assert refused.returncode == 3, refused.stderr
    assert f"in use by pid {os.getpid()}" in refused.stdout
    assert "wait for that run to end" in refused.stdout
    assert "another --state" not in refused.stdout  # that advice would pay twice
    assert open_elsewhere(path).returncode == 0


async def test_second_open_in_the_same_process_is_refused_too(tmp_path: Path) -> None:
    """flock locks an open file description, so a second open in one process is refused as
    well (two batches in one program cannot share a record by accident)."""
    path = tmp_path / "state.sqlite"
    store = await SQLiteStore.open(path)
    try:
        with pytest.raises(StoreLocked, match="in use by pid"):
            await SQLiteStore.open(path)
    finally:
        await store.close()
    again = await SQLiteStore.open(path)
    await again.close()


async def test_bind_returns_the_first_endpoint() -> None:
    """Both stores remember the first endpoint they were bound to."""
    memory = MemoryStore()
    assert await memory.bind("http://a") == "http://a"
    assert await memory.bind("http://b") == "http://a"


async def test_unfinished_records_of_another_api_are_refused(
    sim: tuple[FakeCutPro, CutPro], tmp_path: Path
) -> None:
    """A record with unfinished videos made against another API raises `UsageError`."""
    _, cp = sim
    store = await SQLiteStore.open(tmp_path / "state.sqlite")
    try:
        await store.bind("https://api.example.com/api/v1")
        await store.save(Record(video_url(), 0, phase=Phase.SUBMITTED, video_id="v1"))
        with pytest.raises(UsageError, match=r"unfinished videos? made against"):
            await Batch(cp, RunOptions(out=tmp_path), store).run([video_url()])
    finally:
        await store.close()


async def test_finished_records_of_another_api_are_accepted(
    sim: tuple[FakeCutPro, CutPro], tmp_path: Path
) -> None:
    """A record whose videos are all finished may be reused against another API."""
    _, cp = sim
    store = await SQLiteStore.open(tmp_path / "state.sqlite")
    try:
        await store.bind("https://api.example.com/api/v1")
        await store.save(Record(video_url(), 0, phase=Phase.DONE, video_id="v1"))
        summary = await Batch(cp, RunOptions(out=tmp_path, top_k=1), store).run([video_url()])
    finally:
        await store.close()
    assert summary.done == 1


async def test_a_record_can_be_read_while_a_run_holds_it(tmp_path: Path) -> None:
    """`open(readonly=True)` and `read` take no lock: they see every committed save of the
    run holding the record, including later ones, and refuse to write; the run keeps its
    lock (another writer is still refused)."""
    path = tmp_path / "state.sqlite"
    writer = await SQLiteStore.open(path)
    try:
        await writer.save(Record("a", 0, phase=Phase.DONE))
        reader = await SQLiteStore.open(path, readonly=True)
        try:
            assert reader.readonly
            assert [r.source for r in await reader.records()] == ["a"]
            await writer.save(Record("b", 1))
            assert [r.source for r in await reader.records()] == ["a", "b"]
            assert await reader.load("b") == Record("b", 1)
            with pytest.raises(UsageError, match="read-only"):
                await reader.save(Record("c", 2))
            with pytest.raises(UsageError, match="read-only"):
                await reader.bind("http://x")
        finally:
            await reader.close()
        assert [r.source for r in await SQLiteStore.read(path)] == ["a", "b"]
        assert open_elsewhere(path).returncode == 3  # the run still holds its lock
    finally:
        await writer.close()


async def test_reading_from_another_process_during_a_run(tmp_path: Path) -> None:
    """Another process reads the record while this one holds it for writing."""
    path = tmp_path / "state.sqlite"
    writer = await SQLiteStore.open(path)
    try:
        await writer.save(Record("a", 0))
        script = (
            "import sys, anyio\n"
            "from cutpro_async.batch import SQLiteStore\n"
            "records = anyio.run(SQLiteStore.read, sys.argv[1])\n"
            "print(*[r.source for r in records])\n"
        )
        with anyio.fail_after(60):
            done = await anyio.run_process([sys.executable, "-c", script, str(path)], check=False)
    finally:
        await writer.close()
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout.split() == [b"a"]


async def test_reading_a_record_of_the_old_schema_changes_nothing(tmp_path: Path) -> None:
    """A record saved before the phase rename reads back, and stays unmigrated (no write)."""
    path, record = tmp_path / "state.sqlite", full_record()
    data = unstructure(record)
    data["stage"] = data.pop("phase")
    with contextlib.closing(sqlite3.connect(path)) as db, db:
        db.executescript(OLD_SCHEMA)
        db.execute(
            "INSERT INTO records VALUES (?, ?, ?, ?)",
            (record.source, record.position, "clipped", orjson.dumps(data)),
        )
    assert await SQLiteStore.read(path) == [record]
    with contextlib.closing(sqlite3.connect(path)) as db:
        columns = {row[1] for row in db.execute("PRAGMA table_info(records)")}
    assert "stage" in columns


async def test_saves_waiting_for_one_batch_are_encoded_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Saves of one record that wait behind a commit under way join the next batch: the record
    is encoded once, as it stands then (never older than at any of those saves)."""
    from cutpro_async.batch import store as store_module

    encoded: list[str] = []

    def counting(record: Record) -> object:
        encoded.append(record.source)
        return unstructure(record)

    monkeypatch.setattr(store_module, "unstructure", counting)
    store = await SQLiteStore.open(tmp_path / "state.sqlite")
    record = Record("a", 0)
    try:
        async with anyio.create_task_group() as group:
            group.start_soon(store.save, Record("b", 1))  # its commit is under way first
            for phase in (Phase.PRICED, Phase.SUBMITTING, Phase.SUBMITTED):
                record.phase = phase
                group.start_soon(store.save, record)
            record.video_id = "v1"  # changed after the saves were asked for, before they ran
        assert encoded.count("a") == 1
        assert await store.load("a") == record
    finally:
        await store.close()


async def test_saves_that_ask_for_a_folder_fsync_share_one_before_their_commit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Twenty saves at once, each naming OUT: the first commits alone, the other nineteen
    together, each batch after one fsync of OUT; a failing fsync commits nothing and says so."""
    from cutpro_async.batch import store as store_module

    synced: list[tuple[Path, int]] = []
    store = await SQLiteStore.open(tmp_path / "state.sqlite")

    def sync(folder: Path) -> None:
        committed = len(store._db.execute("SELECT source FROM records").fetchall())
        synced.append((folder, committed))

    monkeypatch.setattr(store_module, "sync_folder", sync)
    try:
        async with anyio.create_task_group() as group:
            for n in range(20):
                group.start_soon(lambda n=n: store.save(Record(f"s{n}", n), sync=tmp_path / "out"))
        assert synced == [(tmp_path / "out", 0), (tmp_path / "out", 1)]  # before each commit
        assert len(await store.records()) == 20

        def broken(folder: Path) -> None:
            raise OSError(5, "Input/output error")

        monkeypatch.setattr(store_module, "sync_folder", broken)
        with pytest.raises(StoreError, match=r"files saved in .*out durable \(fsync: Input"):
            await store.save(Record("late", 99), sync=tmp_path / "out")
        assert "late" not in {r.source for r in await store.records()}
    finally:
        monkeypatch.setattr(store_module, "sync_folder", lambda folder: None)
        await store.close()


async def test_a_batch_fsyncs_its_folder_with_its_commits_not_per_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ten videos of two clips: no download fsyncs OUT on its own; the record's commits do
    (how many of them share one depends on timing: the grouping itself is tested above)."""
    from cutpro_async.batch import store as store_module
    from cutpro_async.jobs import _partfile

    per_file: list[Path] = []
    with_commit: list[Path] = []
    monkeypatch.setattr(_partfile, "sync_folder", per_file.append)
    monkeypatch.setattr(store_module, "sync_folder", with_commit.append)
    async with simulated() as (_fake, cp):
        store = await SQLiteStore.open(tmp_path / "state.sqlite")
        try:
            summary = await Batch(cp, RunOptions(out=tmp_path, top_k=2), store).run(video_urls(10))
        finally:
            await store.close()
    assert summary.files == 20
    assert per_file == []
    assert with_commit and set(with_commit) == {tmp_path}
