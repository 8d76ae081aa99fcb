"""The fair bare-aiohttp pipeline: by hand, the work `Batch` promises, and nothing more.

Per video, the same requests as the client's: `POST /clips/info`; the look-up before paying
(`GET /clips/{video_id}/submissions`, adopting a running or completed submission of the same
timeframe whose clips have not expired); `POST /clips`; polls of the submission; the clips,
best rated first; `POST .../render`; polls of the render; `GET /renders/{id}/download`; the
file from storage. One shared `ClientSession` (100 connections, aiohttp's default and the
client's setting here), orjson for every body, at most `concurrency` videos at a time.

The same checks and durability: the body's length, MP4 structure and sha256; the file written
to `.part` with one `fdatasync`, renamed into place (a small file in one trip to a thread,
hashed as it is written, never read back; a large one streamed as `downloads.bare_download`
does). The record is an SQLite table in WAL mode with `synchronous = NORMAL` (the client's
settings): each step is one plain `INSERT`, and the rows are committed in one transaction per
batch of `batch` finished videos, after one `fsync` of the output folder (the renames). The
same pacing of `POST /clips/info` as the client's when a budget is given (`PlainWindow`).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import random
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiohttp
import attrs
import orjson

from .downloads import bare_download, check_mp4

SMALL = 1024 * 1024  # bodies up to this size are read whole and written in one thread trip
TERMINAL_SUBMISSION = ("completed", "failed")
TERMINAL_RENDER = ("completed", "failed", "cancelled", "expired")


@attrs.frozen
class Schedule:
    """Polling, as the client's `Polling`: the first wait, the factor, the ceiling, jitter."""

    first: float = 0.05
    factor: float = 1.6
    ceiling: float = 0.5
    jitter: float = 0.1

    def waits(self, rng: random.Random) -> Any:
        """The waits between polls, jittered, backing off to the ceiling."""
        wait = self.first
        while True:
            yield wait * rng.uniform(1 - self.jitter, 1 + self.jitter)
            wait = min(self.ceiling, wait * self.factor)


@attrs.frozen
class BareSettings:
    """How the bare pipeline runs."""

    concurrency: int = 64  # videos at a time
    batch: int = 64  # finished videos per record transaction
    top_k: int = 1
    polling: Schedule = Schedule()
    analyze_budget: tuple[int, float] | None = None  # (L, W): paced as the client paces
    margin: float = 0.05  # added to the window, as the client's `Pacing.margin`


DEFAULT = BareSettings()


class PlainRecord:
    """The record: one plain INSERT per step, committed per batch of finished videos after an
    fsync of the output folder. Safe from several threads (one lock)."""

    def __init__(self, path: Path, folder: Path, batch: int) -> None:
        self.folder = folder
        self.batch = batch
        self.finished = 0
        self.lock = threading.Lock()
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode = WAL")
        self.db.execute("PRAGMA synchronous = NORMAL")
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS steps (source TEXT NOT NULL, phase TEXT NOT NULL, "
            "data BLOB NOT NULL)"
        )
        self.db.execute("BEGIN")

    def insert(self, source: str, phase: str, **data: object) -> None:
        """One step of one video, in the open transaction."""
        row = (source, phase, orjson.dumps(data))
        with self.lock:
            self.db.execute("INSERT INTO steps (source, phase, data) VALUES (?, ?, ?)", row)

    def finish(self) -> bool:
        """A video is done; True when its batch is full and must be committed."""
        with self.lock:
            self.finished += 1
            return self.finished % self.batch == 0

    def commit_rows(self) -> None:
        """Commit every pending step (the folder fsynced first: see `commit`)."""
        with self.lock:
            self.db.execute("COMMIT")
            self.db.execute("BEGIN")

    def commit(self) -> None:
        """fsync the folder (the renames of the files), then commit every pending step."""
        fsync_folder(self.folder)
        self.commit_rows()

    def close(self) -> None:
        """Commit what is left and close."""
        self.commit()
        with self.lock:
            self.db.execute("COMMIT")
            self.db.close()


def fsync_folder(folder: Path) -> None:
    """fsync a folder, so that the renames in it survive a power cut."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def publish_small(body: bytes, dest: Path) -> str:
    """Write a whole body to `.part`, hashing it as it goes; check its MP4 structure; one
    fdatasync; rename into place. Returns the sha256. (One trip to a thread.)"""
    part = dest.with_name(dest.name + ".part")
    fd = os.open(part, os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    try:
        digest = hashlib.sha256(body).hexdigest()
        view = memoryview(body)
        while view:
            view = view[os.write(fd, view) :]
        check_mp4(fd, len(body))
        os.fdatasync(fd)
    finally:
        os.close(fd)
    os.replace(part, dest)
    return digest


class PlainWindow:
    """At most `limit` requests per `seconds` (+ margin), counted from each answer, as the
    client's pacer counts them; asyncio flavour."""

    def __init__(self, limit: int, seconds: float, margin: float) -> None:
        self.span = seconds + margin
        self._answers: deque[float] = deque(maxlen=limit)
        self._in_flight = 0
        self._limit = limit
        self._changed = asyncio.Condition()

    async def acquire(self) -> None:
        """Wait for a place in the window."""
        async with self._changed:
            while True:
                now = time.monotonic()
                recent = sum(1 for t in self._answers if t > now - self.span)
                if recent + self._in_flight < self._limit:
                    self._in_flight += 1
                    return
                oldest = next((t for t in self._answers if t > now - self.span), None)
                wait = None if oldest is None else oldest + self.span - now
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), wait)

    async def release(self) -> None:
        """The answer arrived."""
        async with self._changed:
            self._in_flight -= 1
            self._answers.append(time.monotonic())
            self._changed.notify_all()


class ApiError(Exception):
    """An answer the bare pipeline does not expect."""


async def bare_pipeline(
    base_url: str,
    api_key: str,
    sources: Sequence[str],
    folder: Path,
    settings: BareSettings = DEFAULT,
) -> int:
    """Run every source through the pipeline; returns the number of files saved."""
    gate = asyncio.Semaphore(settings.concurrency)
    record = PlainRecord(folder / "record.sqlite", folder, settings.batch)
    window = (
        None
        if settings.analyze_budget is None
        else PlainWindow(*settings.analyze_budget, settings.margin)
    )
    rng = random.Random(0)
    files = 0
    key = {"X-Api-Key": api_key}  # per API request: storage never sees it
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=30, sock_read=60)
    async with aiohttp.ClientSession(timeout=timeout) as session:

        async def call(method: str, path: str, **kw: Any) -> Any:
            while True:
                async with session.request(method, base_url + path, headers=key, **kw) as resp:
                    body = await resp.read()
                    if resp.status == 429:  # a careful client waits as told
                        await asyncio.sleep(float(resp.headers.get("Retry-After", "1")))
                        continue
                    if resp.status >= 400:
                        raise ApiError(f"{method} {path}: {resp.status} {body[:200]!r}")
                    return orjson.loads(body) if body else None

        async def poll(path: str, done: tuple[str, ...]) -> Any:
            for wait in settings.polling.waits(rng):
                state = await call("GET", path)
                if state["status"] in done:
                    return state
                await asyncio.sleep(wait)

        async def analyze(source: str) -> Any:
            if window is None:
                return await call("POST", "/clips/info", json={"url": source})
            await window.acquire()
            try:
                return await call("POST", "/clips/info", json={"url": source})
            finally:
                await window.release()

        async def reusable(video: str, frame: dict[str, float]) -> str | None:
            listed = await call("GET", f"/clips/{video}/submissions", params={"limit": 100})
            for sub in listed["submissions"]:
                if sub["status"] == "failed" or sub.get("strategy_id") is not None:
                    continue
                if sub.get("timeframe") != frame:
                    continue
                if sub["status"] == "completed":  # clips still there?
                    base = f"/clips/{video}/submissions/{sub['submission_id']}"
                    url = f"{base_url}{base}/clips?limit=1"
                    async with session.get(url, headers=key) as resp:
                        if resp.status == 410:
                            continue
                return str(sub["submission_id"])
            return None

        async def fetch(url: str, dest: Path) -> tuple[int, str]:
            async with session.get(url) as resp:
                if resp.status != 200 or resp.content_type != "video/mp4":
                    raise ApiError(f"storage answered {resp.status} {resp.content_type}")
                length = resp.content_length
                if length is not None and length <= SMALL:
                    body = await resp.read()
                    if len(body) != length:
                        raise ApiError(f"got {len(body)} bytes of {length}")
                    return length, await asyncio.to_thread(publish_small, body, dest)
            got = await bare_download(session, url, dest)  # large: streamed
            return got.size, got.sha256

        async def one(source: str) -> int:
            async with gate:
                info = await analyze(source)
                video, duration = info["video_id"], float(info["duration"])
                record.insert(source, "priced", video_id=video, credits=info["credits_cost"])
                frame = {"start": 0.0, "end": duration}
                sub_id = await reusable(video, frame)
                if sub_id is None:
                    record.insert(source, "submitting", at=time.time())
                    body = {"video_id": video, "source_language": "auto", "timeframe": frame}
                    sub_id = (await call("POST", "/clips", json=body))["submission_id"]
                record.insert(source, "submitted", submission_id=sub_id)
                base = f"/clips/{video}/submissions/{sub_id}"
                if (await poll(base, TERMINAL_SUBMISSION))["status"] != "completed":
                    raise ApiError(f"submission {sub_id} failed")
                params = {"limit": 100, "sort": "rating", "order": "desc"}
                clips = (await call("GET", f"{base}/clips", params=params))["clips"]
                chosen = [clip["id"] for clip in clips[: settings.top_k]]
                record.insert(source, "clipped", clips=chosen)
                saved = await asyncio.gather(*(deliver(source, base, clip) for clip in chosen))
                record.insert(source, "done", files=len(saved))
            if record.finish():
                await asyncio.to_thread(fsync_folder, folder)
                record.commit_rows()
            return len(saved)

        async def deliver(source: str, base: str, clip: str) -> None:
            render = (await call("POST", f"{base}/clips/{clip}/render"))["render_id"]
            record.insert(source, "rendering", clip=clip, render_id=render)
            if (await poll(f"/renders/{render}", TERMINAL_RENDER))["status"] != "completed":
                raise ApiError(f"render {render} did not complete")
            link = await call("GET", f"/renders/{render}/download")
            dest = folder / f"{render}.mp4"
            size, sha256 = await fetch(link["url"], dest)
            record.insert(source, "file", clip=clip, path=str(dest), size=size, sha256=sha256)

        for count in await asyncio.gather(*(one(source) for source in sources)):
            files += count
    await asyncio.to_thread(record.close)
    return files
