"""Where batch records live: a small interface, and SQLite behind it by default.

SQLite runs in one worker thread at a time (calls are serialised through a limiter), in WAL
mode: a record saved before a crash (even SIGKILL) is there on restart. Saves that arrive
while a write is under way are committed together in the next transaction (group commit), and
each `save` returns only once its record is committed. A lock file next to the database
refuses a second process on the same record.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
from pathlib import Path
from typing import IO, Protocol

import anyio
import orjson

from .._converter import structure, unstructure
from .._fs import open_nofollow
from ..errors import StoreLocked, UsageError
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

    async def save(self, record: Record) -> None:
        """Write a record durably (replacing the previous version)."""

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

    async def save(self, record: Record) -> None:
        """Keep a record."""
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
    """Records in an SQLite file; open with `await SQLiteStore.open(path)`."""

    def __init__(self, path: Path, db: sqlite3.Connection, lock: IO[str]) -> None:
        self.path = path
        self._db = db
        self._lock = lock
        self._limiter = anyio.CapacityLimiter(1)
        self._pending: dict[str, tuple[int, str, bytes]] = {}
        self._batch = 0  # the batch that new saves join
        self._committed = -1  # the last batch written
        self._writer = anyio.Lock()

    @classmethod
    async def open(cls, path: str | Path) -> SQLiteStore:
        """Open (or create) the record, refusing it if another process holds it."""
        file = Path(path)
        lock = await anyio.to_thread.run_sync(_take_lock, file)
        db = await anyio.to_thread.run_sync(_connect, file)
        return cls(file, db, lock)

    async def _run(self, sql: str, *args: object) -> list[tuple[object, ...]]:
        """One statement in the store's thread; commits."""

        def work() -> list[tuple[object, ...]]:
            with self._db:
                return self._db.execute(sql, args).fetchall()

        return await anyio.to_thread.run_sync(work, limiter=self._limiter)

    async def load(self, source: str) -> Record | None:
        """The record of a source, if any."""
        rows = await self._run("SELECT data FROM records WHERE source = ?", source)
        return _decode(rows[0][0]) if rows else None

    async def save(self, record: Record) -> None:
        """Write a record (replacing the previous version); returns once it is committed."""
        data = orjson.dumps(unstructure(record))
        self._pending[record.source] = (record.position, record.phase.value, data)
        mine = self._batch
        async with self._writer:
            if self._committed >= mine:
                return  # another save wrote this batch, ours included
            await self._flush()

    async def _flush(self) -> None:
        """Commit every pending save in one transaction.

        When the transaction fails, its rows go back to the pending ones (behind any newer
        version of the same record), so that a save waiting on this batch writes them itself
        or raises: no save ever returns for a record that was not written.
        """
        batch, self._pending = self._pending, {}
        number, self._batch = self._batch, self._batch + 1
        rows = [(source, *row) for source, row in batch.items()]

        def work() -> None:
            with self._db:
                self._db.execute("BEGIN")
                self._db.executemany(_UPSERT, rows)

        try:
            await anyio.to_thread.run_sync(work, limiter=self._limiter)
        except BaseException:
            self._pending = {**batch, **self._pending}
            raise
        self._committed = number

    async def records(self) -> list[Record]:
        """Every record, in source order."""
        rows = await self._run("SELECT data FROM records ORDER BY position")
        return [_decode(row[0]) for row in rows]

    async def bind(self, endpoint: str) -> str:
        """Tie the records to an API; returns the first one bound."""
        await self._run("INSERT OR IGNORE INTO meta (key, value) VALUES ('endpoint', ?)", endpoint)
        rows = await self._run("SELECT value FROM meta WHERE key = 'endpoint'")
        return str(rows[0][0])

    async def close(self) -> None:
        """Commit what is pending, close the database and release the lock."""
        async with self._writer:
            if self._pending:
                await self._flush()
        await anyio.to_thread.run_sync(self._db.close, limiter=self._limiter)
        self._lock.close()


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
    file.parent.mkdir(parents=True, exist_ok=True)
    _refuse_links(file)
    lock = file.with_name(file.name + ".lock")
    handle = os.fdopen(open_nofollow(lock, os.O_RDWR | os.O_CREAT), "r+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        owner = handle.read().strip() or "another process"
        handle.close()
        raise StoreLocked(
            f"{file} is in use by {owner}: wait for that run to end (or stop it), then run again"
        ) from None
    handle.truncate(0)
    handle.write(f"pid {os.getpid()}")
    handle.flush()
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
    db = sqlite3.connect(file, check_same_thread=False, isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = NORMAL")
    _migrate(db)
    db.executescript(_SCHEMA)
    return db


def _migrate(db: sqlite3.Connection) -> None:
    """Rename the `stage` column of records made before it was called `phase`."""
    columns = {row[1] for row in db.execute("PRAGMA table_info(records)")}
    if "stage" in columns:
        with db:
            db.execute("BEGIN")
            db.execute("DROP INDEX IF EXISTS records_stage")
            db.execute("ALTER TABLE records RENAME COLUMN stage TO phase")
