"""`videos`: the library, URL analysis, and the upload steps."""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import urlsplit

from ..errors import UsageError
from ..models import (
    AnalyzeRequest,
    CompleteUploadRequest,
    StartUploadRequest,
    UploadTicket,
    Video,
    VideoInfo,
    VideoPage,
)
from ._base import Resource, page_params, walk


class VideosResource(Resource):
    """Source videos: `GET /clips`, `DELETE /clips/{id}`, `/clips/info`, `/videos/upload`."""

    async def list(self, *, page: int = 1, limit: int = 20, sort: str | None = None) -> VideoPage:
        """One page of the video library."""
        return await self._typed(
            VideoPage, "GET", "/clips", params=page_params(page, limit, sort=sort)
        )

    def iter(self, *, sort: str | None = None) -> AsyncIterator[Video]:
        """Every video of the library."""
        return walk(lambda p: self.list(page=p, limit=100, sort=sort))

    async def delete(self, video_id: str) -> None:
        """Delete a video with its submissions and clips."""
        await self._raw("DELETE", "/clips/{videoId}", ids={"videoId": video_id})

    async def analyze(self, url: str) -> VideoInfo:
        """Metadata and exact credit cost of a public video URL (free; paced to 10/minute)."""
        _check_video_url(url)
        body = AnalyzeRequest(url=url)
        return await self._typed(VideoInfo, "POST", "/clips/info", json=body, safe=True)

    async def start_upload(
        self, file_name: str, file_size: int, content_type: str = "video/mp4"
    ) -> UploadTicket:
        """Reserve a video id and a presigned PUT URL (step 1 of an upload)."""
        body = StartUploadRequest(
            file_name=file_name, file_size=file_size, content_type=content_type
        )
        return await self._typed(UploadTicket, "POST", "/videos/upload", json=body, safe=True)

    async def complete_upload(
        self, video_id: str, file_name: str, *, duration: float, width: int, height: int
    ) -> VideoInfo:
        """Register an uploaded file (step 3 of an upload); returns its cost."""
        body = CompleteUploadRequest(video_id, file_name, duration, width, height)
        return await self._typed(VideoInfo, "POST", "/videos/upload/complete", json=body, safe=True)


def _check_video_url(url: object) -> None:
    """Refuse, before anything is sent, what cannot be a public http(s) video URL."""
    if not isinstance(url, str):
        raise UsageError(f"url must be a string, got {type(url).__name__}")
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        shown = f"a {parts.scheme}: URL" if parts.scheme else "no URL scheme"
        raise UsageError(
            f"only public http(s) video URLs can be analyzed, got {shown}; "
            "for a file on this machine call videos.upload(path)"
        )
