"""The same pipeline in a pool of `requests` threads, as a careful user would write it.

Each thread has its own `requests.Session` (keep-alive per host; the key sent to the API
only). `POST /clips/info` is paced by a window shared by every thread, counted from the
answers plus a margin as the client's pacer counts (and a 429 is waited out as its
`Retry-After` says). Every video makes the requests the client makes: the analysis, the
look-up before paying, the paid request, polls on the client's schedule, the clips, the
render, its polls, the link and the file. The file is checked (length, MP4 structure),
hashed (sha256) and written to `.part` with one `fdatasync`, renamed into place; the record is
`_bare.PlainRecord` (plain INSERTs, one transaction per batch of finished videos after an
fsync of the folder).
"""

from __future__ import annotations

import concurrent.futures
import random
import threading
import time
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson
import requests

from ._bare import (
    DEFAULT,
    TERMINAL_RENDER,
    TERMINAL_SUBMISSION,
    ApiError,
    BareSettings,
    PlainRecord,
    publish_small,
)

TIMEOUT = (30, 60)  # connect, read (seconds)


class SharedWindow:
    """At most `limit` requests per `seconds` (+ margin), counted from each answer; shared by
    threads."""

    def __init__(self, limit: int, seconds: float, margin: float) -> None:
        self.span = seconds + margin
        self._limit = limit
        self._answers: deque[float] = deque(maxlen=limit)
        self._in_flight = 0
        self._changed = threading.Condition()

    def acquire(self) -> None:
        """Wait for a place in the window."""
        with self._changed:
            while True:
                now = time.monotonic()
                recent = [t for t in self._answers if t > now - self.span]
                if len(recent) + self._in_flight < self._limit:
                    self._in_flight += 1
                    return
                self._changed.wait(recent[0] + self.span - now if recent else None)

    def release(self) -> None:
        """The answer arrived."""
        with self._changed:
            self._in_flight -= 1
            self._answers.append(time.monotonic())
            self._changed.notify_all()


def thread_pipeline(
    base_url: str,
    api_key: str,
    sources: Sequence[str],
    folder: Path,
    settings: BareSettings = DEFAULT,
    threads: int = 32,
) -> int:
    """Run every source through the pipeline in `threads` threads; returns the files saved."""
    record = PlainRecord(folder / "record.sqlite", folder, settings.batch)
    window = (
        None
        if settings.analyze_budget is None
        else SharedWindow(*settings.analyze_budget, settings.margin)
    )
    local = threading.local()
    key = {"X-Api-Key": api_key}

    def session() -> requests.Session:
        if not hasattr(local, "session"):
            local.session = requests.Session()
            local.rng = random.Random(threading.get_ident())
        made: requests.Session = local.session
        return made

    def call(method: str, path: str, **kw: Any) -> Any:
        while True:
            resp = session().request(method, base_url + path, headers=key, timeout=TIMEOUT, **kw)
            if resp.status_code == 429:
                time.sleep(float(resp.headers.get("Retry-After", "1")))
                continue
            if resp.status_code >= 400:
                raise ApiError(f"{method} {path}: {resp.status_code} {resp.content[:200]!r}")
            return orjson.loads(resp.content) if resp.content else None

    def poll(path: str, done: tuple[str, ...]) -> Any:
        for wait in settings.polling.waits(local.rng):
            state = call("GET", path)
            if state["status"] in done:
                return state
            time.sleep(wait)

    def analyze(source: str) -> Any:
        if window is None:
            return call("POST", "/clips/info", json={"url": source})
        window.acquire()
        try:
            return call("POST", "/clips/info", json={"url": source})
        finally:
            window.release()

    def reusable(video: str, frame: dict[str, float]) -> str | None:
        listed = call("GET", f"/clips/{video}/submissions", params={"limit": 100})
        for sub in listed["submissions"]:
            if sub["status"] == "failed" or sub.get("strategy_id") is not None:
                continue
            if sub.get("timeframe") != frame:
                continue
            if sub["status"] == "completed":
                url = f"{base_url}/clips/{video}/submissions/{sub['submission_id']}/clips"
                got = session().get(url, params={"limit": 1}, headers=key, timeout=TIMEOUT)
                if got.status_code == 410:
                    continue
            return str(sub["submission_id"])
        return None

    def deliver(source: str, base: str, clip: str) -> None:
        render = call("POST", f"{base}/clips/{clip}/render")["render_id"]
        record.insert(source, "rendering", clip=clip, render_id=render)
        if poll(f"/renders/{render}", TERMINAL_RENDER)["status"] != "completed":
            raise ApiError(f"render {render} did not complete")
        link = call("GET", f"/renders/{render}/download")
        resp = session().get(link["url"], timeout=TIMEOUT)
        if resp.status_code != 200 or not resp.headers["Content-Type"].startswith("video/mp4"):
            raise ApiError(f"storage answered {resp.status_code}")
        body = resp.content
        if len(body) != int(resp.headers["Content-Length"]):
            raise ApiError(f"got {len(body)} bytes of {resp.headers['Content-Length']}")
        dest = folder / f"{render}.mp4"
        sha256 = publish_small(body, dest)
        record.insert(source, "file", clip=clip, path=str(dest), size=len(body), sha256=sha256)

    def one(source: str) -> int:
        session()
        info = analyze(source)
        video, duration = info["video_id"], float(info["duration"])
        record.insert(source, "priced", video_id=video, credits=info["credits_cost"])
        frame = {"start": 0.0, "end": duration}
        sub_id = reusable(video, frame)
        if sub_id is None:
            record.insert(source, "submitting", at=time.time())
            body = {"video_id": video, "source_language": "auto", "timeframe": frame}
            sub_id = call("POST", "/clips", json=body)["submission_id"]
        record.insert(source, "submitted", submission_id=sub_id)
        base = f"/clips/{video}/submissions/{sub_id}"
        if poll(base, TERMINAL_SUBMISSION)["status"] != "completed":
            raise ApiError(f"submission {sub_id} failed")
        params = {"limit": 100, "sort": "rating", "order": "desc"}
        clips = call("GET", f"{base}/clips", params=params)["clips"]
        chosen = [clip["id"] for clip in clips[: settings.top_k]]
        record.insert(source, "clipped", clips=chosen)
        for clip in chosen:
            deliver(source, base, clip)
        record.insert(source, "done", files=len(chosen))
        if record.finish():
            record.commit()
        return len(chosen)

    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        files = sum(pool.map(one, sources))
    record.close()
    return files
