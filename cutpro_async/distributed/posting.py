"""Posting a distributed batch's clips: the publish stage of `cutpro run --db … --publish`.

A post names a clip's render (its `edit_setting_id`), not its file, so posting needs no
worker's disk: it runs once the batch's videos are done, in the process that asked for it,
with the batch `Publisher` of the SQLite path (the same discipline: the intent kept before
`POST /posts`, `GET /posts` read before every post and what is there adopted, lost answers
looked for through the commit window; the same calendar and retries). What it posts is kept
in `cutpro_posts` (one row per video, its `PostEntry`s as JSON), so a rerun, on this machine
or another, continues where it stopped and never posts again what is posted. One process posts
a batch at a time (a session advisory lock), so the calendar's slots are taken in one place.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import anyio
import orjson
from psycopg.types.json import Jsonb

from .._converter import structure, unstructure
from ..batch.events import Event, Summary
from ..batch.options import PublishOptions
from ..batch.publishing import Account, Publisher, reviewer
from ..batch.record import ChosenClip, Phase, PostEntry, Record
from ..client import CutPro
from .fencing import lock_key
from .tables import SavedClip, Tables, VideoRow, connect

_SCHEMA = """
    CREATE TABLE IF NOT EXISTS cutpro_posts (
        workflow_id TEXT PRIMARY KEY REFERENCES cutpro_videos (workflow_id),
        batch_id TEXT NOT NULL,
        posts JSONB NOT NULL,
        updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
    )
"""
#: Posts sent at once (the publish pool of `Concurrency`'s default).
WIDTH = 4


async def publish_batch(
    client: CutPro,
    db_url: str,
    batch_id: str,
    options: PublishOptions,
    accounts: Sequence[Account],
    on_event: Callable[[Event], object] | None = None,
) -> Summary:
    """Post the best clips of every done video of a batch to `accounts`, each (clip,
    account) once whatever ran before; returns what this run did (posts only)."""
    summary = Summary()

    def emit(event: Event) -> None:
        summary.count(event)
        if on_event is not None:
            on_event(event)

    async with _batch_lock(db_url, batch_id), Tables(db_url) as tables:
        await tables.run(_SCHEMA)
        records, workflows = await _records(client, tables, batch_id, options.top_k)

        async def save(record: Record) -> None:
            await _keep(tables, batch_id, workflows[record.source], record)

        width = anyio.Semaphore(WIDTH)
        publisher = Publisher(
            client,
            options,
            accounts,
            save=save,
            emit=emit,
            pool=lambda _record: width,
            records=records,
        )
        async with anyio.create_task_group() as group:
            for record in records:
                group.start_soon(publisher.publish, record)
    return summary


async def batch_posts(
    client: CutPro, db_url: str, batch_id: str, *, retry_failed: bool = False
) -> list[tuple[str, PostEntry]]:
    """(source, post) of every post a batch made, in source order, each read afresh from
    the API (with `retry_failed`: each failed item retried once and followed) and saved."""
    async with _batch_lock(db_url, batch_id), Tables(db_url) as tables:
        await tables.run(_SCHEMA)
        rows = await tables.run(
            "SELECT p.workflow_id, v.source, v.position, p.posts FROM cutpro_posts p "
            "JOIN cutpro_videos v USING (workflow_id) WHERE p.batch_id = %s ORDER BY v.position",
            (batch_id,),
        )
        workflows = {source: workflow_id for workflow_id, source, _, _ in rows}
        records = [
            Record(source, position, Phase.DONE, posts=_entries(posts))
            for _, source, position, posts in rows
        ]

        async def save(record: Record) -> None:
            await _keep(tables, batch_id, workflows[record.source], record)

        await reviewer(client, records, save).review(records, retry_failed=retry_failed)
    return [(r.source, entry) for r in records for entry in r.posts.values()]


async def _keep(tables: Tables, batch_id: str, workflow_id: str, record: Record) -> None:
    """Save a video's posts."""
    await tables.run(
        "INSERT INTO cutpro_posts (workflow_id, batch_id, posts) VALUES (%s, %s, %s) "
        "ON CONFLICT (workflow_id) DO UPDATE SET posts = EXCLUDED.posts, updated_at = now()",
        (workflow_id, batch_id, Jsonb(unstructure(record.posts))),
    )


@contextlib.asynccontextmanager
async def _batch_lock(db_url: str, batch_id: str) -> AsyncIterator[None]:
    """Hold the batch's posting lock (it ends with the session, whatever happens here)."""
    conn = await connect(db_url)
    try:
        await conn.execute("SELECT pg_advisory_lock(%s)", (lock_key(f"posts {batch_id}"),))
        yield
    finally:
        await conn.close()


async def _records(
    client: CutPro, tables: Tables, batch_id: str, top_k: int
) -> tuple[list[Record], dict[str, str]]:
    """The batch's done videos as records the publisher takes (clips best first, with the
    description and keywords the list of clips gives), and each source's workflow id."""
    files: dict[str, list[SavedClip]] = {}
    for saved in await tables.files(batch_id):
        files.setdefault(saved.workflow_id, []).append(saved)
    posted = dict(
        await tables.run(
            "SELECT workflow_id, posts FROM cutpro_posts WHERE batch_id = %s", (batch_id,)
        )
    )
    records, workflows = [], {}
    for video in await tables.videos(batch_id):
        clips = files.get(video.workflow_id)
        if video.phase != Phase.DONE or not clips:
            continue
        record = await _record(client, video, clips[:top_k])
        record.posts = _entries(posted.get(video.workflow_id))
        records.append(record)
        workflows[video.source] = video.workflow_id
    return records, workflows


async def _record(client: CutPro, video: VideoRow, clips: list[SavedClip]) -> Record:
    """One done video as a record: its best clips and their renders."""
    texts: dict[str, tuple[str, list[str]]] = {}
    if video.video_id and video.submission_id:
        best = client.clips.iter(video.video_id, video.submission_id, page_size=len(clips))
        async with contextlib.aclosing(best):
            async for clip in best:
                texts[clip.id] = (clip.description, list(clip.keywords))
                if len(texts) >= len(clips):
                    break
    chosen = [
        ChosenClip(
            c.clip_id,
            c.title or "",
            c.rating or 0.0,
            c.start_time or 0.0,
            c.end_time or 0.0,
            *texts.get(c.clip_id, ("", [])),
        )
        for c in clips
    ]
    return Record(
        video.source,
        video.position,
        Phase.DONE,
        video_id=video.video_id,
        submission_id=video.submission_id,
        clips=chosen,
        renders={c.clip_id: c.render_id for c in clips},
    )


def _entries(data: Any) -> dict[str, PostEntry]:
    """A video's posts from their JSON (psycopg gives JSONB decoded; text is decoded here)."""
    if data is None:
        return {}
    if isinstance(data, str | bytes):
        data = orjson.loads(data)
    return structure(data, dict[str, PostEntry])
