"""Fixtures and helpers for the resource tests: a client on the simulator, finished jobs."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from typing import Any

import anyio
import attrs
import pytest

from cutpro_async import CutPro, Pacing
from cutpro_async.models import (
    Clip,
    Render,
    RenderStatus,
    Submission,
    SubmissionCreated,
    SubmissionStatus,
    VideoInfo,
)
from cutpro_async.testing import FakeCutPro

POLL_TRIES = 300
POLL_DELAY = 0.01
#: Retries that keep fault tests fast.
#: No client-side pacing at all: for tests that analyze many URLs on a permissive simulator.
NO_PACING = Pacing(requests_per_second=None, endpoints={})
_urls = itertools.count(1)


def video_url(duration: int = 600) -> str:
    """A fresh public video URL of a known length (600 s costs 10 credits, gives 3 clips)."""
    return f"https://www.youtube.com/watch?v=r{next(_urls)}&duration={duration}"


def make_client(fake: FakeCutPro, **options: Any) -> CutPro:
    """A client pointed at `fake` (open it with `async with`)."""
    return CutPro(fake.api_key, base_url=fake.base_url, **options)


@pytest.fixture
async def client(fake: FakeCutPro) -> AsyncIterator[CutPro]:
    """An open client of the `fake` simulator, with default settings."""
    async with make_client(fake) as cp:
        yield cp


async def poll_submission(cp: CutPro, video_id: str, submission_id: str) -> Submission:
    """Poll a submission until it is terminal (bounded: 300 polls, 10 ms apart)."""
    for _ in range(POLL_TRIES):
        sub = await cp.submissions.get(video_id, submission_id)
        if sub.status.is_terminal:
            return sub
        await anyio.sleep(POLL_DELAY)
    raise AssertionError(f"submission {submission_id} never finished: {sub}")


async def poll_render(cp: CutPro, render_id: str) -> Render:
    """Poll a render until it is terminal (bounded: 300 polls, 10 ms apart)."""
    for _ in range(POLL_TRIES):
        render = await cp.renders.get(render_id)
        if render.status.is_terminal:
            return render
        await anyio.sleep(POLL_DELAY)
    raise AssertionError(f"render {render_id} never finished: {render}")


@attrs.frozen
class Done:
    """A completed submission with its clips."""

    info: VideoInfo
    created: SubmissionCreated
    clips: list[Clip]

    @property
    def video_id(self) -> str:
        """The video's id."""
        return self.info.video_id

    @property
    def submission_id(self) -> str:
        """The submission's id."""
        return self.created.submission_id


async def completed_submission(cp: CutPro, duration: int = 600) -> Done:
    """Analyze a fresh URL, submit it, poll until completed and list its clips."""
    info = await cp.videos.analyze(video_url(duration))
    created = await cp.submissions.create(info.video_id)
    sub = await poll_submission(cp, info.video_id, created.submission_id)
    assert sub.status is SubmissionStatus.COMPLETED, sub
    page = await cp.clips.list(info.video_id, created.submission_id, limit=100)
    return Done(info, created, page.clips)


async def completed_render(cp: CutPro, done: Done, index: int = 0) -> Render:
    """Render one clip of `done` and poll until the render completed."""
    created = await cp.renders.create(done.video_id, done.submission_id, done.clips[index].id)
    render = await poll_render(cp, created.render_id)
    assert render.status is RenderStatus.COMPLETED, render
    return render


async def jumped_submission(fake: FakeCutPro, cp: CutPro) -> Done:
    """A completed submission on a slow simulator, reached by jumping its clock."""
    info = await cp.videos.analyze(video_url(600))
    created = await cp.submissions.create(info.video_id)
    fake.advance(3600)
    page = await cp.clips.list(info.video_id, created.submission_id)
    return Done(info, created, page.clips)
