"""`renders` and `bulk_downloads` against the simulator: jobs, links, conflicts, limits."""

from __future__ import annotations

import aiohttp
import anyio
import pytest

from cutpro_async import (
    AlreadyInProgress,
    Conflict,
    CutPro,
    Expired,
    NotFound,
    Polling,
    RetryPolicy,
)
from cutpro_async.models import (
    BulkDownload,
    BulkDownloadCreated,
    BulkStatus,
    DownloadLink,
    Render,
    RenderCreated,
    RenderLimits,
    RenderPage,
    RenderStatus,
)
from cutpro_async.testing import FakeCutPro

from .conftest import (
    POLL_DELAY,
    POLL_TRIES,
    completed_render,
    completed_submission,
    jumped_submission,
    make_client,
    poll_render,
)

pytestmark = pytest.mark.anyio


async def test_create_then_poll_to_a_completed_render(client: CutPro) -> None:
    """`create` queues a render (`RenderCreated`); `get` follows it to `completed`."""
    done = await completed_submission(client)
    created = await client.renders.create(done.video_id, done.submission_id, done.clips[0].id)
    assert isinstance(created, RenderCreated)
    assert created.status is RenderStatus.QUEUED
    assert created.from_cache is False
    assert created.download_url is None
    render = await poll_render(client, created.render_id)
    assert isinstance(render, Render)
    assert render.status is RenderStatus.COMPLETED
    assert render.progress == 100
    assert render.edit_setting_id == created.edit_setting_id


async def test_a_finished_render_is_served_from_cache(client: CutPro) -> None:
    """Rendering the same clip again answers `from_cache` with a signed link kept out of repr."""
    done = await completed_submission(client)
    render = await completed_render(client, done)
    again = await client.renders.create(done.video_id, done.submission_id, done.clips[0].id)
    assert again.from_cache is True
    assert again.render_id == render.render_id
    assert again.download_url is not None
    assert "signature=" not in repr(again)


async def test_download_link_fetches_the_mp4_without_a_key(
    client: CutPro, fake: FakeCutPro
) -> None:
    """`download_link` is a `DownloadLink`; its URL serves the whole MP4 with no API key."""
    done = await completed_submission(client)
    render = await completed_render(client, done)
    link = await client.renders.download_link(render.render_id)
    assert isinstance(link, DownloadLink)
    assert link.filename.endswith(".mp4")
    assert "signature=" not in repr(link)
    async with aiohttp.ClientSession() as session, session.get(link.url) as resp:
        assert resp.status == 200
        body = await resp.read()
    assert len(body) == fake.config.render_bytes
    assert body[4:8] == b"ftyp"
    assert fake.key_leaks == []


async def test_list_iter_and_limits(client: CutPro, fake: FakeCutPro) -> None:
    """`list` is a typed page newest first, filtered by status; `iter` and `limits` work."""
    done = await completed_submission(client)
    first = await completed_render(client, done, 0)
    second = await completed_render(client, done, 1)
    page = await client.renders.list()
    assert isinstance(page, RenderPage)
    assert [r.render_id for r in page.renders] == [second.render_id, first.render_id]
    completed = await client.renders.list(status="completed")
    assert len(completed.renders) == 2
    assert (await client.renders.list(status="processing")).renders == []
    fake.requests.clear()
    walked = [r.render_id async for r in client.renders.iter()]
    assert walked == [second.render_id, first.render_id]
    assert fake.requests["GET /renders"] == 1
    limits = await client.renders.limits()
    assert isinstance(limits, RenderLimits)
    assert limits.usage.total_pending == 0
    assert limits.plan.max_concurrent_renders == fake.config.max_concurrent_renders


async def test_render_twice_and_early_link_are_conflicts() -> None:
    """Rendering a clip that is rendering is `AlreadyInProgress`; its link is a plain `Conflict`."""
    async with FakeCutPro(time_scale=1) as fake, make_client(fake) as cp:
        done = await jumped_submission(fake, cp)
        created = await cp.renders.create(done.video_id, done.submission_id, done.clips[0].id)
        with pytest.raises(AlreadyInProgress) as twice:
            await cp.renders.create(done.video_id, done.submission_id, done.clips[0].id)
        assert twice.value.code == "RENDER_ALREADY_IN_PROGRESS"
        assert twice.value.extra["render_id"] == created.render_id
        with pytest.raises(Conflict) as early:
            await cp.renders.download_link(created.render_id)
        assert type(early.value) is Conflict
        assert early.value.code == "RENDER_NOT_READY"
        limits = await cp.renders.limits()
        assert limits.usage.total_pending == 1


async def test_adopt_running_returns_the_render_already_running() -> None:
    """`create(adopt_running=True)` on a clip that is rendering gives that render, not a 409."""
    async with FakeCutPro(time_scale=1) as fake, make_client(fake) as cp:
        done = await jumped_submission(fake, cp)
        created = await cp.renders.create(done.video_id, done.submission_id, done.clips[0].id)
        again = await cp.renders.create(
            done.video_id, done.submission_id, done.clips[0].id, adopt_running=True
        )
        assert again.render_id == created.render_id
        assert (await cp.renders.limits()).usage.total_pending == 1


async def test_adopt_running_without_an_id_waits_for_the_cached_render() -> None:
    """When the 409 does not name the running render (a GAP of the reference), asking again at
    polling intervals returns it from the render cache once it has finished."""
    polling = Polling(first=0.05, max_interval=0.2)
    async with (
        FakeCutPro(time_scale=200, name_running_render=False) as fake,
        make_client(fake, polling=polling) as cp,
    ):
        done = await jumped_submission(fake, cp)
        clip = done.clips[0].id
        created = await cp.renders.create(done.video_id, done.submission_id, clip)
        with pytest.raises(AlreadyInProgress) as plain:
            await cp.renders.create(done.video_id, done.submission_id, clip)
        assert "render_id" not in plain.value.extra
        again = await cp.renders.create(done.video_id, done.submission_id, clip, adopt_running=True)
    assert again.render_id == created.render_id
    route = "POST /clips/{videoId}/submissions/{submissionId}/clips/{clipId}/render"
    assert fake.requests[route] > 2  # asked again while it was rendering


async def test_cancel_a_running_render_then_delete_it() -> None:
    """`cancel` returns None and leaves the render `cancelled`; a second call deletes it."""
    async with FakeCutPro(time_scale=1) as fake, make_client(fake) as cp:
        done = await jumped_submission(fake, cp)
        created = await cp.renders.create(done.video_id, done.submission_id, done.clips[0].id)
        assert await cp.renders.cancel(created.render_id) is None
        assert (await cp.renders.get(created.render_id)).status is RenderStatus.CANCELLED
        assert await cp.renders.cancel(created.render_id) is None
        with pytest.raises(NotFound):
            await cp.renders.get(created.render_id)


async def test_an_ambiguous_cancel_is_not_turned_into_a_delete() -> None:
    """A cancel whose answer is lost (committed, then 502) still leaves a `cancelled` render."""
    retry = RetryPolicy(backoff_initial=0.01, backoff_max=0.05)
    async with FakeCutPro(time_scale=1) as fake, make_client(fake, retry=retry) as cp:
        done = await jumped_submission(fake, cp)
        created = await cp.renders.create(done.video_id, done.submission_id, done.clips[0].id)
        fake.set_faults("commit502=1#1@DELETE /renders/{renderId}")
        try:
            await cp.renders.cancel(created.render_id)
        finally:
            fake.set_faults("")
        assert (await cp.renders.get(created.render_id)).status is RenderStatus.CANCELLED


async def test_an_ambiguous_render_request_returns_the_render() -> None:
    """A render request committed before its 502 gives back that render, and only one exists."""
    retry = RetryPolicy(backoff_initial=0.01, backoff_max=0.05)
    async with FakeCutPro(time_scale=1) as fake, make_client(fake, retry=retry) as cp:
        done = await jumped_submission(fake, cp)
        route = "POST /clips/{videoId}/submissions/{submissionId}/clips/{clipId}/render"
        fake.set_faults(f"commit502=1#1@{route}")
        try:
            created = await cp.renders.create(done.video_id, done.submission_id, done.clips[0].id)
        finally:
            fake.set_faults("")
        listed = await cp.renders.list()
        assert [r.render_id for r in listed.renders] == [created.render_id]


async def test_an_expired_render_link_is_expired(client: CutPro, fake: FakeCutPro) -> None:
    """Past the plan's render expiry the render shows `expired` and its link is 410."""
    done = await completed_submission(client)
    render = await completed_render(client, done)
    fake.advance(fake.config.render_expiry_hours * 3600 + 60)
    assert (await client.renders.get(render.render_id)).status is RenderStatus.EXPIRED
    with pytest.raises(Expired) as caught:
        await client.renders.download_link(render.render_id)
    assert caught.value.code == "RENDER_EXPIRED"


async def test_bulk_download_zips_completed_renders(client: CutPro) -> None:
    """`bulk_downloads.create` starts a job; `get` follows it to a completed ZIP link."""
    done = await completed_submission(client)
    renders = [await completed_render(client, done, i) for i in range(2)]
    created = await client.bulk_downloads.create([r.render_id for r in renders])
    assert isinstance(created, BulkDownloadCreated)
    assert created.status is BulkStatus.QUEUED
    for _ in range(POLL_TRIES):
        job = await client.bulk_downloads.get(created.job_id)
        if job.status.is_terminal:
            break
        await anyio.sleep(POLL_DELAY)
    assert isinstance(job, BulkDownload)
    assert job.status is BulkStatus.COMPLETED
    assert job.render_count == 2
    assert job.download_url is not None
    assert job.file_size
    assert "signature=" not in repr(job)


async def test_bulk_download_of_an_unknown_job_is_not_found(client: CutPro) -> None:
    """Polling a job id that does not exist is `NotFound`."""
    with pytest.raises(NotFound):
        await client.bulk_downloads.get("nope")
