"""The CutPro API app: routes, auth, error bodies and injected faults."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from ._api_account import ROUTES as ACCOUNT
from ._api_clips import ROUTES as CLIPS
from ._api_posts import ROUTES as POSTS
from ._api_renders import ROUTES as RENDERS
from ._api_submissions import ROUTES as SUBMISSIONS
from ._api_videos import ROUTES as VIDEOS
from ._failure import ApiFailure
from ._faults import API_KINDS, FaultPlan, error_status, retry_headers
from ._openapi import openapi_document
from ._routing import (
    API_KEY,
    API_PREFIX,
    COMMIT_DELAY,
    WORKSPACE,
    WORLD,
    Handler,
    Route,
    json_response,
    world_of,
)
from ._wire import wire
from ._world import World

ROUTES: list[Route] = [*ACCOUNT, *VIDEOS, *SUBMISSIONS, *CLIPS, *RENDERS, *POSTS]
# Faults that act around the handler (or inside it); the others answer instead of it.
AROUND = ("latency", "reset", "drop", "commit502", "slowcommit")
REFUSALS = API_KINDS - set(AROUND)
FAULTS: web.AppKey[FaultPlan] = web.AppKey("faults", FaultPlan)
log = logging.getLogger("cutpro_async.testing")


def error_response(failure: ApiFailure) -> web.Response:
    """The API's error body `{code, message, extra}` with the failure's status."""
    body = wire("ErrorBody", code=failure.code, message=failure.message, extra=failure.extra)
    return json_response(body, failure.status, failure.headers)


def _route_key(request: web.Request) -> str:
    """`METHOD /path/{param}` of the matched route (the raw path if none matched)."""
    resource = request.match_info.route.resource
    path = resource.canonical if resource is not None else request.path
    return f"{request.method} {path.removeprefix(API_PREFIX)}"


def _abort(request: web.Request) -> None:
    """Close the connection at once, with no response."""
    if request.transport is not None:
        request.transport.abort()


def _fault_response(
    plan: FaultPlan, request: web.Request, key: str, api_key: str
) -> web.Response | None:
    """A response that replaces the real one before it is processed, if a fault says so."""
    fired = {fault.kind: fault for fault in plan.pick(key, REFUSALS)}
    burst = plan.burst(
        api_key, next((fired[k] for k in ("429", "429-header", "429-body") if k in fired), None)
    )
    if burst is not None:
        retry = max(1, int(burst.value))
        failure = ApiFailure(
            429,
            "RATE_LIMIT_EXCEEDED",
            "too many requests; slow down",
            {} if burst.kind == "429-header" else {"retry_after": retry},
            {} if burst.kind == "429-body" else {"Retry-After": str(retry)},
        )
        return error_response(failure)
    status = error_status(fired, plan)
    if status is None:
        return None
    failure = ApiFailure(status, "SERVER_ERROR", f"simulated {status}", {}, retry_headers(status))
    return error_response(failure)


@web.middleware
async def api_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Count the request, inject faults, authenticate, and map every error to a JSON body."""
    world, plan = world_of(request), request.app[FAULTS]
    key = _route_key(request)
    world.requests[key] += 1
    if request.path == f"{API_PREFIX}/openapi.json" or request.path.startswith(("/r/", "/_sim/")):
        return await handler(request)
    api_key = request.headers.get("X-Api-Key") or _bearer(request)
    fired = {f.kind: f for f in plan.pick(key, AROUND)} if plan.faults else {}
    if "latency" in fired:
        await asyncio.sleep(fired["latency"].value)
    if "reset" in fired:
        _abort(request)
        return web.Response(status=500)
    try:
        replaced = _fault_response(plan, request, key, api_key or "") if plan.faults else None
        if replaced is not None:
            return replaced
        request[WORKSPACE] = world.resolve(api_key, request.headers.get("X-Workspace-Id"))
        request[API_KEY] = api_key or ""
        world.check_key_rate(request[API_KEY])
        if "slowcommit" in fired:
            request[COMMIT_DELAY] = fired["slowcommit"].value
        response = await handler(request)
    except ApiFailure as failure:
        return error_response(failure)
    except web.HTTPException as exc:
        code = "NOT_FOUND" if exc.status == 404 else exc.reason.upper().replace(" ", "_")
        return error_response(
            ApiFailure(exc.status, code, f"{request.method} {request.path}: {exc.reason}")
        )
    if "drop" in fired:
        _abort(request)  # committed, but the client never hears back
    if "commit502" in fired:
        return error_response(ApiFailure(502, "SERVER_ERROR", "simulated 502 after commit"))
    return response


def _bearer(request: web.Request) -> str | None:
    """The key from `Authorization: Bearer`, the second accepted form."""
    header = request.headers.get("Authorization", "")
    return header[7:].strip() if header.lower().startswith("bearer ") else None


@web.middleware
async def persist_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A world kept on disk saves what a request changed before its answer goes out."""
    world = world_of(request)
    try:
        response = await handler(request)
    except ApiFailure:
        await world.saved()
        raise
    await world.saved()
    return response


@web.middleware
async def crash_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A bug in the simulator answers 500 with a code, never a traceback in the body."""
    try:
        return await handler(request)
    except (web.HTTPException, asyncio.CancelledError, ConnectionError):
        raise
    except Exception:
        log.exception("simulator bug on %s %s", request.method, request.path)
        return error_response(ApiFailure(500, "INTERNAL_ERROR", "simulator error (see its log)"))


async def _openapi(request: web.Request) -> web.Response:
    """`GET /api/v1/openapi.json`, unauthenticated as on the real API."""
    return json_response(openapi_document(ROUTES, str(request.url.origin()) + API_PREFIX))


async def _stats(request: web.Request) -> web.Response:
    """`GET /_sim/requests`: requests seen per route, for benchmarks in another process."""
    return json_response(dict(world_of(request).requests))


async def _redirect(request: web.Request) -> web.Response:
    """`/r/files/...` on the API host: a 302 to the same file on the storage host."""
    target = world_of(request).signer.base_url + request.path_qs.removeprefix("/r")
    raise web.HTTPFound(target)


async def _date_header(request: web.Request, response: web.StreamResponse) -> None:
    """Date every API answer by the simulator's clock (its skew and jumps), not aiohttp's."""
    response.headers["Date"] = world_of(request).clock.http_date()


async def _count_429(request: web.Request, response: web.StreamResponse) -> None:
    """Count every 429 the API answers, per route, whatever refused the request."""
    if response.status == 429:
        world_of(request).rate_limited[_route_key(request)] += 1


def make_api_app(world: World, plan: FaultPlan) -> web.Application:
    """The API application, every route under `/api/v1`."""
    app = web.Application(
        middlewares=[crash_middleware, api_middleware, persist_middleware],
        client_max_size=2 * 1024**2,
    )
    app[WORLD] = world
    app[FAULTS] = plan
    app.on_response_prepare.append(_date_header)
    app.on_response_prepare.append(_count_429)
    app.router.add_get(f"{API_PREFIX}/openapi.json", _openapi)
    app.router.add_get("/r/{tail:.*}", _redirect)
    app.router.add_get("/_sim/requests", _stats)
    for route in ROUTES:
        app.router.add_route(route.method, API_PREFIX + route.path, route.handler)
    return app
