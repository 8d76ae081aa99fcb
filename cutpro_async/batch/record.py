"""The durable per-video record of a batch run."""

from __future__ import annotations

from datetime import datetime

import attrs

#: Stages a record moves through; `done`, `failed`, `skipped` and `priced` (dry run) end it.
NEW, PRICED, SUBMITTING, SUBMITTED, CLIPPED, DONE = (
    "new",
    "priced",
    "submitting",
    "submitted",
    "clipped",
    "done",
)
FAILED, SKIPPED = "failed", "skipped"
FINAL = frozenset({DONE, FAILED, SKIPPED})


@attrs.define
class ChosenClip:
    """A clip picked for rendering, with what the manifest needs."""

    id: str
    title: str
    rating: float
    start_time: float
    end_time: float


@attrs.define
class SavedFile:
    """A clip's MP4 on disk, verified."""

    clip_id: str
    render_id: str
    path: str
    bytes: int
    sha256: str


@attrs.define
class Record:
    """Everything known about one source; saved after every step.

    `submit_intent` is written before the paid `POST /clips` and `submission_id` after it, so a
    restart can tell "never submitted" from "maybe submitted" and reconcile the latter.
    """

    source: str
    position: int
    stage: str = NEW
    video_id: str | None = None
    credits_cost: float | None = None
    duration: float | None = None
    submit_intent: datetime | None = None
    submission_id: str | None = None
    clips: list[ChosenClip] | None = None  # None until the clips were chosen
    template_applied: bool = False
    renders: dict[str, str] = attrs.field(factory=dict)
    files: list[SavedFile] = attrs.field(factory=list)
    error: str | None = None
    retryable: bool = True  # False when retrying cannot help (the clipping job itself failed)
    attempts: int = 0
