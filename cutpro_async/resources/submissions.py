"""`submissions`: the paid request that starts clipping, and the jobs it creates.

`create` is built not to charge twice: after a failure the server may have acted on (a read
timeout, a reset after sending, a 500/502/504) it lists the video's submissions and adopts one
created since the attempt (allowing `CLOCK_SKEW`) whose strategy and timeframe match (the
fields the list shows; language and template are not shown); only if there is none does it
send again. A 409 `VIDEO_ALREADY_PROCESSING` adopts the running submission. A server that
commits only after that listing can still charge twice (a known limit).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta

import anyio

from ..errors import (
    AlreadyInProgress,
    CutProError,
    ServerError,
    SubmissionUncertain,
    TransportError,
)
from ..models import (
    SourceLanguage,
    Submission,
    SubmissionCreated,
    SubmissionPage,
    SubmitRequest,
    Timeframe,
)
from ._base import Resource, page_params, walk

log = logging.getLogger("cutpro_async")
#: How far the server's clock may lag ours when matching "created since the attempt".
CLOCK_SKEW = timedelta(seconds=60)
#: Seconds to wait after a timed-out submit before looking for what it may have created.
TIMEOUT_GRACE = 5.0
_IDS = "/clips/{videoId}/submissions"


def matches(sub: Submission, request: SubmitRequest, since: datetime) -> bool:
    """Whether `sub` could be the one `request` created at or after `since`."""
    if sub.created_at < since - CLOCK_SKEW or sub.strategy_id != request.strategy_id:
        return False
    wanted, got = request.timeframe, sub.timeframe
    if wanted is None or got is None:
        return True
    return abs(wanted.start - got.start) < 0.5 and abs(wanted.end - got.end) < 0.5


def adopted(video_id: str, sub: Submission) -> SubmissionCreated:
    """The answer `POST /clips` would have given for an existing submission."""
    return SubmissionCreated(
        submission_id=sub.submission_id,
        video_id=video_id,
        status=sub.status,
        credits_charged=sub.credit_cost or 0.0,
    )


class SubmissionsResource(Resource):
    """`POST /clips` and `/clips/{videoId}/submissions`."""

    async def create(
        self,
        video_id: str,
        *,
        timeframe: Timeframe | Sequence[float] | None = None,
        source_language: SourceLanguage | str = SourceLanguage.AUTO,
        strategy_id: str | None = None,
        template_id: str | None = None,
        attempt_started: datetime | None = None,
    ) -> SubmissionCreated:
        """Start clipping a video; spends credits once, however the network behaves.

        `attempt_started` is when the caller first decided to submit (e.g. recorded before a
        crash): a submission created since then with the same settings is adopted instead of
        paying again, before anything is sent. Without it, only this call's own attempts are
        reconciled.
        """
        request = SubmitRequest(
            video_id,
            SourceLanguage(source_language),
            strategy_id,
            Timeframe.of(timeframe),
            template_id,
        )
        started = attempt_started or datetime.now(UTC)
        if attempt_started is not None:
            earlier = await self.reconcile(video_id, since=attempt_started, request=request)
            if earlier is not None:
                return adopted(video_id, earlier)
        lost: list[ServerError | TransportError] = []  # an attempt the server may have acted on

        async def attempt(number: int) -> SubmissionCreated:
            if lost:  # never send again before knowing the last attempt created nothing
                found = await self._reconcile_after(request, started, lost.pop())
                if found is not None:
                    return found
                log.info("submission of %s provably not created; sending again", video_id)
            try:
                return await self._typed(
                    SubmissionCreated, "POST", "/clips", json=request, safe=False
                )
            except AlreadyInProgress:
                return await self._adopt_running(request)
            except (ServerError, TransportError) as exc:
                if exc.maybe_processed:
                    lost.append(exc)
                raise

        def decide(exc: Exception, number: int) -> float | None:
            return 0.0 if lost else None  # the wait, if any, is the reconciling grace

        transport = self._transport
        try:
            return await transport.retrier.call(
                attempt, decide, what="POST /clips", host=transport.host
            )
        except (ServerError, TransportError) as exc:
            if not lost:
                raise
            found = await self._reconcile_after(request, started, lost.pop())
            if found is not None:
                return found
            raise SubmissionUncertain(video_id, exc, started) from None

    async def _adopt_running(self, request: SubmitRequest) -> SubmissionCreated:
        """After a 409: the video's running submission."""
        async for sub in self.iter(request.video_id):
            if not sub.status.is_terminal:
                log.info(
                    "adopting running submission %s of %s", sub.submission_id, request.video_id
                )
                return adopted(request.video_id, sub)
        raise AlreadyInProgress(
            409,
            "VIDEO_ALREADY_PROCESSING",
            "no running submission found",
            method="POST",
            path="/clips",
        )

    async def _reconcile_after(
        self, request: SubmitRequest, started: datetime, cause: Exception
    ) -> SubmissionCreated | None:
        """The submission an ambiguous attempt created, or None if it created none."""
        if isinstance(cause, TimeoutError):
            # A request that timed out may still be committing on the server: give it time
            # to show up before concluding it created nothing.
            await anyio.sleep(TIMEOUT_GRACE)
        try:
            found = await self.reconcile(request.video_id, since=started, request=request)
        except CutProError as exc:
            raise SubmissionUncertain(request.video_id, cause, started) from exc
        if found is not None:
            log.info(
                "adopting submission %s of %s after %s",
                found.submission_id,
                request.video_id,
                type(cause).__name__,
            )
            return adopted(request.video_id, found)
        return None

    async def reconcile(
        self, video_id: str, *, since: datetime, request: SubmitRequest | None = None
    ) -> Submission | None:
        """The newest submission of `video_id` created since `since` (matching `request`).

        An orchestrator that recorded its intent before a crash calls this on restart to learn
        whether the submit went through, before it decides to submit again.
        """
        wanted = request or SubmitRequest(video_id)
        page = await self.list(video_id, limit=100)
        candidates = [s for s in page.submissions if matches(s, wanted, since)]
        return max(candidates, key=lambda s: s.created_at, default=None)

    async def list(self, video_id: str, *, page: int = 1, limit: int = 20) -> SubmissionPage:
        """One page of a video's submissions, newest first."""
        return await self._typed(
            SubmissionPage, "GET", _IDS, ids={"videoId": video_id}, params=page_params(page, limit)
        )

    def iter(self, video_id: str) -> AsyncIterator[Submission]:
        """Every submission of a video."""
        return walk(lambda p: self.list(video_id, page=p, limit=100))

    async def get(self, video_id: str, submission_id: str) -> Submission:
        """One submission, as it is now."""
        ids = {"videoId": video_id, "submissionId": submission_id}
        return await self._typed(Submission, "GET", _IDS + "/{submissionId}", ids=ids)

    async def delete(self, video_id: str, submission_id: str) -> None:
        """Delete a submission and its clips."""
        ids = {"videoId": video_id, "submissionId": submission_id}
        await self._raw("DELETE", _IDS + "/{submissionId}", ids=ids)
