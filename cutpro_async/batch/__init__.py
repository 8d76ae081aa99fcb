"""Batch orchestration: many videos through the whole pipeline, durably, within a budget.

    async with CutPro() as cp:
        store = await SQLiteStore.open("clips/.cutpro-state.sqlite")
        summary = await Batch(cp, RunOptions(out="clips"), store).run(urls)

`clip_video` runs the whole pipeline for one source and returns the downloaded paths. Events
name a `Stage` (one of the pools a video passes through); a `Record` keeps the video's `Phase`
(how far it has come).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..client import CutPro
from ..errors import CutProError, StoreError, StoreLocked
from .credits import Credits
from .events import (
    BytesDownloaded,
    CreditsSpent,
    Event,
    FileSaved,
    PostFinished,
    PostPlaced,
    Priced,
    SourcesRead,
    Stage,
    StageFinished,
    StageStarted,
    Summary,
    VideoDone,
    VideoFailed,
    VideoSkipped,
)
from .gallery import write_gallery
from .index import SubmissionIndex
from .manifest import write_manifest
from .options import Concurrency, PublishOptions, RunOptions
from .pipeline import Batch
from .record import ChosenClip, Phase, PostEntry, Record, SavedFile
from .runner import Runner
from .sources import Sources, expand_sources, normalize
from .store import MemoryStore, SQLiteStore, Store


async def clip_video(client: CutPro, source: str, out: str | Path, **options: Any) -> list[Path]:
    """Run the whole pipeline for one URL or local file; returns the downloaded MP4 paths.

    Keyword options are those of `RunOptions` (`top_k`, `min_rating`, `timeframe`, ...).
    The error that stopped the video is raised as is.
    """
    store = MemoryStore()
    batch = Batch(client, RunOptions(out=out, **options), store)
    await batch.run([source])
    key = normalize(source)
    if key in batch.errors:
        raise batch.errors[key]
    if key in batch.skipped:
        raise CutProError(f"{source} was not processed: {batch.skipped[key]}")
    record = await store.load(key)
    return [Path(saved.path) for saved in record.files] if record else []


__all__ = [
    "Batch",
    "BytesDownloaded",
    "ChosenClip",
    "Concurrency",
    "Credits",
    "CreditsSpent",
    "Event",
    "FileSaved",
    "MemoryStore",
    "Phase",
    "PostEntry",
    "PostFinished",
    "PostPlaced",
    "Priced",
    "PublishOptions",
    "Record",
    "RunOptions",
    "Runner",
    "SQLiteStore",
    "SavedFile",
    "Sources",
    "SourcesRead",
    "Stage",
    "StageFinished",
    "StageStarted",
    "Store",
    "StoreError",
    "StoreLocked",
    "SubmissionIndex",
    "Summary",
    "VideoDone",
    "VideoFailed",
    "VideoSkipped",
    "clip_video",
    "expand_sources",
    "write_gallery",
    "write_manifest",
]
