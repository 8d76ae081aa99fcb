"""Paid submissions and the clipping jobs they start."""

from __future__ import annotations

from functools import partial
from typing import Any

from aiohttp import web

from ._api_videos import credits_for
from ._commit import commit_later, credits_held
from ._content import make_clips
from ._enums import SourceLanguage, SubmissionStatus, TransactionType
from ._failure import ApiFailure, conflict, invalid
from ._jobs import QUEUE_SLOT_SECONDS, submission_timeline
from ._params import field, json_body, optional, paginate
from ._routing import COMMIT_DELAY, Route, deleted, json_response, workspace_of, world_of
from ._wire import Timeframe, wire
from ._world import ClipRec, SubmissionRec, VideoRec, WorkspaceState, World, lookup


def template_exists(world: World, template_id: str | None) -> None:
    """404 `TEMPLATE_NOT_FOUND` unless the template is the workspace's own (`filter=mine`).

    A public template must be copied into the workspace before it can be used.
    """
    own = {t["id"] for t in world.templates if not t["is_public"]}
    if template_id is not None and template_id not in own:
        raise ApiFailure(
            404,
            "TEMPLATE_NOT_FOUND",
            f"template {template_id!r} is not in this workspace",
            {"template_id": template_id},
        )


def _timeframe(body: dict[str, Any], video: VideoRec) -> Timeframe:
    """The requested segment, validated against the video (whole video when omitted)."""
    raw = optional(body, "timeframe", dict)
    if raw is None:
        return Timeframe(0.0, video.duration)
    start, end = raw.get("start"), raw.get("end")
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (start, end)):
        raise invalid("timeframe", "needs numeric start and end (seconds)")
    if not 0 <= start < end <= video.duration:
        raise invalid(
            "timeframe", f"needs 0 <= start < end <= {video.duration:g} (the video length)"
        )
    return Timeframe(float(start), float(end))


def _language(body: dict[str, Any]) -> SourceLanguage:
    """The requested source language (only the documented ones)."""
    value = optional(body, "source_language", str) or "auto"
    if value not in {lang.value for lang in SourceLanguage}:
        raise invalid("source_language", "must be auto, en or pt")
    return SourceLanguage(value)


def status_of(world: World, sub: SubmissionRec) -> SubmissionStatus:
    """The job's status now."""
    return SubmissionStatus(sub.timeline.status_at(world.clock.now()))


def running_submission(world: World, ws: WorkspaceState, video_id: str) -> SubmissionRec | None:
    """A job of this video that has not finished, if any."""
    for sub in ws.submissions.values():
        if sub.video_id == video_id and not status_of(world, sub).is_terminal:
            return sub
    return None


def _not_processing(world: World, ws: WorkspaceState, video_id: str) -> None:
    """409 `VIDEO_ALREADY_PROCESSING` while a job of the video runs or waits to commit.

    A job still waiting to commit (`slowcommit`) has no id anyone could poll yet.
    """
    running = running_submission(world, ws, video_id)
    if running is not None or video_id in ws.committing:
        ids = {} if running is None else {"submission_id": running.submission_id}
        raise conflict(
            "VIDEO_ALREADY_PROCESSING", "this video is already being clipped: poll it", **ids
        )


def _affordable(ws: WorkspaceState, cost: float) -> None:
    """402 `INSUFFICIENT_CREDITS` unless the balance, less credits held for commits, covers it."""
    if ws.balance - credits_held(ws) < cost:
        raise ApiFailure(
            402,
            "INSUFFICIENT_CREDITS",
            f"this job needs {cost:g} credits",
            {"credits_needed": cost, "current_balance": ws.balance},
        )


async def submit(request: web.Request) -> web.Response:
    """`POST /clips`: start clipping; the credits are debited at once (or after a slow commit)."""
    world, ws = world_of(request), workspace_of(request)
    body = await json_body(request)
    video = lookup(ws.videos, "video", field(body, "video_id", str))
    if not video.in_library:
        raise conflict("UPLOAD_NOT_COMPLETED", "complete the upload before submitting the video")
    language, timeframe = _language(body), _timeframe(body, video)
    strategy_id, template_id = (
        optional(body, "strategy_id", str),
        optional(body, "template_id", str),
    )
    template_exists(world, template_id)
    _not_processing(world, ws, video.video_id)
    cost = credits_for(world, timeframe.seconds)
    _affordable(ws, cost)
    commit = partial(_create, world, ws, video, timeframe, cost, language, strategy_id, template_id)
    delay = request.get(COMMIT_DELAY)
    if delay is None:
        sub = commit()
    else:
        sub = await commit_later(world, ws, video.video_id, cost, delay, commit)
    created = wire(
        "SubmissionCreated",
        submission_id=sub.submission_id,
        video_id=video.video_id,
        status=SubmissionStatus.QUEUED.value,
        credits_charged=cost,
    )
    return json_response(created, 201)


def _create(
    world: World,
    ws: WorkspaceState,
    video: VideoRec,
    timeframe: Timeframe,
    cost: float,
    language: SourceLanguage,
    strategy_id: str | None,
    template_id: str | None,
) -> SubmissionRec:
    """Charge and record a new job."""
    sub_id = world.new_id("s")
    fails = video.unavailable or world.rng.random() < world.config.submission_failure_rate
    now, config = world.clock.now(), world.config
    timeline = submission_timeline(now, timeframe.seconds, config.time_scale, fails)
    expires = timeline.ends + config.submission_expiry_days * 86400 / config.time_scale
    sub = SubmissionRec(
        sub_id,
        video.video_id,
        now,
        timeline,
        timeframe,
        cost,
        language,
        strategy_id,
        template_id,
        expires=expires,
    )
    ws.submissions[sub_id] = sub
    world.changed("submission", sub_id, workspace=ws.id)
    row = world.record(ws, TransactionType.DEBIT, -cost, "usage", sub_id, f"Clipping {video.title}")
    ws.ledger_videos[row.id] = video.video_id
    return sub


def ensure_clips(world: World, sub: SubmissionRec) -> None:
    """Generate the clips of a completed job once."""
    if sub.clips or status_of(world, sub) is not SubmissionStatus.COMPLETED:
        return
    for spec in make_clips(sub.submission_id, sub.timeframe.start, sub.timeframe.end):
        clip_id = world.new_id("c")
        language = (
            sub.source_language.value if sub.source_language is not SourceLanguage.AUTO else "en"
        )
        sub.clips[clip_id] = ClipRec(
            clip_id,
            sub.video_id,
            sub.submission_id,
            spec,
            sub.timeline.ends,
            language,
            sub.template_id,
        )
    world.changed("submission", sub.submission_id)


def view(world: World, sub: SubmissionRec) -> dict[str, Any]:
    """A job as the API shows it now."""
    now, clock = world.clock.now(), world.clock
    status = status_of(world, sub)
    ensure_clips(world, sub)
    queued = status is SubmissionStatus.QUEUED
    queue_end = sub.timeline.step_bounds("queued")[1]
    return wire(
        "Submission",
        submission_id=sub.submission_id,
        video_id=sub.video_id,
        status=status.value,
        error_code="download_failed" if status is SubmissionStatus.FAILED else None,
        clips_count=len(sub.clips),
        created_at=clock.iso(sub.created),
        queue_position=max(1, int(clock.to_api_seconds(queue_end - now) // QUEUE_SLOT_SECONDS) + 1)
        if queued
        else None,
        estimated_time=round(sub.timeline.ends - now, 3) if queued else None,
        completed_at=clock.iso(sub.timeline.ends) if status.is_terminal else None,
        waiting_reason=None,
        is_priority=False,
        strategy_id=sub.strategy_id,
        timeframe=sub.timeframe.json(),
        credit_cost=sub.credit_cost,
        is_reclip=False,
    )


def find(request: web.Request) -> SubmissionRec:
    """The submission named by the path, checked to belong to the video in the path."""
    ws = workspace_of(request)
    video_id = request.match_info["videoId"]
    lookup(ws.videos, "video", video_id)
    sub = lookup(ws.submissions, "submission", request.match_info["submissionId"])
    if sub.video_id != video_id:
        lookup({}, "submission", sub.submission_id)
    return sub


async def list_submissions(request: web.Request) -> web.Response:
    """`GET /clips/{videoId}/submissions`: the video's jobs, newest first."""
    world, ws = world_of(request), workspace_of(request)
    video = lookup(ws.videos, "video", request.match_info["videoId"])
    subs = [s for s in reversed(ws.submissions.values()) if s.video_id == video.video_id]
    page, info = paginate(request, subs)
    views = [view(world, s) for s in page]
    return json_response(wire("SubmissionPage", submissions=views, pagination=info))


async def get_submission(request: web.Request) -> web.Response:
    """`GET /clips/{videoId}/submissions/{submissionId}`: poll one job."""
    return json_response(view(world_of(request), find(request)))


async def delete_submission(request: web.Request) -> web.Response:
    """`DELETE /clips/{videoId}/submissions/{submissionId}`: the job and its clips."""
    sub_id = find(request).submission_id
    del workspace_of(request).submissions[sub_id]
    world_of(request).changed("submission", sub_id)
    return deleted(request)


ROUTES = [
    Route(
        "POST",
        "/clips",
        submit,
        "submitClipping",
        "Start AI clipping of a video_id; credits are debited immediately.",
        status=201,
        request="SubmitRequest",
        response="SubmissionCreated",
    ),
    Route(
        "GET",
        "/clips/{videoId}/submissions",
        list_submissions,
        "listSubmissions",
        "Clipping jobs of one video.",
        response="SubmissionPage",
        query=("page", "limit"),
    ),
    Route(
        "GET",
        "/clips/{videoId}/submissions/{submissionId}",
        get_submission,
        "getSubmission",
        "Poll one submission until completed or failed.",
        response="Submission",
    ),
    Route(
        "DELETE",
        "/clips/{videoId}/submissions/{submissionId}",
        delete_submission,
        "deleteSubmission",
        "Delete a submission and its clips.",
        status=204,
    ),
]
