"""The simulator's knobs, as one frozen value object."""

from __future__ import annotations

import attrs

from ._latency import LatencyModel, as_latency
from ._profiles import PROFILE_NAMES


@attrs.frozen
class SimConfig:
    """How the simulated CutPro behaves; every default follows the API reference.

    Durations of jobs are API-seconds (divided by `time_scale` to get real seconds); link
    lifetimes and rate-limit windows are real seconds, so a fast clock does not expire links.
    """

    time_scale: float = 100.0
    credits: float = 10_000
    discount_percent: float = 0
    render_bytes: int = 256 * 1024
    analyze_limit: int = 10
    analyze_window: float = 60.0
    # A GAP of the reference: no general request-rate limit is documented. With a
    # `request_limit`, at most that many API requests with one key (every route and
    # connection together) per `request_window` seconds; the next get 429 RATE_LIMIT_EXCEEDED.
    request_limit: int | None = attrs.field(
        default=None, validator=attrs.validators.optional(attrs.validators.gt(0))
    )
    request_window: float = attrs.field(default=1.0, validator=attrs.validators.gt(0))
    max_concurrent_renders: int = 5
    render_expiry_hours: float = 72
    submission_expiry_days: float = 30
    link_ttl: float = 3600
    upload_ttl: float = 3600
    submission_failure_rate: float = 0.0
    render_failure_rate: float = 0.0
    # The share of post items whose first attempt fails with a passing platform error (a retry
    # of the item then publishes it), drawn from the seed.
    post_item_flaky_rate: float = 0.0
    # A GAP of the reference: the shape of `GET /posts`. "suggested": `{posts, pagination}`
    # with each post's items; "data": `{data: [...]}`, no pagination, posts without items.
    posts_list_style: str = attrs.field(
        default="suggested", validator=attrs.validators.in_(("suggested", "data"))
    )
    delete_status: int = attrs.field(default=204, validator=attrs.validators.in_((200, 204)))
    redirect_downloads: bool = False
    # How the storage host answers downloads: s3, s3-kms, gcs, azure or plain (see _profiles).
    storage_profile: str = attrs.field(default="s3", validator=attrs.validators.in_(PROFILE_NAMES))
    # S3 objects above this size were uploaded in parts: their ETag is an opaque `"…-N"`.
    multipart_threshold: int = attrs.field(
        default=64 * 1024 * 1024, validator=attrs.validators.gt(0)
    )
    # A GAP of the reference: whether a 409 RENDER_ALREADY_IN_PROGRESS names the running render.
    name_running_render: bool = True
    # A GAP of the reference: whether analysing a URL again gives the video_id it gave before
    # (False: every `POST /clips/info` makes a new video record, with its own submissions).
    same_video_for_same_url: bool = True
    # Seconds the server's clock is ahead of real time (negative: behind): every timestamp the
    # API shows and its `Date` headers are shifted by it.
    clock_offset: float = 0.0
    seed: int = 0
    # How long answers take (see `_latency`): None (instant), a `LatencyModel`, a spec such as
    # "realistic" or "realistic*2", or seconds around which every route answers. Real seconds.
    latency: LatencyModel | None = attrs.field(default=None, converter=as_latency)
