"""The lower bound of a pipeline run under the simulator's latency model.

    bound = a/2 + (ceil(N / L) - 1) * W + critical path of the last window's videos

The API takes L analyses per W seconds (a sliding window on its side), so the last of N
analyses cannot arrive sooner than (ceil(N / L) - 1) * W after the first, which itself arrives
half an analysis latency after the start (`a/2`: the simulator spends half a request's delay
before its handler, half after). The last window holds n = N - (ceil(N / L) - 1) * L videos,
and from there they still need their critical path, in median latencies and mean job
durations:

    a/2 (the analysis answer) + l (the look-up before paying) + s/2 (POST /clips arrives, the
    job starts) + D (the job) + p/2 (a poll that arrives as it completes, answered) + c (the
    clips) + r/2 (the render request arrives) + ceil(n / S) * R (the window's n renders
    through the workspace's S = 5 render slots) + q/2 (a poll, answered) + k (the download
    link) + f (storage's first byte)

where a, l, s, p, c, r, q, k, f are the routes' median latencies, D the clipping job's
duration and R a render's mean duration ((20 + 52.5) API-seconds: the simulator's clips last
15 to 90 s), both divided by the time scale. The body itself (64 KiB) and the client's CPU are
left out. Medians and means make it a bound on a typical run, not on the luckiest: a run whose
last videos drew short latencies and short clips could come in slightly under it.
"""

from __future__ import annotations

import math

import attrs

from cutpro_async.testing import LatencyModel
from cutpro_async.testing._jobs import submission_timeline
from cutpro_async.testing._latency import BEFORE, STORAGE_GET

#: API-seconds a render takes besides its clip's length (`_api_renders._schedule`).
RENDER_FIXED = 20.0
#: The mean length of the simulator's clips, in seconds: uniform in [15, 90] when a video gives
#: each clip a slot longer than 90 s, as a 10-minute video's three do (`_content.make_clips`).
MEAN_CLIP = 52.5
VIDEO = "/clips/{videoId}/submissions/{submissionId}"


def analysis_pace(videos: int, limit: int, window: float) -> float:
    """Seconds from the first analysis to the last one the API accepts: (ceil(N/L) - 1) * W."""
    if videos <= 0 or limit <= 0 or window < 0:
        raise ValueError("videos and limit must be > 0, window >= 0")
    return (math.ceil(videos / limit) - 1) * window


@attrs.frozen
class Bound:
    """A run's lower bound, in parts (seconds)."""

    first: float  # until the first analysis arrives
    pace: float  # the analysis window, first to last
    path: tuple[tuple[str, float], ...]  # the last video's critical path, step by step
    renders: float  # the render slots' busy time over the whole run (below `pace`)

    @property
    def critical_path(self) -> float:
        """The last video's critical path."""
        return sum(seconds for _, seconds in self.path)

    @property
    def total(self) -> float:
        """The lower bound of the makespan."""
        return self.first + self.pace + self.critical_path


def lower_bound(
    model: LatencyModel,
    *,
    videos: int,
    limit: int,
    window: float,
    time_scale: float,
    video_seconds: float,
    render_slots: int = 5,
) -> Bound:
    """The bound of a run of `videos` videos of `video_seconds` each (see the module)."""

    def median(route: str) -> float:
        return model.of(route).median

    job = submission_timeline(0.0, video_seconds, time_scale, False).ends
    render = (RENDER_FIXED + MEAN_CLIP) / time_scale
    windows = math.ceil(videos / limit)
    last = videos - (windows - 1) * limit  # videos in the last window
    after = 1 - BEFORE
    path = (
        ("analysis answer", median("POST /clips/info") * after),
        ("look-up before paying", median("GET /clips/{videoId}/submissions")),
        ("POST /clips arrives", median("POST /clips") * BEFORE),
        ("clipping job", job),
        ("last poll answered", median(f"GET {VIDEO}") * after),
        ("clips listed", median(f"GET {VIDEO}/clips")),
        ("render request arrives", median(f"POST {VIDEO}/clips/{{clipId}}/render") * BEFORE),
        (f"{last} renders through {render_slots} slots", math.ceil(last / render_slots) * render),
        ("last render poll answered", median("GET /renders/{renderId}") * after),
        ("download link", median("GET /renders/{renderId}/download")),
        ("storage's first byte", median(STORAGE_GET)),
    )
    return Bound(
        first=median("POST /clips/info") * BEFORE,
        pace=analysis_pace(videos, limit, window),
        path=path,
        renders=videos * render / render_slots,
    )
