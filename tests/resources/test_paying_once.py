"""Paying once against a slow server and a server whose clock is off: the commit window, and
timestamps compared on the server's clock."""

from __future__ import annotations

import anyio
import pytest

from cutpro_async import AlreadyInProgress, RetryPolicy, Timeouts
from cutpro_async.testing import FakeCutPro
from tests.conftest import FAST_RETRY

from .conftest import make_client, video_url

pytestmark = pytest.mark.anyio

#: A short read timeout, so that a slow commit outlasts it.
READ = 0.3
#: The default window: the larger of 120 s and three read timeouts (a commit that shows is
#: adopted at once, so the tests never wait it out).
DEFAULT_WINDOW = RetryPolicy(backoff_initial=0.01, backoff_max=0.05)


@pytest.mark.parametrize("factor", [2, 10])
async def test_a_commit_slower_than_the_read_timeout_is_adopted_not_paid_again(
    factor: int,
) -> None:
    """`POST /clips` committing 2x and 10x the read timeout after it was read: the client
    times out, waits in the commit window, and adopts it; one POST, one charge."""
    async with (
        FakeCutPro(time_scale=6000) as fake,
        make_client(fake, retry=DEFAULT_WINDOW, timeouts=Timeouts(read=READ)) as cp,
    ):
        info = await cp.videos.analyze(video_url(600))
        fake.set_faults(f"slowcommit:{READ * factor}=1#1")
        created = await cp.submissions.create(info.video_id)
        assert fake.requests["POST /clips"] == 1
        assert fake.charges_per_video() == {info.video_id: 1}
        listed = [s.submission_id async for s in cp.submissions.iter(info.video_id)]
        assert listed == [created.submission_id]


async def test_a_second_request_during_a_slow_commit_adopts_it() -> None:
    """Another client submitting the same video while the first commit is pending gets a 409
    with nothing listed yet: it waits for the submission to show and adopts it."""
    async with (
        FakeCutPro(time_scale=6000) as fake,
        make_client(fake, retry=DEFAULT_WINDOW) as first,
        make_client(fake, retry=DEFAULT_WINDOW) as second,
    ):
        info = await first.videos.analyze(video_url(600))
        fake.set_faults("slowcommit:1=1#1")
        async with anyio.create_task_group() as group:
            group.start_soon(first.submissions.create, info.video_id)
            await wait_pending(fake)
            adopted = await second.submissions.create(info.video_id)
        assert fake.charges_per_video() == {info.video_id: 1}
        listed = [s.submission_id async for s in second.submissions.iter(info.video_id)]
        assert listed == [adopted.submission_id]


@pytest.mark.parametrize("offset", [-900.0, 900.0])
async def test_a_server_clock_15_minutes_off_changes_nothing(offset: float) -> None:
    """With the server's clock 15 minutes off ours, a committed-then-dropped POST is still
    adopted (its `created_at` is compared with the server's `Date`), and a submission made
    after a recorded `attempt_started` is found: one charge each."""
    async with (
        FakeCutPro(time_scale=6000, clock_offset=offset) as fake,
        make_client(fake, retry=FAST_RETRY) as cp,
    ):
        info = await cp.videos.analyze(video_url(600))
        fake.set_faults("drop=1#1")
        await cp.submissions.create(info.video_id)
        assert fake.charges_per_video() == {info.video_id: 1}
        other = await cp.videos.analyze(video_url(600))
        started = cp.server_time()  # recorded before the "crash"
        made = await cp.submissions.create(other.video_id)  # committed, then the run died
        again = await cp.submissions.create(other.video_id, attempt_started=started)
        assert again.submission_id == made.submission_id
        assert fake.charges_per_video() == {info.video_id: 1, other.video_id: 1}


async def wait_pending(fake: FakeCutPro) -> None:
    """Until the simulator holds one commit waiting (the first request was taken)."""
    with anyio.fail_after(5):
        while not fake.pending_commits():
            await anyio.sleep(0.01)


@pytest.mark.parametrize("offset", [-900.0, 900.0])
async def test_a_first_call_that_is_a_lost_submit_still_pays_once(offset: float) -> None:
    """A fresh client whose very first request is the paid submit, dropped after its commit,
    against a server 15 minutes off: it learns the server's time first, then adopts."""
    async with FakeCutPro(time_scale=6000, clock_offset=offset) as fake:
        async with make_client(fake, retry=FAST_RETRY) as other:
            info = await other.videos.analyze(video_url(600))
        async with make_client(fake, retry=FAST_RETRY) as cp:
            fake.set_faults("drop=1#1")
            await cp.submissions.create(info.video_id)
    assert fake.charges_per_video() == {info.video_id: 1}


async def test_a_409_adopts_only_a_running_job_that_matches() -> None:
    """While a job on another timeframe runs, a 409 is not answered with that job."""
    async with (
        FakeCutPro(time_scale=1) as fake,
        make_client(fake, retry=FAST_RETRY) as cp,
    ):
        info = await cp.videos.analyze(video_url(600))
        await cp.submissions.create(info.video_id, timeframe=(0, 120))
        with pytest.raises(AlreadyInProgress):
            await cp.submissions.create(info.video_id, timeframe=(300, 480))
    assert fake.charges_per_video() == {info.video_id: 1}


async def test_reuse_needs_the_same_timeframe_the_whole_video_included() -> None:
    """`reuse_existing` for the whole video does not adopt a job on part of it."""
    async with FakeCutPro(time_scale=6000) as fake, make_client(fake, retry=FAST_RETRY) as cp:
        info = await cp.videos.analyze(video_url(600))
        part = await cp.submissions.create(info.video_id, timeframe=(0, 120))
        await cp.submissions.wait(info.video_id, part.submission_id)
        whole = await cp.submissions.create(info.video_id, reuse_existing=True)
    assert whole.submission_id != part.submission_id
    assert fake.charges_per_video() == {info.video_id: 2}
