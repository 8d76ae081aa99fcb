"""Which workers are alive: one heartbeat row per worker id, held by one process at a time.

A worker joins by taking a session advisory lock on its id (a second process with the same id
waits for the first to be gone, then is refused: two executors sharing an id would recover
each other's videos) and writing its row in `cutpro_workers`; it then beats every
`heartbeat` seconds on the database's clock. Its session runs with `idle_session_timeout =
heartbeat_timeout`, so a worker that stops answering (SIGSTOP, a long pause, a machine cut
off) has its session ended by PostgreSQL, and with it the lock: the same test as the paid
step's lease (`fencing`).

A worker is gone when its heartbeat is older than the timeout and its lock is free. The live
workers adopt a gone worker's unfinished videos through DBOS's own recovery by executor id
(what DBOS's admin endpoint `/dbos-workflow-recovery` runs): each pending workflow is put back
on its queue, and the queue hands it to exactly one live worker, which resumes it after its
last recorded step. A paid step cut short is checked again under the video's lock, so an
adoption never pays twice (`fencing`). A paused worker that wakes finds its session gone at
its next beat and stops (`PresumedGone`): its videos went on elsewhere.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import socket
import time
from collections.abc import AsyncIterator
from typing import Any

import anyio
import attrs
import psycopg

from ..errors import UsageError
from .options import WORKFLOW_VERSION
from .tables import connect

log = logging.getLogger("cutpro_async")

#: The lock a worker takes while it adopts (one adopter at a time keeps the counts exact).
_ADOPT_LOCK = int.from_bytes(hashlib.sha256(b"cutpro adopt").digest()[:8], "big", signed=True)


class PresumedGone(Exception):
    """This worker was silent for longer than the heartbeat timeout (its session was ended):
    the others may have adopted its videos, so it must stop working on them."""


def worker_lock(worker_id: str) -> int:
    """The advisory lock number of a worker id."""
    digest = hashlib.sha256(f"cutpro worker {worker_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@attrs.frozen
class WorkerRow:
    """One worker as `cutpro_workers` holds it, with its state on the database's clock."""

    worker_id: str
    host: str
    out: str
    version: str
    silent: float  # seconds since its last heartbeat
    stopped: bool  # it left cleanly (its last run ended)
    adopted_by: str | None
    adopted: int  # videos of it adopted by others, over its life
    live: bool  # heartbeat within the timeout and not stopped


async def workers(db_url: str, timeout: float) -> list[WorkerRow]:
    """Every worker that ever joined, by id, live or not (a heartbeat within `timeout`)."""
    async with await connect(db_url) as conn:
        try:
            cursor = await conn.execute(
                "SELECT worker_id, host, out, version, "
                "EXTRACT(EPOCH FROM now() - heartbeat)::float8, stopped_at IS NOT NULL, "
                "adopted_by, adopted FROM cutpro_workers ORDER BY worker_id"
            )
        except psycopg.errors.UndefinedTable:
            return []
        rows = await cursor.fetchall()
    return [
        WorkerRow(
            worker_id,
            host,
            out,
            version,
            silent,
            stopped,
            by,
            adopted,
            not stopped and silent < timeout,
        )
        for worker_id, host, out, version, silent, stopped, by, adopted in rows
    ]


@attrs.define
class Presence:
    """This worker's heartbeat row and lock, through one connection of its own: it beats
    every `heartbeat` seconds and is gone after `timeout` seconds of silence."""

    db_url: str
    worker_id: str
    out: str
    heartbeat: float
    timeout: float
    #: This run's number among the runs of this worker id (set by `join`).
    incarnation: int = 0
    _conn: psycopg.AsyncConnection[tuple[Any, ...]] | None = attrs.field(default=None, init=False)

    async def join(self) -> None:
        """Take this worker id's lock (waiting up to the timeout for a process that just died
        to lose it) and write the row; `UsageError` if a live process holds the id."""
        conn = self._conn = await connect(self.db_url)
        await conn.execute(
            "SELECT set_config('idle_session_timeout', %s, false)",
            (f"{int(self.timeout * 1000)}",),
        )
        deadline = time.monotonic() + self.timeout + self.heartbeat
        while not await self._take(worker_lock(self.worker_id)):
            if time.monotonic() > deadline:
                await self.close()
                raise UsageError(
                    f"worker id {self.worker_id} is in use by a running worker; give this one "
                    "its own --worker-id (two workers sharing an id would run each other's videos)"
                )
            await anyio.sleep(self.heartbeat / 2)
        cursor = await conn.execute(
            "INSERT INTO cutpro_workers (worker_id, host, out, version) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (worker_id) DO UPDATE SET host = excluded.host, out = excluded.out, "
            "version = excluded.version, incarnation = cutpro_workers.incarnation + 1, "
            "started_at = now(), heartbeat = now(), stopped_at = NULL RETURNING incarnation",
            (self.worker_id, socket.gethostname(), self.out, WORKFLOW_VERSION),
        )
        row = await cursor.fetchone()
        assert row is not None
        self.incarnation = int(row[0])

    async def _take(self, lock: int) -> bool:
        """Try an advisory lock on this worker's session."""
        rows = await self._execute("SELECT pg_try_advisory_lock(%s)", (lock,))
        return bool(rows and rows[0][0])

    async def _execute(self, query: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        """One statement on this worker's session; its rows. Once joined, a session that
        fails (PostgreSQL ended it: this worker was silent too long) is `PresumedGone`."""
        try:
            cursor = await self._connection().execute(query, params)
            return await cursor.fetchall() if cursor.description else []
        except psycopg.Error as exc:
            if not self.incarnation:
                raise
            raise PresumedGone(self._gone(f"its session was ended ({exc})")) from exc

    def _connection(self) -> psycopg.AsyncConnection[tuple[Any, ...]]:
        """The session that holds this worker's lock."""
        if self._conn is None:
            raise RuntimeError(f"worker {self.worker_id} has not joined")
        return self._conn

    async def beat(self) -> int:
        """Write the heartbeat; returns how many workers are live (this one included).
        `PresumedGone` if this worker's session was ended (it was silent too long)."""
        rows = await self._execute(
            "UPDATE cutpro_workers SET heartbeat = now() WHERE worker_id = %s "
            "AND incarnation = %s RETURNING (SELECT count(*) FROM cutpro_workers WHERE "
            "stopped_at IS NULL AND heartbeat > now() - make_interval(secs => %s))",
            (self.worker_id, self.incarnation, self.timeout),
        )
        if not rows:  # another process took this id after this one's session ended
            raise PresumedGone(self._gone("another process joined with its id"))
        return max(1, int(rows[0][0]))

    def _gone(self, why: str) -> str:
        """The message of `PresumedGone`."""
        return (
            f"worker {self.worker_id} was silent for longer than {self.timeout:g} s and is "
            f"presumed gone: {why}; the other workers resume its videos. It stopped; start it "
            "again to join as a live worker"
        )

    async def gone(self) -> list[str]:
        """Workers silent for longer than the timeout whose lock is free (their process is
        gone, or PostgreSQL ended its session)."""
        silent = await self._execute(
            "SELECT worker_id FROM cutpro_workers WHERE worker_id <> %s "
            "AND heartbeat < now() - make_interval(secs => %s) ORDER BY worker_id",
            (self.worker_id, self.timeout),
        )
        found = []
        for (worker_id,) in silent:
            lock = worker_lock(worker_id)
            if await self._take(lock):
                await self._execute("SELECT pg_advisory_unlock(%s)", (lock,))
                found.append(str(worker_id))
        return found

    @contextlib.asynccontextmanager
    async def adopting(self) -> AsyncIterator[bool]:
        """Hold the adopters' lock (yields whether this worker got it: one adopts at a time)."""
        got = await self._take(_ADOPT_LOCK)
        try:
            yield got
        finally:
            if got:
                await self._execute("SELECT pg_advisory_unlock(%s)", (_ADOPT_LOCK,))

    async def adopted(self, worker_id: str, count: int) -> None:
        """Note that this worker adopted `count` videos of `worker_id`."""
        await self._execute(
            "UPDATE cutpro_workers SET adopted_by = %s, adopted_at = now(), "
            "adopted = adopted + %s WHERE worker_id = %s",
            (self.worker_id, count, worker_id),
        )

    async def leave(self) -> None:
        """Say this worker stopped cleanly, and release its id."""
        with contextlib.suppress(psycopg.Error):
            await self._connection().execute(
                "UPDATE cutpro_workers SET stopped_at = now(), heartbeat = now() "
                "WHERE worker_id = %s AND incarnation = %s",
                (self.worker_id, self.incarnation),
            )
        await self.close()

    async def close(self) -> None:
        """End the session (its locks go with it)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            with anyio.CancelScope(shield=True):
                await conn.close()
