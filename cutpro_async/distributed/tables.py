"""The batch's own tables in PostgreSQL, beside DBOS's `dbos` schema.

`cutpro_batches`: one row per batch: its options, its `budget` (None: no cap) and what its paid
steps have `spent` or hold (see `fencing`). `cutpro_videos`: one row per source of a batch,
keyed by its first workflow id (`workflow_id`; a retry runs as workflow `KEY#2`, `KEY#3`, ...
on the same row, whose `attempt` says which one may write it): how far it came, what it cost,
the credits it holds against the budget (`reserved`), the paid step's intent, last attempt and
fencing token (`fence`, `holder`, `heartbeat`: see `fencing`). `cutpro_files`:
one row per clip saved, naming the worker whose disk holds it. `cutpro_workers`: one row per
worker id, its heartbeat and who adopted its videos (`presence`). DBOS's checkpoints say what
ran; these rows say what the batch has, for `status` and the manifest, and keep the paid
step's facts where every worker's lock can see them.

Every write is idempotent (a step that runs again after a crash writes the same row).
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any

import anyio
import attrs
import psycopg
from psycopg.types.json import Jsonb

from ..jobs.transfers import Downloaded

_SCHEMA = (
    """
    CREATE TABLE IF NOT EXISTS cutpro_batches (
        batch_id TEXT PRIMARY KEY,
        options JSONB NOT NULL,
        created_at TIMESTAMPTZ NOT NULL DEFAULT now()
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS cutpro_videos (
        workflow_id TEXT PRIMARY KEY,
        batch_id TEXT NOT NULL REFERENCES cutpro_batches (batch_id),
        source TEXT NOT NULL,
        position INTEGER NOT NULL,
        phase TEXT NOT NULL DEFAULT 'queued',
        video_id TEXT,
        credits_cost DOUBLE PRECISION,
        duration DOUBLE PRECISION,
        intent TIMESTAMPTZ,
        last_attempt TIMESTAMPTZ,
        submission_id TEXT,
        credits_charged DOUBLE PRECISION,
        adopted BOOLEAN,
        fence BIGINT NOT NULL DEFAULT 0,
        holder TEXT,
        heartbeat TIMESTAMPTZ,
        worker TEXT,
        error TEXT,
        retryable BOOLEAN,
        updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
        UNIQUE (batch_id, source)
    )
    """,
    "CREATE INDEX IF NOT EXISTS cutpro_videos_phase ON cutpro_videos (batch_id, phase)",
    """
    CREATE TABLE IF NOT EXISTS cutpro_files (
        workflow_id TEXT NOT NULL REFERENCES cutpro_videos (workflow_id),
        clip_id TEXT NOT NULL,
        rank INTEGER NOT NULL,
        render_id TEXT NOT NULL,
        worker TEXT NOT NULL,
        path TEXT NOT NULL,
        bytes BIGINT NOT NULL,
        sha256 TEXT NOT NULL,
        saved_at TIMESTAMPTZ NOT NULL DEFAULT now(),
        PRIMARY KEY (workflow_id, clip_id)
    )
    """,
    # What the manifest says of a clip besides its file (added after the first release of the
    # tables: nullable, and added to tables made before).
    "ALTER TABLE cutpro_files ADD COLUMN IF NOT EXISTS title TEXT",
    "ALTER TABLE cutpro_files ADD COLUMN IF NOT EXISTS rating DOUBLE PRECISION",
    "ALTER TABLE cutpro_files ADD COLUMN IF NOT EXISTS start_time DOUBLE PRECISION",
    "ALTER TABLE cutpro_files ADD COLUMN IF NOT EXISTS end_time DOUBLE PRECISION",
    # The budget and retries (added later, like the columns above).
    "ALTER TABLE cutpro_batches ADD COLUMN IF NOT EXISTS budget DOUBLE PRECISION",
    "ALTER TABLE cutpro_batches ADD COLUMN IF NOT EXISTS spent DOUBLE PRECISION NOT NULL DEFAULT 0",
    "ALTER TABLE cutpro_videos ADD COLUMN IF NOT EXISTS attempt INTEGER NOT NULL DEFAULT 1",
    "ALTER TABLE cutpro_videos ADD COLUMN IF NOT EXISTS reserved DOUBLE PRECISION NOT NULL "
    "DEFAULT 0",
    "ALTER TABLE cutpro_videos ADD COLUMN IF NOT EXISTS needed DOUBLE PRECISION",
    # A submission whose job failed, which the retry that pays again must not adopt.
    "ALTER TABLE cutpro_videos ADD COLUMN IF NOT EXISTS refused TEXT",
    # One row per worker id: its heartbeat, and who adopted its videos (see `presence`).
    """
    CREATE TABLE IF NOT EXISTS cutpro_workers (
        worker_id TEXT PRIMARY KEY,
        host TEXT NOT NULL,
        out TEXT NOT NULL,
        version TEXT NOT NULL,
        incarnation BIGINT NOT NULL DEFAULT 1,
        started_at TIMESTAMPTZ NOT NULL DEFAULT now(),
        heartbeat TIMESTAMPTZ NOT NULL DEFAULT now(),
        stopped_at TIMESTAMPTZ,
        adopted_by TEXT,
        adopted_at TIMESTAMPTZ,
        adopted INTEGER NOT NULL DEFAULT 0
    )
    """,
)
#: Between a video's key and its attempt in the workflow id of a retry: `KEY#2`.
ATTEMPT_MARK = "#"
#: The advisory lock that serialises creating the tables (workers start at the same time).
_SCHEMA_LOCK = int.from_bytes(hashlib.sha256(b"cutpro schema").digest()[:8], "big", signed=True)


def attempt_of(workflow_id: str) -> tuple[str, int]:
    """(the video's key, the attempt) of a video workflow's id: `KEY` is attempt 1."""
    key, mark, attempt = workflow_id.partition(ATTEMPT_MARK)
    return key, int(attempt) if mark else 1


def attempt_id(key: str, attempt: int) -> str:
    """The workflow id of a video's `attempt` (1: its key itself)."""
    return key if attempt == 1 else f"{key}{ATTEMPT_MARK}{attempt}"


async def connect(db_url: str) -> psycopg.AsyncConnection[tuple[Any, ...]]:
    """A connection in autocommit mode (each statement commits on its own)."""
    return await psycopg.AsyncConnection.connect(db_url, autocommit=True)


async def ensure_schema(db_url: str) -> None:
    """Create the batch tables if missing (safe while other processes do the same)."""
    async with await psycopg.AsyncConnection.connect(db_url) as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
        for statement in _SCHEMA:
            await conn.execute(statement)


@attrs.frozen
class SavedClip:
    """One clip's file on one worker's disk."""

    workflow_id: str
    clip_id: str
    rank: int
    render_id: str
    worker: str
    path: str
    bytes: int
    sha256: str
    title: str | None = None
    rating: float | None = None
    start_time: float | None = None
    end_time: float | None = None


@attrs.frozen
class VideoRow:
    """One source of a batch as the table holds it."""

    workflow_id: str
    batch_id: str
    source: str
    position: int
    phase: str
    video_id: str | None
    submission_id: str | None
    credits_charged: float | None
    intent: datetime | None
    last_attempt: datetime | None
    fence: int
    holder: str | None
    worker: str | None
    error: str | None
    attempt: int = 1
    reserved: float = 0.0  # credits it holds against the batch's budget


_VIDEO_COLUMNS = (
    "workflow_id, batch_id, source, position, phase, video_id, submission_id, "
    "credits_charged, intent, last_attempt, fence, holder, worker, error, attempt, reserved"
)


class Tables:
    """The batch tables through one connection, opened on first use and again after a loss.

    Statements run one at a time; each commits on its own.
    """

    def __init__(self, db_url: str) -> None:
        self._url = db_url
        self._conn: psycopg.AsyncConnection[tuple[Any, ...]] | None = None
        self._lock = anyio.Lock()

    async def run(self, query: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """One statement; its rows (none for a statement that returns none)."""
        async with self._lock:
            for attempt in (1, 2):
                if self._conn is None or self._conn.closed:
                    self._conn = await connect(self._url)
                try:
                    cursor = await self._conn.execute(query, params)
                    return await cursor.fetchall() if cursor.description else []
                except psycopg.OperationalError:
                    # The connection was lost (server restart, idle cut): once more on a new one.
                    with contextlib.suppress(psycopg.Error):
                        await self._conn.close()
                    self._conn = None
                    if attempt == 2:
                        raise
        raise AssertionError("unreachable")  # pragma: no cover

    async def close(self) -> None:
        """Close the connection."""
        conn, self._conn = self._conn, None
        if conn is not None:
            await conn.close()

    async def __aenter__(self) -> Tables:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # -- batches and videos -------------------------------------------------------------

    async def add_batch(self, batch_id: str, options: dict[str, Any]) -> dict[str, Any]:
        """Note a batch with its options (kept as first given); returns the options kept."""
        await self.run(
            "INSERT INTO cutpro_batches (batch_id, options) VALUES (%s, %s) "
            "ON CONFLICT (batch_id) DO NOTHING",
            (batch_id, Jsonb(options)),
        )
        rows = await self.run("SELECT options FROM cutpro_batches WHERE batch_id = %s", (batch_id,))
        kept: dict[str, Any] = rows[0][0]
        return kept

    async def options_of(self, batch_id: str) -> dict[str, Any]:
        """The options a batch was enqueued with."""
        rows = await self.run("SELECT options FROM cutpro_batches WHERE batch_id = %s", (batch_id,))
        if not rows:
            raise LookupError(f"no batch {batch_id} in cutpro_batches")
        kept: dict[str, Any] = rows[0][0]
        return kept

    async def set_budget(self, batch_id: str, budget: float) -> None:
        """Cap what the batch's paid steps may spend from now on, at `budget` credits in all
        (what it spent before counts; every worker sees the new cap at its next payment)."""
        await self.run(
            "UPDATE cutpro_batches SET budget = %s WHERE batch_id = %s", (budget, batch_id)
        )

    async def ledger(self, batch_id: str) -> tuple[float | None, float]:
        """(the batch's budget, None if uncapped; the credits its videos spent or hold)."""
        rows = await self.run(
            "SELECT budget, spent FROM cutpro_batches WHERE batch_id = %s", (batch_id,)
        )
        if not rows:
            raise LookupError(f"no batch {batch_id} in cutpro_batches")
        budget, spent = rows[0]
        return budget, float(spent)

    async def next_attempts(self, batch_id: str, *, failed: bool) -> list[tuple[str, int]]:
        """Give a new attempt to the videos skipped over budget that now fit in what is left
        of it, and with `failed` to the failed ones; returns their (key, attempt).

        A failed video keeps its submission (the retry adopts it, never pays again) unless
        the job itself failed (not retryable): that retry pays for a new one, under the budget
        again, and never adopts the failed one (`refused`); what the failed one cost stays
        spent (the API does not say whether it refunds it)."""
        job_failed = "v.retryable = false AND v.phase = 'failed'"
        rows = await self.run(
            "UPDATE cutpro_videos v SET attempt = attempt + 1, phase = 'queued', error = NULL, "
            f"needed = NULL, refused = CASE WHEN {job_failed} THEN submission_id "
            f"ELSE refused END, submission_id = CASE WHEN {job_failed} THEN NULL "
            f"ELSE submission_id END, intent = CASE WHEN {job_failed} THEN NULL ELSE intent END, "
            f"last_attempt = CASE WHEN {job_failed} THEN NULL ELSE last_attempt END, "
            f"reserved = CASE WHEN {job_failed} THEN 0 ELSE reserved END, retryable = NULL, "
            "updated_at = now() FROM cutpro_batches b WHERE b.batch_id = v.batch_id "
            "AND v.batch_id = %s AND ((v.phase = 'failed' AND %s) OR (v.phase = 'skipped' "
            "AND (b.budget IS NULL OR v.needed <= b.budget - b.spent))) "
            "RETURNING v.workflow_id, v.attempt",
            (batch_id, failed),
        )
        return [(str(key), int(attempt)) for key, attempt in rows]

    async def retries(self, batch_id: str) -> list[tuple[str, int, str]]:
        """(key, attempt, source) of the batch's unfinished videos on a retry (attempt > 1)."""
        rows = await self.run(
            "SELECT workflow_id, attempt, source FROM cutpro_videos WHERE batch_id = %s AND "
            "attempt > 1 AND phase NOT IN ('done', 'failed', 'skipped') ORDER BY position",
            (batch_id,),
        )
        return [(str(key), int(attempt), str(source)) for key, attempt, source in rows]

    async def add_videos(self, batch_id: str, videos: Sequence[tuple[str, str, int]]) -> list[str]:
        """Note (workflow id, source, position) rows; returns the workflow ids that were new."""
        new: list[str] = []
        for start in range(0, len(videos), 500):
            chunk = videos[start : start + 500]
            values = ", ".join(["(%s, %s, %s, %s)"] * len(chunk))
            params = [v for wid, src, pos in chunk for v in (wid, batch_id, src, pos)]
            rows = await self.run(
                f"INSERT INTO cutpro_videos (workflow_id, batch_id, source, position) "
                f"VALUES {values} ON CONFLICT DO NOTHING RETURNING workflow_id",
                params,
            )
            new.extend(str(row[0]) for row in rows)
        return new

    async def video(self, workflow_id: str) -> VideoRow | None:
        """One video's row."""
        rows = await self.run(
            f"SELECT {_VIDEO_COLUMNS} FROM cutpro_videos WHERE workflow_id = %s",
            (attempt_of(workflow_id)[0],),
        )
        return VideoRow(*rows[0]) if rows else None

    async def videos(self, batch_id: str) -> list[VideoRow]:
        """Every video of a batch, in source order."""
        rows = await self.run(
            f"SELECT {_VIDEO_COLUMNS} FROM cutpro_videos WHERE batch_id = %s ORDER BY position",
            (batch_id,),
        )
        return [VideoRow(*row) for row in rows]

    async def files(self, batch_id: str) -> list[SavedClip]:
        """Every clip saved for a batch, by source order then rank."""
        rows = await self.run(
            "SELECT f.workflow_id, f.clip_id, f.rank, f.render_id, f.worker, f.path, f.bytes, "
            "f.sha256, f.title, f.rating, f.start_time, f.end_time FROM cutpro_files f "
            "JOIN cutpro_videos v USING (workflow_id) WHERE v.batch_id = %s "
            "ORDER BY v.position, f.rank",
            (batch_id,),
        )
        return [SavedClip(*row) for row in rows]

    # -- what steps write ---------------------------------------------------------------

    async def priced(
        self, workflow_id: str, worker: str, video_id: str, cost: float, duration: float | None
    ) -> None:
        """The analysis: the video id (kept once a paid request may have named the row's:
        a retry's analysis may give another), its cost and length."""
        await self.run(
            "UPDATE cutpro_videos SET video_id = CASE WHEN submission_id IS NULL AND "
            "last_attempt IS NULL THEN %s ELSE video_id END, credits_cost = %s, duration = %s, "
            "phase = CASE WHEN phase = 'queued' THEN 'priced' ELSE phase END, worker = %s, "
            "updated_at = now() WHERE workflow_id = %s AND attempt = %s",
            (video_id, cost, duration, worker, *attempt_of(workflow_id)),
        )

    async def intent(self, workflow_id: str, worker: str, at: datetime) -> datetime:
        """Note the intent to pay (the first one noted stays); returns the one kept."""
        rows = await self.run(
            "UPDATE cutpro_videos SET intent = COALESCE(intent, %s), phase = CASE WHEN "
            "submission_id IS NULL AND phase NOT IN ('done', 'failed', 'skipped') "
            "THEN 'submitting' ELSE phase END, worker = %s, "
            "updated_at = now() WHERE workflow_id = %s AND attempt = %s RETURNING intent",
            (at, worker, *attempt_of(workflow_id)),
        )
        if not rows:
            raise LookupError(f"no video {workflow_id} in cutpro_videos (or a later attempt)")
        kept: datetime = rows[0][0]
        return kept

    async def clipped(self, workflow_id: str, worker: str) -> None:
        """The clips are chosen."""
        await self.run(
            "UPDATE cutpro_videos SET phase = 'clipped', worker = %s, updated_at = now() "
            "WHERE workflow_id = %s AND attempt = %s "
            "AND phase NOT IN ('done', 'failed', 'skipped')",
            (worker, *attempt_of(workflow_id)),
        )

    async def saved(self, clip: SavedClip) -> None:
        """A clip's file is on `clip.worker`'s disk, verified."""
        await self.run(
            "INSERT INTO cutpro_files (workflow_id, clip_id, rank, render_id, worker, path, "
            "bytes, sha256, title, rating, start_time, end_time) VALUES (%s, %s, %s, %s, %s, "
            "%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (workflow_id, clip_id) DO UPDATE SET "
            "rank = excluded.rank, render_id = excluded.render_id, worker = excluded.worker, "
            "path = excluded.path, bytes = excluded.bytes, sha256 = excluded.sha256, "
            "title = excluded.title, rating = excluded.rating, start_time = excluded.start_time, "
            "end_time = excluded.end_time, saved_at = now()",
            (attempt_of(clip.workflow_id)[0], *attrs.astuple(clip)[1:]),
        )

    async def finished(
        self,
        workflow_id: str,
        worker: str,
        *,
        error: str | None = None,
        retryable: bool | None = None,
    ) -> str | None:
        """The video ended: done, or failed with its error (one the paid step skipped over
        budget stays skipped, with its reason); returns the phase it ended in (None: a later
        attempt owns the row)."""
        rows = await self.run(
            "UPDATE cutpro_videos SET phase = CASE WHEN phase = 'skipped' THEN phase ELSE %s "
            "END, error = CASE WHEN phase = 'skipped' THEN error ELSE %s END, retryable = %s, "
            "worker = %s, updated_at = now() WHERE workflow_id = %s AND attempt = %s "
            "RETURNING phase",
            (
                "done" if error is None else "failed",
                error,
                retryable,
                worker,
                *attempt_of(workflow_id),
            ),
        )
        return str(rows[0][0]) if rows else None

    async def moved(
        self, clip: SavedClip, worker: str, path: str, file: Downloaded, render_id: str
    ) -> bool:
        """`clip`'s file fetched again by `worker` (`file`: its `size` and `sha256`), unless
        another worker moved it first; whether this one did."""
        rows = await self.run(
            "UPDATE cutpro_files SET worker = %s, path = %s, bytes = %s, sha256 = %s, "
            "render_id = %s, saved_at = now() WHERE workflow_id = %s AND clip_id = %s "
            "AND worker = %s AND path = %s RETURNING 1",
            (worker, path, file.size, file.sha256, render_id, *_where(clip)),
        )
        return bool(rows)

    async def saved_as(self, name: str) -> bool:
        """Whether some clip was saved under the file name `name` (by any worker)."""
        rows = await self.run(
            "SELECT 1 FROM cutpro_files WHERE right(path, length(%s) + 1) = '/' || %s LIMIT 1",
            (name, name),
        )
        return bool(rows)

    async def batches(self) -> list[str]:
        """Every batch id, oldest first."""
        rows = await self.run("SELECT batch_id FROM cutpro_batches ORDER BY created_at, batch_id")
        return [str(row[0]) for row in rows]

    async def charges(self, batch_id: str) -> tuple[int, float, int]:
        """(videos with a submission, their credits, how many of those were adopted: found
        on the server, e.g. paid by a request whose answer was lost) of a batch."""
        rows = await self.run(
            "SELECT count(submission_id), COALESCE(sum(credits_charged), 0), "
            "count(*) FILTER (WHERE submission_id IS NOT NULL AND adopted) "
            "FROM cutpro_videos WHERE batch_id = %s",
            (batch_id,),
        )
        paid, credits, adopted = rows[0]
        return int(paid), float(credits), int(adopted)

    async def held_by(self, worker: str) -> tuple[int, int, float]:
        """(files on `worker`'s disk, videos whose submission it paid or adopted, their
        credits), over every batch."""
        files = await self.run("SELECT count(*) FROM cutpro_files WHERE worker = %s", (worker,))
        paid = await self.run(
            "SELECT count(submission_id), COALESCE(sum(credits_charged), 0) FROM cutpro_videos "
            "WHERE holder = %s",
            (worker,),
        )
        return int(files[0][0]), int(paid[0][0]), float(paid[0][1])

    async def phases(self, batch_id: str) -> dict[str, int]:
        """How many videos of a batch are in each phase."""
        rows = await self.run(
            "SELECT phase, count(*) FROM cutpro_videos WHERE batch_id = %s GROUP BY phase",
            (batch_id,),
        )
        return {str(phase): int(count) for phase, count in rows}


def _where(clip: SavedClip) -> tuple[str, str, str, str]:
    """What names `clip`'s row as it was saved (its video, clip, worker and path)."""
    return clip.workflow_id, clip.clip_id, clip.worker, clip.path


@contextlib.asynccontextmanager
async def opened(db_url: str) -> AsyncIterator[Tables]:
    """`async with opened(url) as tables:` the tables (created if missing), closed at exit."""
    await ensure_schema(db_url)
    tables = Tables(db_url)
    try:
        yield tables
    finally:
        await tables.close()
