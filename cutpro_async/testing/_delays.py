"""The latency model at work in a simulator: seeded draws per route, and the middlewares.

`FakeCutPro` installs them outermost when `SimConfig.latency` is set (see `_latency`).
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter

from aiohttp import web
from aiohttp.typedefs import Middleware

from ._latency import BEFORE, STORAGE_GET, STORAGE_PUT, LatencyModel
from ._routing import API_PREFIX, Handler


class Latencies:
    """A model at work in one simulator: a seeded stream per route, and what it delayed."""

    def __init__(self, model: LatencyModel, seed: int = 0) -> None:
        self.model = model
        self.seed = seed
        self._streams: dict[str, random.Random] = {}
        #: Requests delayed, per route.
        self.delayed: Counter[str] = Counter()
        #: Seconds of delay drawn, per route.
        self.seconds: dict[str, float] = {}

    def draw(self, route: str) -> float:
        """The delay of the next request to `route` (its own stream: reproducible per route)."""
        stream = self._streams.get(route)
        if stream is None:
            stream = self._streams[route] = random.Random(f"{self.seed}/{route}")
        delay = self.model.of(route).draw(stream)
        self.delayed[route] += 1
        self.seconds[route] = self.seconds.get(route, 0.0) + delay
        return delay


def _api_route(request: web.Request) -> str | None:
    """`METHOD /path/{param}` of an API request; None for the simulator's own pages."""
    if request.path.startswith(("/_sim/", "/r/")) or request.path.endswith("/openapi.json"):
        return None
    resource = request.match_info.route.resource
    path = resource.canonical if resource is not None else request.path
    return f"{request.method} {path.removeprefix(API_PREFIX)}"


def api_middleware(latencies: Latencies) -> Middleware:
    """Delay each API answer: half its draw before the handler, half after."""

    @web.middleware
    async def delay(request: web.Request, handler: Handler) -> web.StreamResponse:
        route = _api_route(request)
        if route is None:
            return await handler(request)
        total = latencies.draw(route)
        await asyncio.sleep(total * BEFORE)
        response = await handler(request)
        await asyncio.sleep(total * (1 - BEFORE))
        return response

    return delay


def storage_middleware(latencies: Latencies) -> Middleware:
    """Delay each storage answer's first byte by its draw."""

    @web.middleware
    async def delay(request: web.Request, handler: Handler) -> web.StreamResponse:
        route = STORAGE_PUT if request.method == "PUT" else STORAGE_GET
        await asyncio.sleep(latencies.draw(route))
        return await handler(request)

    return delay


def install(app: web.Application, middleware: Middleware) -> None:
    """Put a delaying middleware outermost in an app that has not started yet."""
    app.middlewares.insert(0, middleware)
