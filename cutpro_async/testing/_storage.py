"""The storage host: presigned upload PUTs and signed, ranged, streamed file downloads.

It runs on its own port and needs no API key; a client that sends one anyway is recorded in
`World.key_leaks`, so tests can prove that keys never travel to storage.
"""

from __future__ import annotations

import asyncio
import hashlib

from aiohttp import web

from ._faults import STORAGE_KINDS, Fault, FaultPlan, error_status, retry_headers
from ._media import Body, iter_chunks
from ._routing import WORLD, Handler, world_of
from ._world import ServedFile, Upload, World

PLAN: web.AppKey[FaultPlan] = web.AppKey("plan", FaultPlan)
CHUNK = 256 * 1024
TRICKLE_CHUNK = 4096


def s3_error(status: int, code: str, message: str) -> web.Response:
    """An S3-style XML error: storage hosts do not speak the API's JSON."""
    body = f"<?xml version='1.0'?><Error><Code>{code}</Code><Message>{message}</Message></Error>"
    return web.Response(status=status, text=body, content_type="application/xml")


@web.middleware
async def storage_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Record any API key sent to storage, then check the signature."""
    world = world_of(request)
    kind = "PUT /uploads" if request.method == "PUT" else f"{request.method} /files"
    world.requests[f"storage {kind}"] += 1
    if "X-Api-Key" in request.headers or "Authorization" in request.headers:
        world.key_leaks.append(f"{request.method} {request.path}")
    plan = request.app[PLAN]
    fired = {f.kind: f for f in plan.pick(kind, _GATE_KINDS)} if plan.faults else {}
    refusal = await _gate_fault(request, fired, plan)
    if refusal is not None:
        return refusal
    problem = (
        "request has expired"
        if "expire" in fired
        else world.signer.check(
            request.path, request.query.get("expires"), request.query.get("signature")
        )
    )
    if problem is not None:
        return s3_error(403, "AccessDenied", problem.capitalize())
    try:
        return await handler(request)
    except web.HTTPException as exc:
        return s3_error(
            exc.status, "NoSuchKey" if exc.status == 404 else "InvalidRequest", exc.reason
        )


# Faults decided before the handler: an expired link, and (when a fault names a storage
# route, e.g. `503=1#1@PUT /uploads`) latency, resets and 5xx answers.
_GATE_KINDS = ("expire", "latency", "reset", "5xx", "500", "502", "503", "504")


async def _gate_fault(
    request: web.Request, fired: dict[str, Fault], plan: FaultPlan
) -> web.StreamResponse | None:
    """Apply latency; answer for a reset or a 5xx instead of the handler."""
    if "latency" in fired:
        await asyncio.sleep(fired["latency"].value)
    if "reset" in fired and request.transport is not None:
        request.transport.abort()
        return web.Response(status=500)
    status = error_status(fired, plan)
    if status is None:
        return None
    response = s3_error(status, "ServiceUnavailable", "Simulated storage trouble; retry")
    response.headers.update(retry_headers(status))
    return response


def _upload_of(request: web.Request) -> Upload:
    """The reserved upload named by the path."""
    video_id = request.match_info["video_id"]
    for ws in world_of(request).workspaces.values():
        video = ws.videos.get(video_id)
        if video is not None and video.upload is not None:
            return video.upload
    raise web.HTTPNotFound(reason="No such upload")


async def put_upload(request: web.Request) -> web.Response:
    """`PUT upload_url`: stream the bytes, check type and size, record the object."""
    upload = _upload_of(request)
    if request.content_type != upload.content_type:
        return s3_error(
            403,
            "SignatureDoesNotMatch",
            f"Content-Type must be {upload.content_type}, as declared at upload start",
        )
    digest, received = hashlib.md5(usedforsecurity=False), 0
    async for chunk in request.content.iter_chunked(CHUNK):
        received += len(chunk)
        if received > upload.file_size:
            return s3_error(
                400, "EntityTooLarge", f"more than the declared {upload.file_size} bytes"
            )
        digest.update(chunk)
    if received != upload.file_size:
        return s3_error(
            400, "IncompleteBody", f"got {received} of the declared {upload.file_size} bytes"
        )
    upload.received = received
    return web.Response(status=200, headers={"ETag": f'"{digest.hexdigest()}"'})


def parse_range(header: str, size: int) -> tuple[int, int] | None:
    """[start, end) of a single `bytes=` range, or None when it cannot be satisfied."""
    unit, _, spec = header.partition("=")
    first, _, last = spec.strip().partition("-")
    if unit.strip() != "bytes" or "," in spec or not (first or last):
        return None
    try:
        if not first:
            start, end = max(0, size - int(last)), size
        else:
            start, end = int(first), min(size, int(last) + 1) if last else size
    except ValueError:
        return None
    return (start, end) if 0 <= start < end else None


async def get_file(request: web.Request) -> web.StreamResponse:
    """`GET`/`HEAD` a signed file, honouring `Range` and `If-Range`."""
    world = world_of(request)
    served = world.files.get((request.match_info["kind"], request.match_info["ident"]))
    if served is None:
        raise web.HTTPNotFound(reason="No such file")
    body = served.body()
    headers = {
        "ETag": served.etag(),
        "Accept-Ranges": "bytes",
        "Content-Type": served.content_type,
        "Content-Disposition": "attachment",
    }
    start, end, status = 0, body.size, 200
    wanted = request.headers.get("Range")
    if wanted and request.headers.get("If-Range", served.etag()) == served.etag():
        span = parse_range(wanted, body.size)
        if span is None:
            return web.Response(status=416, headers={"Content-Range": f"bytes */{body.size}"})
        (start, end), status = span, 206
        headers["Content-Range"] = f"bytes {start}-{end - 1}/{body.size}"
    return await _stream(request, served, body, start, end, status, headers)


async def _stream(
    request: web.Request,
    served: ServedFile,
    body: Body,
    start: int,
    end: int,
    status: int,
    headers: dict[str, str],
) -> web.StreamResponse:
    """Write [start, end) in chunks, applying the download faults."""
    plan = request.app[PLAN]
    fired: dict[str, Fault] = {}
    if request.method != "HEAD":  # a HEAD must not use up a download's fault
        fired = {f.kind: f for f in plan.pick("GET /files", STORAGE_KINDS - {"expire"})}
    response = web.StreamResponse(status=status, headers=headers)
    if "chunked" in fired:
        response.enable_chunked_encoding()
    else:
        response.content_length = end - start
    await response.prepare(request)
    if request.method == "HEAD":
        return response
    cut = start + int((end - start) * plan.random()) if "truncate" in fired else None
    await _write_body(request, response, body, start, end if cut is None else cut, fired)
    if cut is not None:
        assert request.transport is not None
        request.transport.abort()  # the client sees a body shorter than promised
        return response
    await response.write_eof()
    return response


async def _write_body(
    request: web.Request,
    response: web.StreamResponse,
    body: Body,
    start: int,
    end: int,
    fired: dict[str, Fault],
) -> None:
    """The body bytes, slowed down by `trickle` and paused once by `stall`."""
    trickle = fired.get("trickle")
    size = TRICKLE_CHUNK if trickle else CHUNK
    stall_at = (start + end) // 2 if "stall" in fired else None
    for chunk in iter_chunks(body, start, end, size):
        if stall_at is not None and start + len(chunk) > stall_at:
            cut = stall_at - start  # pause mid-chunk, so even a one-chunk body stalls
            await response.write(chunk[:cut])
            await asyncio.sleep(fired["stall"].value)
            chunk, start, stall_at = chunk[cut:], stall_at, None
        await response.write(chunk)
        if trickle:
            await asyncio.sleep(len(chunk) / trickle.value)
        start += len(chunk)


def make_storage_app(world: World, plan: FaultPlan) -> web.Application:
    """The storage application."""
    app = web.Application(middlewares=[storage_middleware], client_max_size=1024**4)
    app[WORLD] = world
    app[PLAN] = plan
    app.router.add_put("/uploads/{video_id}", put_upload)
    app.router.add_get("/files/{kind}/{ident}/{filename}", get_file)
    return app
