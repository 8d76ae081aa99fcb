"""`cutpro run --db --verify`: the files of a batch this worker holds, checked against the
tables, and fetched again, free, where missing or changed.

Each file the tables say this worker holds must be a regular file in its folder of the size
and SHA-256 recorded (what `cutpro run --verify` checks of its record). One that is not is
removed and fetched again as `--refetch-missing` fetches a lost clip: the same render
downloaded again, or, if it expired, rendered again from the same submission; nothing is paid.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import anyio
import attrs

from .._fs import is_intact
from ..client import CutPro
from ..errors import CutProError
from .refetch import _fetch_again, _Missing
from .tables import SavedClip, Tables


@attrs.frozen
class Verified:
    """What a verification found: files checked, fetched again (of which rendered again),
    and those it could not fetch (clip id, why)."""

    checked: int
    fetched: int
    rerendered: int
    failed: list[tuple[str, str]]


async def intact(saved: SavedClip) -> bool:
    """Whether a saved clip is still a regular file of its recorded size and SHA-256."""
    return await anyio.to_thread.run_sync(is_intact, saved.path, saved.bytes, saved.sha256)


async def verify(
    client: CutPro,
    tables: Tables,
    batch_id: str,
    worker_id: str,
    *,
    concurrency: int = 4,
) -> Verified:
    """Check every file of `batch_id` that `worker_id` holds; fetch again, free, into its
    recorded folder, those missing or changed."""
    videos = {v.workflow_id: v for v in await tables.videos(batch_id)}
    mine = [f for f in await tables.files(batch_id) if f.worker == worker_id]
    limiter = anyio.CapacityLimiter(concurrency)
    fetched, rerendered, failed = [0], [0], []

    async def one(saved: SavedClip) -> None:
        async with limiter:
            if await intact(saved):
                return
            with contextlib.suppress(FileNotFoundError):  # or its download takes it as done
                await anyio.Path(saved.path).unlink()
            video = videos[saved.workflow_id]
            assert video.video_id is not None and video.submission_id is not None
            missing = _Missing(saved, video.video_id, video.submission_id)
            try:
                folder = Path(saved.path).parent
                again, render_id = await _fetch_again(client, missing, folder, rerendered, None)
            except CutProError as exc:
                failed.append((saved.clip_id, f"{type(exc).__name__}: {exc}"))
                return
        await tables.moved(saved, worker_id, str(again.path), again, render_id)
        fetched[0] += 1

    async with anyio.create_task_group() as group:
        for saved in mine:
            group.start_soon(one, saved)
    return Verified(len(mine), fetched[0], rerendered[0], failed)
