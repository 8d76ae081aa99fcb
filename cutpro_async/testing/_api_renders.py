"""Renders of clips, their downloads, the render quota, and bulk ZIP downloads."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ._api_clips import clip_of
from ._content import digest
from ._enums import BulkStatus, RenderStatus
from ._failure import ApiFailure, conflict, invalid
from ._jobs import SlotScheduler, progress, simple_timeline
from ._media import Mp4Body, ZipBody
from ._params import json_body, paginate, query_choice, string_list
from ._routing import Route, deleted, json_response, workspace_of, world_of
from ._wire import wire
from ._world import BulkRec, ClipRec, RenderRec, ServedFile, WorkspaceState, World, lookup

RESOLUTION = "1080p"


def render_status(world: World, render: RenderRec) -> RenderStatus:
    """A render's status now, cancellation and expiry included."""
    now = world.clock.now()
    if render.cancelled_at is not None:
        return RenderStatus.CANCELLED
    status = RenderStatus(render.timeline.status_at(now))
    if status is RenderStatus.COMPLETED and now >= render.expires:
        return RenderStatus.EXPIRED
    return status


def render_file(world: World, render: RenderRec) -> ServedFile:
    """The MP4 of a render: deterministic bytes of the configured size."""
    size = world.config.render_bytes
    return ServedFile(
        lambda: Mp4Body(render.render_id, size), "video/mp4", f"{render.clip.spec.title}.mp4"
    )


def _view(world: World, render: RenderRec) -> dict[str, Any]:
    """A render as the API shows it now."""
    clock, status = world.clock, render_status(world, render)
    start, end = render.timeline.step_bounds("active")
    # A cancel stops the clock of the render: nothing after it happened.
    now = clock.now() if render.cancelled_at is None else render.cancelled_at
    finished = status.is_terminal and (now >= end or render.cancelled_at is not None)
    return wire(
        "Render",
        render_id=render.render_id,
        edit_setting_id=render.edit_setting_id,
        name=render.clip.spec.title,
        status=status.value,
        progress=progress(render.timeline, now),
        output_resolution=RESOLUTION,
        created_at=clock.iso(render.created),
        started_at=clock.iso(start) if now >= start else None,
        completed_at=clock.iso(min(now, end)) if finished else None,
    )


async def render_clip(request: web.Request) -> web.Response:
    """`POST .../render`: 200 from the render cache, 202 queued, 409 while rendering."""
    world, ws = world_of(request), workspace_of(request)
    clip = clip_of(request)
    edit_id = "e" + digest(clip.id, clip.template_id or "")[:20]
    for render in ws.renders.values():
        if render.edit_setting_id != edit_id:
            continue
        status = render_status(world, render)
        if status in (RenderStatus.QUEUED, RenderStatus.ACTIVE):
            # The reference does not promise to name the running render: a knob drops it.
            named = {"render_id": render.render_id} if world.config.name_running_render else {}
            raise conflict(
                "RENDER_ALREADY_IN_PROGRESS", "this clip is already rendering: poll it", **named
            )
        if status is RenderStatus.COMPLETED:
            link = world.publish("render", render.render_id, render_file(world, render))
            return json_response(_created(render, status, link), 200)
    render = _schedule(world, ws, clip, edit_id)
    return json_response(_created(render, RenderStatus.QUEUED, None), 202)


def _created(render: RenderRec, status: RenderStatus, link: str | None) -> dict[str, Any]:
    """The answer of a render request."""
    return wire(
        "RenderCreated",
        render_id=render.render_id,
        edit_setting_id=render.edit_setting_id,
        status=status.value,
        has_watermark=False,
        output_resolution=RESOLUTION,
        from_cache=link is not None,
        download_url=link,
    )


def _schedule(world: World, ws: WorkspaceState, clip: ClipRec, edit_id: str) -> RenderRec:
    """Book a render slot (renders past the cap wait queued) and record the job."""
    now, config = world.clock.now(), world.config
    duration = (20 + (clip.spec.end_time - clip.spec.start_time)) / config.time_scale
    start, end = ws.renders_scheduler.book(now, duration)
    fails = world.rng.random() < config.render_failure_rate
    timeline = simple_timeline(now, start, end, "failed" if fails else "completed")
    expires = end + config.render_expiry_hours * 3600 / config.time_scale
    render = RenderRec(world.new_id("r"), edit_id, clip, now, timeline, expires)
    ws.renders[render.render_id] = render
    world.changed("render", render.render_id, workspace=ws.id)
    world.changed("workspace", ws.id, workspace=ws.id)  # its render slots
    return render


async def list_renders(request: web.Request) -> web.Response:
    """`GET /renders`: newest first; `processing` means queued or active."""
    world, ws = world_of(request), workspace_of(request)
    wanted = query_choice(request, "status", ("processing", "completed", "failed"))
    views = [_view(world, r) for r in reversed(ws.renders.values())]
    if wanted is not None:
        views = [v for v in views if _coarse(v["status"]) == wanted]
    page, info = paginate(request, views)
    return json_response(wire("RenderPage", renders=page, pagination=info))


def _coarse(status: str) -> str:
    """The list filter's coarser status."""
    return "processing" if status in (RenderStatus.QUEUED, RenderStatus.ACTIVE) else status


async def get_render_limits(request: web.Request) -> web.Response:
    """`GET /renders/limits`: pending renders against the concurrency cap."""
    world, ws = world_of(request), workspace_of(request)
    statuses = [render_status(world, r) for r in ws.renders.values()]
    active = statuses.count(RenderStatus.ACTIVE)
    queued = statuses.count(RenderStatus.QUEUED)
    cap = world.config.max_concurrent_renders
    usage = wire(
        "RenderUsage",
        active_count=active,
        queued_count=queued,
        total_pending=active + queued,
        max_concurrent=cap,
    )
    plan = wire(
        "RenderPlan",
        video_quality=RESOLUTION,
        watermark=False,
        priority_processing=False,
        max_concurrent_renders=cap,
        render_expiry_hours=world.config.render_expiry_hours,
    )
    return json_response(wire("RenderLimits", usage=usage, plan=plan))


async def get_render(request: web.Request) -> web.Response:
    """`GET /renders/{renderId}`: poll one render."""
    ws = workspace_of(request)
    return json_response(
        _view(world_of(request), lookup(ws.renders, "render", request.match_info["renderId"]))
    )


def downloadable(world: World, render: RenderRec) -> None:
    """409 unless completed; 410 once expired."""
    status = render_status(world, render)
    if status is RenderStatus.EXPIRED:
        raise ApiFailure(410, "RENDER_EXPIRED", "this render has expired: render the clip again")
    if status is not RenderStatus.COMPLETED:
        raise conflict(
            "RENDER_NOT_READY",
            f"render is {status.value}, not completed: poll it first",
            status=status.value,
        )


async def get_render_download(request: web.Request) -> web.Response:
    """`GET /renders/{renderId}/download`: a signed link, valid for an hour."""
    world, ws = world_of(request), workspace_of(request)
    render = lookup(ws.renders, "render", request.match_info["renderId"])
    downloadable(world, render)
    served = render_file(world, render)
    link = world.publish("render", render.render_id, served)
    return json_response(wire("DownloadLink", url=link, filename=served.filename))


async def cancel_render(request: web.Request) -> web.Response:
    """`DELETE /renders/{renderId}`: cancel a running render, or delete a finished one."""
    world, ws = world_of(request), workspace_of(request)
    render = lookup(ws.renders, "render", request.match_info["renderId"])
    if render_status(world, render) in (RenderStatus.QUEUED, RenderStatus.ACTIVE):
        now = world.clock.now()
        render.cancelled_at = now
        _replan(world, ws)
    else:
        del ws.renders[render.render_id]
    world.changed("render", render.render_id, workspace=ws.id)
    return deleted(request)


def _replan(world: World, ws: WorkspaceState) -> None:
    """After a cancel, queued renders move up into the freed slot, in their order."""
    now = world.clock.now()
    scheduler = SlotScheduler(world.config.max_concurrent_renders)
    live = [r for r in ws.renders.values() if r.cancelled_at is None]
    for render in live:  # running renders keep their slot
        start, end = render.timeline.step_bounds("active")
        if start <= now < end:
            scheduler.book(now, end - now)
    for render in live:
        start, end = render.timeline.step_bounds("active")
        if start > now:
            new_start, new_end = scheduler.book(now, end - start)
            render.timeline = simple_timeline(
                render.created, new_start, new_end, render.timeline.final
            )
            render.expires += new_end - end
            world.changed("render", render.render_id, workspace=ws.id)
    ws.renders_scheduler = scheduler
    world.changed("workspace", ws.id, workspace=ws.id)


async def start_bulk_download(request: web.Request) -> web.Response:
    """`POST /renders/bulk-download`: a job that bundles completed renders into a ZIP."""
    world, ws = world_of(request), workspace_of(request)
    render_ids = string_list(await json_body(request), "render_ids", required=True) or []
    if not 1 <= len(render_ids) <= 100 or len(set(render_ids)) != len(render_ids):
        raise invalid("render_ids", "needs 1 to 100 distinct render ids")
    for render_id in render_ids:
        downloadable(world, lookup(ws.renders, "render", render_id))
    now = world.clock.now()
    start = world.clock.after(2, now)
    end = world.clock.after(3 + len(render_ids), start)
    job = BulkRec(
        world.new_id("b"),
        render_ids,
        now,
        simple_timeline(now, start, end, "completed"),
        end + world.config.link_ttl,
    )
    ws.bulk[job.job_id] = job
    world.changed("bulk", job.job_id, workspace=ws.id)
    created = wire("BulkDownloadCreated", job_id=job.job_id, status=BulkStatus.QUEUED.value)
    return json_response(created, 202)


async def get_bulk_download(request: web.Request) -> web.Response:
    """`GET /renders/bulk-download/{jobId}`: the ZIP's link and size once completed."""
    world, ws = world_of(request), workspace_of(request)
    job = lookup(ws.bulk, "bulk_download", request.match_info["jobId"])
    clock = world.clock
    status = BulkStatus(job.timeline.status_at(clock.now()))
    done = status is BulkStatus.COMPLETED
    link, size, name = None, None, None
    if done:
        served = _zip_file(world, ws, job)
        link, size, name = (
            world.publish("bulk", job.job_id, served),
            (await served.body()).size,
            served.filename,
        )
    return json_response(
        wire(
            "BulkDownload",
            job_id=job.job_id,
            status=status.value,
            progress=progress(job.timeline, clock.now()),
            render_count=len(job.render_ids),
            created_at=clock.iso(job.created),
            expires_at=clock.iso(job.expires),
            file_size=size,
            error_code=None,
            completed_at=clock.iso(job.timeline.ends) if done else None,
            download_url=link,
            filename=name,
        )
    )


def _zip_file(world: World, ws: WorkspaceState, job: BulkRec) -> ServedFile:
    """The ZIP of a bulk job: one `<render_id>.mp4` per render."""
    renders = [ws.renders[r] for r in job.render_ids if r in ws.renders]

    def make() -> ZipBody:
        return ZipBody([(f"{r.render_id}.mp4", render_file(world, r).make()) for r in renders])

    return world.files.get(("bulk", job.job_id)) or ServedFile(
        make, "application/zip", f"cutpro-renders-{job.job_id}.zip"
    )


ROUTES = [
    Route(
        "POST",
        "/clips/{videoId}/submissions/{submissionId}/clips/{clipId}/render",
        render_clip,
        "renderClip",
        "Queue a final MP4 render of a clip (200 when served from cache).",
        status=202,
        response="RenderCreated",
        also=(200,),
    ),
    Route(
        "GET",
        "/renders",
        list_renders,
        "listRenders",
        "The workspace's render jobs.",
        response="RenderPage",
        query=("page", "limit", "status"),
    ),
    Route(
        "GET",
        "/renders/limits",
        get_render_limits,
        "getRenderLimits",
        "Render quota and concurrency for the workspace.",
        response="RenderLimits",
    ),
    Route(
        "POST",
        "/renders/bulk-download",
        start_bulk_download,
        "startBulkDownload",
        "Bundle several renders into one ZIP.",
        status=202,
        request="BulkDownloadRequest",
        response="BulkDownloadCreated",
    ),
    Route(
        "GET",
        "/renders/bulk-download/{jobId}",
        get_bulk_download,
        "getBulkDownload",
        "Poll a bulk download until ready.",
        response="BulkDownload",
    ),
    Route(
        "GET",
        "/renders/{renderId}",
        get_render,
        "getRender",
        "Poll a render until completed.",
        response="Render",
    ),
    Route(
        "GET",
        "/renders/{renderId}/download",
        get_render_download,
        "getRenderDownload",
        "Signed download URL of a completed render.",
        response="DownloadLink",
    ),
    Route(
        "DELETE",
        "/renders/{renderId}",
        cancel_render,
        "cancelRender",
        "Cancel an in-progress render, or delete a finished one.",
        status=204,
    ),
]
