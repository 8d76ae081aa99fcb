"""The simulator's own words for states and kinds, spelled as the API reference spells them.

They are `str` enums so that a served value is the plain string and a test can compare a
member with `"debit"`; the simulator never borrows the client's enums (see `_schema`).
"""

from __future__ import annotations

import enum


class SubmissionStatus(enum.StrEnum):
    """Where a clipping job is (reference §3.1); `completed` and `failed` are terminal."""

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


class SourceLanguage(enum.StrEnum):
    """Accepted `source_language` values of `POST /clips`."""

    AUTO = "auto"
    EN = "en"
    PT = "pt"


class TransactionType(enum.StrEnum):
    """Kind of a credit-ledger row (`GET /balance/history` `type`)."""

    CREDIT = "credit"
    DEBIT = "debit"
    REFUND = "refund"
    BONUS = "bonus"
    SUBSCRIPTION_RENEWAL = "subscription_renewal"
    SUBSCRIPTION_ACTIVATION = "subscription_activation"


class RenderStatus(enum.StrEnum):
    """Where a render is (reference §3.2); all but `queued` and `active` are terminal."""

    QUEUED = "queued"
    ACTIVE = "active"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"

    @property
    def is_terminal(self) -> bool:
        """Whether the render will not change any more."""
        return self not in (RenderStatus.QUEUED, RenderStatus.ACTIVE)


class BulkStatus(enum.StrEnum):
    """Where a bulk ZIP job is (reference §3.3)."""

    QUEUED = "queued"
    ACTIVE = "active"
    COMPLETED = "completed"
    FAILED = "failed"


class PostStatus(enum.StrEnum):
    """Where a post is (reference §3.4)."""

    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    PARTIAL = "partial"
    FAILED = "failed"


class PostItemStatus(enum.StrEnum):
    """Where one item (one clip to one account) of a post is (a reference GAP: our choice)."""

    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"


# `GET /balance/history` `reference_type` values (reference §2.1).
REFERENCE_TYPES = (
    "subscription",
    "refund",
    "bonus",
    "usage",
    "adjustment",
    "championship",
    "championship_prize",
    "championship_refund",
    "championship_period_prize",
    "championship_per_thousand_views",
    "credit_bundle",
    "workspace_transfer",
    "referral",
)
SOCIAL_PLATFORMS = (
    "tiktok",
    "youtube",
    "instagram",
    "threads",
    "bluesky",
    "linkedin",
    "pinterest",
    "facebook",
)
CLIP_SORTS = ("rating", "duration", "title", "start_time")
UPLOAD_EXTENSIONS = (".mp4", ".mov", ".webm", ".mkv")
MAX_UPLOAD_BYTES = 2 * 1024**3
MIN_VIDEO_SECONDS = 60
