"""A run record that cannot be opened or saved: every failure is a `StoreError` saying what to
do, and a failed save keeps what was saved before.

The full disk is real: SQLite's own `max_page_count` limit, and a small tmpfs mounted in a
user namespace (skipped where those are not allowed). Permission failures run the store as
another user when the tests run as root (root ignores file modes).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import anyio
import orjson
import pytest

from cutpro_async.batch import Phase, Record, SQLiteStore, StoreError, StoreLocked
from tests.conftest import tmpfs_available

pytestmark = pytest.mark.anyio

#: Opens the record named by argv[1] (read-only if argv[2] is "ro"), saves one record unless
#: read-only, and prints what happened as JSON.
OPEN_AND_SAVE = """
import sys, anyio, orjson
from cutpro_async.batch import Record, SQLiteStore
from cutpro_async.errors import CutProError
async def main(path, how):
    try:
        store = await SQLiteStore.open(path, readonly=how == "ro")
        try:
            if how != "ro":
                await store.save(Record("new", 9))
            sources = [r.source for r in await store.records()]
        finally:
            await store.close()
    except Exception as exc:
        print(orjson.dumps({"error": type(exc).__name__, "message": str(exc),
                            "is_cutpro": isinstance(exc, CutProError)}).decode())
        return
    print(orjson.dumps({"sources": sources}).decode())
anyio.run(main, *sys.argv[1:])
"""

#: Fills the tmpfs at argv[1] with a file, then saves into a record there: the disk is full.
#: Then frees the space and saves again. Prints each outcome as JSON.
FULL_DISK = """
import os, sys, anyio, orjson
from pathlib import Path
from cutpro_async.batch import Record, SQLiteStore
from cutpro_async.errors import StoreError
async def main(folder):
    folder = Path(folder)
    store = await SQLiteStore.open(folder / "state.sqlite")
    await store.save(Record("kept", 0))
    fd = os.open(folder / "filler", os.O_WRONLY | os.O_CREAT)
    try:
        while True:
            os.write(fd, b"\\0" * 65536)
    except OSError as exc:
        filled = exc.strerror
    os.close(fd)
    outcomes = {}
    async def save(source, position):
        try:
            await store.save(Record(source, position, error="x" * 200_000))
            outcomes[source] = "saved"
        except StoreError as exc:
            outcomes[source] = str(exc)
    async with anyio.create_task_group() as group:
        for position, source in enumerate(["big1", "big2"], 1):
            group.start_soon(save, source, position)
    (folder / "filler").unlink()
    await store.save(Record("after", 3))
    await store.close()
    again = await SQLiteStore.open(folder / "state.sqlite")
    sources = [r.source for r in await again.records()]
    await again.close()
    print(orjson.dumps({"filled": filled, "outcomes": outcomes, "sources": sources}).decode())
anyio.run(main, sys.argv[1])
"""


@pytest.fixture
def shared() -> Iterator[Path]:
    """A folder another user can enter (tmp_path's parents are private to root)."""
    folder = Path(tempfile.mkdtemp(prefix="cutpro-store-"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def unprivileged(args: list[str]) -> list[str]:
    """`args` run so that file modes apply: as nobody when the tests run as root."""
    if os.geteuid() != 0:
        return args
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: file modes cannot be tested")
    return [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", *args]


async def run_store(path: Path, how: str = "rw") -> dict[str, object]:
    """Run `OPEN_AND_SAVE` on `path` as a user the file modes apply to."""
    with anyio.fail_after(60):
        done = await anyio.run_process(
            unprivileged([sys.executable, "-c", OPEN_AND_SAVE, str(path), how]),
            cwd="/",
            check=False,
        )
    assert done.returncode == 0, done.stderr.decode()
    result: dict[str, object] = orjson.loads(done.stdout)
    return result


async def make_record(path: Path, *sources: str) -> None:
    """A record holding these sources."""
    store = await SQLiteStore.open(path)
    try:
        for position, source in enumerate(sources):
            await store.save(Record(source, position, phase=Phase.DONE))
    finally:
        await store.close()


async def test_a_folder_that_cannot_be_written_is_a_store_error(shared: Path) -> None:
    """No write permission on the record's folder: `StoreError` naming the lock file and
    saying to make it writable or use another --state (not a raw PermissionError)."""
    folder = shared / "locked"
    folder.mkdir(mode=0o555)
    folder.chmod(0o555)
    result = await run_store(folder / "state.sqlite")
    assert result["error"] == "StoreError", result
    message = str(result["message"])
    assert "permission denied" in message
    assert "state.sqlite.lock" in message
    assert "--state with another path" in message


async def test_a_folder_that_cannot_be_created_is_a_store_error(shared: Path) -> None:
    """The record's folder would be made inside a folder this user cannot write."""
    folder = shared / "locked"
    folder.mkdir(mode=0o555)
    folder.chmod(0o555)
    result = await run_store(folder / "sub" / "state.sqlite")
    assert result["error"] == "StoreError", result
    assert "cannot create the run record" in str(result["message"])
    assert "permission denied" in str(result["message"])


async def test_a_read_only_record_is_refused_when_opened_not_at_the_first_save(
    shared: Path,
) -> None:
    """A record the user may not write (its folder writable, its lock too): the writer's
    open raises `StoreError` before any work starts; a read-only open still reads it."""
    path = shared / "state.sqlite"
    await make_record(path, "a")
    os.chmod(shared, 0o777)  # the lock file and SQLite's side files may be made
    os.chmod(shared / "state.sqlite.lock", 0o666)
    os.chmod(path, 0o444)
    result = await run_store(path)
    assert result["error"] == "StoreError", result
    message = str(result["message"])
    assert f"cannot open the run record {path}" in message
    assert "readonly" in message
    assert "make it and its folder writable" in message
    assert await run_store(path, "ro") == {"sources": ["a"]}


async def test_a_record_in_a_folder_the_reader_cannot_write_is_still_read(shared: Path) -> None:
    """`cutpro status` on someone else's record: read while their run has it open (SQLite's
    side files exist) and after it closed (they are gone and cannot be made here)."""
    path = shared / "state.sqlite"
    store = await SQLiteStore.open(path)
    try:
        await store.save(Record("a", 0))
        assert await run_store(path, "ro") == {"sources": ["a"]}
        await store.save(Record("b", 1))
        assert await run_store(path, "ro") == {"sources": ["a", "b"]}
    finally:
        await store.close()
    assert not path.with_name("state.sqlite-wal").exists()
    assert await run_store(path, "ro") == {"sources": ["a", "b"]}


async def test_a_file_in_the_way_of_the_folder_is_a_store_error(tmp_path: Path) -> None:
    """The record's folder is a file: said plainly."""
    (tmp_path / "out").write_text("x")
    with pytest.raises(StoreError, match="a file is in the way of its folder"):
        await SQLiteStore.open(tmp_path / "out" / "state.sqlite")


@pytest.mark.parametrize("readonly", [False, True])
async def test_a_file_that_is_not_sqlite_is_not_a_record(tmp_path: Path, readonly: bool) -> None:
    """A file that is not an SQLite database: `StoreError` saying so, the file untouched, and
    the lock released (a second attempt gives the same answer, not `StoreLocked`)."""
    path = tmp_path / "notes.txt"
    path.write_bytes(b"my notes, not a database\n" * 200)
    for _ in range(2):
        with pytest.raises(StoreError) as caught:
            await SQLiteStore.open(path, readonly=readonly)
        assert not isinstance(caught.value, StoreLocked)
        assert "is not a cutpro run record" in str(caught.value)
        assert "move the file away" in str(caught.value)
    assert path.read_bytes() == b"my notes, not a database\n" * 200


@pytest.mark.parametrize("readonly", [False, True])
async def test_another_programs_database_is_not_written_into(
    tmp_path: Path, readonly: bool
) -> None:
    """An SQLite database without the record's tables is refused, and gets no tables added."""
    import sqlite3

    path = tmp_path / "app.db"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE users (name TEXT)")
    db.commit()
    db.close()
    with pytest.raises(StoreError, match="not a cutpro run record"):
        await SQLiteStore.open(path, readonly=readonly)
    db = sqlite3.connect(path)
    tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
    db.close()
    assert tables == ["users"]


async def test_reading_a_missing_record_is_a_store_error(tmp_path: Path) -> None:
    """A read-only open never creates a record: no file there is a `StoreError`."""
    with pytest.raises(StoreError, match="no run record at"):
        await SQLiteStore.read(tmp_path / "missing.sqlite")
    assert not (tmp_path / "missing.sqlite").exists()


async def test_a_full_database_fails_every_save_in_the_batch_and_keeps_the_rest(
    tmp_path: Path,
) -> None:
    """SQLite's page limit reached (`database or disk is full`): every save of the failed
    group commit raises `StoreError` saying to free space, earlier records stay, and once
    there is room again the pending records are written by `close`."""
    path = tmp_path / "state.sqlite"
    store = await SQLiteStore.open(path)
    await store.save(Record("kept", 0, phase=Phase.DONE))
    pages = store._db.execute("PRAGMA page_count").fetchone()[0]
    store._db.execute(f"PRAGMA max_page_count = {pages}")
    outcomes: dict[str, str] = {}

    async def save(source: str, position: int) -> None:
        try:
            await store.save(Record(source, position, error="x" * 100_000))
            outcomes[source] = "saved"
        except StoreError as exc:
            outcomes[source] = str(exc)

    async with anyio.create_task_group() as group:
        for position, source in enumerate(["big1", "big2"], 1):
            group.start_soon(save, source, position)
    assert set(outcomes) == {"big1", "big2"}
    for message in outcomes.values():
        assert f"cannot save the run record {path}: the disk is full" in message
        assert "free space and run again to resume" in message
    assert [r.source for r in await store.records()] == ["kept"]
    store._db.execute("PRAGMA max_page_count = 1073741823")
    await store.save(Record("after", 3))
    await store.close()
    assert [r.source for r in await SQLiteStore.read(path)] == ["kept", "big1", "big2", "after"]


async def test_closing_a_store_whose_last_save_fails_still_releases_it(tmp_path: Path) -> None:
    """`close` raises the failed commit as `StoreError`, yet closes the database and the
    lock: the record can be opened again at once."""
    path = tmp_path / "state.sqlite"
    store = await SQLiteStore.open(path)
    await store.save(Record("kept", 0))
    store._db.execute("PRAGMA query_only = 1")
    store._pending["late"] = Record("late", 1)  # a save that has not been flushed yet
    with pytest.raises(StoreError):
        await store.close()
    assert [r.source for r in await SQLiteStore.read(path)] == ["kept"]
    again = await SQLiteStore.open(path)
    await again.close()


@pytest.mark.skipif(not tmpfs_available(), reason="no user namespaces to mount a tmpfs in")
async def test_a_really_full_disk_is_a_store_error_and_the_record_resumes(tmp_path: Path) -> None:
    """A 1 MiB tmpfs filled up (ENOSPC from the kernel): both saves of the group commit raise
    `StoreError` saying the disk is full; after freeing space the same store saves again and
    every record is there on reopening."""
    mount = tmp_path / "small"
    mount.mkdir()
    command = (
        f"mount -t tmpfs -o size=1m tmpfs {mount} && "
        f'exec "$0" -c "$1" {mount}'  # the interpreter and the script, passed as $0 and $1
    )
    with anyio.fail_after(120):
        done = await anyio.run_process(
            ["unshare", "-rm", "sh", "-c", command, sys.executable, FULL_DISK],
            cwd="/",
            check=False,
        )
    assert done.returncode == 0, done.stderr.decode()
    result = orjson.loads(done.stdout)
    assert "no space" in result["filled"].lower()
    assert set(result["outcomes"]) == {"big1", "big2"}
    for message in result["outcomes"].values():
        assert "the disk is full; free space and run again to resume" in message
    assert result["sources"] == ["kept", "big1", "big2", "after"]
