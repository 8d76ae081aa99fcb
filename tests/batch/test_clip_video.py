"""`clip_video`: the whole pipeline for one source, returning the MP4 paths."""

from __future__ import annotations

from pathlib import Path

import pytest

from cutpro_async import CutPro, CutProError, SubmissionFailed
from cutpro_async.batch import clip_video
from cutpro_async.testing import FakeCutPro

from .conftest import MP4_BRAND, names, simulated, video_url

pytestmark = pytest.mark.anyio


async def test_returns_top_k_mp4_paths(sim: tuple[FakeCutPro, CutPro], tmp_path: Path) -> None:
    """The paths of the `top_k` best clips come back, each a valid MP4 in `out`."""
    fake, cp = sim
    paths = await clip_video(cp, video_url(), tmp_path, top_k=2)
    assert len(paths) == 2 and len(set(paths)) == 2
    for path in paths:
        assert path.parent == tmp_path and path.suffix == ".mp4"
        assert path.read_bytes()[4:8] == MP4_BRAND
    assert list(fake.charges_per_video().values()) == [1]


async def test_failing_url_raises_submission_failed(
    sim: tuple[FakeCutPro, CutPro], tmp_path: Path
) -> None:
    """A video whose clipping fails raises `SubmissionFailed` itself."""
    _, cp = sim
    with pytest.raises(SubmissionFailed, match="download_failed"):
        await clip_video(cp, video_url("fail"), tmp_path)
    assert names(tmp_path, "*.mp4") == []


async def test_not_enough_credits_raises(tmp_path: Path) -> None:
    """Without credits for the video, `clip_video` raises instead of returning nothing."""
    async with simulated(credits=1) as (_, cp):
        with pytest.raises(CutProError):
            await clip_video(cp, video_url(), tmp_path)
