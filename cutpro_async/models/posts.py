"""Posts (publishing rendered clips) and connected social accounts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import attrs

from ._base import OpenEnum, Pagination


class PostStatus(OpenEnum):
    """Where a post is; `completed`, `partial` and `failed` are terminal."""

    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    PARTIAL = "partial"
    FAILED = "failed"

    @property
    def is_terminal(self) -> bool:
        """Whether the post will not change any more without a retry."""
        return self in (PostStatus.COMPLETED, PostStatus.PARTIAL, PostStatus.FAILED)


class PostItemStatus(OpenEnum):
    """Where one item (one clip to one account) of a post is."""

    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"


@attrs.frozen
class PostTarget:
    """One account to publish to, with per-platform metadata."""

    connectionId: str
    metadata: dict[str, dict[str, Any]] = attrs.field(factory=dict)


@attrs.frozen
class PostVideo:
    """One render (by its `edit_setting_id`) and where to publish it."""

    editId: str
    targets: list[PostTarget]


@attrs.frozen
class CreatePostRequest:
    """Body of `POST /posts` (`scheduled_at` left None is omitted: publish now)."""

    videos: list[PostVideo]
    scheduled_at: datetime | None = None


@attrs.frozen
class UpdatePostRequest:
    """Body of `PATCH /posts/{id}`."""

    scheduled_at: datetime | None = None
    items: list[dict[str, Any]] | None = None


@attrs.frozen
class PostCreated:
    """Answer of `POST /posts`."""

    post_id: str
    item_count: int
    status: PostStatus
    scheduled_at: datetime | None = None


@attrs.frozen
class PostItem:
    """One clip to one account, with its own status."""

    id: str
    connection_id: str
    platform: str
    edit_id: str
    status: PostItemStatus
    error: str | None = None
    published_url: str | None = None


@attrs.frozen
class Post:
    """A post with its items."""

    post_id: str
    status: PostStatus
    item_count: int
    created_at: datetime
    scheduled_at: datetime | None = None
    items: list[PostItem] = attrs.field(factory=list)


@attrs.frozen
class PostPage:
    """A page of posts."""

    posts: list[Post]
    pagination: Pagination

    @property
    def items(self) -> list[Post]:
        """The page's posts."""
        return self.posts


@attrs.frozen
class Connection:
    """A connected social account."""

    id: str
    platform: str
    name: str
    username: str
    status: str
    created_at: datetime
    avatar_url: str | None = None


@attrs.frozen
class ConnectionPage:
    """A page of connected accounts."""

    connections: list[Connection]
    pagination: Pagination

    @property
    def items(self) -> list[Connection]:
        """The page's connections."""
        return self.connections
