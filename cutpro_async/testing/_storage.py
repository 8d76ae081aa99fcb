"""The storage host: presigned upload PUTs and signed, ranged, streamed file downloads.

Downloads answer as the configured storage profile does (`_profiles`, served by `_download`).

It runs on its own port and needs no API key; a client that sends one anyway is recorded in
`World.key_leaks`, so tests can prove that keys never travel to storage.
"""

from __future__ import annotations

import asyncio
import hashlib

from aiohttp import web

from ._download import CHUNK, PLAN, PROFILE, get_file
from ._faults import Fault, FaultPlan, error_status, retry_headers
from ._profiles import make_profile
from ._routing import WORLD, Handler, world_of
from ._world import Upload, World


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
    world = world_of(request)
    world.changed("video", request.match_info["video_id"])
    await world.saved()  # saved before the answer: a complete_upload may follow a restart
    return web.Response(status=200, headers={"ETag": f'"{digest.hexdigest()}"'})


def make_storage_app(world: World, plan: FaultPlan) -> web.Application:
    """The storage application."""
    app = web.Application(middlewares=[storage_middleware], client_max_size=1024**4)
    app[WORLD] = world
    app[PLAN] = plan
    app[PROFILE] = make_profile(world.config.storage_profile, world.config.multipart_threshold)
    app.router.add_put("/uploads/{video_id}", put_upload)
    app.router.add_get("/files/{kind}/{ident}/{filename}", get_file)
    return app
