"""`clips` of a completed submission, and the `templates` that style them."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Sequence

from ..models import ApplyTemplateRequest, Clip, ClipPage, Template, TemplateApplied, TemplatePage
from ._base import Resource, page_params, walk

_CLIPS = "/clips/{videoId}/submissions/{submissionId}"


class ClipsResource(Resource):
    """`/clips/{videoId}/submissions/{submissionId}/clips` and `apply_template`."""

    async def list(
        self,
        video_id: str,
        submission_id: str,
        *,
        page: int = 1,
        limit: int = 20,
        sort: str = "rating",
        order: str | None = None,
        min_rating: float | None = None,
        max_rating: float | None = None,
    ) -> ClipPage:
        """One page of clips (best rated first by default); 410 `Expired` once clips expire."""
        params = page_params(
            page, limit, sort=sort, order=order, min_rating=min_rating, max_rating=max_rating
        )
        ids = {"videoId": video_id, "submissionId": submission_id}
        return await self._typed(ClipPage, "GET", _CLIPS + "/clips", ids=ids, params=params)

    def iter(
        self,
        video_id: str,
        submission_id: str,
        *,
        sort: str = "rating",
        order: str | None = None,
        min_rating: float | None = None,
        max_rating: float | None = None,
        page_size: int = 100,
    ) -> AsyncGenerator[Clip, None]:
        """Every clip of a submission, in the requested order, fetched `page_size` (1 to 100)
        at a time: a caller that wants only the first few asks for no more."""
        return walk(
            lambda p: self.list(
                video_id,
                submission_id,
                page=p,
                limit=page_size,
                sort=sort,
                order=order,
                min_rating=min_rating,
                max_rating=max_rating,
            )
        )

    async def apply_template(
        self,
        video_id: str,
        submission_id: str,
        template_id: str,
        clip_ids: Sequence[str] | None = None,
    ) -> TemplateApplied:
        """Apply an editing template to some clips (all when `clip_ids` is None)."""
        body = ApplyTemplateRequest(template_id, None if clip_ids is None else list(clip_ids))
        ids = {"videoId": video_id, "submissionId": submission_id}
        return await self._typed(
            TemplateApplied, "POST", _CLIPS + "/apply_template", ids=ids, json=body, safe=True
        )

    async def delete(self, video_id: str, submission_id: str, clip_id: str) -> None:
        """Delete one clip."""
        ids = {"videoId": video_id, "submissionId": submission_id, "clipId": clip_id}
        await self._raw("DELETE", _CLIPS + "/clips/{clipId}", ids=ids)


class TemplatesResource(Resource):
    """`GET /templates`."""

    async def list(
        self, *, page: int = 1, limit: int = 20, filter: str | None = None, sort: str | None = None
    ) -> TemplatePage:
        """One page of templates (`filter="mine"` or `"community"`)."""
        params = page_params(page, limit, filter=filter, sort=sort)
        return await self._typed(TemplatePage, "GET", "/templates", params=params)

    def iter(
        self, *, filter: str | None = None, sort: str | None = None
    ) -> AsyncIterator[Template]:
        """Every template."""
        return walk(lambda p: self.list(page=p, limit=100, filter=filter, sort=sort))
