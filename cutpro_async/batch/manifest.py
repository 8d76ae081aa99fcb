"""The manifest of a run: one line per downloaded clip, as JSONL (and CSV on request)."""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson

from .._fs import open_nofollow
from .record import PostEntry, Record

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


#: Added to each row of a record that published: the clip's posts, one per account.
POSTS_FIELD = "posts"


def rows(records: Sequence[Record]) -> Iterator[dict[str, Any]]:
    """One row per saved file, in source order (with `posts` for a record that published)."""
    for record in records:
        clips = {clip.id: clip for clip in record.clips or []}
        for saved in record.files:
            clip = clips.get(saved.clip_id)
            row: dict[str, Any] = {
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
            if record.posts:
                posted = {k: e for k, e in record.posts.items() if e.clip_id == saved.clip_id}
                row[POSTS_FIELD] = post_fields(posted)
            yield row


def write_manifest(records: Sequence[Record], path: Path, *, as_csv: bool = False) -> int:
    """Write the manifest atomically (temp file, then rename); returns the number of rows.

    Links already at either name are replaced, never written through.
    """
    tmp = path.with_name(path.name + ".tmp")
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    fields = (*FIELDS, POSTS_FIELD) if any(r.posts for r in records) else FIELDS
    fd = open_nofollow(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    with os.fdopen(fd, "w", newline="") as out:
        writer = csv.DictWriter(out, fields) if as_csv else None
        if writer is not None:
            writer.writeheader()
        for row in rows(records):
            if writer is not None:
                if POSTS_FIELD in row:  # a cell holds text: the posts as JSON
                    row[POSTS_FIELD] = orjson.dumps(row[POSTS_FIELD]).decode()
                writer.writerow(row)
            else:
                out.write(orjson.dumps(row).decode() + "\n")
            count += 1
    os.replace(tmp, path)
    return count


def post_fields(entries: Mapping[str, PostEntry]) -> list[dict[str, object]]:
    """A clip's posts as the manifest lists them: account, post, status, when, URL or error."""
    return [
        {
            "connection_id": e.connection_id,
            "account": e.account,
            "post_id": e.post_id,
            "status": e.status,
            "scheduled_at": None if e.scheduled_at is None else e.scheduled_at.isoformat(),
            "published_url": e.published_url,
            "error": e.error,
        }
        for e in entries.values()
    ]
