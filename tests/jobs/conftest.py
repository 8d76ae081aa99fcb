"""Fixtures and helpers for the jobs tests: a fast client, finished jobs, reference bytes."""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import attrs
import pytest

from cutpro_async import CutPro, Polling
from cutpro_async.models import Clip, Render, Submission
from cutpro_async.testing import FakeCutPro
from tests.conftest import FAST_RETRY

#: Waiters poll every 10-50 ms, retries back off for at most 50 ms.
FAST_POLLING = Polling(first=0.01, max_interval=0.05)
SAMPLE = Path(__file__).parents[2] / "cutpro_async" / "testing" / "data" / "sample.mp4"
_urls = itertools.count(1)


def video_url(duration: int = 600, *, fail: bool = False) -> str:
    """A fresh public video URL of a known length; `fail=True` makes its submission fail."""
    tag = "fail" if fail else "ok"
    return f"https://www.youtube.com/watch?v=j{tag}{next(_urls)}&duration={duration}"


def make_client(fake: FakeCutPro, **options: Any) -> CutPro:
    """A client of `fake` with fast polling and retries (open it with `async with`)."""
    options.setdefault("polling", FAST_POLLING)
    options.setdefault("retry", FAST_RETRY)
    return CutPro(fake.api_key, base_url=fake.base_url, **options)


@asynccontextmanager
async def simulated(
    client_options: dict[str, Any] | None = None, **settings: Any
) -> AsyncIterator[tuple[FakeCutPro, CutPro]]:
    """A fast simulator with these settings and an open fast client of it."""
    settings.setdefault("time_scale", 6000)
    async with FakeCutPro(**settings) as fake, make_client(fake, **(client_options or {})) as cp:
        yield fake, cp


@pytest.fixture
async def client(fake: FakeCutPro) -> AsyncIterator[CutPro]:
    """An open fast client of the `fake` simulator."""
    async with make_client(fake) as cp:
        yield cp


@attrs.frozen
class Finished:
    """A completed submission with its clips."""

    video_id: str
    submission: Submission
    clips: list[Clip]


async def finished_submission(cp: CutPro, duration: int = 600) -> Finished:
    """Analyze a fresh URL, submit it, wait for it and list its clips."""
    info = await cp.videos.analyze(video_url(duration))
    created = await cp.submissions.create(info.video_id)
    sub = await cp.submissions.wait(info.video_id, created.submission_id, timeout=60)
    page = await cp.clips.list(info.video_id, created.submission_id, limit=100)
    return Finished(info.video_id, sub, page.clips)


async def finished_render(cp: CutPro, done: Finished | None = None, index: int = 0) -> Render:
    """Render one clip (of a fresh submission unless `done` is given) and wait for it."""
    done = done or await finished_submission(cp)
    clip = done.clips[index]
    created = await cp.renders.create(done.video_id, done.submission.submission_id, clip.id)
    return await cp.renders.wait(created.render_id, timeout=60)


@attrs.frozen
class Served:
    """What storage serves for a link when no fault is in force."""

    body: bytes
    etag: str

    @property
    def sha256(self) -> str:
        """The SHA-256 of the body."""
        return hashlib.sha256(self.body).hexdigest()


async def served(url: str) -> Served:
    """A plain GET of a signed link (no key, no faults expected): the reference bytes."""
    async with aiohttp.ClientSession() as session, session.get(url) as resp:
        assert resp.status == 200, resp.status
        # A validator to keep beside a `.part`: the ETag, else the date, else a made-up one
        # (storage without validators ignores it and answers 200).
        validator = resp.headers.get("ETag") or resp.headers.get("Last-Modified") or '"none"'
        return Served(await resp.read(), validator)


async def served_render(cp: CutPro, render_id: str) -> Served:
    """The reference bytes of a render, fetched through a fresh signed link."""
    return await served((await cp.renders.download_link(render_id)).url)


def sha256_of(path: Path) -> str:
    """The SHA-256 of a file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()
