"""The machine's index of paid submissions, shared by every record of one user.

Two runs on the same sources with different `--out` or `--state` would each pay for every
video: their records do not know each other. This index lives in the user's data folder
(`$CUTPRO_DATA_DIR`, else `$XDG_DATA_HOME/cutpro`, else `~/.local/share/cutpro`), keyed by
API, workspace, source and the request; every record notes its submissions there and looks
there before paying, and the paid step of one key is serialised across processes by a lock
file, so a second run waits for the first and adopts what it paid for. Across machines only the
server's own list of submissions is shared: see `submissions.create(reuse_existing=True)`.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import orjson

from .._fs import open_nofollow
from ..models import SubmitRequest

_SCHEMA = """
CREATE TABLE IF NOT EXISTS paid (
    key TEXT PRIMARY KEY,
    video_id TEXT NOT NULL,
    submission_id TEXT NOT NULL
);
"""
#: How often a run waiting for another process's paid step looks again (seconds).
_LOCK_POLL = 0.05


def data_folder() -> Path:
    """Where this user's cutpro data lives."""
    explicit = os.environ.get("CUTPRO_DATA_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "cutpro"


def index_key(api: str, workspace: str | None, source: str, request: SubmitRequest) -> str:
    """The key of one paid request: which API and workspace, which source, asking for what.

    The video id is left out: the reference does not say that analysing a URL again gives
    the same one.
    """
    frame = request.timeframe
    parts = [
        api,
        workspace or "",
        source,
        request.strategy_id or "",
        str(request.source_language),
        request.template_id or "",
        "" if frame is None else f"{frame.start:g}-{frame.end:g}",
    ]
    return hashlib.sha256(orjson.dumps(parts)).hexdigest()


class SubmissionIndex:
    """Paid submissions any record of this user made: `async with SubmissionIndex() as index`
    (the folder defaults to `data_folder()`)."""

    def __init__(self, folder: Path | None = None) -> None:
        self.folder = folder or data_folder()
        self._path = self.folder / "submissions.sqlite"
        self._db: sqlite3.Connection | None = None
        self._limiter = anyio.CapacityLimiter(1)  # one statement at a time on the connection

    @contextlib.asynccontextmanager
    async def paying(self, key: str) -> AsyncIterator[None]:
        """Hold the paid step of `key` against every other process of this user."""
        fd = await anyio.to_thread.run_sync(self._open_lock, key)
        try:
            while not _try_lock(fd):
                await anyio.sleep(_LOCK_POLL)
            yield
        finally:
            os.close(fd)  # releases the lock

    async def lookup(self, key: str) -> tuple[str, str] | None:
        """The (video id, submission id) noted for `key`, if any."""
        rows = await self._run("SELECT video_id, submission_id FROM paid WHERE key = ?", key)
        return (str(rows[0][0]), str(rows[0][1])) if rows else None

    async def note(self, key: str, video_id: str, submission_id: str) -> None:
        """Remember the submission paid (or adopted) for `key`."""
        await self._run(
            "INSERT OR REPLACE INTO paid (key, video_id, submission_id) VALUES (?, ?, ?)",
            key,
            video_id,
            submission_id,
        )

    async def forget(self, key: str) -> None:
        """Drop the entry of `key` (its submission failed, expired or is gone)."""
        await self._run("DELETE FROM paid WHERE key = ?", key)

    async def _run(self, sql: str, *args: object) -> list[tuple[object, ...]]:
        """One statement (committed at once), off the event loop."""

        def work() -> list[tuple[object, ...]]:
            if self._db is None:
                self._db = _connect(self._path)
            return self._db.execute(sql, args).fetchall()

        return await anyio.to_thread.run_sync(work, limiter=self._limiter)

    async def close(self) -> None:
        """Close the connection (it is opened again on next use)."""
        db, self._db = self._db, None
        if db is not None:
            await anyio.to_thread.run_sync(db.close, limiter=self._limiter)

    async def __aenter__(self) -> SubmissionIndex:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def _open_lock(self, key: str) -> int:
        """The lock file of one key (created on first use)."""
        folder = self.folder / "locks"
        folder.mkdir(parents=True, exist_ok=True)
        return open_nofollow(folder / f"{key[:32]}.lock", os.O_RDWR | os.O_CREAT)


def _connect(path: Path) -> sqlite3.Connection:
    """The index's database, created on first use; other processes' writers are waited for.

    Switching to WAL needs a moment alone with the file, which `busy_timeout` does not wait
    for when another process is creating it at the same time: that one step is retried.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
    for attempt in range(50):
        try:
            db.execute("PRAGMA journal_mode = WAL")
            db.executescript(_SCHEMA)
            return db
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == 49:
                db.close()
                raise
            time.sleep(0.05)
    raise AssertionError("unreachable")  # pragma: no cover


def _try_lock(fd: int) -> bool:
    """Take the exclusive lock if free (never blocks, so a cancelled wait ends at once)."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True
