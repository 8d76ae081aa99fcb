"""The simulated world as rows: one JSON object per saved object, and back.

A row is `(kind, id) -> (workspace id, JSON)`. Kinds: `workspace` (its description, balance,
render slots and connected accounts), `video`, `submission` (with its clips), `render`,
`bulk`, `post` (with its items) and `ledger` (one credit movement). What belongs to the world
as a whole (its id, the id counter, the clock, the API keys) is one `world` object.

Only what a later run needs is kept: request counters, fault state, rate-limit windows,
commits still waiting (`slowcommit`) and served files are not (links are signed anew when the
API is asked for them).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import Any

import orjson

from ._content import ClipSpec
from ._enums import SourceLanguage, TransactionType
from ._jobs import SlotScheduler, Timeline
from ._ledger import LedgerRow
from ._wire import Timeframe
from ._world import (
    BulkRec,
    ClipRec,
    PostItemRec,
    PostRec,
    RenderRec,
    SubmissionRec,
    Upload,
    VideoRec,
    WorkspaceState,
    World,
)

Key = tuple[str, str]  # (kind, id)
Row = tuple[str, bytes]  # (workspace id, JSON)
# The order objects are restored in: a workspace before what it holds, a submission (and
# its clips) before the renders of those clips.
KINDS = ("workspace", "video", "submission", "render", "bulk", "post", "ledger")
_TABLES = {
    "video": "videos",
    "submission": "submissions",
    "render": "renders",
    "bulk": "bulk",
    "post": "posts",
}


def _never(value: float) -> float | None:
    """An infinite moment ("never", "always") as null: JSON has no infinity."""
    return None if math.isinf(value) else value


def _timeline(timeline: Timeline) -> list[Any]:
    """A job's timeline as a list."""
    return [timeline.starts, [list(step) for step in timeline.steps], timeline.final]


def _timeline_of(data: list[Any]) -> Timeline:
    """A timeline from its list."""
    starts, steps, final = data
    return Timeline(starts, tuple((str(name), float(end)) for name, end in steps), final)


def _clip(clip: ClipRec) -> dict[str, Any]:
    """A clip as JSON."""
    spec = clip.spec
    return {
        "id": clip.id,
        "video_id": clip.video_id,
        "submission_id": clip.submission_id,
        "spec": [
            spec.title,
            spec.description,
            spec.rating,
            list(spec.keywords),
            spec.start_time,
            spec.end_time,
        ],
        "created": clip.created,
        "language": clip.language,
        "template_id": clip.template_id,
    }


def _clip_of(data: dict[str, Any]) -> ClipRec:
    """A clip from JSON."""
    title, description, rating, keywords, start, end = data["spec"]
    spec = ClipSpec(title, description, rating, tuple(keywords), start, end)
    return ClipRec(
        data["id"],
        data["video_id"],
        data["submission_id"],
        spec,
        data["created"],
        data["language"],
        data["template_id"],
    )


def _workspace(ws: WorkspaceState) -> dict[str, Any]:
    """What a workspace holds besides its tables."""
    return {
        "info": ws.info,
        "balance": ws.balance,
        "render_slots": ws.renders_scheduler.free_at,
        "template_batch_until": _never(ws.template_batch_until),
        "connections": list(ws.connections.values()),
    }


def _video(video: VideoRec) -> dict[str, Any]:
    """A video as JSON."""
    upload = video.upload
    return {
        "id": video.video_id,
        "title": video.title,
        "description": video.description,
        "author": video.author,
        "platform": video.platform,
        "duration": video.duration,
        "created": video.created,
        "unavailable": video.unavailable,
        "in_library": video.in_library,
        "url": video.url,
        "upload": None
        if upload is None
        else [
            upload.file_name,
            upload.file_size,
            upload.content_type,
            upload.expires,
            upload.received,
        ],
    }


def _submission(sub: SubmissionRec) -> dict[str, Any]:
    """A submission and its clips as JSON."""
    return {
        "id": sub.submission_id,
        "video_id": sub.video_id,
        "created": sub.created,
        "timeline": _timeline(sub.timeline),
        "timeframe": [sub.timeframe.start, sub.timeframe.end],
        "credit_cost": sub.credit_cost,
        "source_language": sub.source_language.value,
        "strategy_id": sub.strategy_id,
        "template_id": sub.template_id,
        "clips": [_clip(clip) for clip in sub.clips.values()],
        "expires": _never(sub.expires),
    }


def _render(render: RenderRec) -> dict[str, Any]:
    """A render as JSON, with a copy of its clip (the clip may be deleted later).

    The copy leaves out the clip's template, which changes on the clip (in its submission)
    and plays no part in a render once made.
    """
    return {
        "id": render.render_id,
        "edit_setting_id": render.edit_setting_id,
        "clip": {**_clip(render.clip), "template_id": None},
        "created": render.created,
        "timeline": _timeline(render.timeline),
        "expires": render.expires,
        "cancelled_at": render.cancelled_at,
    }


def _bulk(job: BulkRec) -> dict[str, Any]:
    """A bulk download job as JSON."""
    return {
        "id": job.job_id,
        "render_ids": job.render_ids,
        "created": job.created,
        "timeline": _timeline(job.timeline),
        "expires": job.expires,
    }


def _post(post: PostRec) -> dict[str, Any]:
    """A post and its items as JSON."""
    items = [
        {
            "id": item.id,
            "connection_id": item.connection_id,
            "platform": item.platform,
            "edit_id": item.edit_id,
            "metadata": item.metadata,
            "attempts": [list(attempt) for attempt in item.attempts],
        }
        for item in post.items.values()
    ]
    return {
        "id": post.post_id,
        "created": post.created,
        "scheduled": post.scheduled,
        "items": items,
    }


def _ledger(ws: WorkspaceState, row: LedgerRow) -> dict[str, Any]:
    """A ledger row as JSON (its time exactly, not as the API rounds it)."""
    return {
        "id": row.id,
        "type": row.type.value,
        "amount": row.amount,
        "balance_after": row.balance_after,
        "reference_type": row.reference_type,
        "reference_id": row.reference_id,
        "description": row.description,
        "created_at": row.created_at.isoformat(),
        "video_id": ws.ledger_videos.get(row.id),
    }


def _encode(ws: WorkspaceState, kind: str, thing: Any) -> bytes:
    """One object's JSON."""
    if kind == "workspace":
        data = _workspace(ws)
    elif kind == "ledger":
        data = _ledger(ws, thing)
    else:
        data = _ENCODERS[kind](thing)
    return orjson.dumps(data)


_ENCODERS: dict[str, Callable[[Any], dict[str, Any]]] = {
    "video": _video,
    "submission": _submission,
    "render": _render,
    "bulk": _bulk,
    "post": _post,
}


def _ledger_row(ws: WorkspaceState, ident: str) -> LedgerRow | None:
    """A ledger row by id (looked for from the newest: rows are saved just after they are made)."""
    return next((row for row in reversed(ws.ledger) if row.id == ident), None)


def object_row(world: World, kind: str, ident: str, workspace: str | None) -> Row | None:
    """The row of one object as it is now, or None once it is gone (deleted)."""
    spaces: Iterable[WorkspaceState] = world.workspaces.values()
    if workspace is not None:
        spaces = [world.workspaces[workspace]] if workspace in world.workspaces else []
    for ws in spaces:
        if kind == "workspace":
            thing: Any = ws if ws.id == ident else None
        elif kind == "ledger":
            thing = _ledger_row(ws, ident)
        else:
            thing = getattr(ws, _TABLES[kind]).get(ident)
        if thing is not None:
            return ws.id, _encode(ws, kind, thing)
    return None


def every_row(world: World) -> Iterator[tuple[Key, Row]]:
    """Every object of the world, in the order it is restored."""
    for ws in world.workspaces.values():
        yield ("workspace", ws.id), (ws.id, _encode(ws, "workspace", ws))
    for kind in KINDS[1:-1]:
        for ws in world.workspaces.values():
            for ident, thing in getattr(ws, _TABLES[kind]).items():
                yield (kind, ident), (ws.id, _encode(ws, kind, thing))
    for ws in world.workspaces.values():
        for row in ws.ledger:
            yield ("ledger", row.id), (ws.id, _encode(ws, "ledger", row))


def world_row(world: World, position: float, api_key: str, workspace_id: str) -> bytes:
    """What belongs to the world as a whole; `position` is where its clock resumes."""
    return orjson.dumps(
        {
            "world_id": world.world_id,
            "next_id": world.next_id,
            "clock": {"position": position, "wall_start": world.clock.wall_start.isoformat()},
            "keys": {key: list(spaces) for key, spaces in world.keys.items()},
            "api_key": api_key,
            "workspace_id": workspace_id,
        }
    )


def restore_world(world: World, data: bytes) -> tuple[str, str]:
    """Put a saved world's identity, counter, clock and keys in place; returns its default
    (api key, workspace id)."""
    saved = orjson.loads(data)
    world.world_id = saved["world_id"]
    world.next_id = saved["next_id"]
    # Ids only need to be unique (the counter makes them so): a fresh generator will do.
    world.rng = random.Random(f"{world.config.seed}:{world.next_id}")
    clock = saved["clock"]
    world.clock.resume(clock["position"], datetime.fromisoformat(clock["wall_start"]))
    world.keys = {key: tuple(spaces) for key, spaces in saved["keys"].items()}
    return saved["api_key"], saved["workspace_id"]


def restore_object(world: World, kind: str, ws_id: str, data: bytes) -> None:
    """Put one saved object back in its workspace (workspaces come first, see `KINDS`)."""
    saved = orjson.loads(data)
    if kind == "workspace":
        scheduler = SlotScheduler(world.config.max_concurrent_renders, saved["render_slots"])
        ws = WorkspaceState(saved["info"], saved["balance"], scheduler)
        until = saved["template_batch_until"]
        ws.template_batch_until = -math.inf if until is None else until
        ws.connections = {conn["id"]: conn for conn in saved["connections"]}
        world.workspaces[ws_id] = ws
        return
    ws = world.workspaces[ws_id]
    if kind == "video":
        video = _video_of(saved)
        ws.videos[video.video_id] = video
        if video.url is not None:
            ws.video_by_url[video.url] = video.video_id
    elif kind == "submission":
        sub = _submission_of(saved)
        ws.submissions[sub.submission_id] = sub
    elif kind == "render":
        render = _render_of(ws, saved)
        ws.renders[render.render_id] = render
    elif kind == "bulk":
        job = BulkRec(
            saved["id"],
            saved["render_ids"],
            saved["created"],
            _timeline_of(saved["timeline"]),
            saved["expires"],
        )
        ws.bulk[job.job_id] = job
    elif kind == "post":
        post = _post_of(saved)
        ws.posts[post.post_id] = post
    elif kind == "ledger":
        row = _ledger_of(saved)
        ws.ledger.append(row)
        if saved["video_id"] is not None:
            ws.ledger_videos[row.id] = saved["video_id"]
    else:
        raise ValueError(f"unknown kind of object {kind!r}")


def _video_of(saved: dict[str, Any]) -> VideoRec:
    """A video from JSON."""
    upload = saved["upload"]
    return VideoRec(
        saved["id"],
        saved["title"],
        saved["description"],
        saved["author"],
        saved["platform"],
        saved["duration"],
        saved["created"],
        unavailable=saved["unavailable"],
        upload=None if upload is None else Upload(*upload),
        in_library=saved["in_library"],
        url=saved["url"],
    )


def _submission_of(saved: dict[str, Any]) -> SubmissionRec:
    """A submission and its clips from JSON."""
    clips = [_clip_of(clip) for clip in saved["clips"]]
    return SubmissionRec(
        saved["id"],
        saved["video_id"],
        saved["created"],
        _timeline_of(saved["timeline"]),
        Timeframe(*saved["timeframe"]),
        saved["credit_cost"],
        SourceLanguage(saved["source_language"]),
        saved["strategy_id"],
        saved["template_id"],
        clips={clip.id: clip for clip in clips},
        expires=math.inf if saved["expires"] is None else saved["expires"],
    )


def _render_of(ws: WorkspaceState, saved: dict[str, Any]) -> RenderRec:
    """A render from JSON, sharing its clip with the submission while the clip exists."""
    copy = _clip_of(saved["clip"])
    sub = ws.submissions.get(copy.submission_id)
    clip = sub.clips.get(copy.id, copy) if sub is not None else copy
    return RenderRec(
        saved["id"],
        saved["edit_setting_id"],
        clip,
        saved["created"],
        _timeline_of(saved["timeline"]),
        saved["expires"],
        saved["cancelled_at"],
    )


def _post_of(saved: dict[str, Any]) -> PostRec:
    """A post and its items from JSON."""
    items = {
        item["id"]: PostItemRec(
            item["id"],
            item["connection_id"],
            item["platform"],
            item["edit_id"],
            item["metadata"],
            [(start, end, fails) for start, end, fails in item["attempts"]],
        )
        for item in saved["items"]
    }
    return PostRec(saved["id"], saved["created"], saved["scheduled"], items)


def _ledger_of(saved: dict[str, Any]) -> LedgerRow:
    """A ledger row from JSON."""
    return LedgerRow(
        id=saved["id"],
        type=TransactionType(saved["type"]),
        amount=saved["amount"],
        balance_after=saved["balance_after"],
        reference_type=saved["reference_type"],
        reference_id=saved["reference_id"],
        description=saved["description"],
        created_at=datetime.fromisoformat(saved["created_at"]),
    )
