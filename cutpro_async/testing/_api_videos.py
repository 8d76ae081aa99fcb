"""Video library, URL analysis and the three-step upload."""

from __future__ import annotations

import math
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import quote

from aiohttp import web

from ._content import describe, platform_of
from ._enums import MAX_UPLOAD_BYTES, MIN_VIDEO_SECONDS, UPLOAD_EXTENSIONS
from ._failure import ApiFailure, invalid, not_found
from ._params import field, json_body, number, optional, paginate, query_choice
from ._routing import API_KEY, Route, deleted, json_response, workspace_of, world_of
from ._wire import wire
from ._world import Upload, VideoRec, WorkspaceState, World, lookup


def credits_for(world: World, seconds: float) -> float:
    """1 credit per processed minute, rounded up, after the plan discount."""
    # Rounded first: 64.4 - 4.4 is 60.000000000000007 seconds, which is one minute.
    return math.ceil(round(seconds, 6) / 60) * (1 - world.config.discount_percent / 100)


def video_info(world: World, ws: WorkspaceState, video: VideoRec) -> dict[str, Any]:
    """The analyze-shaped description of a video, with its exact cost."""
    return wire(
        "VideoInfo",
        video_id=video.video_id,
        title=video.title,
        description=video.description,
        author=video.author,
        platform=video.platform,
        duration=video.duration,
        thumbnail_url=thumbnail(video.video_id),
        credits_cost=credits_for(world, video.duration),
        credits_original=float(math.ceil(video.duration / 60)),
        discount_percent=world.config.discount_percent,
        force_watermark=False,
        current_balance=ws.balance,
        credits_unlimited=False,
    )


def thumbnail(ident: str) -> str:
    """A (not served) thumbnail URL."""
    return f"https://cdn.cut.pro/thumbnails/{quote(ident)}.jpg"


def check_length(duration: float) -> None:
    """Videos under a minute are refused."""
    if duration < MIN_VIDEO_SECONDS:
        raise ApiFailure(
            422,
            "VIDEO_TOO_SHORT",
            f"videos must be at least {MIN_VIDEO_SECONDS} s long, got {duration:g} s",
            {"min_duration": MIN_VIDEO_SECONDS, "duration": duration},
        )


async def analyze_video(request: web.Request) -> web.Response:
    """`POST /clips/info`: metadata and cost of a public URL (free, 10/minute)."""
    world, ws = world_of(request), workspace_of(request)
    world.check_rate(request[API_KEY], world.config.analyze_limit, world.config.analyze_window)
    url = field(await json_body(request), "url", str)
    platform = platform_of(url)
    if platform is None:
        raise invalid("url", "must be a public http(s) video URL", "INVALID_URL")
    source = describe(url)
    check_length(source.duration)
    video_id = ws.video_by_url.get(url) if world.config.same_video_for_same_url else None
    if video_id is None or video_id not in ws.videos:
        video_id = world.new_id("v")
        ws.videos[video_id] = VideoRec(
            video_id,
            source.title,
            source.description,
            source.author,
            platform,
            source.duration,
            world.clock.now(),
            unavailable=source.unavailable,
            in_library=True,
            url=url,
        )
        ws.video_by_url[url] = video_id
        world.changed("video", video_id, workspace=ws.id)
    return json_response(video_info(world, ws, ws.videos[video_id]))


async def list_videos(request: web.Request) -> web.Response:
    """`GET /clips`: the video library, most recent first (or by title)."""
    world, ws = world_of(request), workspace_of(request)
    sort = query_choice(request, "sort", ("recent", "oldest", "title"), "recent")
    videos = [v for v in ws.videos.values() if v.in_library]
    videos.sort(key=lambda v: v.title if sort == "title" else v.created, reverse=sort == "recent")
    page, info = paginate(request, videos)
    items = [
        wire(
            "Video",
            video_id=v.video_id,
            title=v.title,
            platform=v.platform,
            duration=v.duration,
            thumbnail_url=thumbnail(v.video_id),
            created_at=world.clock.iso(v.created),
        )
        for v in page
    ]
    return json_response(wire("VideoPage", videos=items, pagination=info))


async def delete_video(request: web.Request) -> web.Response:
    """`DELETE /clips/{videoId}`: the video with its submissions and clips."""
    world, ws = world_of(request), workspace_of(request)
    video = lookup(ws.videos, "video", request.match_info["videoId"])
    del ws.videos[video.video_id]
    gone = [s.submission_id for s in ws.submissions.values() if s.video_id == video.video_id]
    for sub_id in gone:
        del ws.submissions[sub_id]
    world.changed("video", video.video_id)
    world.changed("submission", *gone)
    return deleted(request)


async def start_upload(request: web.Request) -> web.Response:
    """`POST /videos/upload`: reserve a video id and a presigned PUT URL."""
    world, ws = world_of(request), workspace_of(request)
    body = await json_body(request)
    name = field(body, "file_name", str)
    size = field(body, "file_size", int)
    content_type = optional(body, "content_type", str) or "video/mp4"
    if PurePosixPath(name).suffix.lower() not in UPLOAD_EXTENSIONS:
        raise invalid(
            "file_name",
            f"extension must be one of {', '.join(UPLOAD_EXTENSIONS)}",
            "UNSUPPORTED_FILE_TYPE",
        )
    if size <= 0:
        raise invalid("file_size", f"must be a positive number of bytes, got {size}")
    if size > MAX_UPLOAD_BYTES:
        raise ApiFailure(
            413,
            "FILE_TOO_LARGE",
            f"file_size must be at most {MAX_UPLOAD_BYTES} bytes (2 GB)",
            {"field": "file_size", "max_bytes": MAX_UPLOAD_BYTES},
        )
    if not content_type.startswith("video/"):
        raise invalid("content_type", "must be a video/* media type")
    video_id = world.new_id("v")
    ttl = world.config.upload_ttl
    upload = Upload(name, size, content_type, world.clock.now() + ttl)
    ws.videos[video_id] = VideoRec(
        video_id, name, "", "", "upload", 0.0, world.clock.now(), upload=upload
    )
    world.changed("video", video_id, workspace=ws.id)
    url = world.signer.sign(f"/uploads/{video_id}", ttl)
    return json_response(wire("UploadTicket", video_id=video_id, upload_url=url, expires_in=ttl))


async def complete_upload(request: web.Request) -> web.Response:
    """`POST /videos/upload/complete`: register the uploaded file and price it."""
    world, ws = world_of(request), workspace_of(request)
    body = await json_body(request)
    video_id = field(body, "video_id", str)
    name = field(body, "file_name", str)
    duration = number(body, "duration")
    width, height = field(body, "width", int), field(body, "height", int)
    video = ws.videos.get(video_id)
    if video is None or video.upload is None:
        raise not_found("video", video_id)
    if video.upload.received is None:
        raise ApiFailure(
            404, "FILE_NOT_FOUND", "no uploaded file for this video: PUT it to upload_url first"
        )
    if width <= 0 or height <= 0:
        raise invalid("width", "width and height must be positive pixels")
    assert duration is not None
    check_length(duration)
    video.title, video.duration, video.in_library = name, duration, True
    world.changed("video", video_id, workspace=ws.id)
    return json_response(video_info(world, ws, video))


ROUTES = [
    Route(
        "GET",
        "/clips",
        list_videos,
        "listVideos",
        "The workspace's source-video library.",
        response="VideoPage",
        query=("page", "limit", "sort"),
    ),
    Route(
        "DELETE",
        "/clips/{videoId}",
        delete_video,
        "deleteVideo",
        "Delete a source video with its submissions and clips.",
        status=204,
    ),
    Route(
        "POST",
        "/videos/upload",
        start_upload,
        "startUpload",
        "Reserve a video_id and a presigned PUT URL for a local file.",
        request="StartUploadRequest",
        response="UploadTicket",
    ),
    Route(
        "POST",
        "/videos/upload/complete",
        complete_upload,
        "completeUpload",
        "Register a finished upload; returns metadata and credit cost.",
        request="CompleteUploadRequest",
        response="VideoInfo",
    ),
    Route(
        "POST",
        "/clips/info",
        analyze_video,
        "analyzeVideo",
        "Preview a public video URL: metadata and credit cost (free, 10 requests/minute).",
        request="AnalyzeRequest",
        response="VideoInfo",
    ),
]
