"""Typed progress events of a batch run, and its summary."""

from __future__ import annotations

import enum
from datetime import datetime
from pathlib import Path

import attrs

from .record import Phase


class Stage(enum.StrEnum):
    """A pool of the pipeline: each bounds how many videos do one kind of work at once.

    Not to be confused with a video's `Phase`: a video in phase `submitted` passes through the
    `wait_clips` pool and becomes `clipped`; then it passes through `render`, `wait_render`
    and `download` once per clip.
    """

    ANALYZE = "analyze"  # analysis of a URL, or upload of a file: learns the cost
    SUBMIT = "submit"  # the paid request
    WAIT_CLIPS = "wait_clips"  # waiting for the clipping job to finish
    RENDER = "render"  # requesting a clip's render
    WAIT_RENDER = "wait_render"  # waiting for a render to finish
    DOWNLOAD = "download"  # streaming a rendered MP4 to disk
    PUBLISH = "publish"  # posting a clip to an account (only with publishing asked for)


@attrs.frozen
class StageStarted:
    """A video entered a stage's pool."""

    source: str
    stage: Stage


@attrs.frozen
class StageFinished:
    """A video left a stage's pool (done or not)."""

    source: str
    stage: Stage


@attrs.frozen
class Priced:
    """The cost of a video is known (analysis or upload done)."""

    source: str
    video_id: str
    credits: float


@attrs.frozen
class CreditsSpent:
    """A submission was charged (or adopted after a crash)."""

    source: str
    credits: float
    total: float


@attrs.frozen
class BytesDownloaded:
    """Download progress of one clip."""

    source: str
    clip_id: str
    done: int
    total: int | None


@attrs.frozen
class FileSaved:
    """A clip's MP4 is on disk, verified."""

    source: str
    clip_id: str
    path: Path
    size: int
    sha256: str


@attrs.frozen
class SourcesRead:
    """Every source has been read: `count` videos in this run (repeats not counted)."""

    count: int


@attrs.frozen
class VideoDone:
    """A video is finished: every chosen clip on disk (priced only, in a dry run; clips chosen
    only, with `render=False`)."""

    source: str
    files: int


@attrs.frozen
class VideoSkipped:
    """A video was not processed (already done, over budget, ...)."""

    source: str
    reason: str


@attrs.frozen
class VideoFailed:
    """A video failed in `phase` (the last one it reached); the others go on."""

    source: str
    phase: Phase
    error: str


@attrs.frozen
class PostPlaced:
    """A clip's post to an account exists: sent now, or found on the server and adopted."""

    source: str
    clip_id: str
    account: str  # platform:name
    post_id: str
    scheduled_at: datetime | None  # None: published at once
    adopted: bool


@attrs.frozen
class PostFinished:
    """A clip's post to an account ended: `completed` (with its URL) or `failed` (with why)."""

    source: str
    clip_id: str
    account: str
    status: str
    published_url: str | None
    error: str | None


Event = (
    StageStarted
    | StageFinished
    | Priced
    | CreditsSpent
    | BytesDownloaded
    | FileSaved
    | SourcesRead
    | VideoDone
    | VideoSkipped
    | VideoFailed
    | PostPlaced
    | PostFinished
)


@attrs.define
class Summary:
    """What a run did."""

    done: int = 0
    failed: int = 0
    skipped: int = 0
    credits_spent: float = 0.0
    credits_priced: float = 0.0
    files: int = 0
    bytes: int = 0
    elapsed: float = 0.0
    interrupted: bool = False
    posts_sent: int = 0
    posts_adopted: int = 0
    posts_scheduled: int = 0
    posts_published: int = 0
    posts_failed: int = 0

    def count(self, event: Event) -> None:
        """Fold one event into the totals."""
        if isinstance(event, VideoDone):
            self.done += 1
        elif isinstance(event, VideoFailed):
            self.failed += 1
        elif isinstance(event, VideoSkipped):
            self.skipped += 1
        elif isinstance(event, CreditsSpent):
            self.credits_spent += event.credits
        elif isinstance(event, Priced):
            self.credits_priced += event.credits
        elif isinstance(event, FileSaved):
            self.files += 1
            self.bytes += event.size
        elif isinstance(event, PostPlaced):
            self.posts_adopted += event.adopted
            self.posts_sent += not event.adopted
            self.posts_scheduled += event.scheduled_at is not None
        elif isinstance(event, PostFinished):
            self.posts_published += event.status == "completed"
            self.posts_failed += event.status == "failed"
