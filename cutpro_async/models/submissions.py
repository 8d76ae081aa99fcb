"""Clipping submissions: the paid request and the job it starts."""

from __future__ import annotations

from datetime import datetime

import attrs

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


@attrs.frozen
class Timeframe:
    """The processed segment of a video, in seconds (start inclusive, end exclusive)."""

    start: float
    end: float


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
