"""Where batch records live: a small interface, and SQLite behind it by default.

SQLite runs in one worker thread at a time (calls are serialised through a limiter), in WAL
mode: a record saved before a crash (even SIGKILL) is there on restart. Saves that arrive
while a write is under way are committed together in the next transaction (group commit), and
each `save` returns only once its record is committed. A lock file next to the database
refuses a second process on the same record; `SQLiteStore.open(path, readonly=True)` (or
`SQLiteStore.read(path)`) takes no lock and reads while a run writes (WAL readers see the last
committed state).

Every failure of the file or the disk (a folder that cannot be written, a read-only record, a
file that is not a record, a full disk) is a `StoreError` whose message says what to do; a
failed save leaves what was committed before intact, so the next run resumes from it.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import os
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO, Protocol

import anyio
import orjson

from .._converter import structure, unstructure
from .._fs import open_nofollow
from ..errors import StoreError, StoreLocked, UsageError
from ..jobs._partfile import FOLDER_SYNCS, sync_folder
from ..jobs._threads import in_thread
from .record import Record

_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    source TEXT PRIMARY KEY,
    position INTEGER NOT NULL,
    phase TEXT NOT NULL,
    data BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS records_phase ON records (phase);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


_UPSERT = (
    "INSERT INTO records (source, position, phase, data) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (source) DO UPDATE SET phase = excluded.phase, data = excluded.data"
)


class Store(Protocol):
    """What the orchestrator needs from a record store (swap in a distributed one later)."""

    async def load(self, source: str) -> Record | None:
        """The record of a source, if any."""

    async def save(self, record: Record, *, sync: Path | None = None) -> None:
        """Write a record durably (replacing the previous version); with `sync`, fsync that
        folder first (a file renamed into it before this call, which the record lists, must
        survive a power cut once the record says it is there)."""

    async def records(self) -> list[Record]:
        """Every record, in source order."""

    async def bind(self, endpoint: str) -> str:
        """Tie the records to the API they were made against; returns the first one bound."""

    async def close(self) -> None:
        """Release the store."""


class MemoryStore:
    """A store that forgets everything at exit (single-video runs, tests)."""

    def __init__(self) -> None:
        self._records: dict[str, Record] = {}
        self._endpoint: str | None = None

    async def load(self, source: str) -> Record | None:
        """The record of a source, if any."""
        return self._records.get(source)

    async def save(self, record: Record, *, sync: Path | None = None) -> None:
        """Keep a record (after an fsync of `sync`: the files it lists are durable)."""
        if sync is not None:
            await anyio.to_thread.run_sync(FOLDER_SYNCS.after_rename, sync)
        self._records[record.source] = record

    async def records(self) -> list[Record]:
        """Every record, in source order."""
        return sorted(self._records.values(), key=lambda r: r.position)

    async def bind(self, endpoint: str) -> str:
        """Tie the records to an API; returns the first one bound."""
        if self._endpoint is None:
            self._endpoint = endpoint
        return self._endpoint

    async def close(self) -> None:
        """Nothing to release."""


class SQLiteStore:
    """Records in an SQLite file: `await SQLiteStore.open(path)` to run a batch on it, or
    `await SQLiteStore.open(path, readonly=True)` to read it, even while a run holds it."""

    def __init__(self, path: Path, db: sqlite3.Connection, lock: IO[str] | None) -> None:
        self.path = path
        self._db = db
        self._lock = lock
        #: Opened with `readonly=True`: no lock taken, `save` and `bind` refused.
        self.readonly = lock is None
        #: The one thread that uses the connection (statements run one at a time).
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="cutpro-record")
        self._pending: dict[str, Record] = {}  # by source: the latest object saved
        self._folders: set[Path] = set()  # to fsync before the next batch commits
        self._batch = 0  # the batch that new saves join
        self._committed = -1  # the last batch written
        self._writer = asyncio.Lock()
        self._closed = False

    @classmethod
    async def open(cls, path: str | Path, *, readonly: bool = False) -> SQLiteStore:
        """Open (or create) the record, refusing it if another process holds it.

        With `readonly=True` an existing record is opened for reading only: no lock is taken,
        so it can be read while a run writes it (`StoreError` if there is no record there).
        """
        file = Path(path)
        if readonly:
            db = await anyio.to_thread.run_sync(_connect_readonly, file)
            return cls(file, db, None)
        lock = await anyio.to_thread.run_sync(_take_lock, file)
        try:
            db = await anyio.to_thread.run_sync(_connect, file)
        except BaseException:
            lock.close()
            raise
        return cls(file, db, lock)

    @classmethod
    async def read(cls, path: str | Path) -> list[Record]:
        """Every record of the run record at `path`, read without a lock (a run may be on)."""
        store = await cls.open(path, readonly=True)
        try:
            return await store.records()
        finally:
            await store.close()

    async def _run(self, sql: str, *args: object, doing: str = "read") -> list[tuple[object, ...]]:
        """One statement in the store's thread; commits."""

        def work() -> list[tuple[object, ...]]:
            try:
                with self._db:
                    return self._db.execute(sql, args).fetchall()
            except (sqlite3.Error, OSError) as exc:
                raise _store_error(self.path, doing, exc) from exc

        return await in_thread(self._thread, work)

    async def load(self, source: str) -> Record | None:
        """The record of a source, if any."""
        rows = await self._run("SELECT data FROM records WHERE source = ?", source)
        return _decode(rows[0][0]) if rows else None

    async def save(self, record: Record, *, sync: Path | None = None) -> None:
        """Write a record (replacing the previous version); returns once it is committed.

        What is committed is the record as it stands when its batch is written (never older
        than at this call): saves of one record that wait for the same batch are written, and
        encoded, once. `sync`: a folder fsynced before the batch commits (one fsync a batch
        for every save that names it), so that files renamed into it before this call, which
        the record lists, survive a power cut.

        `StoreError` if it cannot be written (the disk is full, the file became read-only):
        the record then stays pending and is written by the next save or `close` that
        succeeds; what was committed before is untouched.
        """
        self._refuse_if_readonly()
        self._pending[record.source] = record
        if sync is not None:
            self._folders.add(sync)
        mine = self._batch
        async with self._writer:
            if self._committed >= mine:
                return  # another save wrote this batch, ours included
            await self._flush()

    async def _flush(self) -> None:
        """Commit every pending save in one transaction.

        When the transaction fails, it is rolled back and its rows go back to the pending ones
        (behind any newer version of the same record), so that a save waiting on this batch
        writes them itself or raises: no save ever returns for a record that was not written.
        """
        batch, self._pending = self._pending, {}
        folders, self._folders = self._folders, set()
        number, self._batch = self._batch, self._batch + 1
        rows = [
            (source, r.position, r.phase.value, orjson.dumps(unstructure(r)))
            for source, r in batch.items()
        ]
        db = self._db

        def work() -> None:
            for folder in folders:  # the renames the records list, durable before they are
                try:
                    sync_folder(folder)
                except OSError as exc:
                    raise StoreError(
                        f"cannot make the files saved in {folder} durable (fsync: "
                        f"{exc.strerror or exc}); check that disk, then run again"
                    ) from exc
            try:
                db.execute("BEGIN")
                db.executemany(_UPSERT, rows)
                db.execute("COMMIT")
            except BaseException as exc:
                if db.in_transaction:  # SQLite may have rolled back already, or not
                    with contextlib.suppress(sqlite3.Error):
                        db.rollback()
                if isinstance(exc, sqlite3.Error | OSError):
                    raise _store_error(self.path, "save", exc) from exc
                raise

        try:
            await in_thread(self._thread, work)
        except BaseException:
            self._pending = {**batch, **self._pending}
            self._folders |= folders
            raise
        self._committed = number

    async def records(self) -> list[Record]:
        """Every record, in source order."""
        rows = await self._run("SELECT data FROM records ORDER BY position")
        return [_decode(row[0]) for row in rows]

    async def bind(self, endpoint: str) -> str:
        """Tie the records to an API; returns the first one bound."""
        self._refuse_if_readonly()
        await self._run(
            "INSERT OR IGNORE INTO meta (key, value) VALUES ('endpoint', ?)", endpoint, doing="save"
        )
        rows = await self._run("SELECT value FROM meta WHERE key = 'endpoint'")
        return str(rows[0][0])

    async def close(self) -> None:
        """Commit what is pending, close the database and release the lock (those two even
        when the commit fails); closing again does nothing."""
        if self._closed:
            return
        self._closed = True
        try:
            async with self._writer:
                if self._pending:
                    await self._flush()
        finally:
            with anyio.CancelScope(shield=True):
                await in_thread(self._thread, self._db.close)
            self._thread.shutdown(wait=False)
            if self._lock is not None:
                self._lock.close()

    def _refuse_if_readonly(self) -> None:
        """`UsageError` when a read-only store is asked to write."""
        if self.readonly:
            raise UsageError(
                f"the run record {self.path} was opened read-only: open it without "
                "readonly=True to write"
            )


def _decode(data: object) -> Record:
    """A record from its stored JSON (records saved before the rename say `stage`)."""
    assert isinstance(data, bytes)
    fields = orjson.loads(data)
    if "stage" in fields:  # unknown keys are ignored: without this the phase would be `new`
        fields["phase"] = fields.pop("stage")
    return structure(fields, Record)


def _take_lock(file: Path) -> IO[str]:
    """An exclusive lock on `<file>.lock`; `StoreLocked` if another process has it.

    The lock file is opened without following a link placed there, and the database files
    are refused if they are links: the record never writes through to another file.
    """
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise StoreError(
            f"cannot create the run record {file}: a file is in the way of its folder "
            f"{file.parent}; pass --state with another path"
        ) from None
    except OSError as exc:
        raise _store_error(file, "create", exc, part=f"its folder {file.parent}") from exc
    _refuse_links(file)
    lock = file.with_name(file.name + ".lock")
    try:
        handle = os.fdopen(open_nofollow(lock, os.O_RDWR | os.O_CREAT), "r+")
    except OSError as exc:
        raise _store_error(file, "open", exc, part=f"its lock file {lock}") from exc
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        owner = handle.read().strip() or "another process"
        handle.close()
        raise StoreLocked(
            f"{file} is in use by {owner}: wait for that run to end (or stop it), then run again"
        ) from None
    except OSError as exc:
        handle.close()
        raise _store_error(file, "open", exc, part=f"locking {lock}") from exc
    try:
        handle.truncate(0)
        handle.write(f"pid {os.getpid()}")
        handle.flush()
    except OSError as exc:
        handle.close()
        raise _store_error(file, "open", exc, part=f"its lock file {lock}") from exc
    return handle


def _refuse_links(file: Path) -> None:
    """`UsageError` if the database or one of SQLite's side files is a symbolic link."""
    for suffix in ("", "-wal", "-shm", "-journal"):
        path = file.with_name(file.name + suffix)
        if path.is_symlink():
            raise UsageError(
                f"{path} is a symbolic link: the run record must be a plain file; remove the "
                "link (or pass --state with another path)"
            )


def _connect(file: Path) -> sqlite3.Connection:
    """Open the database in WAL mode with the schema in place."""
    try:
        db = sqlite3.connect(file, check_same_thread=False, isolation_level=None)
    except (sqlite3.Error, OSError) as exc:
        raise _store_error(file, "open", exc) from exc
    try:
        _check_is_record(file, db, empty_ok=True)
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = NORMAL")
        _migrate(db)
        db.executescript(_SCHEMA)
        _probe_write(db)
    except BaseException as exc:
        db.close()
        if isinstance(exc, sqlite3.Error | OSError):
            raise _store_error(file, "open", exc) from exc
        raise
    return db


def _probe_write(db: sqlite3.Connection) -> None:
    """Fail now, not at the first save after a paid step, if the record cannot be written
    (SQLite opens a read-only file read-only without a word)."""
    db.execute("BEGIN")
    try:
        db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('write-probe', '')")
    finally:
        db.execute("ROLLBACK")


def _connect_readonly(file: Path) -> sqlite3.Connection:
    """Open an existing record for reading only (no lock, nothing written, not even a
    migration: `_decode` reads records of every version)."""
    if not file.is_file():
        raise StoreError(f"no run record at {file}: check the path (--state)")
    try:
        return _open_readonly(file, immutable=False)
    except (sqlite3.Error, OSError) as exc:
        wal = file.with_name(file.name + "-wal")
        if _primary(exc) != sqlite3.SQLITE_READONLY or wal.exists():
            raise _store_error(file, "read", exc) from exc
    # SQLite could not make its side files in a folder this user may not write, and no run
    # is writing the record (a run keeps a -wal file while it has it open): read it as is.
    try:
        return _open_readonly(file, immutable=True)
    except (sqlite3.Error, OSError) as exc:
        raise _store_error(file, "read", exc) from exc


def _open_readonly(file: Path, *, immutable: bool) -> sqlite3.Connection:
    """A `mode=ro` connection to a run record (`immutable=1`: without SQLite's side files)."""
    uri = f"{file.absolute().as_uri()}?mode=ro" + ("&immutable=1" if immutable else "")
    db = sqlite3.connect(uri, uri=True, check_same_thread=False, isolation_level=None)
    try:
        _check_is_record(file, db, empty_ok=False)
    except BaseException:
        db.close()
        raise
    return db


def _check_is_record(file: Path, db: sqlite3.Connection, *, empty_ok: bool) -> None:
    """`StoreError` unless the database holds a run record (or is empty, when allowed): a
    record is never written into another program's database."""
    tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if "records" in tables or (empty_ok and not tables):
        return
    raise StoreError(
        f"{file} is not a cutpro run record (an SQLite database without its tables): pass "
        "--state with another path, or move the file away"
    )


def _store_error(
    file: Path, doing: str, exc: BaseException, *, part: str | None = None
) -> StoreError:
    """A failure of the record's file or disk as a sentence that says what to do.

    `doing` is what failed (open, create, read, save); `part`, the file or folder that failed
    when it is not the database itself.
    """
    kind, detail = _kind(exc)
    at = f" ({part})" if part else ""
    if kind == "full":
        advice = (
            "the disk is full; free space and run again to resume (what was saved before is kept)"
        )
    elif kind == "denied":
        advice = (
            f"{detail}: make it and its folder writable for this user, or pass --state with "
            "another path"
        )
    elif kind == "notadb":
        return StoreError(
            f"{file} is not a cutpro run record (not an SQLite database, or a damaged one): pass "
            "--state with another path, or move the file away"
        )
    elif kind == "io":
        advice = (
            "disk I/O error; check the disk (full, removed or failing?), then run again to resume"
        )
    else:
        advice = f"{detail}; check the path and its folder, or pass --state with another path"
    return StoreError(f"cannot {doing} the run record {file}{at}: {advice}")


_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})
_DENIED_ERRNOS = frozenset({errno.EACCES, errno.EPERM, errno.EROFS})


def _kind(exc: BaseException) -> tuple[str, str]:
    """What kind of failure `exc` is (full, denied, notadb, io, other) and its own words."""
    if isinstance(exc, OSError):
        detail = (exc.strerror or str(exc)).lower()
        if exc.errno in _FULL_ERRNOS:
            return "full", detail
        return ("denied" if exc.errno in _DENIED_ERRNOS else "other"), detail
    detail = str(exc)
    primary = _primary(exc)
    if primary == sqlite3.SQLITE_FULL:
        return "full", detail
    if primary in (sqlite3.SQLITE_READONLY, sqlite3.SQLITE_PERM, sqlite3.SQLITE_AUTH):
        return "denied", detail
    if primary in (sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CORRUPT):
        return "notadb", detail
    if primary == sqlite3.SQLITE_IOERR:
        return "io", detail
    return "other", detail


def _primary(exc: BaseException) -> int | None:
    """SQLite's primary result code of an sqlite3 error (None for any other exception)."""
    code = getattr(exc, "sqlite_errorcode", None)
    return code & 0xFF if isinstance(code, int) else None


def _migrate(db: sqlite3.Connection) -> None:
    """Rename the `stage` column of records made before it was called `phase`."""
    columns = {row[1] for row in db.execute("PRAGMA table_info(records)")}
    if "stage" in columns:
        with db:
            db.execute("BEGIN")
            db.execute("DROP INDEX IF EXISTS records_stage")
            db.execute("ALTER TABLE records RENAME COLUMN stage TO phase")
