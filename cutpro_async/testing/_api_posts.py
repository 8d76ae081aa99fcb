"""Posts (publishing renders to connected accounts) and the connections themselves."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiohttp import web

from ._api_renders import render_status
from ._enums import SOCIAL_PLATFORMS, PostItemStatus, PostStatus
from ._failure import conflict, invalid, not_found
from ._params import field, json_body, optional, paginate, query_choice
from ._routing import Route, deleted, json_response, workspace_of, world_of
from ._wire import wire
from ._world import PostItemRec, PostRec, WorkspaceState, World, lookup

ITEM_SECONDS = 3.0  # API-seconds to publish one item


def _schedule_time(world: World, body: dict[str, Any]) -> float | None:
    """The clock position of `scheduled_at`, which must be a future ISO 8601 time."""
    raw = optional(body, "scheduled_at", str)
    if raw is None:
        return None
    try:
        when = datetime.fromisoformat(raw)
    except ValueError:
        raise invalid("scheduled_at", f"must be an ISO 8601 date-time, got {raw!r}") from None
    if when.tzinfo is None:
        raise invalid("scheduled_at", "needs a timezone (e.g. a trailing Z)")
    position = world.clock.position_of(when)
    if position <= world.clock.now():
        raise invalid("scheduled_at", "must be in the future (omit it to publish now)")
    return position


def _items(world: World, ws: WorkspaceState, videos: list[Any]) -> dict[str, PostItemRec]:
    """One item per (render, target), each checked against renders and connections."""
    edits = {
        r.edit_setting_id
        for r in ws.renders.values()
        if render_status(world, r).value == "completed"
    }
    items: dict[str, PostItemRec] = {}
    for video in videos:
        if not isinstance(video, dict):
            raise invalid("videos", "each entry must be an object with editId and targets")
        edit_id = field(video, "editId", str)
        if edit_id not in edits:
            raise not_found("edit", edit_id)
        targets = field(video, "targets", list)
        if not targets:
            raise invalid("targets", "needs at least one target")
        for target in targets:
            item = _item(world, ws, edit_id, target)
            items[item.id] = item
    return items


def _item(world: World, ws: WorkspaceState, edit_id: str, target: Any) -> PostItemRec:
    """One item for one target account."""
    if not isinstance(target, dict):
        raise invalid("targets", "each target must be an object with connectionId and metadata")
    connection = lookup(ws.connections, "connection", field(target, "connectionId", str))
    metadata = _metadata(target)
    return PostItemRec(
        world.new_id("pi"), connection["id"], connection["platform"], edit_id, metadata
    )


def _metadata(holder: dict[str, Any]) -> dict[str, Any]:
    """The `metadata` object of a target or item change; only known platform keys."""
    metadata: dict[str, Any] = optional(holder, "metadata", dict) or {}
    unknown = sorted(set(metadata) - set(SOCIAL_PLATFORMS))
    if unknown:
        raise invalid(
            "metadata", f"unknown platform keys {unknown}; use {', '.join(SOCIAL_PLATFORMS)}"
        )
    return metadata


def _attempt(world: World, ws: WorkspaceState, item: PostItemRec, start: float, index: int) -> None:
    """Publish an item from `start`; it fails when its account is not active, and its first
    attempt fails at `post_item_flaky_rate` (a passing platform error)."""
    end = world.clock.after(ITEM_SECONDS * (index + 1), start)
    inactive = ws.connections[item.connection_id]["status"] != "active"
    flaky = not item.attempts and world.rng.random() < world.config.post_item_flaky_rate
    item.attempts.append((start, end, inactive or flaky))


def _start(world: World, ws: WorkspaceState, post: PostRec, start: float) -> None:
    """Begin publishing every item at `start`."""
    post.scheduled = start
    for index, item in enumerate(post.items.values()):
        _attempt(world, ws, item, start, index)


def _item_view(world: World, ws: WorkspaceState, item: PostItemRec) -> dict[str, Any]:
    """An item's status now."""
    now = world.clock.now()
    status, error, url = PostItemStatus.PENDING, None, None
    if item.attempts:
        start, end, fails = item.attempts[-1]
        if start <= now < end:
            status = PostItemStatus.PROCESSING
        elif now >= end:
            status = PostItemStatus.FAILED if fails else PostItemStatus.COMPLETED
            error = _item_error(ws, item) if fails else None
            url = None if fails else f"https://{item.platform}.example/p/{item.id}"
    return wire(
        "PostItem",
        id=item.id,
        connection_id=item.connection_id,
        platform=item.platform,
        edit_id=item.edit_id,
        status=status.value,
        error=error,
        published_url=url,
    )


def _item_error(ws: WorkspaceState, item: PostItemRec) -> str:
    """Why an attempt failed: the account is not active, else a passing platform error."""
    status = ws.connections[item.connection_id]["status"]
    if status != "active":
        return f"CONNECTION_{status.upper()}: reconnect the account in cut.pro, then retry"
    return "PLATFORM_ERROR: the platform did not take the upload; retry the item"


def _post_status(items: list[dict[str, Any]]) -> PostStatus:
    """completed / partial / failed once every item has finished, else processing."""
    states = {PostItemStatus(item["status"]) for item in items}
    if states & {PostItemStatus.PENDING, PostItemStatus.PROCESSING}:
        return PostStatus.PROCESSING
    if states <= {PostItemStatus.COMPLETED}:
        return PostStatus.COMPLETED
    return PostStatus.FAILED if states == {PostItemStatus.FAILED} else PostStatus.PARTIAL


def _view(world: World, ws: WorkspaceState, post: PostRec) -> dict[str, Any]:
    """A post as the API shows it now."""
    items = [_item_view(world, ws, item) for item in post.items.values()]
    waiting = post.scheduled is None or world.clock.now() < post.scheduled
    return wire(
        "Post",
        post_id=post.post_id,
        status=(PostStatus.PENDING if waiting else _post_status(items)).value,
        item_count=len(items),
        created_at=world.clock.iso(post.created),
        scheduled_at=None if post.scheduled is None else world.clock.iso(post.scheduled),
        items=items,
    )


def _pending(world: World, ws: WorkspaceState, post: PostRec) -> None:
    """409 unless the post has not started publishing."""
    if _view(world, ws, post)["status"] != PostStatus.PENDING:
        raise conflict("POST_ALREADY_PUBLISHED", "the post has started publishing; it can't change")


async def create_post(request: web.Request) -> web.Response:
    """`POST /posts`: publish now, or at `scheduled_at`."""
    world, ws = world_of(request), workspace_of(request)
    body = await json_body(request)
    videos = field(body, "videos", list)
    if not videos:
        raise invalid("videos", "needs at least one video")
    scheduled = _schedule_time(world, body)
    post = PostRec(world.new_id("p"), world.clock.now(), None, _items(world, ws, videos))
    ws.posts[post.post_id] = post
    _start(world, ws, post, scheduled if scheduled is not None else world.clock.now())
    world.changed("post", post.post_id, workspace=ws.id)
    view = _view(world, ws, post)
    created = wire(
        "PostCreated",
        post_id=post.post_id,
        item_count=view["item_count"],
        status=view["status"],
        scheduled_at=view["scheduled_at"] if scheduled else None,
    )
    return json_response(created, 201)


async def list_posts(request: web.Request) -> web.Response:
    """`GET /posts`: newest first, filtered by status."""
    world, ws = world_of(request), workspace_of(request)
    wanted = query_choice(request, "status", [s.value for s in PostStatus])
    views = [_view(world, ws, p) for p in reversed(ws.posts.values())]
    page, info = paginate(request, [v for v in views if wanted is None or v["status"] == wanted])
    if world.config.posts_list_style == "data":  # a GAP's alternative: items left out
        bare = [
            {k: v for k, v in view.items() if k not in ("items", "item_count")} for view in page
        ]
        return json_response({"data": bare})
    return json_response(wire("PostPage", posts=page, pagination=info))


def _post(request: web.Request) -> PostRec:
    """The post named by the path."""
    return lookup(workspace_of(request).posts, "post", request.match_info["id"])


async def get_post(request: web.Request) -> web.Response:
    """`GET /posts/{id}`: the post with its items."""
    return json_response(_view(world_of(request), workspace_of(request), _post(request)))


async def update_post(request: web.Request) -> web.Response:
    """`PATCH /posts/{id}`: reschedule or change item metadata before publishing."""
    world, ws, post = world_of(request), workspace_of(request), _post(request)
    body = await json_body(request)
    _pending(world, ws, post)
    scheduled = _schedule_time(world, body)
    for change in optional(body, "items", list) or []:
        if not isinstance(change, dict):
            raise invalid("items", "each entry must be an object with an id")
        item = lookup(post.items, "item", field(change, "id", str))
        item.metadata = _metadata(change) or item.metadata
    if scheduled is not None:
        for item in post.items.values():
            item.attempts.clear()
        _start(world, ws, post, scheduled)
    world.changed("post", post.post_id, workspace=ws.id)
    return json_response(_view(world, ws, post))


async def publish_post(request: web.Request) -> web.Response:
    """`POST /posts/{id}/publish`: publish a pending post now."""
    world, ws, post = world_of(request), workspace_of(request), _post(request)
    _pending(world, ws, post)
    for item in post.items.values():
        item.attempts.clear()
    _start(world, ws, post, world.clock.now())
    world.changed("post", post.post_id, workspace=ws.id)
    return json_response(_view(world, ws, post))


async def retry_post_item(request: web.Request) -> web.Response:
    """`POST /posts/{id}/items/{itemId}/retry`: publish one failed item again."""
    world, ws, post = world_of(request), workspace_of(request), _post(request)
    item = lookup(post.items, "item", request.match_info["itemId"])
    if _item_view(world, ws, item)["status"] != PostItemStatus.FAILED:
        raise conflict("ITEM_NOT_FAILED", "only a failed item can be retried")
    _attempt(world, ws, item, world.clock.now(), 0)
    world.changed("post", post.post_id, workspace=ws.id)
    return json_response(_view(world, ws, post))


async def delete_post_item(request: web.Request) -> web.Response:
    """`DELETE /posts/{id}/items/{itemId}`."""
    post = _post(request)
    del post.items[lookup(post.items, "item", request.match_info["itemId"]).id]
    world_of(request).changed("post", post.post_id)
    return deleted(request)


async def delete_post(request: web.Request) -> web.Response:
    """`DELETE /posts/{id}`."""
    post_id = _post(request).post_id
    del workspace_of(request).posts[post_id]
    world_of(request).changed("post", post_id)
    return deleted(request)


async def list_connections(request: web.Request) -> web.Response:
    """`GET /connections`: connected accounts, filtered by platform."""
    ws = workspace_of(request)
    platform = request.query.get("platform")
    items = [c for c in ws.connections.values() if platform in (None, "", c["platform"])]
    page, info = paginate(request, items)
    return json_response(wire("ConnectionPage", connections=page, pagination=info))


async def get_connection(request: web.Request) -> web.Response:
    """`GET /connections/{id}`."""
    return json_response(
        lookup(workspace_of(request).connections, "connection", request.match_info["id"])
    )


ROUTES = [
    Route(
        "POST",
        "/posts",
        create_post,
        "createPost",
        "Publish rendered clips to connected accounts, now or scheduled.",
        status=201,
        request="CreatePostRequest",
        response="PostCreated",
    ),
    Route(
        "GET",
        "/posts",
        list_posts,
        "listPosts",
        "Posts, newest first.",
        response="PostPage",
        query=("page", "limit", "status"),
    ),
    Route("GET", "/posts/{id}", get_post, "getPost", "A post with its items.", response="Post"),
    Route(
        "PATCH",
        "/posts/{id}",
        update_post,
        "updatePost",
        "Edit a post before it publishes.",
        request="UpdatePostRequest",
        response="Post",
    ),
    Route(
        "POST",
        "/posts/{id}/publish",
        publish_post,
        "publishPost",
        "Publish a post now.",
        response="Post",
    ),
    Route(
        "POST",
        "/posts/{id}/items/{itemId}/retry",
        retry_post_item,
        "retryPostItem",
        "Retry one failed item.",
        response="Post",
    ),
    Route(
        "DELETE",
        "/posts/{id}/items/{itemId}",
        delete_post_item,
        "deletePostItem",
        "Remove one item.",
        status=204,
    ),
    Route("DELETE", "/posts/{id}", delete_post, "deletePost", "Delete the whole post.", status=204),
    Route(
        "GET",
        "/connections",
        list_connections,
        "listConnections",
        "Connected social accounts.",
        response="ConnectionPage",
        query=("page", "limit", "platform"),
    ),
    Route(
        "GET",
        "/connections/{id}",
        get_connection,
        "getConnection",
        "One connected account.",
        response="Connection",
    ),
]
