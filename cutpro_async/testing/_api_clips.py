"""Generated clips, bulk template application, and the template catalogue."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ._api_submissions import ensure_clips, find, status_of, template_exists
from ._api_videos import thumbnail
from ._enums import CLIP_SORTS
from ._failure import ApiFailure, conflict, not_found
from ._media import Mp4Body, mp4_min_size
from ._params import field, json_body, paginate, query_choice, query_float, string_list
from ._routing import Route, deleted, json_response, workspace_of, world_of
from ._wire import wire
from ._world import ClipRec, ServedFile, SubmissionRec, World

PREVIEW_BYTES = 16 * 1024


def _clip_view(world: World, clip: ClipRec) -> dict[str, Any]:
    """A clip with fresh signed preview links."""
    served = ServedFile(
        lambda: Mp4Body(f"preview:{clip.id}", max(PREVIEW_BYTES, mp4_min_size())),
        "video/mp4",
        f"{clip.id}.mp4",
    )
    link = world.publish("clip", clip.id, served)
    spec = clip.spec
    return wire(
        "Clip",
        id=clip.id,
        title=spec.title,
        description=spec.description,
        rating=spec.rating,
        keywords=list(spec.keywords),
        start_time=spec.start_time,
        end_time=spec.end_time,
        language=clip.language,
        created_at=world.clock.iso(clip.created),
        thumbnail_url=thumbnail(clip.id),
        download_url=link,
        play_url=link,
        has_template_applied=clip.template_id is not None,
    )


def completed_clips(request: web.Request) -> SubmissionRec:
    """The submission in the path, with its clips; 409 while running, 410 once expired."""
    world = world_of(request)
    sub = find(request)
    if world.clock.now() >= sub.expires:
        raise ApiFailure(
            410, "SUBMISSION_EXPIRED", "this submission's clips have expired: re-submit"
        )
    if not status_of(world, sub).is_terminal:
        raise conflict("SUBMISSION_NOT_COMPLETED", "the submission is still running: poll it first")
    ensure_clips(world, sub)
    return sub


def clip_of(request: web.Request) -> ClipRec:
    """The clip named by the path."""
    sub = completed_clips(request)
    clip_id = request.match_info["clipId"]
    if clip_id not in sub.clips:
        raise not_found("clip", clip_id)
    return sub.clips[clip_id]


async def list_clips(request: web.Request) -> web.Response:
    """`GET .../clips`: filtered by rating, sorted, paginated."""
    world, sub = world_of(request), completed_clips(request)
    sort = query_choice(request, "sort", CLIP_SORTS, "rating") or "rating"
    order = query_choice(request, "order", ("asc", "desc"), "desc" if sort == "rating" else "asc")
    low = query_float(request, "min_rating", 0, 10)
    high = query_float(request, "max_rating", 0, 10)
    clips = [
        c
        for c in sub.clips.values()
        if (low is None or c.spec.rating >= low) and (high is None or c.spec.rating <= high)
    ]
    clips.sort(key=lambda c: _sort_key(c, sort), reverse=order == "desc")
    page, info = paginate(request, clips)
    views = [_clip_view(world, c) for c in page]
    return json_response(wire("ClipPage", clips=views, pagination=info))


def _sort_key(clip: ClipRec, sort: str) -> float | str:
    """The value a clip sorts by."""
    spec = clip.spec
    if sort == "title":
        return spec.title
    if sort == "duration":
        return spec.end_time - spec.start_time
    return spec.start_time if sort == "start_time" else spec.rating


async def apply_template(request: web.Request) -> web.Response:
    """`POST .../apply_template`: one batch at a time per workspace."""
    world, ws, sub = world_of(request), workspace_of(request), completed_clips(request)
    body = await json_body(request)
    template_id = field(body, "template_id", str)
    clip_ids = string_list(body, "clip_ids", required=False)
    template_exists(world, template_id)
    targets = list(sub.clips) if clip_ids is None else clip_ids
    missing = [c for c in targets if c not in sub.clips]
    if missing:
        raise not_found("clip", missing[0])
    now = world.clock.now()
    if now < ws.template_batch_until:
        raise ApiFailure(
            429,
            "BATCH_ALREADY_RUNNING",
            "another template batch is running; retry later",
            {"retry_after": round(ws.template_batch_until - now, 3)},
        )
    ws.template_batch_until = world.clock.after(2 + 0.5 * len(targets))
    for clip_id in targets:
        sub.clips[clip_id].template_id = template_id
    world.changed("workspace", ws.id, workspace=ws.id)
    world.changed("submission", sub.submission_id, workspace=ws.id)
    return json_response(wire("TemplateApplied", total=len(targets)), 202)


async def delete_clip(request: web.Request) -> web.Response:
    """`DELETE .../clips/{clipId}`."""
    clip = clip_of(request)
    del completed_clips(request).clips[clip.id]
    world_of(request).changed("submission", clip.submission_id)
    return deleted(request)


async def list_templates(request: web.Request) -> web.Response:
    """`GET /templates`: the workspace's own (`mine`) or public (`community`/`public`) templates."""
    world = world_of(request)
    scope = query_choice(request, "filter", ("mine", "community", "public"))
    sort = query_choice(request, "sort", ("name", "recent"), "recent")
    items = [t for t in world.templates if scope is None or t["is_public"] == (scope != "mine")]
    if sort == "name":
        items.sort(key=lambda t: str(t["name"]))
    page, info = paginate(request, items)
    return json_response(wire("TemplatePage", templates=page, pagination=info))


_CLIP = "/clips/{videoId}/submissions/{submissionId}"
ROUTES = [
    Route(
        "GET",
        f"{_CLIP}/clips",
        list_clips,
        "listClips",
        "AI-generated clips of a completed submission.",
        response="ClipPage",
        query=("page", "limit", "sort", "order", "min_rating", "max_rating"),
    ),
    Route(
        "POST",
        f"{_CLIP}/apply_template",
        apply_template,
        "applyTemplate",
        "Apply an editing template to clips of a submission in bulk.",
        status=202,
        request="ApplyTemplateRequest",
        response="TemplateApplied",
    ),
    Route(
        "DELETE",
        f"{_CLIP}/clips/{{clipId}}",
        delete_clip,
        "deleteClip",
        "Delete one generated clip.",
        status=204,
    ),
    Route(
        "GET",
        "/templates",
        list_templates,
        "listTemplates",
        "Editing templates usable as template_id.",
        response="TemplatePage",
        query=("page", "limit", "filter", "sort"),
    ),
]
