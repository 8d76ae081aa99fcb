"""Clipping submissions: the paid request and the job it starts."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime

import attrs

from ..errors import UsageError
from ._base import OpenEnum, Pagination


class SubmissionStatus(OpenEnum):
    """Where a clipping job is; `completed` and `failed` are terminal."""

    QUEUED = "queued"
    DOWNLOADING = "downloading"
    TRANSCRIBING = "transcribing"
    VIDEO_ANALYSIS = "video_analysis"
    ANALYZING = "analyzing"
    FINALIZING = "finalizing"
    COMPLETED = "completed"
    FAILED = "failed"

    @property
    def is_terminal(self) -> bool:
        """Whether the job will not change any more."""
        return self in (SubmissionStatus.COMPLETED, SubmissionStatus.FAILED)


class SourceLanguage(OpenEnum):
    """Language of the source audio."""

    AUTO = "auto"
    EN = "en"
    PT = "pt"


def _seconds(value: object) -> float:
    """A finite number of seconds, as a float."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise UsageError(f"a timeframe is two finite numbers of seconds, got {value!r}")
    return float(value)


@attrs.frozen
class Timeframe:
    """The processed segment of a video, in seconds (start inclusive, end exclusive).

    The one place a timeframe's own shape is checked: finite numbers with `0 <= start < end`,
    or `UsageError`. (A batch also checks it against each video's length, and cuts its end.)
    """

    start: float = attrs.field(converter=_seconds)
    end: float = attrs.field(converter=_seconds)

    def __attrs_post_init__(self) -> None:
        if not 0 <= self.start < self.end:
            raise UsageError(
                f"a timeframe needs 0 <= start < end seconds, got ({self.start:g}, {self.end:g})"
            )

    @property
    def seconds(self) -> float:
        """How long the segment is."""
        return self.end - self.start

    @classmethod
    def of(cls, value: Timeframe | Sequence[float] | None) -> Timeframe | None:
        """A `Timeframe` from a `(start, end)` pair (or itself; None stays None)."""
        if value is None or isinstance(value, Timeframe):
            return value
        if isinstance(value, str | bytes) or not isinstance(value, Sequence) or len(value) != 2:
            raise UsageError(f"a timeframe is (start, end) seconds, e.g. (0, 1800); got {value!r}")
        return cls(value[0], value[1])

    @classmethod
    def parse(cls, text: str) -> Timeframe:
        """`START:END` in seconds, as the command line takes it (e.g. `0:1800`)."""
        start, sep, end = text.partition(":")
        try:
            pair = (float(start), float(end))
        except ValueError:
            sep = ""
        if not sep:
            raise UsageError(f"a timeframe is START:END in seconds, e.g. 0:1800; got {text!r}")
        return cls(*pair)


@attrs.frozen
class SubmitRequest:
    """Body of `POST /clips` (spends credits)."""

    video_id: str
    source_language: SourceLanguage = SourceLanguage.AUTO
    strategy_id: str | None = None
    timeframe: Timeframe | None = None
    template_id: str | None = None


@attrs.frozen
class SubmissionCreated:
    """The 201 answer of `POST /clips`."""

    submission_id: str
    video_id: str
    status: SubmissionStatus
    credits_charged: float


@attrs.frozen
class Submission:
    """A clipping job, as `GET` and list return it (list rows lack some fields, get rows others)."""

    submission_id: str
    status: SubmissionStatus
    created_at: datetime
    video_id: str | None = None
    error_code: str | None = None
    clips_count: int | None = None
    queue_position: int | None = None
    estimated_time: float | None = None
    completed_at: datetime | None = None
    waiting_reason: str | None = None
    is_priority: bool | None = None
    strategy_id: str | None = None
    timeframe: Timeframe | None = None
    credit_cost: float | None = None
    is_reclip: bool | None = None


@attrs.frozen
class SubmissionPage:
    """A page of one video's submissions."""

    submissions: list[Submission]
    pagination: Pagination

    @property
    def items(self) -> list[Submission]:
        """The page's submissions."""
        return self.submissions
