"""`posts` that publish renders to social accounts, and the `connections` they go to."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import datetime
from typing import Any

import cattrs

from .._converter import structure
from ..errors import UnexpectedResponse
from ..models import (
    Connection,
    ConnectionPage,
    CreatePostRequest,
    Pagination,
    Post,
    PostCreated,
    PostPage,
    PostVideo,
    UpdatePostRequest,
)
from ._base import Resource, page_params, walk

_POST = "/posts/{id}"


class PostsResource(Resource):
    """`/posts`: publishing is public and irreversible, so no call that publishes is ever
    repeated after an ambiguous failure (deletes are: a repeat finds the post gone)."""

    async def create(
        self, videos: Sequence[PostVideo], *, scheduled_at: datetime | None = None
    ) -> PostCreated:
        """Publish renders (by `edit_setting_id`) to accounts, now or at `scheduled_at`."""
        body = CreatePostRequest(list(videos), scheduled_at)
        return await self._typed(PostCreated, "POST", "/posts", json=body, safe=False)

    async def list(self, *, page: int = 1, limit: int = 20, status: str | None = None) -> PostPage:
        """One page of posts (a post listed without its items has `items` empty: `get` it).

        The answer's shape is undocumented: besides `{posts, pagination}`, a bare list and
        the `data`, `items` or `results` envelopes are read; without `pagination`, a full page
        is taken to mean another may follow.
        """
        data = await self._raw("GET", "/posts", params=page_params(page, limit, status=status))
        try:
            return _post_page(data, page, limit)
        except (ValueError, TypeError, KeyError, AttributeError, cattrs.BaseValidationError) as exc:
            raise UnexpectedResponse(
                f"GET /posts: the answer is not a list of posts ({type(exc).__name__}); the API "
                "may have changed: upgrade cutpro-async or report it"
            ) from exc

    def iter(self, *, status: str | None = None) -> AsyncIterator[Post]:
        """Every post."""
        return walk(lambda p: self.list(page=p, limit=100, status=status))

    async def get(self, post_id: str) -> Post:
        """A post with its items."""
        return await self._typed(Post, "GET", _POST, ids={"id": post_id})

    async def update(
        self,
        post_id: str,
        *,
        scheduled_at: datetime | None = None,
        items: Sequence[Mapping[str, Any]] | None = None,
    ) -> Post | None:
        """Reschedule a pending post or change its items' metadata."""
        body = UpdatePostRequest(scheduled_at, None if items is None else [dict(i) for i in items])
        return await self._maybe_post("PATCH", _POST, {"id": post_id}, body)

    async def publish(self, post_id: str) -> Post | None:
        """Publish a pending post now."""
        return await self._maybe_post("POST", _POST + "/publish", {"id": post_id})

    async def retry_item(self, post_id: str, item_id: str) -> Post | None:
        """Publish one failed item again."""
        ids = {"id": post_id, "itemId": item_id}
        return await self._maybe_post("POST", _POST + "/items/{itemId}/retry", ids)

    async def delete_item(self, post_id: str, item_id: str) -> None:
        """Remove one item from a post."""
        await self._raw("DELETE", _POST + "/items/{itemId}", ids={"id": post_id, "itemId": item_id})

    async def delete(self, post_id: str) -> None:
        """Delete a post."""
        await self._raw("DELETE", _POST, ids={"id": post_id})

    async def _maybe_post(
        self, method: str, template: str, ids: Mapping[str, str], body: Any = None
    ) -> Post | None:
        """A call whose answer is undocumented: the post if the API sends one, else None."""
        data = await self._raw(method, template, ids=ids, json=body, safe=False)
        return structure(data, Post) if isinstance(data, dict) and "post_id" in data else None


class ConnectionsResource(Resource):
    """`/connections`: accounts connected in the web app (read-only here)."""

    async def list(
        self, *, page: int = 1, limit: int = 20, platform: str | None = None
    ) -> ConnectionPage:
        """One page of connected accounts."""
        params = page_params(page, limit, platform=platform)
        return await self._typed(ConnectionPage, "GET", "/connections", params=params)

    def iter(self, *, platform: str | None = None) -> AsyncIterator[Connection]:
        """Every connected account."""
        return walk(lambda p: self.list(page=p, limit=100, platform=platform))

    async def get(self, connection_id: str) -> Connection:
        """One connected account."""
        return await self._typed(Connection, "GET", "/connections/{id}", ids={"id": connection_id})


_ENVELOPES = ("posts", "data", "items", "results")


def _post_page(data: Any, page: int, limit: int) -> PostPage:
    """A page of posts from any of the plausible shapes of `GET /posts`."""
    if isinstance(data, list):
        entries, pagination = data, None
    else:
        key = next((k for k in _ENVELOPES if isinstance(data.get(k), list)), None)
        if key is None:
            raise KeyError("posts")
        entries, pagination = data[key], data.get("pagination")
    posts = [structure(_listed(entry), Post) for entry in entries]
    if isinstance(pagination, dict) and "has_next_page" in pagination:
        return PostPage(posts, structure(pagination, Pagination))
    full = len(entries) >= limit
    guessed = Pagination(page, page + full, page * limit + full, full, page > 1, limit)
    return PostPage(posts, guessed)


def _listed(entry: dict[str, Any]) -> dict[str, Any]:
    """A listed post with `items` (empty when not listed) and `item_count` filled in."""
    items = entry.get("items") or []
    return {**entry, "items": items, "item_count": entry.get("item_count", len(items))}
