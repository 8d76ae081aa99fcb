"""Fetch again, free, the clips whose file is out of reach: `cutpro worker --refetch-missing`.

A finished clip's file lives on the disk of the worker that downloaded it. When that machine
is gone, the clip can be fetched again by any worker without paying: the render is downloaded
again (a fresh signed link), or, if the render expired, rendered again from the same
submission (renders are free); the paid `POST /clips` is never sent. A clip is out of reach
when the worker holding it is gone (silent for longer than the heartbeat timeout without
having stopped cleanly, or named as lost), or when it is this worker's own and its file is
missing from its folder. The file row then names the worker that fetched it.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from pathlib import Path

import anyio
import attrs

from .._fs import is_intact
from ..client import CutPro
from ..errors import CutProError, Expired, RenderFailed
from ..jobs.transfers import Downloaded
from .limits import GlobalSlots
from .tables import SavedClip, Tables
from .workflows import SUBMISSION_EXPIRED

log = logging.getLogger("cutpro_async")


@attrs.frozen
class Refetched:
    """What a refetch did: clips fetched again into this worker's folder, of which rendered
    again (their render had expired), and clips it could not fetch (clip id, why)."""

    fetched: int
    rerendered: int
    failed: list[tuple[str, str]]


@attrs.frozen
class _Missing:
    """One clip out of reach, with what it takes to fetch it again."""

    saved: SavedClip
    video_id: str
    submission_id: str


async def out_of_reach(
    tables: Tables, worker_id: str, out: Path, lost: Sequence[str], timeout: float
) -> list[_Missing]:
    """The clips of every batch held by gone or `lost` workers, or by this worker but missing
    from `out`."""
    rows = await tables.run(
        "SELECT f.workflow_id, f.clip_id, f.rank, f.render_id, f.worker, f.path, f.bytes, "
        "f.sha256, f.title, f.rating, f.start_time, f.end_time, v.video_id, v.submission_id "
        "FROM cutpro_files f JOIN cutpro_videos v USING (workflow_id) "
        "LEFT JOIN cutpro_workers w ON w.worker_id = f.worker "
        "WHERE f.worker = %s OR f.worker = ANY(%s) OR (w.stopped_at IS NULL "
        "AND w.heartbeat < now() - make_interval(secs => %s)) ORDER BY f.workflow_id, f.rank",
        (worker_id, list(lost), timeout),
    )
    found = []
    for *clip, video_id, submission_id in rows:
        saved = SavedClip(*clip)
        if saved.worker == worker_id and await _present(out, saved):
            continue
        found.append(_Missing(saved, video_id, submission_id))
    return found


async def _present(out: Path, saved: SavedClip) -> bool:
    """Whether this worker's file of `saved` is in `out` at its recorded size."""
    if Path(saved.path).parent != out:
        return False
    return await anyio.to_thread.run_sync(is_intact, saved.path, saved.bytes)


async def refetch(
    client: CutPro,
    tables: Tables,
    worker_id: str,
    out: Path,
    *,
    lost: Sequence[str] = (),
    timeout: float,
    concurrency: int = 4,
    renders: GlobalSlots | None = None,
) -> Refetched:
    """Fetch again into `out` every clip out of reach (see the module); never pays. A render
    made again takes one of the `renders` slots shared by every worker."""
    missing = await out_of_reach(tables, worker_id, out, lost, timeout)
    limiter = anyio.CapacityLimiter(concurrency)
    fetched, rerendered, failed = [0], [0], []

    async def one(clip: _Missing) -> None:
        async with limiter:
            try:
                again, render_id = await _fetch_again(client, clip, out, rerendered, renders)
            except CutProError as exc:
                failed.append((clip.saved.clip_id, f"{type(exc).__name__}: {exc}"))
                return
        if await tables.moved(clip.saved, worker_id, str(again.path), again, render_id):
            fetched[0] += 1
        elif again.path != Path(clip.saved.path):  # another worker fetched it first
            await anyio.Path(again.path).unlink(missing_ok=True)

    async with anyio.create_task_group() as group:
        for clip in missing:
            group.start_soon(one, clip)
    if missing:
        log.warning("fetched %d clips again into %s (%d failed)", fetched[0], out, len(failed))
    return Refetched(fetched[0], rerendered[0], failed)


async def _fetch_again(
    client: CutPro,
    clip: _Missing,
    out: Path,
    rerendered: list[int],
    renders: GlobalSlots | None,
) -> tuple[Downloaded, str]:
    """The clip's render downloaded again under its file name, and the render's id; rendered
    again first if the render expired (never a new submission: an expired one fails)."""
    name = Path(clip.saved.path).name
    render_id = clip.saved.render_id
    try:
        return await client.renders.download(render_id, out, name=lambda _: name), render_id
    except (RenderFailed, Expired) as exc:
        if isinstance(exc, RenderFailed) and exc.status != "expired":
            raise
        if isinstance(exc, Expired) and exc.code == SUBMISSION_EXPIRED:
            raise
    async with renders.hold() if renders is not None else contextlib.nullcontext():
        created = await client.renders.create(
            clip.video_id, clip.submission_id, clip.saved.clip_id, adopt_running=True
        )
        await client.renders.wait(created.render_id)
    rerendered[0] += 1
    done = await client.renders.download(created.render_id, out, name=lambda _: name)
    return done, created.render_id
