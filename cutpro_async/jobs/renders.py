"""`renders` and `bulk_downloads` with waiting and streaming downloads."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Literal

from ..errors import BulkDownloadFailed, RenderFailed, UsageError
from ..models import BulkDownload, BulkStatus, DownloadLink, Render, RenderStatus
from ..resources import BulkDownloadsResource, RendersResource
from ._common import fetch_file, look, target_path
from ._download import LATE
from ._files import sanitize_filename
from ._partfile import Resume
from ._polling import wait_for, watch
from .transfers import Downloaded, Progress

DEFAULT_TIMEOUT = 3600.0
Namer = str | Callable[[DownloadLink], str]


def _render_done(render: Render) -> bool:
    """Terminal: completed, failed, cancelled or expired."""
    return render.status.is_terminal


def file_name(link: DownloadLink, render_id: str, name: Namer | None) -> str:
    """The local name: the server's (sanitised), a template, or a callable's answer.

    A template may use `{render_id}`, `{filename}` (the server's, sanitised), `{stem}`, `{ext}`.
    """
    if callable(name):
        return sanitize_filename(name(link))
    if name is not None and "{" not in name and "}" not in name:
        return sanitize_filename(name)  # a literal name: the server's is not needed
    server = sanitize_filename(link.filename or f"{render_id}.mp4")
    if name is None:
        return server
    stem, dot, ext = server.rpartition(".")
    fields = {
        "render_id": render_id,
        "filename": server,
        "stem": stem if dot else server,
        "ext": ext if dot else "",
    }
    try:
        return sanitize_filename(name.format(**fields))
    except (AttributeError, IndexError, KeyError, TypeError, ValueError) as exc:
        raise UsageError(
            f"bad name template {name!r}: {exc}; fields are {', '.join(fields)}"
        ) from None


class Renders(RendersResource):
    """Renders, plus `wait`, `watch` and `download`."""

    def watch(
        self, render_id: str, *, timeout: float | None = DEFAULT_TIMEOUT
    ) -> AsyncIterator[Render]:
        """Yield the render each time its status changes, until it is terminal."""
        return watch(
            lambda: self.get(render_id),
            _render_done,
            polling=self._transport.settings.polling,
            timeout=timeout,
            what=f"render {render_id}",
        )

    async def wait(
        self,
        render_id: str,
        *,
        timeout: float | None = DEFAULT_TIMEOUT,
        on_update: Callable[[Render], object] | None = None,
    ) -> Render:
        """Poll until `completed`; `RenderFailed` if it fails, is cancelled or expires."""
        final = await wait_for(
            lambda: self.get(render_id),
            _render_done,
            polling=self._transport.settings.polling,
            timeout=timeout,
            what=f"render {render_id}",
            on_update=on_update,
        )
        if final.status is not RenderStatus.COMPLETED:
            raise RenderFailed(
                f"render {render_id} ended {final.status}; render the clip again",
                job_id=render_id,
                status=final.status.value,
                error_code=None,
            )
        return final

    async def download(
        self,
        render_id: str,
        folder: str | Path = ".",
        *,
        name: Namer | None = None,
        on_progress: Progress | None = None,
        link: DownloadLink | None = None,
        sync_folder: bool = True,
    ) -> Downloaded:
        """Stream a completed render's MP4 into `folder`; returns the file (`.path`,
        `.sha256`, ...), checked to be a whole MP4 and durable under its name.

        A file already there under that name is complete (only verified files get their
        final name) and is not downloaded again; a `.part` left behind is resumed. `link`
        is the render's `download_link` if the caller has it already (one request fewer) and
        expects no file there yet: the request is then sent at once, and the disk is looked
        at once its answer is in (for a small file, in the one trip that writes it), so a
        file already complete is still kept as it is, though its bytes were asked for again.
        `sync_folder=False`: the bytes are durable but the rename is not until the caller
        fsyncs `folder` (a batch does it once for many files, with its record's commit).
        """
        first: Resume | Literal["late"] | None = LATE if link is not None else None
        looked = None
        if link is None and isinstance(name, str) and "{" not in name:
            looked = target_path(folder, sanitize_filename(name))
            done, first = await look(self._transport, looked)
            if done is not None:
                return done
        if link is None:
            link = await self.download_link(render_id)
        path = target_path(folder, file_name(link, render_id, name))
        if looked is not None and path != looked:  # `}}` in a name: not the file looked at
            first = None

        async def refresh() -> str:
            return (await self.download_link(render_id)).url

        return await fetch_file(
            self._transport,
            link.url,
            path,
            refresh=refresh,
            kind="mp4",
            on_progress=on_progress,
            first=first,
            sync_folder=sync_folder,
        )


def _bulk_done(job: BulkDownload) -> bool:
    """Terminal: completed or failed."""
    return job.status.is_terminal


class BulkDownloads(BulkDownloadsResource):
    """Bulk ZIP jobs, plus `wait` and `download`."""

    async def wait(
        self,
        job_id: str,
        *,
        timeout: float | None = DEFAULT_TIMEOUT,
        on_update: Callable[[BulkDownload], object] | None = None,
    ) -> BulkDownload:
        """Poll until the ZIP is ready; `BulkDownloadFailed` if the job fails."""
        final = await wait_for(
            lambda: self.get(job_id),
            _bulk_done,
            polling=self._transport.settings.polling,
            timeout=timeout,
            what=f"bulk download {job_id}",
            on_update=on_update,
        )
        if final.status is not BulkStatus.COMPLETED:
            raise BulkDownloadFailed(
                f"bulk download {job_id} failed ({final.error_code}); start another",
                job_id=job_id,
                status=final.status.value,
                error_code=final.error_code,
            )
        return final

    async def download(
        self,
        job_id: str,
        folder: str | Path = ".",
        *,
        name: str | None = None,
        on_progress: Progress | None = None,
    ) -> Downloaded:
        """Wait for the ZIP if needed, then stream it into `folder`; returns the file, checked
        to be a whole ZIP of the size the API states."""
        job = await self.wait(job_id)
        assert job.download_url is not None
        path = target_path(folder, sanitize_filename(name or job.filename or f"{job_id}.zip"))

        async def refresh() -> str:
            url = (await self.get(job_id)).download_url
            if url is None:
                raise UsageError(f"bulk download {job_id} has no link any more; start another")
            return url

        return await fetch_file(
            self._transport,
            job.download_url,
            path,
            refresh=refresh,
            expected_size=job.file_size,
            kind="zip",
            on_progress=on_progress,
        )
