"""Local video files: checks before any request, media probing, and the streamed PUT."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import IO

import aiohttp
import anyio
import attrs

from .._http import transport_error
from .._retry import backoff
from ..errors import LinkExpired, LocalFileError, TransferError, TransportError, UsageError
from ..models import MAX_UPLOAD_BYTES, MIN_VIDEO_SECONDS, UPLOAD_EXTENSIONS
from ._files import local_error, printable, redact_url
from .transfers import REFUSALS, Progress, Transfers, storage_wait

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
    """The size of an uploadable file; `UsageError` (before any request) when it is not one,
    `LocalFileError` when it cannot be read."""
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
    _local: LocalFileError | None = None  # reading the file failed (not the network)

    async def run(self) -> None:
        """Send the file; the PUT is idempotent, so transient failures are simply repeated.

        `LinkExpired` when storage refuses the URL (ask for a new upload); `LocalFileError`
        when the file cannot be read; `TransferError` when every attempt failed.
        """
        self.transfers.check_link(self.url)
        policy = self.transfers.retrier.policy

        def decide(exc: Exception, number: int) -> float | None:
            if isinstance(exc, _Transient):
                return exc.wait if exc.wait is not None else backoff(policy, number)
            return backoff(policy, number) if isinstance(exc, TransportError) else None

        what = f"upload to {redact_url(self.url)}"
        try:
            await self.transfers.retry(lambda _: self._put(what), decide, url=self.url, what=what)
        except (TransportError, _Transient) as exc:
            raise TransferError(f"{what} failed ({exc}); call again") from None

    async def _put(self, what: str) -> None:
        """One PUT: declared type and length, no API key, the body streamed from disk."""
        headers = {"Content-Type": self.content_type, "Content-Length": str(self.size)}
        session, timeout = self.transfers.session, self.transfers.timeout
        try:
            async with session.put(
                self.url, data=self._blocks(), headers=headers, timeout=timeout
            ) as resp:
                body = await resp.content.read(300)
        except (aiohttp.ClientError, TimeoutError) as exc:
            if self._local is not None:
                raise self._local from None  # aiohttp wraps the read error of the body
            raise transport_error(what, exc) from None
        said = printable(body, 300)
        if resp.status in (408, 429) or resp.status >= 500:
            raise _Transient(f"storage answered {resp.status}", storage_wait(resp, self.transfers))
        if resp.status in REFUSALS:
            raise LinkExpired(
                f"storage refused the upload ({resp.status}): the upload URL expired "
                f"or the file changed; start the upload again. {said}",
                status=resp.status,
            )
        if resp.status >= 300:
            raise TransferError(
                f"storage refused the upload ({resp.status}): {said}", status=resp.status
            )

    async def _blocks(self) -> AsyncIterator[bytes]:
        """The file in ~1 MiB blocks read off the event loop."""
        try:
            async for block in self._read_blocks():
                yield block
        except LocalFileError as exc:
            self._local = exc  # kept: aiohttp reports it as a connection error
            raise

    async def _read_blocks(self) -> AsyncIterator[bytes]:
        """The blocks of the file, with progress; `LocalFileError` when reading fails."""
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
                await self.transfers.in_thread(file.close)


def _open_binary(path: Path) -> IO[bytes]:
    """The file opened for reading bytes."""
    return path.open("rb")


class _Transient(Exception):
    """A storage answer worth repeating the PUT for (after `wait`, when it says)."""

    def __init__(self, message: str, wait: float | None) -> None:
        super().__init__(message)
        self.wait = wait
