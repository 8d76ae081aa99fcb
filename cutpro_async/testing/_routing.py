"""The route table shared by the API app and the OpenAPI document, and response helpers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import attrs
import orjson
from aiohttp import web

from ._wire import wire
from ._world import WorkspaceState, World

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
WORLD: web.AppKey[World] = web.AppKey("world", World)
WORKSPACE: web.RequestKey[WorkspaceState] = web.RequestKey("workspace", WorkspaceState)
API_KEY: web.RequestKey[str] = web.RequestKey("api_key", str)
# Set by a `slowcommit` fault: real seconds between a paid request's checks and its commit.
COMMIT_DELAY: web.RequestKey[float] = web.RequestKey("commit_delay", float)
API_PREFIX = "/api/v1"


@attrs.frozen
class Route:
    """One endpoint: how it is served and how the OpenAPI document describes it."""

    method: str
    path: str
    handler: Handler
    operation_id: str
    summary: str
    status: int = 200
    request: str | None = None  # component schema names (see `_schema`)
    response: str | None = None
    query: tuple[str, ...] = ()
    also: tuple[int, ...] = ()  # other success statuses with the same body (e.g. a cache hit)

    @property
    def key(self) -> str:
        """`METHOD /path/{param}`: how faults and request counts name the route."""
        return f"{self.method} {self.path}"


def world_of(request: web.Request) -> World:
    """The simulator state behind this request."""
    return request.app[WORLD]


def workspace_of(request: web.Request) -> WorkspaceState:
    """The workspace the request resolved to (set by the auth middleware)."""
    return request[WORKSPACE]


def json_response(
    data: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    """A JSON response from builtins (timestamps already ISO strings: see `_wire.iso`)."""
    # A stray datetime must fail loudly, not go out in orjson's own format.
    body = orjson.dumps(data, option=orjson.OPT_PASSTHROUGH_DATETIME)
    return web.Response(body=body, status=status, content_type="application/json", headers=headers)


def deleted(request: web.Request) -> web.Response:
    """Answer of a delete-like call: 204, or 200 `{}` when the simulator is set to it."""
    if world_of(request).config.delete_status == 204:
        return web.Response(status=204)
    return json_response(wire("Deleted"), 200)
