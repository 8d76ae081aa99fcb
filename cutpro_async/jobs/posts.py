"""`posts` with waiting: poll a publication until every item has finished."""

from __future__ import annotations

from collections.abc import Callable

from ..errors import PostFailed
from ..models import Post, PostStatus
from ..resources import PostsResource
from ._polling import wait_for

DEFAULT_TIMEOUT = 3600.0


def _done(post: Post) -> bool:
    """Terminal: completed, partial or failed."""
    return post.status.is_terminal


class Posts(PostsResource):
    """Posts, plus `wait`."""

    async def wait(
        self,
        post_id: str,
        *,
        timeout: float | None = DEFAULT_TIMEOUT,
        on_update: Callable[[Post], object] | None = None,
    ) -> Post:
        """Poll until every item finished; `partial` is returned, `failed` raises `PostFailed`."""
        final = await wait_for(
            lambda: self.get(post_id),
            _done,
            polling=self._transport.settings.polling,
            timeout=timeout,
            what=f"post {post_id}",
            on_update=on_update,
        )
        if final.status is PostStatus.FAILED:
            errors = sorted({item.error for item in final.items if item.error})
            raise PostFailed(
                f"post {post_id} failed: {'; '.join(errors) or 'no item published'}",
                job_id=post_id,
                status=final.status.value,
                error_code=None,
            )
        return final
