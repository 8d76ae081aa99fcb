"""The JSON shapes the simulator serves and accepts: the `components.schemas` of its OpenAPI
document, written from the API reference (section numbers below are `cutpro-api.md`'s).

This is the simulator's single source of shapes: handlers build answers with `_wire.body`,
which refuses keys these schemas do not name, and `_openapi` serves them. Nothing here comes
from the client's models, so a wrong client model is caught by the contract test instead of
being repeated here. Every response schema carries an `example`.

Response properties are all `required` (the simulator always sends every key, `null` where the
reference says a value may be absent) except where the reference's two shapes of one object
differ (a submission's list row and its `GET` answer).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from typing import Any

from ._enums import (
    MAX_UPLOAD_BYTES,
    REFERENCE_TYPES,
    SOCIAL_PLATFORMS,
    BulkStatus,
    PostItemStatus,
    PostStatus,
    RenderStatus,
    SourceLanguage,
    SubmissionStatus,
    TransactionType,
)
from ._examples import (
    CLIP,
    CONNECTION,
    LATER,
    NOW,
    PAGINATION,
    POST,
    POST_ITEM,
    RENDER,
    RENDER_PLAN,
    RENDER_USAGE,
    SUBMISSION,
    TEMPLATE,
    TRANSACTION,
    VIDEO,
    VIDEO_INFO,
)

Schema = dict[str, Any]
STRING: Schema = {"type": "string"}
NUMBER: Schema = {"type": "number"}
INTEGER: Schema = {"type": "integer"}
BOOLEAN: Schema = {"type": "boolean"}
TIME: Schema = {"type": "string", "format": "date-time"}
OBJECT: Schema = {"type": "object"}


def ref(name: str) -> Schema:
    """A reference to another component."""
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: Schema) -> Schema:
    """`schema` or `null`."""
    return {"anyOf": [schema, {"type": "null"}]}


def array(items: Schema) -> Schema:
    """A JSON array of `items`."""
    return {"type": "array", "items": items}


def status(kind: type[enum.StrEnum], description: str) -> Schema:
    """A status string: the known values as examples, since the API may add more later."""
    return {"type": "string", "examples": [m.value for m in kind], "description": description}


def choice(values: Iterable[str]) -> Schema:
    """A request string limited to `values` (the simulator refuses anything else)."""
    return {"type": "string", "enum": list(values)}


def obj(
    description: str,
    properties: dict[str, Schema],
    example: dict[str, Any] | None = None,
    optional: Iterable[str] = (),
) -> Schema:
    """An object schema whose properties are required unless named in `optional`."""
    left_out = set(optional)
    schema: Schema = {
        "type": "object",
        "description": description,
        "properties": properties,
        "required": [name for name in properties if name not in left_out],
    }
    if example is not None:
        schema["example"] = example
    return schema


def page(description: str, key: str, item: str, item_example: dict[str, Any]) -> Schema:
    """A list answer: `{<key>: [item...], pagination}` (reference §1, Pagination)."""
    properties = {key: array(ref(item)), "pagination": ref("Pagination")}
    return obj(description, properties, {key: [item_example], "pagination": PAGINATION})


_ACCOUNT: dict[str, Schema] = {
    "Pagination": obj(
        "The `pagination` object of every list answer.",
        {
            "current_page": INTEGER,
            "total_pages": INTEGER,
            "total_count": INTEGER,
            "has_next_page": BOOLEAN,
            "has_previous_page": BOOLEAN,
            "limit": INTEGER,
        },
        PAGINATION,
    ),
    "ErrorBody": obj(
        "Every error answer: branch on `code` and `extra`, never on `message` (§4.1).",
        {"code": STRING, "message": STRING, "extra": OBJECT},
        {"code": "INSUFFICIENT_CREDITS", "message": "this job needs 10 credits", "extra": {}},
    ),
    "Deleted": obj(
        "Answer of a delete when the simulator answers 200 instead of 204 (`delete_status`).",
        {},
        {},
    ),
    "Workspace": obj(
        "The workspace the request resolved to (§2.1 #1).",
        {
            "id": STRING,
            "name": STRING,
            "is_personal": BOOLEAN,
            "status": STRING,
            "role": {"type": "string", "examples": ["admin", "member"]},
            "plan_id": STRING,
            "plan_name": nullable(STRING),
            "plan_is_free": BOOLEAN,
            "credits": NUMBER,
            "seat_count": INTEGER,
            "max_total_seats": INTEGER,
            "member_count": INTEGER,
            "created_at": TIME,
        },
        {
            "id": "pw27390459223474176",
            "name": "My workspace",
            "is_personal": True,
            "status": "active",
            "role": "admin",
            "plan_id": "plan_pro",
            "plan_name": "Pro",
            "plan_is_free": False,
            "credits": 500.0,
            "seat_count": 0,
            "max_total_seats": 3,
            "member_count": 1,
            "created_at": NOW,
        },
    ),
    "Balance": obj("The credit balance (§2.1 #2).", {"balance": NUMBER}, {"balance": 500.0}),
    "Transaction": obj(
        "One ledger row: a signed `amount` (negative for debits) and the balance after it.",
        {
            "id": STRING,
            "type": status(TransactionType, "What kind of movement this is."),
            "amount": NUMBER,
            "balance_after": NUMBER,
            "reference_type": {"type": "string", "examples": list(REFERENCE_TYPES)},
            "reference_id": nullable(STRING),
            "description": STRING,
            "created_at": TIME,
        },
        TRANSACTION,
    ),
    "TransactionPage": page(
        "The credit ledger, newest first.", "transactions", "Transaction", TRANSACTION
    ),
}

_VIDEOS: dict[str, Schema] = {
    "Video": obj(
        "A source video of the workspace library (§2.2 #4).",
        {
            "video_id": STRING,
            "title": STRING,
            "platform": STRING,
            "duration": NUMBER,
            "thumbnail_url": STRING,
            "created_at": TIME,
        },
        VIDEO,
    ),
    "VideoPage": page("The video library.", "videos", "Video", VIDEO),
    "VideoInfo": obj(
        "Metadata and exact credit cost of a video (§2.3 #8, §2.2 #7).",
        {
            "video_id": STRING,
            "title": STRING,
            "description": STRING,
            "author": STRING,
            "platform": STRING,
            "duration": NUMBER,
            "thumbnail_url": STRING,
            "credits_cost": NUMBER,
            "credits_original": NUMBER,
            "discount_percent": NUMBER,
            "force_watermark": BOOLEAN,
            "current_balance": NUMBER,
            "credits_unlimited": BOOLEAN,
        },
        VIDEO_INFO,
        optional=("credits_unlimited",),  # newer API only (§2.3 #8)
    ),
    "AnalyzeRequest": obj("Body of `POST /clips/info`.", {"url": STRING}),
    "StartUploadRequest": obj(
        "Body of `POST /videos/upload`.",
        {
            "file_name": STRING,
            "file_size": {"type": "integer", "minimum": 1, "maximum": MAX_UPLOAD_BYTES},
            "content_type": {"type": "string", "default": "video/mp4"},
        },
        optional=("content_type",),
    ),
    "UploadTicket": obj(
        "A reserved `video_id` and the presigned PUT URL for its bytes (§2.2 #6).",
        {"video_id": STRING, "upload_url": STRING, "expires_in": NUMBER},
        {
            "video_id": "v00000100000041",
            "upload_url": "https://storage.cut.pro/uploads/v00000100000041?sig=abc",
            "expires_in": 3600,
        },
    ),
    "CompleteUploadRequest": obj(
        "Body of `POST /videos/upload/complete`.",
        {
            "video_id": STRING,
            "file_name": STRING,
            "duration": NUMBER,
            "width": INTEGER,
            "height": INTEGER,
        },
    ),
}

_SUBMISSIONS: dict[str, Schema] = {
    "Timeframe": obj(
        "The processed segment in seconds: start inclusive, end exclusive.",
        {"start": NUMBER, "end": NUMBER},
        {"start": 0.0, "end": 600.0},
    ),
    "SubmitRequest": obj(
        "Body of `POST /clips` (spends credits).",
        {
            "video_id": STRING,
            "source_language": {**choice(SourceLanguage), "default": "auto"},
            "strategy_id": nullable(STRING),
            "timeframe": nullable(ref("Timeframe")),
            "template_id": nullable(STRING),
        },
        optional=("source_language", "strategy_id", "timeframe", "template_id"),
    ),
    "SubmissionCreated": obj(
        "The 201 answer of `POST /clips` (§2.3 #9).",
        {
            "submission_id": STRING,
            "video_id": STRING,
            "status": status(SubmissionStatus, "Always `queued` here."),
            "credits_charged": NUMBER,
        },
        {
            "submission_id": "s00000300000043",
            "video_id": "v00000100000041",
            "status": "queued",
            "credits_charged": 10.0,
        },
    ),
    "Submission": obj(
        "A clipping job: the union of a list row (§2.3 #10) and the `GET` answer (#11).",
        {
            "submission_id": STRING,
            "status": status(SubmissionStatus, "Terminal: completed, failed."),
            "created_at": TIME,
            "video_id": STRING,
            "error_code": nullable(STRING),
            "clips_count": INTEGER,
            "queue_position": nullable(INTEGER),
            "estimated_time": nullable(NUMBER),
            "completed_at": nullable(TIME),
            "waiting_reason": nullable(STRING),
            "is_priority": BOOLEAN,
            "strategy_id": nullable(STRING),
            "timeframe": ref("Timeframe"),
            "credit_cost": NUMBER,
            "is_reclip": BOOLEAN,
        },
        SUBMISSION,
        # In one of the reference's two shapes only.
        optional=(
            "video_id",
            "waiting_reason",
            "is_priority",
            "strategy_id",
            "timeframe",
            "credit_cost",
            "is_reclip",
        ),
    ),
    "SubmissionPage": page(
        "One video's submissions, newest first.", "submissions", "Submission", SUBMISSION
    ),
}

_CLIPS: dict[str, Schema] = {
    "Clip": obj(
        "An AI-generated clip; its links are signed and time-limited (§2.4 #13).",
        {
            "id": STRING,
            "title": STRING,
            "description": STRING,
            "rating": {"type": "number", "minimum": 0, "maximum": 10},
            "keywords": array(STRING),
            "start_time": NUMBER,
            "end_time": NUMBER,
            "language": STRING,
            "created_at": TIME,
            "thumbnail_url": STRING,
            "download_url": STRING,
            "play_url": STRING,
            "has_template_applied": BOOLEAN,
        },
        CLIP,
    ),
    "ClipPage": page("A submission's clips.", "clips", "Clip", CLIP),
    "ApplyTemplateRequest": obj(
        "Body of `POST .../apply_template` (`clip_ids` omitted: every clip).",
        {"template_id": STRING, "clip_ids": nullable(array(STRING))},
        optional=("clip_ids",),
    ),
    "TemplateApplied": obj(
        "How many clips the template goes to.", {"total": INTEGER}, {"total": 3}
    ),
    "Template": obj(
        "An editing template, read-only through the API (§2.4 #16).",
        {
            "id": STRING,
            "name": STRING,
            "description": nullable(STRING),
            "category": nullable(STRING),
            "aspect_ratio": nullable(STRING),
            "auto_add_captions": BOOLEAN,
            "is_public": BOOLEAN,
            "thumbnail_url": nullable(STRING),
        },
        TEMPLATE,
    ),
    "TemplatePage": page("Templates.", "templates", "Template", TEMPLATE),
}

_RENDERS: dict[str, Schema] = {
    "RenderCreated": obj(
        "Answer of a render request: 202 queued, or 200 from the render cache (§2.5 #17).",
        {
            "render_id": STRING,
            "edit_setting_id": STRING,
            "status": status(RenderStatus, "`queued`, or `completed` from the cache."),
            "output_resolution": nullable(STRING),
            "from_cache": BOOLEAN,
            "download_url": nullable(STRING),
            "has_watermark": BOOLEAN,
        },
        {
            "render_id": "r00000500000045",
            "edit_setting_id": "e3f1a2b4c5d6e7f8a9b0c",
            "status": "queued",
            "output_resolution": "1080p",
            "from_cache": False,
            "download_url": None,
            "has_watermark": False,
        },
    ),
    "Render": obj(
        "A render job (§2.5 #20).",
        {
            "render_id": STRING,
            "edit_setting_id": STRING,
            "name": nullable(STRING),
            "status": status(RenderStatus, "All but queued and active are terminal."),
            "progress": {"type": "number", "minimum": 0, "maximum": 100},
            "output_resolution": nullable(STRING),
            "created_at": TIME,
            "started_at": nullable(TIME),
            "completed_at": nullable(TIME),
        },
        RENDER,
    ),
    "RenderPage": page("The workspace's renders, newest first.", "renders", "Render", RENDER),
    "RenderUsage": obj(
        "Renders running and waiting now, against the cap.",
        {
            "active_count": INTEGER,
            "queued_count": INTEGER,
            "total_pending": INTEGER,
            "max_concurrent": INTEGER,
        },
        RENDER_USAGE,
    ),
    "RenderPlan": obj(
        "What the plan allows for renders.",
        {
            "video_quality": STRING,
            "watermark": BOOLEAN,
            "priority_processing": BOOLEAN,
            "max_concurrent_renders": INTEGER,
            "render_expiry_hours": NUMBER,
        },
        RENDER_PLAN,
    ),
    "RenderLimits": obj(
        "Render quota and concurrency of the workspace (§2.5 #19).",
        {"usage": ref("RenderUsage"), "plan": ref("RenderPlan")},
        {"usage": RENDER_USAGE, "plan": RENDER_PLAN},
    ),
    "DownloadLink": obj(
        "A signed link to a finished file, valid for an hour (§2.5 #21).",
        {"url": STRING, "filename": STRING},
        {"url": "https://storage.cut.pro/files/render/r1/clip.mp4?sig=abc", "filename": "clip.mp4"},
    ),
    "BulkDownloadRequest": obj(
        "Body of `POST /renders/bulk-download`.",
        {"render_ids": {**array(STRING), "minItems": 1, "maxItems": 100, "uniqueItems": True}},
    ),
    "BulkDownloadCreated": obj(
        "Answer of `POST /renders/bulk-download`: a job to poll.",
        {"job_id": STRING, "status": status(BulkStatus, "Always `queued` here.")},
        {"job_id": "b00000900000049", "status": "queued"},
    ),
    "BulkDownload": obj(
        "A bulk ZIP job; link, size and name appear once completed (§2.5 #24).",
        {
            "job_id": STRING,
            "status": status(BulkStatus, "Terminal: completed, failed."),
            "progress": {"type": "number", "minimum": 0, "maximum": 100},
            "render_count": INTEGER,
            "created_at": TIME,
            "expires_at": TIME,
            "file_size": nullable(INTEGER),
            "error_code": nullable(STRING),
            "completed_at": nullable(TIME),
            "download_url": nullable(STRING),
            "filename": nullable(STRING),
        },
        {
            "job_id": "b00000900000049",
            "status": "completed",
            "progress": 100.0,
            "render_count": 1,
            "created_at": NOW,
            "expires_at": LATER,
            "file_size": 262366,
            "error_code": None,
            "completed_at": NOW,
            "download_url": "https://storage.cut.pro/files/bulk/b1/renders.zip?sig=abc",
            "filename": "cutpro-renders-b00000900000049.zip",
        },
    ),
}

_METADATA: Schema = {
    "type": "object",
    "description": "Per-platform settings, keyed by platform.",
    "propertyNames": choice(SOCIAL_PLATFORMS),
    "additionalProperties": OBJECT,
}
_POSTS: dict[str, Schema] = {
    "PostTarget": obj(
        "One account to publish to (`connectionId` from `GET /connections`).",
        {"connectionId": STRING, "metadata": _METADATA},
        optional=("metadata",),
    ),
    "PostVideo": obj(
        "One render, by its `edit_setting_id`, and where to publish it.",
        {"editId": STRING, "targets": {**array(ref("PostTarget")), "minItems": 1}},
    ),
    "CreatePostRequest": obj(
        "Body of `POST /posts` (`scheduled_at` omitted: publish now).",
        {"videos": {**array(ref("PostVideo")), "minItems": 1}, "scheduled_at": nullable(TIME)},
        optional=("scheduled_at",),
    ),
    "PostItemChange": obj(
        "A change to one item of a pending post.",
        {"id": STRING, "metadata": _METADATA},
        optional=("metadata",),
    ),
    "UpdatePostRequest": obj(
        "Body of `PATCH /posts/{id}`.",
        {"scheduled_at": nullable(TIME), "items": nullable(array(ref("PostItemChange")))},
        optional=("scheduled_at", "items"),
    ),
    "PostCreated": obj(
        "Answer of `POST /posts` (§2.6 #25).",
        {
            "post_id": STRING,
            "item_count": INTEGER,
            "status": status(PostStatus, "`pending` or `processing` here."),
            "scheduled_at": nullable(TIME),
        },
        {"post_id": "p00000800000048", "item_count": 1, "status": "pending", "scheduled_at": LATER},
    ),
    "PostItem": obj(
        "One clip to one account, with its own status.",
        {
            "id": STRING,
            "connection_id": STRING,
            "platform": STRING,
            "edit_id": STRING,
            "status": status(PostItemStatus, "Terminal: completed, failed."),
            "error": nullable(STRING),
            "published_url": nullable(STRING),
        },
        POST_ITEM,
    ),
    "Post": obj(
        "A post with its items (§3.4).",
        {
            "post_id": STRING,
            "status": status(PostStatus, "Terminal: completed, partial, failed."),
            "item_count": INTEGER,
            "created_at": TIME,
            "scheduled_at": nullable(TIME),
            "items": array(ref("PostItem")),
        },
        POST,
    ),
    "PostPage": page("Posts, newest first.", "posts", "Post", POST),
    "Connection": obj(
        "A connected social account (§2.7).",
        {
            "id": STRING,
            "platform": STRING,
            "name": STRING,
            "username": STRING,
            "status": STRING,
            "created_at": TIME,
            "avatar_url": nullable(STRING),
        },
        CONNECTION,
    ),
    "ConnectionPage": page("Connected accounts.", "connections", "Connection", CONNECTION),
}

SCHEMAS: dict[str, Schema] = {**_ACCOUNT, **_VIDEOS, **_SUBMISSIONS, **_CLIPS, **_RENDERS, **_POSTS}
