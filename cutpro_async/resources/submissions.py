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
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import datetime, timedelta

from ..config import RetryPolicy, Timeouts
from ..errors import (
    AlreadyInProgress,
    CutProError,
    Expired,
    ServerError,
    SubmissionUncertain,
    TransportError,
    UsageError,
)
from ..models import (
    SourceLanguage,
    Submission,
    SubmissionCreated,
    SubmissionPage,
    SubmissionStatus,
    SubmitRequest,
    Timeframe,
)
from ._base import Resource, page_params, walk

log = logging.getLogger("cutpro_async")
#: Slack when matching "created since the attempt" on the server's clock (its `Date` headers
#: tell the time to the second, plus the request's travel time).
SERVER_SLACK = timedelta(seconds=5)
_IDS = "/clips/{videoId}/submissions"


def matches(
    sub: Submission, request: SubmitRequest, since: datetime | None, *, exact: bool = False
) -> bool:
    """Whether `sub` could be the one `request` asks for (created at or after `since`).

    A request without a timeframe asks for the whole video, whose length the list does not
    tell: it matches any timeframe when looking for its own lost attempt, but with `exact`
    (reusing someone else's submission) only a submission without a timeframe either.
    """
    if since is not None and sub.created_at < since - SERVER_SLACK:
        return False
    if sub.strategy_id != request.strategy_id:
        return False
    wanted, got = request.timeframe, sub.timeframe
    if wanted is None or got is None:
        return not exact or wanted is got
    return abs(wanted.start - got.start) < 0.5 and abs(wanted.end - got.end) < 0.5


def adopted(video_id: str, sub: Submission) -> SubmissionCreated:
    """The answer `POST /clips` would have given for an existing submission."""
    return SubmissionCreated(
        submission_id=sub.submission_id,
        video_id=video_id,
        status=sub.status,
        credits_charged=sub.credit_cost or 0.0,
    )


class _NotYet(Exception):
    """The submission an ambiguous attempt may have created is not listed (yet)."""


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
        reuse_existing: bool = False,
    ) -> SubmissionCreated:
        """Start clipping a video; built to spend credits once, however the network behaves.

        `reuse_existing=True` first looks at the video's submissions on the server (free) and
        adopts a running or completed one with the same strategy and timeframe (the fields the
        list shows), whoever made it, instead of paying again; failed and expired ones are not
        adopted. `attempt_started` (server time: `CutPro.server_time()`) is when the caller
        first decided to submit, e.g. recorded before a crash: a matching submission created
        since then is adopted before anything is sent. After a failure the server may have
        acted on, nothing is sent again while that attempt could still commit: the list is
        read with backoff for `RetryPolicy.commit_window`, adopting the submission as soon as
        it shows. A 409 `VIDEO_ALREADY_PROCESSING` adopts the running submission.
        """
        request = SubmitRequest(
            video_id,
            SourceLanguage(source_language),
            strategy_id,
            Timeframe.of(timeframe),
            template_id,
        )
        _check_aware(attempt_started)
        if self._transport.clock.offset is None:
            # Learn the server's time first (a free call): a lost answer is matched on it.
            await self._raw("GET", "/balance")
        started = attempt_started or self._transport.clock.now()
        earlier = await self._earlier(request, attempt_started, reuse_existing)
        if earlier is not None:
            return earlier
        lost: list[ServerError | TransportError] = []  # an attempt the server may have acted on
        sent = [0.0]  # when the last attempt was sent (monotonic)

        async def attempt(number: int) -> SubmissionCreated:
            if lost:  # never send again while the last attempt could still commit
                found = await self._await_commit(request, started, sent[0], lost.pop())
                if found is not None:
                    return found
                log.info(
                    "submission of %s was not created in the commit window; sending again", video_id
                )
            sent[0] = time.monotonic()
            try:
                return await self._typed(
                    SubmissionCreated, "POST", "/clips", json=request, safe=False
                )
            except AlreadyInProgress:
                return await self._adopt_running(request, started)
            except (ServerError, TransportError) as exc:
                if exc.maybe_processed:
                    lost.append(exc)
                raise

        def decide(exc: Exception, number: int) -> float | None:
            return 0.0 if lost else None  # the wait is the commit window, in the next attempt

        transport = self._transport
        try:
            return await transport.retrier.call(
                attempt, decide, what="POST /clips", host=transport.host
            )
        except (ServerError, TransportError) as exc:
            if not lost:
                raise
            found = await self._await_commit(request, started, sent[0], lost.pop())
            if found is not None:
                return found
            raise SubmissionUncertain(video_id, exc, started) from None

    async def _earlier(
        self, request: SubmitRequest, since: datetime | None, reuse: bool
    ) -> SubmissionCreated | None:
        """A submission to adopt before paying: any usable one (`reuse`), else the one an
        earlier attempt started at `since` created, waited for until that attempt's commit
        window has passed (it may still be committing, e.g. after its process died)."""
        if reuse:
            found = await self.find_reusable(request)
            if found is not None:
                log.info("reusing submission %s of %s", found.submission_id, request.video_id)
                return adopted(request.video_id, found)
        if since is None:
            return None
        elapsed = (self._transport.clock.now() - since).total_seconds()
        return await self._await_commit(request, since, time.monotonic() - max(0.0, elapsed))

    async def find_reusable(self, request: SubmitRequest) -> Submission | None:
        """The newest running or completed submission matching `request` whose clips have not
        expired, or None; costs no credits."""
        candidates = [
            sub
            async for sub in self.iter(request.video_id)
            if sub.status is not SubmissionStatus.FAILED and matches(sub, request, None, exact=True)
        ]
        for sub in sorted(candidates, key=lambda s: s.created_at, reverse=True):
            if await self.usable(request.video_id, sub):
                return sub
        return None

    async def usable(self, video_id: str, sub: Submission) -> bool:
        """Whether a submission can be adopted instead of paying: running, or completed with
        clips that have not expired (410); never a failed one."""
        if sub.status is SubmissionStatus.FAILED:
            return False
        if sub.status is not SubmissionStatus.COMPLETED:
            return True
        ids = {"videoId": video_id, "submissionId": sub.submission_id}
        try:
            await self._raw("GET", _IDS + "/{submissionId}/clips", ids=ids, params={"limit": 1})
        except Expired:
            return False
        return True

    async def _adopt_running(self, request: SubmitRequest, started: datetime) -> SubmissionCreated:
        """After a 409: the video's running submission, or the one that was committing when
        the 409 came (a slow server refuses while another request's submission commits, and
        that job may have finished by the time it shows). Waited for within the window."""

        async def running() -> Submission | None:
            listed = [sub async for sub in self.iter(request.video_id)]
            busy = [
                s
                for s in listed
                if not s.status.is_terminal and matches(s, request, None, exact=True)
            ]
            late = [sub for sub in listed if matches(sub, request, started)]
            return max(busy or late, key=lambda sub: sub.created_at, default=None)

        found = await self._listed(running, time.monotonic())
        if found is None:
            raise AlreadyInProgress(
                409,
                "VIDEO_ALREADY_PROCESSING",
                "the video is being processed, but no running submission showed in the "
                "commit window: list its submissions later",
                method="POST",
                path="/clips",
            )
        log.info("adopting running submission %s of %s", found.submission_id, request.video_id)
        return adopted(request.video_id, found)

    async def _await_commit(
        self,
        request: SubmitRequest,
        started: datetime,
        sent: float,
        cause: BaseException | None = None,
    ) -> SubmissionCreated | None:
        """The submission an ambiguous attempt created, or None once the commit window since
        it was sent has passed with nothing listed."""

        async def created() -> Submission | None:
            return await self.reconcile(request.video_id, since=started, request=request)

        try:
            found = await self._listed(created, sent)
        except CutProError as exc:
            raise SubmissionUncertain(request.video_id, cause or exc, started) from exc
        if found is None:
            return None
        why = type(cause).__name__ if cause is not None else "an earlier attempt"
        log.info(
            "adopting submission %s of %s after %s", found.submission_id, request.video_id, why
        )
        return adopted(request.video_id, found)

    async def _listed(
        self, look: Callable[[], Awaitable[Submission | None]], since: float
    ) -> Submission | None:
        """What `look` finds in the video's list, read with backoff until the commit window
        from `since` (monotonic) has passed; None if it never showed."""
        settings = self._transport.settings
        window = commit_window(settings.retry, settings.timeouts)
        polling = settings.polling

        async def attempt(number: int) -> Submission:
            found = await look()
            if found is None:
                raise _NotYet
            return found

        def decide(exc: Exception, number: int) -> float | None:
            left = since + window - time.monotonic()
            if not isinstance(exc, _NotYet) or left <= 0:
                return None
            return min(
                left, polling.max_interval, polling.first * polling.factor ** min(number, 64)
            )

        try:
            return await self._transport.retrier.call(
                attempt,
                decide,
                what="waiting for a submission to show",
                host=None,
                attempts=sys.maxsize,
            )
        except _NotYet:
            return None

    async def reconcile(
        self, video_id: str, *, since: datetime, request: SubmitRequest | None = None
    ) -> Submission | None:
        """The newest submission of `video_id` created since `since` (server time, matching
        `request`).

        An orchestrator that recorded its intent before a crash calls this on restart to learn
        whether the submit went through, before it decides to submit again.
        """
        _check_aware(since)
        wanted = request or SubmitRequest(video_id)
        candidates = [sub async for sub in self.iter(video_id) if matches(sub, wanted, since)]
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


def commit_window(retry: RetryPolicy, timeouts: Timeouts) -> float:
    """How long a paid request that failed ambiguously may still commit on the server:
    `RetryPolicy.commit_window`, by default the larger of 120 s and three read timeouts."""
    if retry.commit_window is not None:
        return retry.commit_window
    read = timeouts.read or timeouts.total or 0.0
    return max(120.0, 3 * read)


def _check_aware(when: datetime | None) -> None:
    """A naive datetime cannot be compared with the server's: refuse it clearly."""
    if when is not None and when.tzinfo is None:
        raise UsageError(
            "attempt_started/since must be timezone-aware (use CutPro.server_time() or "
            "datetime.now(UTC))"
        )
