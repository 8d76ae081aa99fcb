"""`videos` against the simulator: library pages, analysis, deletion and the upload steps."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import anyio
import pytest

import cutpro_async.testing
from cutpro_async import CutPro, NotFound, ValidationError
from cutpro_async.models import UploadTicket, Video, VideoInfo, VideoPage
from cutpro_async.testing import FakeCutPro
from tests.conftest import FAST_RETRY

from .conftest import (
    NO_PACING,
    make_client,
    video_url,
)

pytestmark = pytest.mark.anyio

SAMPLE = Path(cutpro_async.testing.__file__).parent / "data" / "sample.mp4"


async def test_analyze_returns_typed_info_with_the_cost(client: CutPro) -> None:
    """`videos.analyze` gives a `VideoInfo`: duration, platform and 1 credit per minute."""
    info = await client.videos.analyze(video_url(600))
    assert isinstance(info, VideoInfo)
    assert info.video_id
    assert info.platform == "youtube"
    assert info.duration == 600
    assert info.credits_cost == 10
    assert info.credits_unlimited is False


async def test_analyze_of_the_same_url_gives_the_same_video(client: CutPro) -> None:
    """Analyzing one URL twice yields one video id (and it costs nothing)."""
    url = video_url(600)
    first = await client.videos.analyze(url)
    second = await client.videos.analyze(url)
    assert first.video_id == second.video_id
    assert second.current_balance == first.current_balance


async def test_analyze_refusals_are_validation_errors(client: CutPro) -> None:
    """A too-short video is a 422 `ValidationError` with its code (a URL that is not http(s)
    is refused before sending: see test_user_mistakes)."""
    with pytest.raises(ValidationError) as too_short:
        await client.videos.analyze(video_url(30))
    assert too_short.value.code == "VIDEO_TOO_SHORT"
    assert too_short.value.extra["min_duration"] == 60


async def test_list_is_a_typed_page_of_the_library(client: CutPro) -> None:
    """`videos.list` returns `Video` rows of analyzed URLs, newest first by default."""
    empty = await client.videos.list()
    assert isinstance(empty, VideoPage)
    assert empty.videos == []
    first = await client.videos.analyze(video_url(600))
    second = await client.videos.analyze(video_url(900))
    page = await client.videos.list()
    assert all(isinstance(v, Video) for v in page.videos)
    assert [v.video_id for v in page.videos] == [second.video_id, first.video_id]
    assert page.pagination.total_count == 2
    by_title = await client.videos.list(sort="title")
    assert [v.title for v in by_title.videos] == sorted(v.title for v in page.videos)
    one = await client.videos.list(limit=1, page=2)
    assert [v.video_id for v in one.videos] == [first.video_id]
    assert one.pagination.has_previous_page


async def test_iter_walks_every_page() -> None:
    """101 videos span two pages of 100: `videos.iter` yields each exactly once."""
    async with (
        FakeCutPro(time_scale=6000, analyze_limit=1000) as fake,
        make_client(fake, pacing=NO_PACING, retry=FAST_RETRY) as cp,
    ):
        limiter = anyio.CapacityLimiter(16)
        ids: list[str] = []

        async def analyze_one() -> None:
            async with limiter:
                ids.append((await cp.videos.analyze(video_url(120))).video_id)

        async with anyio.create_task_group() as tg:
            for _ in range(101):
                tg.start_soon(analyze_one)
        walked = [video.video_id async for video in cp.videos.iter()]
        assert sorted(walked) == sorted(ids)
        assert fake.requests["GET /clips"] == 2


async def test_iter_stops_on_the_last_page(client: CutPro, fake: FakeCutPro) -> None:
    """A short library is walked with one request."""
    await client.videos.analyze(video_url(600))
    assert len([v async for v in client.videos.iter()]) == 1
    assert fake.requests["GET /clips"] == 1


async def test_delete_removes_the_video_and_returns_none(client: CutPro) -> None:
    """`videos.delete` returns None; the video leaves the library; a second delete is 404."""
    info = await client.videos.analyze(video_url(600))
    assert await client.videos.delete(info.video_id) is None
    assert (await client.videos.list()).videos == []
    with pytest.raises(NotFound):
        await client.videos.delete(info.video_id)


async def test_upload_steps_register_a_local_file(client: CutPro, fake: FakeCutPro) -> None:
    """start_upload, a key-less PUT of the bytes, complete_upload: the file joins the library."""
    data = SAMPLE.read_bytes()
    ticket = await client.videos.start_upload("talk.mp4", len(data))
    assert isinstance(ticket, UploadTicket)
    assert ticket.expires_in > 0
    assert "signature=" not in repr(ticket)
    async with (
        aiohttp.ClientSession() as session,
        session.put(ticket.upload_url, data=data, headers={"Content-Type": "video/mp4"}) as resp,
    ):
        assert resp.status == 200
    info = await client.videos.complete_upload(
        ticket.video_id, "talk.mp4", duration=125.0, width=1280, height=720
    )
    assert isinstance(info, VideoInfo)
    assert info.video_id == ticket.video_id
    assert info.credits_cost == 3
    assert [v.video_id for v in (await client.videos.list()).videos] == [ticket.video_id]
    assert fake.key_leaks == []
    created = await client.submissions.create(ticket.video_id)
    assert created.credits_charged == 3


async def test_complete_upload_before_the_put_is_not_found(client: CutPro) -> None:
    """Completing an upload whose bytes never arrived is 404 `FILE_NOT_FOUND`."""
    ticket = await client.videos.start_upload("talk.mp4", 1000)
    with pytest.raises(NotFound) as caught:
        await client.videos.complete_upload(
            ticket.video_id, "talk.mp4", duration=120.0, width=640, height=360
        )
    assert caught.value.code == "FILE_NOT_FOUND"


async def test_start_upload_refuses_an_unsupported_file(client: CutPro) -> None:
    """A file type the API does not take is a `ValidationError` naming the reason."""
    with pytest.raises(ValidationError) as caught:
        await client.videos.start_upload("notes.txt", 100)
    assert caught.value.code == "UNSUPPORTED_FILE_TYPE"
