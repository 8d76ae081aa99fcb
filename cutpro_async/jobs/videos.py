"""`videos` with `upload`: a local file in three steps, checked before any request."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ..errors import LinkExpired
from ..models import UploadTicket, VideoInfo
from ..resources import VideosResource
from ._download import RENEWALS
from ._threads import in_thread
from ._upload import CONTENT_TYPES, MediaInfo, Upload, check_duration, check_file, probe
from .transfers import Transfers


class Videos(VideosResource):
    """Videos, plus `upload`."""

    async def upload(
        self,
        path: str | Path,
        *,
        duration: float | None = None,
        width: int | None = None,
        height: int | None = None,
        on_progress: Callable[[int, int | None], object] | None = None,
    ) -> VideoInfo:
        """Upload a local video and register it; returns its info and credit cost.

        Extension, file size (<= 2 GB) and duration (>= 60 s) are checked before any request.
        Duration, width and height are read with MediaInfo unless all three are given. When
        storage refuses the upload URL as expired, a new upload is started (at most
        `RENEWALS` times).
        """
        file = Path(path)
        size = await in_thread(self._transport.file_threads, check_file, file)
        media = await self._media(file, duration, width, height)
        check_duration(file, media.duration)
        content_type = CONTENT_TYPES[file.suffix.lower()]
        transfers = Transfers.of(self._transport)

        async def attempt(number: int) -> UploadTicket:
            ticket = await self.start_upload(file.name, size, content_type)
            await Upload(transfers, ticket.upload_url, file, size, content_type, on_progress).run()
            return ticket

        def decide(exc: Exception, number: int) -> float | None:
            return 0.0 if isinstance(exc, LinkExpired) else None  # a new upload URL at once

        ticket = await transfers.retrier.call(
            attempt, decide, what=f"upload of {file.name}", host=None, attempts=RENEWALS + 1
        )
        return await self.complete_upload(
            ticket.video_id,
            file.name,
            duration=media.duration,
            width=media.width,
            height=media.height,
        )

    async def _media(
        self, file: Path, duration: float | None, width: int | None, height: int | None
    ) -> MediaInfo:
        """The caller's figures, or the file's own read off the event loop."""
        if duration is not None and width is not None and height is not None:
            return MediaInfo(float(duration), int(width), int(height))
        found = await in_thread(self._transport.file_threads, probe, file)
        return MediaInfo(duration or found.duration, width or found.width, height or found.height)
