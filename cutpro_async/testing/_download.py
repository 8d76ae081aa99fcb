"""Signed file downloads (GET and HEAD): the storage profile's headers, ranges, download faults."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator

import attrs
from aiohttp import web
from multidict import CIMultiDict

from ._bad_answers import RawAnswer, flip_byte, html_page
from ._faults import STORAGE_DOWNLOAD, STORAGE_KINDS, Fault, FaultPlan
from ._media import Body, iter_chunks
from ._profiles import Profile, StoredObject
from ._routing import world_of
from ._world import ServedFile

PLAN: web.AppKey[FaultPlan] = web.AppKey("plan", FaultPlan)
PROFILE: web.AppKey[Profile] = web.AppKey("profile", Profile)
CHUNK = 256 * 1024
TRICKLE_CHUNK = 4096
_FAULTS = STORAGE_KINDS - {"expire"}  # an expired link is refused before the handler


@attrs.frozen
class Span:
    """The bytes [start, end) an answer carries, with its status (200 or 206)."""

    start: int
    end: int
    status: int

    def cut(self, plan: FaultPlan) -> int:
        """An offset within the span where a fault cuts it, drawn from the plan's seed."""
        return self.start + int((self.end - self.start) * plan.random())


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


def if_range_holds(value: str | None, profile: Profile, obj: StoredObject) -> bool:
    """Whether `If-Range` (when sent) names the current version, so the Range may be honoured.

    An entity tag must match strongly (a weak one never does, RFC 9110 §13.1.5); a date must be
    the exact Last-Modified.
    """
    if value is None:
        return True
    if value.startswith(('"', "W/")):
        etag = profile.etag(obj)
        return etag is not None and not etag.startswith("W/") and value == etag
    return value == profile.last_modified(obj)


async def stored_object(served: ServedFile, profile: Profile) -> tuple[Body, StoredObject]:
    """The body and what the store states about it (checksums only when the profile shows them)."""
    body = await served.body()
    digests = await served.digests() if profile.needs_digests(body.size) else None
    return body, StoredObject(body.etag.strip('"'), body.size, served.modified, digests)


async def get_file(request: web.Request) -> web.StreamResponse:
    """`GET`/`HEAD` a signed file, as the storage profile answers it, `Range` included."""
    served = world_of(request).files.get((request.match_info["kind"], request.match_info["ident"]))
    if served is None:
        raise web.HTTPNotFound(reason="No such file")
    profile = request.app[PROFILE]
    body, obj = await stored_object(served, profile)
    # A server without range support answers every Range with the whole file.
    wanted = request.headers.get("Range") if profile.ranges else None
    ranged = wanted is not None and if_range_holds(request.headers.get("If-Range"), profile, obj)
    headers = profile.headers(obj, ranged)
    headers.update({"Content-Type": served.content_type, "Content-Disposition": "attachment"})
    span = Span(0, body.size, 200)
    if wanted is not None and ranged:
        found = parse_range(wanted, body.size)
        if found is None:
            return web.Response(status=416, headers={"Content-Range": f"bytes */{body.size}"})
        span = Span(*found, 206)
        headers["Content-Range"] = f"bytes {span.start}-{span.end - 1}/{body.size}"
    return await _answer(request, body, span, headers)


async def _answer(
    request: web.Request, body: Body, span: Span, headers: CIMultiDict[str]
) -> web.StreamResponse:
    """Send the span, or what the download faults that fire make of it."""
    plan = request.app[PLAN]
    fired: dict[str, Fault] = {}
    if request.method != "HEAD":  # a HEAD must not use up a download's fault
        fired = {f.kind: f for f in plan.pick(STORAGE_DOWNLOAD, _FAULTS)}
    if "html" in fired:
        return html_page()
    chunks = iter_chunks(body, span.start, span.end, TRICKLE_CHUNK if "trickle" in fired else CHUNK)
    if "corrupt" in fired:
        chunks = flip_byte(chunks, span.cut(plan) - span.start)
    reply = _Reply(request, span, headers, fired)
    if "shortlen" in fired or "eof" in fired:
        return await reply.raw(chunks)
    return await reply.framed(chunks)


@attrs.frozen
class _Reply:
    """One download answer in the making: its request, span, headers and fired faults."""

    request: web.Request
    span: Span
    headers: CIMultiDict[str]
    fired: dict[str, Fault]

    def _cut(self) -> int:
        """Where a fault cuts the body, counted from the span's start."""
        return self.span.cut(self.request.app[PLAN]) - self.span.start

    async def _write(
        self, write: Callable[[bytes], Awaitable[None]], chunks: Iterator[bytes]
    ) -> None:
        """Write the chunks with the pacing faults applied."""
        await _write_body(write, chunks, self.fired, self.span.end - self.span.start)

    async def framed(self, chunks: Iterator[bytes]) -> web.StreamResponse:
        """An answer framed by aiohttp: Content-Length (or `chunked`), cut short by `truncate`."""
        response = web.StreamResponse(status=self.span.status, headers=self.headers)
        if "chunked" in self.fired:
            response.enable_chunked_encoding()
        else:
            response.content_length = self.span.end - self.span.start
        await response.prepare(self.request)
        if self.request.method == "HEAD":
            return response
        if "truncate" in self.fired:
            await self._write(response.write, _first(chunks, self._cut()))
            assert self.request.transport is not None
            self.request.transport.abort()  # the client sees a body shorter than promised
            return response
        await self._write(response.write, chunks)
        await response.write_eof()
        return response

    async def raw(self, chunks: Iterator[bytes]) -> web.StreamResponse:
        """`shortlen`: a Content-Length below the bytes sent; `eof`: no length, closed early."""
        cut, short = self._cut(), "shortlen" in self.fired
        answer = RawAnswer(self.request, cut if short else None)
        answer.start(self.span.status, self.headers)
        await self._write(answer.write, chunks if short else _first(chunks, cut))
        return answer.close()


def _first(chunks: Iterator[bytes], count: int) -> Iterator[bytes]:
    """The first `count` bytes of the chunks."""
    for chunk in chunks:
        if count <= 0:
            return
        yield chunk[:count]
        count -= len(chunk)


async def _write_body(
    write: Callable[[bytes], Awaitable[None]],
    chunks: Iterator[bytes],
    fired: dict[str, Fault],
    size: int,
) -> None:
    """Write the chunks, slowed down by `trickle` and paused once by `stall` (mid-span)."""
    trickle = fired.get("trickle")
    stall_at = size // 2 if "stall" in fired else None
    sent = 0
    for chunk in chunks:
        if stall_at is not None and sent + len(chunk) > stall_at:
            cut = stall_at - sent  # pause mid-chunk, so even a one-chunk body stalls
            await write(chunk[:cut])
            await asyncio.sleep(fired["stall"].value)
            chunk, sent, stall_at = chunk[cut:], stall_at, None
        await write(chunk)
        if trickle:
            await asyncio.sleep(len(chunk) / trickle.value)
        sent += len(chunk)
