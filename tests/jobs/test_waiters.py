"""Waiters on real simulated jobs: submissions, renders and posts, their outcomes and deadlines."""

from __future__ import annotations

import anyio
import pytest

from cutpro_async import CutPro
from cutpro_async.errors import PostFailed, RenderFailed, SubmissionFailed, WaitTimeout
from cutpro_async.models import (
    PostStatus,
    PostTarget,
    PostVideo,
    RenderStatus,
    SubmissionCreated,
    SubmissionStatus,
)
from cutpro_async.testing import FakeCutPro

from .conftest import finished_render, simulated, video_url

pytestmark = pytest.mark.anyio

SUB_GET = "GET /clips/{videoId}/submissions/{submissionId}"
#: Every status a successful clipping job goes through, in order.
SUBMISSION_ORDER = [
    SubmissionStatus.QUEUED,
    SubmissionStatus.DOWNLOADING,
    SubmissionStatus.TRANSCRIBING,
    SubmissionStatus.VIDEO_ANALYSIS,
    SubmissionStatus.ANALYZING,
    SubmissionStatus.FINALIZING,
    SubmissionStatus.COMPLETED,
]
#: Simulated seconds that finish any job started in these tests.
LONG_ENOUGH = 100_000


async def submit(cp: CutPro, *, fail: bool = False) -> SubmissionCreated:
    """Analyze a fresh URL and submit it."""
    info = await cp.videos.analyze(video_url(fail=fail))
    return await cp.submissions.create(info.video_id)


def assert_ordered_distinct(statuses: list[SubmissionStatus]) -> None:
    """Statuses come in the job's order, each once, ending `completed`."""
    positions = [SUBMISSION_ORDER.index(s) for s in statuses]
    assert positions == sorted(set(positions)), statuses
    assert statuses[-1] is SubmissionStatus.COMPLETED


async def test_submission_wait_returns_completed(client: CutPro) -> None:
    """`submissions.wait` returns the submission once it is `completed`, with its clips count."""
    created = await submit(client)
    sub = await client.submissions.wait(created.video_id, created.submission_id, timeout=60)
    assert sub.status is SubmissionStatus.COMPLETED
    assert sub.submission_id == created.submission_id
    assert sub.clips_count


async def test_on_update_sees_ordered_distinct_statuses(fake: FakeCutPro, client: CutPro) -> None:
    """`on_update` is called once per status change, in the job's order, and polling then stops."""
    created = await submit(client)
    seen: list[SubmissionStatus] = []
    await client.submissions.wait(
        created.video_id,
        created.submission_id,
        timeout=60,
        on_update=lambda sub: seen.append(sub.status),
    )
    assert_ordered_distinct(seen)
    polls = fake.requests[SUB_GET]
    assert polls >= len(seen)
    await anyio.sleep(0.1)
    assert fake.requests[SUB_GET] == polls


async def test_watch_is_an_async_iterator_of_changes(client: CutPro) -> None:
    """`submissions.watch` yields the submission at each status change until `completed`."""
    created = await submit(client)
    seen = [
        sub.status
        async for sub in client.submissions.watch(
            created.video_id, created.submission_id, timeout=60
        )
    ]
    assert_ordered_distinct(seen)


async def test_failing_video_raises_submission_failed(client: CutPro) -> None:
    """A video that cannot be fetched ends in `SubmissionFailed` with `download_failed`."""
    created = await submit(client, fail=True)
    with pytest.raises(SubmissionFailed) as caught:
        await client.submissions.wait(created.video_id, created.submission_id, timeout=60)
    assert caught.value.error_code == "download_failed"
    assert caught.value.status == "failed"
    assert caught.value.job_id == created.submission_id


async def test_render_wait_and_watch_reach_completed(client: CutPro) -> None:
    """`renders.wait` returns a completed render; `renders.watch` then yields just that state."""
    render = await finished_render(client)
    assert render.status is RenderStatus.COMPLETED
    seen = [r.status async for r in client.renders.watch(render.render_id, timeout=60)]
    assert seen == [RenderStatus.COMPLETED]


async def test_failed_render_raises_render_failed() -> None:
    """A render that fails remotely raises `RenderFailed` with status `failed`."""
    async with simulated(render_failure_rate=1.0) as (_, cp):
        with pytest.raises(RenderFailed) as caught:
            await finished_render(cp)
    assert caught.value.status == "failed"


async def finished_slowly(fake: FakeCutPro, cp: CutPro) -> tuple[str, str, str]:
    """On a real-time simulator: submit, jump the clock, wait; returns video, submission, clip."""
    created = await submit(cp)
    fake.advance(LONG_ENOUGH)
    await cp.submissions.wait(created.video_id, created.submission_id, timeout=60)
    clips = await cp.clips.list(created.video_id, created.submission_id)
    return created.video_id, created.submission_id, clips.clips[0].id


async def test_cancelled_render_raises_render_failed() -> None:
    """A render cancelled while it runs makes `renders.wait` raise `RenderFailed` (`cancelled`)."""
    async with simulated(time_scale=1) as (fake, cp):
        created = await cp.renders.create(*await finished_slowly(fake, cp))
        await cp.renders.cancel(created.render_id)
        with pytest.raises(RenderFailed) as caught:
            await cp.renders.wait(created.render_id, timeout=60)
    assert caught.value.status == "cancelled"
    assert caught.value.job_id == created.render_id


async def test_deadline_raises_wait_timeout_and_the_job_goes_on() -> None:
    """Past `timeout` a waiter raises `WaitTimeout` (a `TimeoutError`); the job still finishes."""
    async with simulated(time_scale=1) as (fake, cp):
        created = await submit(cp)
        with pytest.raises(WaitTimeout) as caught:
            await cp.submissions.wait(created.video_id, created.submission_id, timeout=0.2)
        assert isinstance(caught.value, TimeoutError)
        assert created.submission_id in str(caught.value)
        fake.advance(LONG_ENOUGH)
        sub = await cp.submissions.wait(created.video_id, created.submission_id, timeout=60)
    assert sub.status is SubmissionStatus.COMPLETED


async def test_cancelled_waiter_leaves_the_client_usable() -> None:
    """A waiter cancelled by `move_on_after` stops cleanly; the client keeps working after it."""
    async with simulated(time_scale=1) as (fake, cp):
        created = await submit(cp)
        with anyio.move_on_after(0.1) as scope:
            await cp.submissions.wait(created.video_id, created.submission_id, timeout=60)
        assert scope.cancelled_caught
        await anyio.sleep(0.05)  # a poll cut off in flight may still reach the server
        polls = fake.requests[SUB_GET]
        await anyio.sleep(0.2)
        assert fake.requests[SUB_GET] == polls  # nothing polls in the background
        fake.advance(LONG_ENOUGH)
        sub = await cp.submissions.wait(created.video_id, created.submission_id, timeout=60)
        assert sub.status is SubmissionStatus.COMPLETED
        assert (await cp.balance.get()) is not None
        assert fake.charges_per_video()[created.video_id] == 1


async def post_to(cp: CutPro, *platforms: str) -> str:
    """Post a fresh render to the simulator's account on each platform; returns the post id."""
    render = await finished_render(cp)
    connections = {c.platform: c.id for c in (await cp.connections.list()).connections}
    targets = [PostTarget(connectionId=connections[p]) for p in platforms]
    created = await cp.posts.create([PostVideo(editId=render.edit_setting_id, targets=targets)])
    return created.post_id


async def test_post_wait_returns_completed(client: CutPro) -> None:
    """A post to an active account is returned `completed`, its item published."""
    post = await client.posts.wait(await post_to(client, "tiktok"), timeout=60)
    assert post.status is PostStatus.COMPLETED
    assert [item.published_url is not None for item in post.items] == [True]


async def test_post_wait_returns_partial(client: CutPro) -> None:
    """A post where some items fail is returned (not raised) with status `partial`."""
    post = await client.posts.wait(await post_to(client, "tiktok", "instagram"), timeout=60)
    assert post.status is PostStatus.PARTIAL
    assert sorted(item.status.value for item in post.items) == ["completed", "failed"]


async def test_post_wait_raises_when_every_item_failed(client: CutPro) -> None:
    """A post to an expired account only raises `PostFailed`, quoting the item's error."""
    post_id = await post_to(client, "instagram")
    with pytest.raises(PostFailed) as caught:
        await client.posts.wait(post_id, timeout=60)
    assert caught.value.status == "failed"
    assert caught.value.job_id == post_id
    assert "CONNECTION_EXPIRED" in str(caught.value)
