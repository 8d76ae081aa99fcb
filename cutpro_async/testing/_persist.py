"""A simulated world kept in an SQLite file, so that a later simulator continues it.

One row per object (`_snapshot`). Handlers note what they change (`World.changed`); before
an answer goes out, `WorldStore.save` encodes the changed objects on the event loop and
commits them in one transaction on a thread of its own. Saves that arrive while a commit runs
wait for it, then go together in the next one (group commit), and a save returns only once
everything noted before it is committed: an answer can reveal nothing a restarted simulator
would not know, even if the process is then killed.

The clock is saved as a lease: the saved position is kept up to `LEASE` real seconds ahead
of the clock, so that polls, which change nothing, write at most once per lease. A simulator
restored after a crash resumes at the lease (never before a moment it showed); one closed
cleanly resumes exactly where it stopped.

WAL with `synchronous=FULL`: a commit is on disk before its save returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import sqlite3
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ._snapshot import (
    KINDS,
    Key,
    Row,
    every_row,
    object_row,
    restore_object,
    restore_world,
    world_row,
)
from ._world import World

FORMAT = "cutpro-simulator-world"
VERSION = 1
LEASE = 1.0  # real seconds the saved clock runs ahead of the last save
_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE objects (
    kind TEXT NOT NULL, id TEXT NOT NULL, ws TEXT NOT NULL, seq INTEGER NOT NULL,
    data BLOB NOT NULL, PRIMARY KEY (kind, id)
);
"""
_UPSERT = (
    "INSERT INTO objects (kind, id, ws, seq, data) VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT (kind, id) DO UPDATE SET ws = excluded.ws, data = excluded.data"
)
_START_AFRESH = "delete it (and its -wal, -shm and .lock files) to start a new simulated world"
# A pending change: the object's row, or None to delete it; the world row is ("world", "").
Pending = dict[Key, tuple[Row, int] | None]


class StateFileError(Exception):
    """The simulator's state file cannot be used: not one, damaged, of another format version,
    or in use by another simulator."""


class StateFileLocked(StateFileError):
    """Another simulator is using the state file (it holds the lock)."""


class WorldStore:
    """The state file of one simulator: opened (and locked) at once, read by `load` or written
    whole by `create`, then kept up to date by `save`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.identity = ("", "")  # the default (api key, workspace id)
        self._lock = _take_lock(path)
        try:
            self._db, self.exists = _open(path)
        except BaseException:
            os.close(self._lock)
            raise
        self._seq = 0
        self._mark = float("-inf")  # the clock position saved
        self._pending: Pending = {}
        self._noted = self._committed = 0  # numbers of the last change noted and committed
        self._writer = asyncio.Lock()
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="cutpro-sim-state")

    def load(self, world: World) -> tuple[str, str]:
        """Restore the saved world into a new `world`; returns its (api key, workspace id)."""
        try:
            meta = dict(self._db.execute("SELECT key, value FROM meta").fetchall())
            self.identity = restore_world(world, meta["world"].encode())
            rows = self._db.execute("SELECT kind, ws, data FROM objects ORDER BY seq").fetchall()
            by_kind: dict[str, list[tuple[str, bytes]]] = {kind: [] for kind in KINDS}
            for kind, ws_id, data in rows:
                by_kind[kind].append((ws_id, data))
            for kind in KINDS:
                for ws_id, data in by_kind[kind]:
                    restore_object(world, kind, ws_id, data)
            self._seq = self._db.execute("SELECT coalesce(max(seq), 0) FROM objects").fetchone()[0]
        except (sqlite3.Error, AttributeError, IndexError, KeyError, TypeError, ValueError) as exc:
            raise StateFileError(
                f"the simulator's state file {self.path} is damaged ({type(exc).__name__}: "
                f"{exc}); {_START_AFRESH}"
            ) from exc
        self._mark = world.clock.now()
        return self.identity

    def create(self, world: World, api_key: str, workspace_id: str) -> None:
        """Write a new world whole, with the format's name and version, in one transaction."""
        self.identity = (api_key, workspace_id)
        pending: Pending = {}
        self._note(pending, every_row(world))
        self._mark = world.clock.now() + LEASE
        self._write(pending, world_row=self._world_row(world), schema=True)
        self.exists = True

    async def save(self, world: World, *, final: bool = False) -> None:
        """Commit every change noted so far (and the clock's lease when it ran out); returns
        once they are on disk. `final`: the clock is saved exactly, to resume there."""
        self._collect(world, final)
        wanted = self._noted
        if self._committed >= wanted:
            return
        async with self._writer:
            if self._committed >= wanted:
                return  # a commit that waited for the same lock took these changes too
            batch, self._pending = self._pending, {}
            upto = self._noted
            meta = self._world_row(world)
            loop = asyncio.get_running_loop()
            try:
                await loop.run_in_executor(self._thread, self._write, batch, meta)
            except BaseException:
                self._pending = {**batch, **self._pending}  # newer changes win
                raise
            self._committed = upto

    async def close(self, world: World) -> None:
        """Save the world with its exact clock, then close the file and release its lock."""
        try:
            await self.save(world, final=True)
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(self._thread, self._checkpoint)
        finally:
            self.abandon()

    def abandon(self) -> None:
        """Close the file and release the lock without saving."""
        self._thread.shutdown(wait=True)
        self._db.close()
        os.close(self._lock)

    # -- internals ------------------------------------------------------------------------

    def _world_row(self, world: World) -> bytes:
        """The world's own row, its clock at the lease."""
        return world_row(world, self._mark, *self.identity)

    def _collect(self, world: World, final: bool) -> None:
        """Encode the changed objects now (on the event loop, where they change)."""
        dirty = world.dirty if world.dirty is not None else {}
        now = world.clock.now()
        if final:
            self._mark = now  # nothing was shown after now
        elif now > self._mark:
            self._mark = now + LEASE
        elif not dirty:
            return
        # API keys are part of the world's own row, written with every commit.
        rows = [
            (key, object_row(world, *key, hint)) for key, hint in dirty.items() if key[0] != "keys"
        ]
        self._note(self._pending, rows)
        dirty.clear()
        self._noted += 1

    def _note(self, pending: Pending, rows: Iterable[tuple[Key, Row | None]]) -> None:
        """Queue rows, each with the order it is restored in if it is new."""
        for key, row in rows:
            self._seq += 1
            pending[key] = None if row is None else (row, self._seq)

    def _write(self, batch: Pending, world_row: bytes, *, schema: bool = False) -> None:
        """One transaction: the changed rows and the world's row (the schema first if new)."""
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            if schema:
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        db.execute(statement)
                db.executemany(
                    "INSERT INTO meta (key, value) VALUES (?, ?)",
                    [("format", FORMAT), ("version", str(VERSION))],
                )
            upserts = []
            deletes = []
            for (kind, ident), value in batch.items():
                if value is None:
                    deletes.append((kind, ident))
                else:
                    (ws_id, data), seq = value
                    upserts.append((kind, ident, ws_id, seq, data))
            if deletes:
                db.executemany("DELETE FROM objects WHERE kind = ? AND id = ?", deletes)
            if upserts:
                db.executemany(_UPSERT, upserts)
            db.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('world', ?)",
                (world_row.decode(),),
            )
            db.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                db.execute("ROLLBACK")
            raise

    def _checkpoint(self) -> None:
        """Fold the WAL into the database file, leaving one file behind."""
        with contextlib.suppress(sqlite3.Error):
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def _take_lock(path: Path) -> int:
    """An exclusive lock on `<state>.lock`: two simulators writing one world would fork it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = path.with_name(path.name + ".lock")
    fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise StateFileLocked(
            f"the simulator's state file {path} is in use by another simulator (it holds "
            f"{lock.name}); stop that one first"
        ) from None
    return fd


def _open(path: Path) -> tuple[sqlite3.Connection, bool]:
    """The database and whether it holds a world; a file of anything else is refused."""
    if not path.exists():
        # Made private first: the file keeps the simulator's API key.
        os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600))
    elif path.is_symlink() or not path.is_file():
        raise StateFileError(f"the simulator's state file {path} is not a regular file")
    try:
        db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    except sqlite3.Error as exc:
        raise StateFileError(f"the simulator's state file {path} cannot be opened: {exc}") from exc
    try:
        exists = _check_format(db, path)
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = FULL")
    except BaseException:
        db.close()
        raise
    return db, exists


def _check_format(db: sqlite3.Connection, path: Path) -> bool:
    """Whether the file holds a world of this format version (False: it is empty)."""
    name = f"the simulator's state file {path}"
    try:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
        if not tables:
            return False
        if not {"meta", "objects"} <= tables:
            raise StateFileError(f"{name} is not a simulator's state: {_START_AFRESH}")
        meta = dict(db.execute("SELECT key, value FROM meta WHERE key IN ('format', 'version')"))
    except sqlite3.DatabaseError as exc:
        raise StateFileError(
            f"{name} is not a simulator's state or is damaged ({exc}): {_START_AFRESH}"
        ) from exc
    if meta.get("format") != FORMAT:
        raise StateFileError(f"{name} is not a simulator's state: {_START_AFRESH}")
    if meta.get("version") != str(VERSION):
        raise StateFileError(
            f"{name} was written in format version {meta.get('version')}; this simulator "
            f"reads version {VERSION}: {_START_AFRESH}"
        )
    if db.execute("SELECT 1 FROM meta WHERE key = 'world'").fetchone() is None:
        raise StateFileError(f"{name} holds no world: {_START_AFRESH}")
    return True
