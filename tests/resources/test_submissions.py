"""`submissions` against the simulator, above all: a paid submit never charges twice."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cutpro_async import (
    CutPro,
    NotFound,
    RetryPolicy,
    SubmissionUncertain,
    UsageError,
    ValidationError,
)
from cutpro_async.models import (
    Submission,
    SubmissionCreated,
    SubmissionPage,
    SubmissionStatus,
    Timeframe,
)
from cutpro_async.testing import FakeCutPro
from tests.conftest import FAST_RETRY

from .conftest import (
    NO_PACING,
    make_client,
    poll_submission,
    video_url,
)

pytestmark = pytest.mark.anyio


def debited_submissions(fake: FakeCutPro) -> list[str | None]:
    """The submission ids the ledger charged for, oldest first."""
    return [row.reference_id for row in fake.ledger() if row.type == "debit"]


async def test_create_is_typed_and_charges_once(client: CutPro, fake: FakeCutPro) -> None:
    """`create` returns a queued `SubmissionCreated`; the ledger shows one debit for it."""
    info = await client.videos.analyze(video_url(600))
    created = await client.submissions.create(info.video_id)
    assert isinstance(created, SubmissionCreated)
    assert created.video_id == info.video_id
    assert created.status is SubmissionStatus.QUEUED
    assert created.credits_charged == info.credits_cost
    assert fake.charges_per_video() == {info.video_id: 1}
    assert debited_submissions(fake) == [created.submission_id]


async def test_create_with_a_timeframe_pays_for_that_segment(client: CutPro) -> None:
    """A `(start, end)` timeframe is sent as a `Timeframe` and priced by its length."""
    info = await client.videos.analyze(video_url(600))
    created = await client.submissions.create(
        info.video_id, timeframe=(0, 120), source_language="en"
    )
    assert created.credits_charged == 2
    sub = await client.submissions.get(info.video_id, created.submission_id)
    assert sub.timeframe == Timeframe(0, 120)
    assert sub.credit_cost == 2


@pytest.mark.parametrize(
    "frame", [(10, 5), (-1, 30), (5, 5), ("a", "b"), (0,), (0, float("nan")), "0:30", (True, 5)]
)
async def test_create_refuses_a_bad_timeframe_before_sending(
    client: CutPro, fake: FakeCutPro, frame: Any
) -> None:
    """A timeframe that is not two finite numbers with 0 <= start < end is a `UsageError`
    (never a bare `ValueError`/`IndexError`); nothing is sent or paid."""
    info = await client.videos.analyze(video_url(600))
    with pytest.raises(UsageError):
        await client.submissions.create(info.video_id, timeframe=frame)
    assert fake.requests["POST /clips"] == 0
    assert fake.charges_per_video() == {}


async def test_create_past_the_end_of_the_video_is_refused(
    client: CutPro, fake: FakeCutPro
) -> None:
    """The server's 422 for a timeframe past the video comes back as `ValidationError`."""
    info = await client.videos.analyze(video_url(600))
    with pytest.raises(ValidationError) as caught:
        await client.submissions.create(info.video_id, timeframe=(0, 1800))
    assert caught.value.extra["field"] == "timeframe"
    assert fake.charges_per_video() == {}
    assert fake.requests["POST /clips"] == 1


async def test_get_polls_to_completion(client: CutPro) -> None:
    """`get` returns a `Submission` that reaches `completed` with its clip count."""
    info = await client.videos.analyze(video_url(600))
    created = await client.submissions.create(info.video_id)
    first = await client.submissions.get(info.video_id, created.submission_id)
    assert isinstance(first, Submission)
    assert first.submission_id == created.submission_id
    done = await poll_submission(client, info.video_id, created.submission_id)
    assert done.status is SubmissionStatus.COMPLETED
    assert done.clips_count == 3
    assert done.completed_at is not None


async def test_list_and_iter_show_the_videos_submissions(client: CutPro, fake: FakeCutPro) -> None:
    """`list` is a typed page of the video's jobs, newest first; `iter` walks them all."""
    info = await client.videos.analyze(video_url(600))
    first = await client.submissions.create(info.video_id, timeframe=(0, 120))
    await poll_submission(client, info.video_id, first.submission_id)
    second = await client.submissions.create(info.video_id, timeframe=(120, 240))
    page = await client.submissions.list(info.video_id)
    assert isinstance(page, SubmissionPage)
    assert [s.submission_id for s in page.submissions] == [
        second.submission_id,
        first.submission_id,
    ]
    walked = [s.submission_id async for s in client.submissions.iter(info.video_id)]
    assert walked == [second.submission_id, first.submission_id]
    assert fake.requests["GET /clips/{videoId}/submissions"] == 2


async def test_delete_returns_none_and_removes_the_job(client: CutPro) -> None:
    """`delete` returns None; the submission is then 404."""
    info = await client.videos.analyze(video_url(600))
    created = await client.submissions.create(info.video_id)
    await poll_submission(client, info.video_id, created.submission_id)
    assert await client.submissions.delete(info.video_id, created.submission_id) is None
    with pytest.raises(NotFound):
        await client.submissions.get(info.video_id, created.submission_id)


async def test_reconcile_finds_what_was_created_since(client: CutPro) -> None:
    """`reconcile` returns the submission created since a time, and None for a later time."""
    since = datetime.now(UTC)
    info = await client.videos.analyze(video_url(600))
    created = await client.submissions.create(info.video_id)
    found = await client.submissions.reconcile(info.video_id, since=since)
    assert found is not None
    assert found.submission_id == created.submission_id
    later = datetime.now(UTC) + timedelta(hours=1)
    assert await client.submissions.reconcile(info.video_id, since=later) is None


async def test_a_second_create_adopts_the_running_submission() -> None:
    """Submitting a video that is still being clipped (409) adopts that job: one charge."""
    async with FakeCutPro(time_scale=1) as fake, make_client(fake) as cp:
        info = await cp.videos.analyze(video_url(600))
        first = await cp.submissions.create(info.video_id)
        second = await cp.submissions.create(info.video_id)
        assert second.submission_id == first.submission_id
        assert second.video_id == info.video_id
        assert fake.requests["POST /clips"] == 2
        assert fake.charges_per_video() == {info.video_id: 1}


# -- retry classification of the paid POST ------------------------------------------------

FAULT_CASES = {
    # fault spec: (POSTs sent, whether the client reconciled by listing)
    "502=1#1@POST /clips": (2, True),  # refused before processing: reconcile finds none, re-send
    "commit502=1#1@POST /clips": (1, True),  # processed, then 502: adopted
    "drop=1#1": (1, True),  # processed, connection dropped: adopted
    "drop=1": (1, True),  # every POST dropped: the first one is adopted
    "reset=1#1@POST /clips": (2, True),  # reset before processing: nothing found, re-sent
    "503=1#1@POST /clips": (2, False),  # 503 with Retry-After: provably not processed, repeated
    "429:1=1#1@POST /clips": (2, False),  # 429: not processed, repeated after the wait
}


@pytest.mark.parametrize("spec", list(FAULT_CASES))
async def test_faulty_submit_charges_exactly_once(spec: str) -> None:
    """Under each fault, `create` returns the submission and the ledger shows one charge."""
    posts, reconciled = FAULT_CASES[spec]
    async with (
        FakeCutPro(time_scale=6000) as fake,
        make_client(fake, retry=FAST_RETRY) as cp,
    ):
        info = await cp.videos.analyze(video_url(600))
        fake.set_faults(spec)
        created = await cp.submissions.create(info.video_id)
        assert fake.injected, "the fault never fired"
        assert isinstance(created, SubmissionCreated)
        assert fake.charges_per_video() == {info.video_id: 1}
        assert debited_submissions(fake) == [created.submission_id]
        assert fake.requests["POST /clips"] == posts
        listed = fake.requests["GET /clips/{videoId}/submissions"]
        assert (listed > 0) is reconciled


async def test_two_hundred_submits_with_drops_charge_each_video_once() -> None:
    """200 concurrent submits, 30 % committed then dropped: every video is charged once."""
    async with (
        FakeCutPro(time_scale=6000, analyze_limit=1000) as fake,
        make_client(fake, pacing=NO_PACING, retry=FAST_RETRY) as cp,
    ):
        gate = asyncio.Semaphore(32)

        async def analyze() -> str:
            async with gate:
                return (await cp.videos.analyze(video_url(300))).video_id

        async def submit(video_id: str) -> SubmissionCreated:
            async with gate:
                return await cp.submissions.create(video_id)

        video_ids = await asyncio.gather(*(analyze() for _ in range(200)))
        assert len(set(video_ids)) == 200
        fake.set_faults("drop=0.3@POST /clips")
        results = await asyncio.gather(*(submit(v) for v in video_ids))
        charges = fake.charges_per_video()
        assert fake.injected["drop"] > 0
        assert max(charges.values()) == 1
        assert set(charges) == set(video_ids)
        assert sorted(r.submission_id for r in results) == sorted(
            str(s) for s in debited_submissions(fake)
        )
        assert [r.video_id for r in results] == video_ids


async def test_a_submission_with_other_settings_is_not_adopted() -> None:
    """Reconciliation adopts only a match: an earlier job on another timeframe is left alone."""
    async with FakeCutPro(time_scale=6000) as fake, make_client(fake, retry=FAST_RETRY) as cp:
        started = datetime.now(UTC)
        info = await cp.videos.analyze(video_url(600))
        other = await cp.submissions.create(info.video_id, timeframe=(0, 120))
        await poll_submission(cp, info.video_id, other.submission_id)
        fake.set_faults("502=1#1@POST /clips")
        created = await cp.submissions.create(
            info.video_id, timeframe=(0, 240), attempt_started=started
        )
        assert created.submission_id != other.submission_id
        assert created.credits_charged == 4
        assert fake.charges_per_video() == {info.video_id: 2}
        assert fake.requests["POST /clips"] == 3


async def test_an_unconfirmable_submit_is_uncertain_and_not_resent() -> None:
    """Committed-then-502 while listing fails too: `SubmissionUncertain`, nothing re-sent."""
    retry = RetryPolicy(backoff_initial=0.01, backoff_max=0.05, max_retries=1)
    async with FakeCutPro(time_scale=6000) as fake, make_client(fake, retry=retry) as cp:
        info = await cp.videos.analyze(video_url(600))
        fake.set_faults("commit502=1#1@POST /clips, 500=1@GET /clips/{videoId}/submissions")
        with pytest.raises(SubmissionUncertain) as caught:
            await cp.submissions.create(info.video_id)
        assert caught.value.video_id == info.video_id
        assert "attempt_started" in str(caught.value)
        assert fake.requests["POST /clips"] == 1
        assert fake.charges_per_video() == {info.video_id: 1}


async def test_the_advised_remedy_after_uncertainty_does_not_charge_again() -> None:
    """Calling `create` again with the same `attempt_started`, as advised, adopts the job."""
    retry = RetryPolicy(backoff_initial=0.01, backoff_max=0.05, max_retries=1)
    async with FakeCutPro(time_scale=6000) as fake, make_client(fake, retry=retry) as cp:
        info = await cp.videos.analyze(video_url(600))
        fake.set_faults("commit502=1#1@POST /clips, 500=1@GET /clips/{videoId}/submissions")
        started = datetime.now(UTC)
        with pytest.raises(SubmissionUncertain):
            await cp.submissions.create(info.video_id)
        fake.set_faults("")
        fake.advance(3600)  # the job that was created has finished meanwhile
        again = await cp.submissions.create(info.video_id, attempt_started=started)
        assert fake.charges_per_video() == {info.video_id: 1}
        assert debited_submissions(fake) == [again.submission_id]


# -- server truth before paying -----------------------------------------------------------


async def test_reuse_existing_adopts_what_another_client_started() -> None:
    """With `reuse_existing`, a running or completed match made by another client is adopted
    and nothing is paid; without it, the video is paid for again (on purpose)."""
    async with (
        FakeCutPro(time_scale=6000) as fake,
        make_client(fake, retry=FAST_RETRY) as first,
        make_client(fake, retry=FAST_RETRY) as second,
    ):
        info = await first.videos.analyze(video_url(600))
        made = await first.submissions.create(info.video_id, timeframe=(0, 300))
        reused = await second.submissions.create(
            info.video_id, timeframe=(0, 300), reuse_existing=True
        )
        assert reused.submission_id == made.submission_id
        assert fake.requests["POST /clips"] == 1
        await poll_submission(second, info.video_id, made.submission_id)  # now completed
        again = await second.submissions.create(
            info.video_id, timeframe=(0, 300), reuse_existing=True
        )
        assert again.submission_id == made.submission_id
        assert fake.charges_per_video() == {info.video_id: 1}
        paid = await second.submissions.create(info.video_id, timeframe=(0, 300))
        assert paid.submission_id != made.submission_id
        assert fake.charges_per_video() == {info.video_id: 2}


async def test_reuse_existing_never_adopts_a_failed_or_expired_job() -> None:
    """A failed submission, or one whose clips answer 410, is not reused: the video is paid."""
    async with (
        FakeCutPro(time_scale=6000) as fake,
        make_client(fake, retry=FAST_RETRY) as cp,
    ):
        info = await cp.videos.analyze(video_url(600))
        old = await cp.submissions.create(info.video_id)
        await poll_submission(cp, info.video_id, old.submission_id)
        fake.expire_submission(old.submission_id)
        fresh = await cp.submissions.create(info.video_id, reuse_existing=True)
        assert fresh.submission_id != old.submission_id
        failing = await cp.videos.analyze(video_url(600) + "&tag=fail")
        bad = await cp.submissions.create(failing.video_id)
        await poll_submission(cp, failing.video_id, bad.submission_id)
        assert (await cp.submissions.get(failing.video_id, bad.submission_id)).status == "failed"
        retried = await cp.submissions.create(failing.video_id, reuse_existing=True)
        assert retried.submission_id != bad.submission_id
        assert fake.charges_per_video()[info.video_id] == 2


async def test_a_naive_attempt_started_is_a_usage_error(client: CutPro) -> None:
    """`attempt_started` without a time zone cannot be compared with the server's clock."""
    info = await client.videos.analyze(video_url(600))
    with pytest.raises(UsageError, match="timezone"):
        await client.submissions.create(info.video_id, attempt_started=datetime(2026, 1, 1))


async def test_server_time_follows_the_date_header(client: CutPro) -> None:
    """After one answer, `server_time()` is the server's time (here the same machine's)."""
    await client.balance.get()
    assert abs((client.server_time() - datetime.now(UTC)).total_seconds()) < 2
