"""`submissions` with waiting: poll a clipping job until it completes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

from ..errors import SubmissionFailed
from ..models import Submission, SubmissionStatus
from ..resources import SubmissionsResource
from ._polling import wait_for, watch

DEFAULT_TIMEOUT = 3 * 3600.0


def _done(sub: Submission) -> bool:
    """Terminal: `completed` or `failed`."""
    return sub.status.is_terminal


def _raise_if_failed(sub: Submission) -> Submission:
    """The submission if it completed; `SubmissionFailed` otherwise."""
    if sub.status is SubmissionStatus.FAILED:
        raise SubmissionFailed(
            f"submission {sub.submission_id} failed ({sub.error_code or 'no error code'}); "
            "check the video is public and long enough, then submit again",
            job_id=sub.submission_id,
            status=sub.status.value,
            error_code=sub.error_code,
        )
    return sub


class Submissions(SubmissionsResource):
    """Submissions, plus `wait` and `watch`."""

    def watch(
        self, video_id: str, submission_id: str, *, timeout: float | None = DEFAULT_TIMEOUT
    ) -> AsyncIterator[Submission]:
        """Yield the submission each time its status changes, until it is terminal."""
        return watch(
            lambda: self.get(video_id, submission_id),
            _done,
            polling=self._transport.settings.polling,
            timeout=timeout,
            what=f"submission {submission_id}",
        )

    async def wait(
        self,
        video_id: str,
        submission_id: str,
        *,
        timeout: float | None = DEFAULT_TIMEOUT,
        on_update: Callable[[Submission], object] | None = None,
    ) -> Submission:
        """Poll until `completed` (returned) or `failed` (raises `SubmissionFailed`)."""
        final = await wait_for(
            lambda: self.get(video_id, submission_id),
            _done,
            polling=self._transport.settings.polling,
            timeout=timeout,
            what=f"submission {submission_id}",
            on_update=on_update,
        )
        return _raise_if_failed(final)
