"""Sample answers for the OpenAPI document's `example`s; the ones nested in others are here."""

from __future__ import annotations

from typing import Any

NOW = "2026-07-15T12:00:00.000Z"
LATER = "2026-07-15T12:05:00.000Z"
Example = dict[str, Any]

PAGINATION: Example = {
    "current_page": 1,
    "total_pages": 1,
    "total_count": 1,
    "has_next_page": False,
    "has_previous_page": False,
    "limit": 20,
}
TRANSACTION: Example = {
    "id": "tx00000200000042",
    "type": "debit",
    "amount": -10,
    "balance_after": 490,
    "reference_type": "usage",
    "reference_id": "s00000300000043",
    "description": "Clipping My video",
    "created_at": NOW,
}
VIDEO: Example = {
    "video_id": "v00000100000041",
    "title": "My video",
    "platform": "youtube",
    "duration": 600.0,
    "thumbnail_url": "https://cdn.cut.pro/thumbnails/v00000100000041.jpg",
    "created_at": NOW,
}
VIDEO_INFO: Example = {
    "video_id": "v00000100000041",
    "title": "My video",
    "description": "What the video is about",
    "author": "channel_42",
    "platform": "youtube",
    "duration": 600.0,
    "thumbnail_url": "https://cdn.cut.pro/thumbnails/v00000100000041.jpg",
    "credits_cost": 10.0,
    "credits_original": 10.0,
    "discount_percent": 0,
    "force_watermark": False,
    "current_balance": 500.0,
    "credits_unlimited": False,
}
SUBMISSION: Example = {
    "submission_id": "s00000300000043",
    "status": "queued",
    "created_at": NOW,
    "video_id": "v00000100000041",
    "error_code": None,
    "clips_count": 0,
    "queue_position": 1,
    "estimated_time": 95.0,
    "completed_at": None,
    "waiting_reason": None,
    "is_priority": False,
    "strategy_id": None,
    "timeframe": {"start": 0.0, "end": 600.0},
    "credit_cost": 10.0,
    "is_reclip": False,
}
CLIP: Example = {
    "id": "c00000400000044",
    "title": "The best minute",
    "description": "Why it works",
    "rating": 8.7,
    "keywords": ["startup", "health"],
    "start_time": 12.5,
    "end_time": 71.0,
    "language": "en",
    "created_at": NOW,
    "thumbnail_url": "https://cdn.cut.pro/thumbnails/c00000400000044.jpg",
    "download_url": "https://storage.cut.pro/files/clip/c00000400000044/c.mp4?sig=abc",
    "play_url": "https://storage.cut.pro/files/clip/c00000400000044/c.mp4?sig=abc",
    "has_template_applied": False,
}
TEMPLATE: Example = {
    "id": "80009919218057216",
    "name": "Bold captions",
    "description": "Big yellow captions",
    "category": "captions",
    "aspect_ratio": "9:16",
    "auto_add_captions": True,
    "is_public": False,
    "thumbnail_url": None,
}
RENDER: Example = {
    "render_id": "r00000500000045",
    "edit_setting_id": "e3f1a2b4c5d6e7f8a9b0c",
    "name": "The best minute",
    "status": "active",
    "progress": 42.5,
    "output_resolution": "1080p",
    "created_at": NOW,
    "started_at": NOW,
    "completed_at": None,
}
POST_ITEM: Example = {
    "id": "pi00000700000047",
    "connection_id": "cn00000600000046",
    "platform": "tiktok",
    "edit_id": "e3f1a2b4c5d6e7f8a9b0c",
    "status": "completed",
    "error": None,
    "published_url": "https://tiktok.example/p/pi00000700000047",
}
POST: Example = {
    "post_id": "p00000800000048",
    "status": "completed",
    "item_count": 1,
    "created_at": NOW,
    "scheduled_at": None,
    "items": [POST_ITEM],
}
CONNECTION: Example = {
    "id": "cn00000600000046",
    "platform": "tiktok",
    "name": "My tiktok",
    "username": "sim_tiktok",
    "status": "active",
    "created_at": NOW,
    "avatar_url": None,
}
RENDER_USAGE: Example = {
    "active_count": 1,
    "queued_count": 0,
    "total_pending": 1,
    "max_concurrent": 5,
}
RENDER_PLAN: Example = {
    "video_quality": "1080p",
    "watermark": False,
    "priority_processing": False,
    "max_concurrent_renders": 5,
    "render_expiry_hours": 72,
}
