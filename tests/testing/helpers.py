"""Shared helpers for the simulator's HTTP tests: spin up simulators, reach completed work."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import attrs
from multidict import CIMultiDict

from cutpro_async.testing import FakeCutPro
from tests.conftest import RawApi, Reply

POLL_TRIES = 300
POLL_DELAY = 0.01
_urls = itertools.count(1)


def video_url(duration: int = 600) -> str:
    """A fresh public video URL of a known length (600 s gives three clips)."""
    return f"https://www.youtube.com/watch?v=t{next(_urls)}&duration={duration}"


@asynccontextmanager
async def simulator(**settings: Any) -> AsyncIterator[tuple[FakeCutPro, RawApi]]:
    """A running simulator with these settings and raw HTTP access to it."""
    async with FakeCutPro(**settings) as fake, aiohttp.ClientSession() as session:
        yield fake, RawApi(session, fake.base_url, fake.api_key)


async def poll(
    api: RawApi, path: str, done: Callable[[Any], bool], fake: FakeCutPro | None = None
) -> Reply:
    """GET `path` until `done(json)`; with `fake`, jump its clock 60 API-s between polls."""
    for _ in range(POLL_TRIES):
        reply = await api.get(path)
        assert reply.status == 200, reply.json
        if done(reply.json):
            return reply
        if fake is not None:
            fake.advance(60)
        else:
            await asyncio.sleep(POLL_DELAY)
    raise AssertionError(f"{path} never got there: {reply.json}")


@attrs.frozen
class Done:
    """A completed submission: its ids and its clips (as `GET .../clips` lists them)."""

    video_id: str
    submission_id: str
    clips: list[dict[str, Any]]

    @property
    def path(self) -> str:
        """The submission's path."""
        return f"/clips/{self.video_id}/submissions/{self.submission_id}"

    def render_path(self, index: int) -> str:
        """The render path of the clip at `index`."""
        return f"{self.path}/clips/{self.clips[index]['id']}/render"


async def completed_submission(
    api: RawApi, fake: FakeCutPro | None = None, duration: int = 600
) -> Done:
    """Analyze a fresh URL, submit it and poll until completed (`fake`: jump its clock)."""
    info = await api.post("/clips/info", {"url": video_url(duration)})
    assert info.status == 200, info.json
    video_id = info.json["video_id"]
    created = await api.post("/clips", {"video_id": video_id})
    assert created.status == 201, created.json
    sub_id = created.json["submission_id"]
    if fake is not None:
        fake.advance(3600)
    path = f"/clips/{video_id}/submissions/{sub_id}"
    await poll(api, path, lambda s: s["status"] == "completed", fake)
    clips = await api.get(f"{path}/clips")
    assert clips.status == 200, clips.json
    return Done(video_id, sub_id, clips.json["clips"])


async def start_render(api: RawApi, done: Done, index: int = 0) -> dict[str, Any]:
    """Request a render of one clip; returns the 202 answer."""
    reply = await api.post(done.render_path(index))
    assert reply.status == 202, reply.json
    return dict(reply.json)


async def wait_render(
    api: RawApi, render_id: str, fake: FakeCutPro | None = None, status: str = "completed"
) -> dict[str, Any]:
    """Poll a render until it reaches `status` (any terminal one stops the wait)."""
    reply = await poll(
        api,
        f"/renders/{render_id}",
        lambda r: r["status"] in (status, "completed", "failed", "cancelled", "expired"),
        fake,
    )
    assert reply.json["status"] == status, reply.json
    return dict(reply.json)


async def completed_render(
    api: RawApi, done: Done | None = None, index: int = 0, fake: FakeCutPro | None = None
) -> dict[str, Any]:
    """A completed render of clip `index` (of a new submission unless `done` is given)."""
    done = done or await completed_submission(api, fake)
    created = await start_render(api, done, index)
    return await wait_render(api, created["render_id"], fake)


async def download_link(api: RawApi, render_id: str) -> dict[str, Any]:
    """The `{url, filename}` of a completed render."""
    reply = await api.get(f"/renders/{render_id}/download")
    assert reply.status == 200, reply.json
    return dict(reply.json)


async def render_url(api: RawApi) -> str:
    """The signed download URL of a fresh completed render."""
    render = await completed_render(api)
    return str((await download_link(api, render["render_id"]))["url"])


async def fetch(
    session: aiohttp.ClientSession,
    url: str,
    headers: dict[str, str] | None = None,
    method: str = "GET",
) -> tuple[int, CIMultiDict[str], bytes]:
    """GET (or `method`) a storage URL with no API key: status, headers (all lines), body."""
    async with session.request(method, url, headers=headers) as resp:
        return resp.status, CIMultiDict(resp.headers), await resp.read()
