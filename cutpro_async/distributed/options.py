"""What a distributed batch asks for, how a worker runs it, and the names DBOS knows it by."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from typing import Any

import attrs
import orjson

from ..batch.naming import check_naming, names_every_clip
from ..batch.options import RunOptions
from ..errors import UsageError
from ..models import Timeframe

#: The DBOS application name: its workflows, queues and versions live under it.
APP_NAME = "cutpro"
#: The version of the workflow code, bumped by hand when a change would replay recorded
#: steps wrongly (DBOS recovers a workflow only on the version it started on). Not the
#: package's version: a release that leaves the workflows alone must keep recovering them.
#: 2: each clip a child workflow on the delivery queue; 3: the analysis a step paced in a
#: shared window (no analysis workflow), the renders one step, one delivery per video.
WORKFLOW_VERSION = "cutpro-video-3"
#: The queue of per-video workflows (its worker concurrency is a worker's videos in flight).
VIDEO_QUEUE = "cutpro_videos"
#: The queue of video deliveries (the downloads of a video's clips): a worker takes as many
#: at once as it downloads (`download_concurrency`), so every worker's bandwidth serves the
#: whole batch.
DELIVER_QUEUE = "cutpro_deliver"
#: The shared window of analyses (`pace.SharedWindow`): `POST /clips/info` starts of every
#: worker together.
ANALYZE_WINDOW = "cutpro_analyze"
#: Registered workflow names (what a row in the system database says to run).
VIDEO_WORKFLOW = "cutpro.video"
DELIVER_WORKFLOW = "cutpro.deliver"
#: Every workflow of a batch.
WORKFLOW_NAMES = (VIDEO_WORKFLOW, DELIVER_WORKFLOW)
#: The distributed default file name: the server's, with the clip id, since workers do not
#: share a registry of names taken (a template must name every clip apart).
DISTRIBUTED_NAMING = "{stem}-{clip_id}.{ext}"

_BATCH_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def _frame(value: Timeframe | Sequence[float] | None) -> tuple[float, float] | None:
    """A timeframe as a plain (start, end) pair, checked."""
    frame = Timeframe.of(value)
    return None if frame is None else (frame.start, frame.end)


def _naming(_instance: object, _attribute: object, template: str) -> None:
    """A naming template must be valid and tell every clip apart."""
    check_naming(template)
    if not names_every_clip(template):
        raise UsageError(
            f"a distributed batch names files with {{clip_id}} or {{render_id}} (workers do not "
            f"share the names they took): {template!r} does not; e.g. {DISTRIBUTED_NAMING!r}"
        )


@attrs.frozen
class BatchOptions:
    """The choices of a distributed batch, shared by every worker (the output folder is each
    worker's own). Fields mean what they mean in `RunOptions`."""

    top_k: int = 3
    min_rating: float | None = None
    strategy_id: str | None = None
    template_id: str | None = None
    timeframe: tuple[float, float] | None = attrs.field(default=None, converter=_frame)
    source_language: str = "auto"
    naming: str = attrs.field(default=DISTRIBUTED_NAMING, validator=_naming)
    resubmit: bool = False
    render: bool = True

    def __attrs_post_init__(self) -> None:
        # The fields shared with `RunOptions` are checked by it, with its messages.
        RunOptions(
            out=".",
            top_k=self.top_k,
            min_rating=self.min_rating,
            timeframe=self.timeframe,
            source_language=self.source_language,
        )

    def to_json(self) -> dict[str, Any]:
        """These options as JSON-ready values (what a workflow receives)."""
        values = attrs.asdict(self)
        values["timeframe"] = None if self.timeframe is None else list(self.timeframe)
        return values

    @classmethod
    def from_json(cls, values: dict[str, Any]) -> BatchOptions:
        """Options from `to_json`'s values."""
        return cls(**values)

    @property
    def frame(self) -> Timeframe | None:
        """The timeframe as the client's model."""
        return None if self.timeframe is None else Timeframe(*self.timeframe)


@attrs.frozen
class EngineSettings:
    """How a worker runs: its share of the work and the engine's timings.

    `analyze_limit` analyses start per `analyze_period` seconds across every worker (the API
    allows 10 a minute per key; the period adds a margin for the time between a start and its
    request reaching the API). `lease` is how long a paid step's lock outlives a worker that
    stopped answering (paused, cut off): PostgreSQL ends its session, and the lock with it.
    A worker writes its `heartbeat` this often; one silent for `heartbeat_timeout` is gone
    (its session ended the same way) and the others adopt its unfinished videos.
    `render_concurrency` caps the renders in flight across every worker (None: the plan's
    `max_concurrent_renders`, read from the API); `requests_per_second` is the general
    request rate of every worker together, shared among the live ones (None: the client's).
    The pollings are how often a worker looks for work on the queues, for DBOS's
    notifications, and whether the batch is done.
    """

    worker_concurrency: int = attrs.field(default=16, validator=attrs.validators.gt(0))
    analyze_limit: int = attrs.field(default=10, validator=attrs.validators.gt(0))
    analyze_period: float = attrs.field(default=66.0, validator=attrs.validators.gt(0))
    lease: float = attrs.field(default=30.0, validator=attrs.validators.gt(0))
    heartbeat: float = attrs.field(default=5.0, validator=attrs.validators.gt(0))
    heartbeat_timeout: float = attrs.field(default=30.0, validator=attrs.validators.gt(0))
    render_concurrency: int | None = attrs.field(
        default=None, validator=attrs.validators.optional(attrs.validators.gt(0))
    )
    requests_per_second: float | None = attrs.field(
        default=None, validator=attrs.validators.optional(attrs.validators.gt(0))
    )
    download_concurrency: int = attrs.field(default=4, validator=attrs.validators.gt(0))
    #: Paid steps of one worker at once (each holds a PostgreSQL session for its lock).
    pay_concurrency: int = attrs.field(default=4, validator=attrs.validators.gt(0))
    queue_polling: float = attrs.field(default=1.0, validator=attrs.validators.gt(0))
    result_polling: float = attrs.field(default=1.0, validator=attrs.validators.gt(0))
    idle_polling: float = attrs.field(default=1.0, validator=attrs.validators.gt(0))
    #: System-database connections of one worker. A worker uses about `pool_size +
    #: pay_concurrency + 5` connections in all; PostgreSQL allows 100 by default.
    pool_size: int = attrs.field(default=10, validator=attrs.validators.gt(0))
    log_level: str = "WARNING"

    def __attrs_post_init__(self) -> None:
        if self.heartbeat_timeout < 2 * self.heartbeat:
            raise ValueError(
                f"heartbeat_timeout ({self.heartbeat_timeout:g} s) must be at least twice the "
                f"heartbeat ({self.heartbeat:g} s): one late beat must not make a worker gone"
            )


def check_batch_id(batch_id: str) -> str:
    """A batch id as given, if it is 1-64 letters, digits, `.`, `_` or `-`."""
    if not isinstance(batch_id, str) or not _BATCH_ID.match(batch_id):
        raise UsageError(
            f"a batch id is 1-64 letters, digits, '.', '_' or '-', starting with a letter or "
            f"digit: {batch_id!r}"
        )
    return batch_id


def batch_id_of(sources: Sequence[str], options: BatchOptions) -> str:
    """The id a batch gets from its sources (in order) and options: the same list and options
    give the same id, so enqueueing it again adds nothing."""
    digest = hashlib.sha256(orjson.dumps([list(sources), options.to_json()])).hexdigest()
    return f"b-{digest[:16]}"


def workflow_id_of(batch_id: str, source: str) -> str:
    """The workflow id of one source of a batch (stable: enqueueing it again adds nothing)."""
    return f"{batch_id}:{hashlib.sha256(source.encode()).hexdigest()[:24]}"
