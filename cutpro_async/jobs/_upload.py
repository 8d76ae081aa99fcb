"""Local video files: checks before any request, media probing, and the streamed PUT."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import IO

import aiohttp
import anyio
import attrs

from .._retry import backoff
from ..errors import LinkExpired, TransferError, UsageError
from ..models import MAX_UPLOAD_BYTES, MIN_VIDEO_SECONDS, UPLOAD_EXTENSIONS
from ._files import local_error, redact_url
from .transfers import Progress, Transfers

log = logging.getLogger("cutpro_async")
CHUNK = 1024 * 1024
CONTENT_TYPES = {
    ".mp4": "video/mp4",
    ".mov": "video/quicktime",
    ".webm": "video/webm",
    ".mkv": "video/x-matroska",
}


@attrs.frozen
class MediaInfo:
    """What the API needs to know about a local video."""

    duration: float
    width: int
    height: int


def check_file(path: Path) -> int:
    """The size of an uploadable file; `UsageError` (before any request) otherwise."""
    if path.suffix.lower() not in UPLOAD_EXTENSIONS:
        raise UsageError(f"{path.name}: CutPro accepts {', '.join(UPLOAD_EXTENSIONS)} files only")
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise local_error("read", path, exc) from None
    if not path.is_file() or size == 0:
        raise UsageError(f"{path}: not a non-empty regular file")
    if size > MAX_UPLOAD_BYTES:
        raise UsageError(
            f"{path.name} is {size / 1024**3:.2f} GiB; uploads are limited to 2 GB: "
            "cut or compress it first"
        )
    return size


def probe(path: Path) -> MediaInfo:
    """Duration, width and height read with MediaInfo (pymediainfo bundles libmediainfo)."""
    from pymediainfo import MediaInfo as Parser  # imported late: loads a shared library

    try:
        tracks = Parser.parse(path).tracks
    except (OSError, RuntimeError) as exc:
        raise UsageError(
            f"{path.name}: cannot read its media information ({exc}); pass "
            "duration=, width= and height= yourself"
        ) from None
    video = next((t for t in tracks if t.track_type == "Video"), None)
    general = next((t for t in tracks if t.track_type == "General"), None)
    milliseconds = getattr(video, "duration", None) or getattr(general, "duration", None)
    if video is None or not milliseconds or not video.width or not video.height:
        raise UsageError(f"{path.name}: no video track with a duration and a size was found")
    return MediaInfo(float(milliseconds) / 1000, int(video.width), int(video.height))


def check_duration(path: Path, duration: float) -> None:
    """Videos under a minute are refused by the API: refuse them before any request."""
    if duration < MIN_VIDEO_SECONDS:
        raise UsageError(
            f"{path.name} lasts {duration:.1f} s; CutPro needs at least {MIN_VIDEO_SECONDS} s"
        )


@attrs.define
class Upload:
    """The PUT of a file's bytes to a presigned URL, retried from the start when it fails."""

    transfers: Transfers
    url: str = attrs.field(repr=redact_url)
    path: Path
    size: int
    content_type: str
    on_progress: Progress | None = None

    async def run(self) -> None:
        """Send the file; the PUT is idempotent, so transient failures are simply repeated."""
        policy = self.transfers.retrier.policy

        def decide(exc: Exception, number: int) -> float | None:
            transient = isinstance(exc, aiohttp.ClientError | TimeoutError | _Transient)
            return backoff(policy, number) if transient else None

        what = f"upload to {redact_url(self.url)}"
        try:
            await self.transfers.retry(lambda _: self._put(), decide, url=self.url, what=what)
        except (aiohttp.ClientError, TimeoutError, _Transient) as exc:
            raise TransferError(f"{what} failed ({type(exc).__name__}); call again") from None

    async def _put(self) -> None:
        """One PUT: declared type and length, no API key, the body streamed from disk."""
        headers = {"Content-Type": self.content_type, "Content-Length": str(self.size)}
        session, timeout = self.transfers.session, self.transfers.timeout
        async with session.put(
            self.url, data=self._blocks(), headers=headers, timeout=timeout
        ) as resp:
            text = (await resp.read())[:300].decode("utf-8", "replace")
        if resp.status in (408, 429) or resp.status >= 500:
            raise _Transient(f"storage answered {resp.status}")
        if resp.status in (401, 403):
            raise LinkExpired(
                f"storage refused the upload ({resp.status}): the upload URL expired "
                f"or the file changed; start the upload again. {text}",
                status=resp.status,
            )
        if resp.status >= 300:
            raise TransferError(
                f"storage refused the upload ({resp.status}): {text}", status=resp.status
            )

    async def _blocks(self) -> AsyncIterator[bytes]:
        """The file in ~1 MiB blocks read off the event loop."""
        on_disk = self.transfers.on_disk
        file = await on_disk("read", self.path, _open_binary, self.path)
        sent = 0
        try:
            while block := await on_disk("read", self.path, file.read, CHUNK):
                sent += len(block)
                if self.on_progress is not None:
                    self.on_progress(sent, self.size)
                yield block
        finally:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(file.close, limiter=self.transfers.file_limiter)


def _open_binary(path: Path) -> IO[bytes]:
    """The file opened for reading bytes."""
    return path.open("rb")


class _Transient(Exception):
    """A storage answer worth repeating the PUT for."""
