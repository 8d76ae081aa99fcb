"""The durable per-video record of a batch run, and the phases a video goes through."""

from __future__ import annotations

import enum
from datetime import datetime

import attrs


class Phase(enum.StrEnum):
    """Where a video is in its life; the values are what records store."""

    NEW = "new"
    PRICED = "priced"  # analyzed or uploaded: the cost is known (a dry run ends here)
    SUBMITTING = "submitting"  # the paid request may have been sent: reconcile before paying
    SUBMITTED = "submitted"
    CLIPPED = "clipped"  # the clips are chosen
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"

    @property
    def is_final(self) -> bool:
        """Whether a video in this phase needs no more work (done, failed or skipped)."""
        return self in _FINAL


_FINAL = frozenset({Phase.DONE, Phase.FAILED, Phase.SKIPPED})


def _phase(value: str) -> Phase:
    """A phase from itself or its stored value (the enum's own lookup only for the latter)."""
    return value if type(value) is Phase else Phase(value)


@attrs.define
class ChosenClip:
    """A clip picked for rendering, with what the manifest and the posts need."""

    id: str
    title: str
    rating: float
    start_time: float
    end_time: float
    description: str = ""
    keywords: list[str] = attrs.field(factory=list)


@attrs.define
class SavedFile:
    """A clip's MP4 on disk, verified."""

    clip_id: str
    render_id: str
    path: str
    bytes: int
    sha256: str


@attrs.define
class PostEntry:
    """One clip posted to one account: the intent before `POST /posts`, the post after.

    `intent` (server time) is saved before the request is sent, `post_id` once the post is
    known (created, or found on the server and adopted), so a rerun never posts it again.
    """

    clip_id: str
    connection_id: str
    account: str = ""  # platform:name, as the account was named when posted
    edit_id: str | None = None  # the render's edit_setting_id, what a post names
    intent: datetime | None = None
    scheduled_at: datetime | None = None  # None: published at once
    post_id: str | None = None
    item_id: str | None = None
    status: str | None = None  # the item's: pending, processing, completed, failed
    published_url: str | None = None
    error: str | None = None
    retries: int = 0  # item retries asked for

    @property
    def key(self) -> str:
        """Its key in `Record.posts`."""
        return post_key(self.clip_id, self.connection_id)


def post_key(clip_id: str, connection_id: str) -> str:
    """The key of one (clip, account) in `Record.posts`."""
    return f"{clip_id} {connection_id}"


@attrs.define(on_setattr=attrs.setters.NO_OP)  # only `phase` converts what it is given
class Record:
    """Everything known about one source; saved after every step.

    `submit_intent` is written before the paid `POST /clips` and `submission_id` after it, so a
    restart can tell "never submitted" from "maybe submitted" and reconcile the latter.
    """

    source: str
    position: int
    phase: Phase = attrs.field(
        default=Phase.NEW, converter=_phase, on_setattr=attrs.setters.convert
    )
    video_id: str | None = None
    credits_cost: float | None = None  # the estimate, from the analysis
    credits_charged: float | None = None  # what the submission cost (adopted ones included)
    duration: float | None = None
    submit_intent: datetime | None = None
    submission_id: str | None = None
    clips: list[ChosenClip] | None = None  # None until the clips were chosen
    template_applied: bool = False
    renders: dict[str, str] = attrs.field(factory=dict)
    names: dict[str, str] = attrs.field(factory=dict)  # clip id -> its file name, once chosen
    files: list[SavedFile] = attrs.field(factory=list)
    posts: dict[str, PostEntry] = attrs.field(factory=dict)  # post_key -> its post
    error: str | None = None
    # False when resuming cannot help: the clipping job itself failed (only --retry-failed
    # submits it again, and pays again).
    retryable: bool = True
    attempts: int = 0


def reached(record: Record) -> Phase:
    """The furthest phase a record's data shows (a failed record is resumed from there)."""
    if record.clips is not None:
        return Phase.CLIPPED
    if record.submission_id is not None:
        return Phase.SUBMITTED
    if record.submit_intent is not None:
        return Phase.SUBMITTING
    return Phase.PRICED if record.video_id is not None else Phase.NEW
