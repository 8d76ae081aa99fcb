"""Source-video models: the library, analysis results, uploads."""

from __future__ import annotations

from datetime import datetime

import attrs

from ._base import Pagination

UPLOAD_EXTENSIONS = (".mp4", ".mov", ".webm", ".mkv")
MAX_UPLOAD_BYTES = 2 * 1024**3
MIN_VIDEO_SECONDS = 60


@attrs.frozen
class Video:
    """A source video in the workspace library (`GET /clips`)."""

    video_id: str
    title: str
    platform: str
    duration: float
    thumbnail_url: str
    created_at: datetime


@attrs.frozen
class VideoPage:
    """A page of the video library."""

    videos: list[Video]
    pagination: Pagination

    @property
    def items(self) -> list[Video]:
        """The page's videos."""
        return self.videos


@attrs.frozen
class VideoInfo:
    """Metadata and exact credit cost of a video (`POST /clips/info`, upload complete)."""

    video_id: str
    title: str
    description: str
    author: str
    platform: str
    duration: float
    thumbnail_url: str
    credits_cost: float
    credits_original: float
    discount_percent: float
    force_watermark: bool
    current_balance: float
    credits_unlimited: bool = False


@attrs.frozen
class AnalyzeRequest:
    """Body of `POST /clips/info`."""

    url: str


@attrs.frozen
class StartUploadRequest:
    """Body of `POST /videos/upload`."""

    file_name: str
    file_size: int
    content_type: str = "video/mp4"


@attrs.frozen
class UploadTicket:
    """A reserved `video_id` and the presigned PUT URL for its bytes."""

    video_id: str
    upload_url: str = attrs.field(repr=False)  # signed: never in a repr
    expires_in: float


@attrs.frozen
class CompleteUploadRequest:
    """Body of `POST /videos/upload/complete`."""

    video_id: str
    file_name: str
    duration: float
    width: int
    height: int
