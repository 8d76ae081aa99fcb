"""`renders` of clips into MP4s, and `bulk_downloads` that zip several renders."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

from ..errors import AlreadyInProgress, NotFound, ServerError, TransportError
from ..models import (
    BulkDownload,
    BulkDownloadCreated,
    BulkDownloadRequest,
    DownloadLink,
    Render,
    RenderCreated,
    RenderLimits,
    RenderPage,
    RenderStatus,
)
from ._base import Resource, page_params, walk

_RENDER = "/renders/{renderId}"
#: Requests for one clip's render while it is rendering without the API naming it.
RENDER_ASKS = 100
_RENDER_CLIP = "/clips/{videoId}/submissions/{submissionId}/clips/{clipId}/render"


def _adopted(render: Render) -> RenderCreated:
    """The answer the lost render request would have given, from the render itself."""
    return RenderCreated(
        render_id=render.render_id,
        edit_setting_id=render.edit_setting_id,
        status=render.status,
        output_resolution=render.output_resolution,
        from_cache=False,
    )


class RendersResource(Resource):
    """`POST .../render` and `/renders`."""

    async def create(
        self, video_id: str, submission_id: str, clip_id: str, *, adopt_running: bool = False
    ) -> RenderCreated:
        """Queue a render of a clip (or get the cached one); `AlreadyInProgress` if rendering.

        With `adopt_running`, a clip that is already rendering gives its running render
        instead: the one the API names in its 409 (`extra.render_id`), or, when it names none,
        the cached one once it has finished (asked again at polling intervals, up to
        `RENDER_ASKS` times). When an answer is lost after the server may have acted, the
        request is made again: the API then names the render it started, or serves it from its
        cache, or starts the one the lost request never did.
        """
        ids = {"videoId": video_id, "submissionId": submission_id, "clipId": clip_id}
        lost: list[Exception] = []  # attempts the server may have acted on

        async def attempt(number: int) -> RenderCreated:
            try:
                return await self._typed(RenderCreated, "POST", _RENDER_CLIP, ids=ids, safe=False)
            except AlreadyInProgress as exc:
                running = exc.extra.get("render_id")
                if (adopt_running or lost) and isinstance(running, str):
                    return _adopted(await self.get(running))
                raise
            except (ServerError, TransportError) as exc:
                if exc.maybe_processed:
                    lost.append(exc)
                raise

        settings = self._transport.settings

        def decide(exc: Exception, number: int) -> float | None:
            if isinstance(exc, AlreadyInProgress) and adopt_running:
                polling = settings.polling
                return min(polling.max_interval, polling.first * polling.factor**number)
            if isinstance(exc, ServerError | TransportError) and exc.maybe_processed:
                return None if len(lost) > settings.retry.max_retries else 0.0
            return None

        return await self._transport.retrier.call(
            attempt,
            decide,
            what=f"POST {_RENDER_CLIP}",
            host=None,  # a 409 is no failure of the host; ambiguous asks are counted above
            attempts=RENDER_ASKS,
        )

    async def list(
        self, *, page: int = 1, limit: int = 20, status: str | None = None
    ) -> RenderPage:
        """One page of renders, newest first (`status`: processing, completed or failed)."""
        params = page_params(page, limit, status=status)
        return await self._typed(RenderPage, "GET", "/renders", params=params)

    def iter(self, *, status: str | None = None) -> AsyncIterator[Render]:
        """Every render."""
        return walk(lambda p: self.list(page=p, limit=100, status=status))

    async def limits(self) -> RenderLimits:
        """Pending renders against the plan's concurrency cap."""
        return await self._typed(RenderLimits, "GET", "/renders/limits")

    async def get(self, render_id: str) -> Render:
        """One render, as it is now."""
        return await self._typed(Render, "GET", _RENDER, ids={"renderId": render_id})

    async def download_link(self, render_id: str) -> DownloadLink:
        """A signed link to a completed render's MP4 (valid about an hour)."""
        ids = {"renderId": render_id}
        return await self._typed(DownloadLink, "GET", _RENDER + "/download", ids=ids)

    async def cancel(self, render_id: str) -> None:
        """Cancel a running render, or delete a finished one.

        Never repeated blindly after an ambiguous failure, since a second DELETE would delete
        the render the first one cancelled: the render is looked at first. Gone or `cancelled`,
        the DELETE went through; otherwise sending it again is the cancel the caller asked for.
        """
        ids = {"renderId": render_id}
        lost: list[Exception] = []

        async def attempt(number: int) -> None:
            if lost and await self._cancelled(render_id):
                return
            try:
                await self._raw("DELETE", _RENDER, ids=ids, safe=False)
            except (ServerError, TransportError) as exc:
                if exc.maybe_processed:
                    lost.append(exc)
                raise

        transport = self._transport

        def decide(exc: Exception, number: int) -> float | None:
            ambiguous = isinstance(exc, ServerError | TransportError) and exc.maybe_processed
            return 0.0 if ambiguous else None

        await transport.retrier.call(attempt, decide, what=f"DELETE {_RENDER}", host=transport.host)

    async def _cancelled(self, render_id: str) -> bool:
        """Whether a render is gone or cancelled (what a DELETE that went through leaves)."""
        try:
            render = await self.get(render_id)
        except NotFound:
            return True
        return render.status is RenderStatus.CANCELLED


class BulkDownloadsResource(Resource):
    """`/renders/bulk-download`."""

    async def create(self, render_ids: Sequence[str]) -> BulkDownloadCreated:
        """Start zipping completed renders into one file."""
        body = BulkDownloadRequest(list(render_ids))
        return await self._typed(
            BulkDownloadCreated, "POST", "/renders/bulk-download", json=body, safe=True
        )

    async def get(self, job_id: str) -> BulkDownload:
        """One bulk job, with its link once completed."""
        return await self._typed(
            BulkDownload, "GET", "/renders/bulk-download/{jobId}", ids={"jobId": job_id}
        )
