"""Renders (final MP4s of clips) and bulk ZIP downloads."""

from __future__ import annotations

from datetime import datetime

import attrs

from ._base import OpenEnum, Pagination


class RenderStatus(OpenEnum):
    """Where a render is; everything but `queued` and `active` is terminal."""

    QUEUED = "queued"
    ACTIVE = "active"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"

    @property
    def is_terminal(self) -> bool:
        """Whether the render will not change any more (unknown values count as running)."""
        return self in (
            RenderStatus.COMPLETED,
            RenderStatus.FAILED,
            RenderStatus.CANCELLED,
            RenderStatus.EXPIRED,
        )


@attrs.frozen
class RenderCreated:
    """Answer of the render request: queued (202), served from cache (200), or a render
    adopted by the client (which may already be `active`)."""

    render_id: str
    edit_setting_id: str
    status: RenderStatus
    output_resolution: str | None
    from_cache: bool
    download_url: str | None = attrs.field(default=None, repr=False)
    #: None when unknown: a render the client adopted (after a lost answer, or a running one
    #: with `adopt_running=True`) rather than created.
    has_watermark: bool | None = None


@attrs.frozen
class Render:
    """A render job (`GET /renders/{id}`)."""

    render_id: str
    edit_setting_id: str
    name: str | None
    status: RenderStatus
    progress: float
    output_resolution: str | None
    created_at: datetime
    started_at: datetime | None = None
    completed_at: datetime | None = None


@attrs.frozen
class RenderPage:
    """A page of the workspace's renders."""

    renders: list[Render]
    pagination: Pagination

    @property
    def items(self) -> list[Render]:
        """The page's renders."""
        return self.renders


@attrs.frozen
class RenderUsage:
    """Renders running and waiting now, against the cap."""

    active_count: int
    queued_count: int
    total_pending: int
    max_concurrent: int


@attrs.frozen
class RenderPlan:
    """What the plan allows for renders."""

    video_quality: str
    watermark: bool
    priority_processing: bool
    max_concurrent_renders: int
    render_expiry_hours: float


@attrs.frozen
class RenderLimits:
    """`GET /renders/limits`."""

    usage: RenderUsage
    plan: RenderPlan


@attrs.frozen
class DownloadLink:
    """A signed, time-limited link to a finished file."""

    url: str = attrs.field(repr=False)
    filename: str


@attrs.frozen
class BulkDownloadRequest:
    """Body of `POST /renders/bulk-download`."""

    render_ids: list[str]


class BulkStatus(OpenEnum):
    """Where a bulk ZIP job is."""

    QUEUED = "queued"
    ACTIVE = "active"
    COMPLETED = "completed"
    FAILED = "failed"

    @property
    def is_terminal(self) -> bool:
        """Whether the job will not change any more."""
        return self in (BulkStatus.COMPLETED, BulkStatus.FAILED)


@attrs.frozen
class BulkDownloadCreated:
    """Answer of `POST /renders/bulk-download`: a job to poll."""

    job_id: str
    status: BulkStatus


@attrs.frozen
class BulkDownload:
    """A bulk ZIP job; `download_url` and `file_size` appear once completed."""

    job_id: str
    status: BulkStatus
    progress: float
    render_count: int
    created_at: datetime
    expires_at: datetime
    file_size: int | None = None
    error_code: str | None = None
    completed_at: datetime | None = None
    download_url: str | None = attrs.field(default=None, repr=False)
    filename: str | None = None
