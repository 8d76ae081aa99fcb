"""The manifest: one JSONL line (or CSV row) per downloaded clip."""

from __future__ import annotations

import csv
from pathlib import Path

import orjson
import pytest

from cutpro_async import CutPro
from cutpro_async.batch import Batch, MemoryStore, RunOptions, write_manifest
from cutpro_async.batch.manifest import FIELDS
from cutpro_async.testing import FakeCutPro

from .conftest import names, sha256_of, size_of, video_url

pytestmark = pytest.mark.anyio

EXPECTED_FIELDS = (
    "source,video_id,clip_id,title,rating,start_time,end_time,render_id,path,bytes,sha256"
)


async def test_jsonl_and_csv_describe_every_file(
    sim: tuple[FakeCutPro, CutPro], tmp_path: Path
) -> None:
    """Each downloaded clip has one JSONL line and one CSV row with all fields, matching disk."""
    _, cp = sim
    store = MemoryStore()
    urls = [video_url(), video_url("fail"), video_url()]
    await Batch(cp, RunOptions(out=tmp_path / "out", top_k=2), store).run(urls)
    records = await store.records()
    assert write_manifest(records, tmp_path / "manifest.jsonl") == 4
    assert write_manifest(records, tmp_path / "manifest.csv", as_csv=True) == 4
    lines = [orjson.loads(line) for line in (tmp_path / "manifest.jsonl").read_text().splitlines()]
    with (tmp_path / "manifest.csv").open(newline="") as handle:
        header = handle.readline().strip()
        handle.seek(0)
        table = list(csv.DictReader(handle))
    assert ",".join(FIELDS) == header == EXPECTED_FIELDS
    assert [row["source"] for row in lines] == [urls[0], urls[0], urls[2], urls[2]]
    by_clip = {r.clip_id: (rec, r) for rec in records for r in rec.files}
    for row, flat in zip(lines, table, strict=True):
        assert tuple(row) == FIELDS
        record, saved = by_clip[row["clip_id"]]
        clip = next(c for c in record.clips or [] if c.id == row["clip_id"])
        assert row["video_id"] == record.video_id and row["render_id"] == saved.render_id
        assert (row["title"], row["rating"]) == (clip.title, clip.rating)
        assert (row["start_time"], row["end_time"]) == (clip.start_time, clip.end_time)
        assert row["sha256"] == sha256_of(row["path"])
        assert row["bytes"] == size_of(row["path"])
        assert flat == {key: str(value) for key, value in row.items()}
    assert names(tmp_path, "*.tmp") == []


def test_empty_manifest_has_only_the_header(tmp_path: Path) -> None:
    """No files: an empty JSONL and a CSV with just its header."""
    assert write_manifest([], tmp_path / "m.jsonl") == 0
    assert write_manifest([], tmp_path / "m.csv", as_csv=True) == 0
    assert (tmp_path / "m.jsonl").read_text() == ""
    assert (tmp_path / "m.csv").read_text().strip() == EXPECTED_FIELDS


def test_links_at_the_manifest_names_are_replaced_not_followed(tmp_path: Path) -> None:
    """Symlinks placed at `manifest.jsonl` and its `.tmp` leave their targets untouched."""
    victims = [tmp_path / "victim-a", tmp_path / "victim-b"]
    for victim in victims:
        victim.write_bytes(b"precious")
    out = tmp_path / "out"
    out.mkdir()
    (out / "manifest.jsonl").symlink_to(victims[0])
    (out / "manifest.jsonl.tmp").symlink_to(victims[1])
    write_manifest([], out / "manifest.jsonl")
    assert [v.read_bytes() for v in victims] == [b"precious", b"precious"]
    assert not (out / "manifest.jsonl").is_symlink()
    assert sorted(p.name for p in out.iterdir()) == ["manifest.jsonl"]
