"""The manifest of a run: one line per downloaded clip, as JSONL (and CSV on request)."""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import orjson

from .._fs import open_nofollow
from .record import Record

FIELDS = (
    "source",
    "video_id",
    "clip_id",
    "title",
    "rating",
    "start_time",
    "end_time",
    "render_id",
    "path",
    "bytes",
    "sha256",
)


def rows(records: Sequence[Record]) -> Iterator[dict[str, Any]]:
    """One row per saved file, in source order."""
    for record in records:
        clips = {clip.id: clip for clip in record.clips or []}
        for saved in record.files:
            clip = clips.get(saved.clip_id)
            yield {
                "source": record.source,
                "video_id": record.video_id,
                "clip_id": saved.clip_id,
                "title": clip.title if clip else None,
                "rating": clip.rating if clip else None,
                "start_time": clip.start_time if clip else None,
                "end_time": clip.end_time if clip else None,
                "render_id": saved.render_id,
                "path": saved.path,
                "bytes": saved.bytes,
                "sha256": saved.sha256,
            }


def write_manifest(records: Sequence[Record], path: Path, *, as_csv: bool = False) -> int:
    """Write the manifest atomically (temp file, then rename); returns the number of rows.

    Links already at either name are replaced, never written through.
    """
    tmp = path.with_name(path.name + ".tmp")
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    fd = open_nofollow(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    with os.fdopen(fd, "w", newline="") as out:
        writer = csv.DictWriter(out, FIELDS) if as_csv else None
        if writer is not None:
            writer.writeheader()
        for row in rows(records):
            if writer is not None:
                writer.writerow(row)
            else:
                out.write(orjson.dumps(row).decode() + "\n")
            count += 1
    os.replace(tmp, path)
    return count
