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

    async def create(self, video_id: str, submission_id: str, clip_id: str) -> RenderCreated:
        """Queue a render of a clip (or get the cached one); `AlreadyInProgress` if rendering.

        When the answer is lost after the server may have acted, the request is made once more:
        the API then names the render it started (409 `extra.render_id`), which is returned,
        or serves it from its cache, or starts the one the lost request never did.
        """
        ids = {"videoId": video_id, "submissionId": submission_id, "clipId": clip_id}
        try:
            return await self._typed(RenderCreated, "POST", _RENDER_CLIP, ids=ids, safe=False)
        except (ServerError, TransportError) as exc:
            if not exc.maybe_processed:
                raise
        try:
            return await self._typed(RenderCreated, "POST", _RENDER_CLIP, ids=ids, safe=False)
        except AlreadyInProgress as exc:
            running = exc.extra.get("render_id")
            if not isinstance(running, str):
                raise
            return _adopted(await self.get(running))

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

        Not repeated after an ambiguous failure: a second DELETE would delete the render the
        first one cancelled.
        """
        try:
            await self._raw("DELETE", _RENDER, ids={"renderId": render_id}, safe=False)
        except (ServerError, TransportError) as exc:
            if not exc.maybe_processed:
                raise
            await self._after_ambiguous_cancel(render_id)

    async def _after_ambiguous_cancel(self, render_id: str) -> None:
        """Finish a cancel whose answer was lost, without turning it into a delete.

        Gone or `cancelled`: the DELETE went through. Still there otherwise: it did not, and
        sending it again is the cancel (or delete) the caller asked for.
        """
        try:
            render = await self.get(render_id)
        except NotFound:
            return
        if render.status is not RenderStatus.CANCELLED:
            await self._raw("DELETE", _RENDER, ids={"renderId": render_id}, safe=False)


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
