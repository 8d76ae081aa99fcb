"""Streaming, resumable, verified downloads from signed storage links.

Bytes go to `<name>.part` in ~1 MiB blocks written off the event loop while the network keeps
reading. A `.part` left by a crash, a cancel or a cut connection is resumed with `Range` +
`If-Range`, but only on a strong validator (a strong ETag, else a strong `Last-Modified`);
otherwise it starts again from byte 0. Before anything is written the answer is checked: an
error page (`text/html`, XML, JSON) is refused, sizes stated by `Content-Length`,
`Content-Range` and the API must agree, and no body may outgrow them (or
`Limits.max_download_bytes`). The file takes its final name only after its length, its
container (MP4 or ZIP) and the checksums the storage stated check out (see `_checks`); a bad
body is removed and fetched once more afresh. Expired links are renewed through the API at
most `RENEWALS` times.

A small body (a `Content-Length` of at most `CHUNK`) is read whole and takes one trip to the
file thread: checked, hashed, written, synced and renamed there. A caller that already looked
at the disk passes what it found (`first`); one that expects nothing there (`first=LATE`)
sends the request at once, and the look happens in that same trip.
"""

from __future__ import annotations

import email.utils
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Final, Literal

import aiohttp
import anyio
import attrs
from anyio.streams.memory import MemoryObjectReceiveStream
from multidict import CIMultiDictProxy
from yarl import URL

from .._groups import sole_error
from .._http import transport_error
from .._retry import backoff
from ..errors import IntegrityError, LinkExpired, TransferError
from ._checks import REFUSED_TYPES, stated_checksums
from ._files import printable, redact_url
from ._partfile import CHUNK, BadFile, Expect, PartFile, Resume, Saved, Writer
from .transfers import REFUSALS, Downloaded, Progress, Transfers, storage_wait

log = logging.getLogger("cutpro_async")
QUEUE = 4  # blocks in flight between the network and the disk, per download
#: Pieces in one block at most: `writev` takes at most IOV_MAX (1024 on Linux) buffers, and a
#: slow link hands out many small pieces.
MAX_PIECES = 512
_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")
#: Redirects followed from a storage link (each one checked like the link).
MAX_REDIRECTS = 5
#: Fresh links asked of the API after storage refused one as expired, before giving up.
RENEWALS = 2
#: Fresh attempts after a body that was not the file (an error page, a cut or corrupt body).
FRESH_ATTEMPTS = 1
#: `Download(first=LATE)`: look for a finished file or a `.part` once the answer is in.
LATE: Final = "late"


class _Again(Exception):
    """This attempt failed in a way that another attempt (resuming) may fix.

    `wait` is the storage's own `Retry-After`, when it gave one.
    """

    def __init__(self, message: str, wait: float | None = None) -> None:
        super().__init__(message)
        self.wait = wait


class _Bad(Exception):
    """The body was not the file; `error` is raised if a fresh attempt fails too."""

    def __init__(self, error: TransferError) -> None:
        super().__init__(str(error))
        self.error = error


@attrs.define
class Download:
    """One file to fetch; `run()` does it with retries, resume and link renewal.

    `kind` is the container the file must be (`mp4`, `zip`, or None for no check).
    """

    transfers: Transfers
    url: str = attrs.field(repr=redact_url)
    dest: Path
    refresh: Callable[[], Awaitable[str]] | None = None
    expected_size: int | None = None
    kind: str | None = None
    on_progress: Progress | None = None
    #: What the first attempt knows of the disk: None (it looks before its request), the
    #: `Resume` a caller's own look found (no finished file), or `LATE` (nothing expected:
    #: it looks once the answer is in; for a small body in the trip that writes it).
    first: Resume | Literal["late"] | None = None
    #: False: the folder is not fsynced after the rename; the caller does it (see `PartFile`).
    sync_folder: bool = True

    async def run(self) -> Downloaded:
        """Download to `dest` (at once if a complete file is already there)."""
        self.transfers.check_link(self.url)
        part = PartFile(self.dest, self.sync_folder)
        started = time.monotonic()
        known, self.first = self.first, None  # later attempts look for themselves
        try:  # the first attempt builds nothing for retrying: most downloads succeed at once
            saved = await self._attempt(part, known)
        except Exception as exc:
            saved = await self._with_retries(part, exc, started)
        else:
            self.transfers.succeeded(self.url)
        return Downloaded(self.dest, saved.size, saved.sha256, saved.verified)

    async def _with_retries(self, part: PartFile, error: Exception, started: float) -> Saved:
        """After a first attempt (begun at `started`) that raised `error`: attempts until one
        completes. Interrupted ones resume where the last one stopped, a bad body is fetched
        once more afresh, an expired link is renewed (`RENEWALS`)."""
        policy = self.transfers.retrier.policy
        bad: list[_Bad] = []
        expired: list[LinkExpired] = []
        renew = [False]  # the next attempt asks the API for a fresh link first

        def decide(exc: Exception, number: int) -> float | None:
            if isinstance(exc, LinkExpired) and self.refresh is not None:
                expired.append(exc)
                renew[0] = len(expired) <= RENEWALS
                return 0.0 if renew[0] else None
            if isinstance(exc, _Bad):
                bad.append(exc)
                return backoff(policy, number) if len(bad) <= FRESH_ATTEMPTS else None
            if isinstance(exc, _Again):
                return exc.wait if exc.wait is not None else backoff(policy, number)
            return None

        async def attempt(number: int) -> Saved:
            if renew[0] and self.refresh is not None:
                log.info("download link expired; renewing it (%s)", redact_url(self.url))
                self.url, renew[0] = await self.refresh(), False
                self.transfers.check_link(self.url)
            return await self._attempt(part, None)

        what = f"download of {redact_url(self.url)}"
        try:
            return await self.transfers.retry(
                attempt, decide, url=self.url, what=what, after=(error, started)
            )
        except _Again as exc:
            raise TransferError(f"gave up on {what} ({exc}); call again to resume") from None
        except _Bad as exc:
            raise exc.error from None
        except LinkExpired as exc:
            renewed = max(0, len(expired) - 1)
            raise LinkExpired(
                f"{exc}; gave up after {renewed} renewed links", status=exc.status
            ) from None

    async def _attempt(self, part: PartFile, known: Resume | Literal["late"] | None) -> Saved:
        """One request: resume or restart, check, stream, verify, publish."""
        late = known == LATE
        if known is None:
            done, resume = await self.transfers.on_disk("read", part.path, part.state)
            if done is not None:
                return done
        else:
            resume = Resume() if isinstance(known, str) else known
        headers = {"Accept-Encoding": "identity"}
        if resume.offset and resume.validator:
            headers.update({"Range": f"bytes={resume.offset}-", "If-Range": resume.validator})
        try:
            resp = await self._get(headers)
            try:
                return await self._receive(part, resp, resume, late)
            finally:
                resp.release()
        except (
            aiohttp.ClientPayloadError,
            aiohttp.ServerTimeoutError,
            aiohttp.ClientOSError,
            aiohttp.ServerDisconnectedError,
            TimeoutError,
        ) as exc:
            raise _Again(type(exc).__name__) from None
        except aiohttp.ClientError as exc:  # redirects, bad URLs, odd headers: not transient
            raise transport_error(f"download of {redact_url(self.url)}", exc) from None

    async def _get(self, headers: dict[str, str]) -> aiohttp.ClientResponse:
        """The answer to a GET of the link, redirects followed by hand: every hop must pass
        the same https-only check as the link itself (aiohttp would follow one to plain http,
        signature and all)."""
        session, timeout = self.transfers.session, self.transfers.timeout
        url = self.url
        for _ in range(MAX_REDIRECTS + 1):
            resp = await session.get(url, headers=headers, timeout=timeout, allow_redirects=False)
            location = resp.headers.get("Location")
            if resp.status not in (301, 302, 303, 307, 308) or not location:
                return resp
            resp.release()
            try:
                url = str(resp.url.join(URL(location)))
            except ValueError:
                what = f"download of {redact_url(self.url)}"
                raise TransferError(f"{what}: storage redirected to a bad URL") from None
            self.transfers.check_link(url)
        raise TransferError(
            f"download of {redact_url(self.url)}: more than {MAX_REDIRECTS} redirects"
        )

    async def _receive(
        self, part: PartFile, resp: aiohttp.ClientResponse, resume: Resume, late: bool
    ) -> Saved:
        """Check the answer, write its body after the bytes kept, verify, publish.

        `late`: nothing was looked for on the disk yet (see `Download.first`).
        """
        total = self._total(resp, resume.offset)
        if resp.status == 416:
            return await self._complete_already(part, resume, total)
        kept = resume if resp.status == 206 else Resume()
        await self._refuse_pages(resp)
        size = self._agreed_size(total)
        stated = {**kept.stated, **stated_checksums(resp.headers, whole=resp.status == 200)}
        validator = kept.validator if resp.status == 206 else _strong_validator(resp.headers)
        start = Resume(kept.offset, validator, stated)
        expect = Expect(size, self.kind, stated)
        length = resp.content_length
        if resp.status == 200 and length is not None and length <= CHUNK:
            data = await resp.read()  # a small file: one trip to the file thread
            return await self._publish_small(part, data, expect, late)
        if late:
            done, found = await self.transfers.on_disk("read", part.path, part.state)
            if done is not None:
                return done
            if found.offset and found.validator:  # a `.part` to resume: ask for the rest
                resp.release()
                return await self._attempt(part, found)
        writer = await self.transfers.on_disk("open", part.path, part.open, start, stated)
        try:
            written = await self._stream(writer, resp, size)
        except _Bad:  # a body longer than stated: what it wrote is no use
            await self._close_quietly(writer)
            await self.transfers.on_disk("remove", part.path, part.reset)
            raise
        except BaseException:
            await self._close_quietly(writer)
            raise
        if size is not None and written < size:
            await self._close_quietly(writer)
            raise _Again(f"body ended at {written} of {size} bytes")
        return await self._publish(part, writer, expect, resp)

    def _total(self, resp: aiohttp.ClientResponse, offset: int) -> int | None:
        """The whole file's size the answer states (None if unknown); raises for refusals."""
        status = resp.status
        if status in REFUSALS:
            raise LinkExpired(
                f"storage refused {redact_url(self.url)} ({status}): the link expired or was "
                "tampered with",
                status=status,
            )
        if status == 416:
            match = re.match(r"bytes \*/(\d+)", resp.headers.get("Content-Range", ""))
            return int(match.group(1)) if match else None
        if status in (408, 429) or status >= 500:
            raise _Again(f"storage answered {status}", storage_wait(resp, self.transfers))
        if status == 206:
            match = _RANGE.match(resp.headers.get("Content-Range", ""))
            if not match or int(match.group(1)) != offset:
                raise _Again("storage sent another range than asked")
            return None if match.group(3) == "*" else int(match.group(3))
        if status != 200:
            raise TransferError(
                f"storage answered {status} for {redact_url(self.url)}", status=status
            )
        return resp.content_length

    async def _complete_already(self, part: PartFile, resume: Resume, total: int | None) -> Saved:
        """A 416 to our range: `.part` already holds every byte when the sizes agree."""
        on_disk = self.transfers.on_disk
        if total is None or total != resume.offset or not resume.offset:
            await on_disk("remove", part.path, part.reset)
            raise _Again("range not satisfiable; restarting")
        writer = await on_disk("open", part.path, part.open, resume, resume.stated)
        expect = Expect(self._agreed_size(total), self.kind, resume.stated)
        return await self._publish(part, writer, expect, None)

    async def _refuse_pages(self, resp: aiohttp.ClientResponse) -> None:
        """An error or login page is never the file: refused before anything is written."""
        if resp.content_type in REFUSED_TYPES:
            head = await resp.content.read(64)
            raise _Bad(TransferError(self._what_arrived(resp, head, "an error page")))

    def _agreed_size(self, total: int | None) -> int | None:
        """The size every source agrees on; a disagreement or an oversize file stops here."""
        expected = self.expected_size
        if expected is not None and total is not None and expected != total:
            raise _Bad(
                IntegrityError(
                    f"{self.dest.name}: storage says {total} bytes, the API said {expected}"
                )
            )
        size = expected if expected is not None else total
        cap = self.transfers.max_download_bytes
        if size is not None and size > cap:
            raise TransferError(
                f"{self.dest.name} is {size} bytes, over the {cap}-byte cap "
                "(Limits.max_download_bytes); raise it if this file is expected"
            )
        return size

    async def _publish(
        self,
        part: PartFile,
        writer: Writer,
        expect: Expect,
        resp: aiohttp.ClientResponse | None,
    ) -> Saved:
        """Verify and rename in the file thread; a bad file becomes `_Bad` (fetched afresh)."""
        try:
            return await self.transfers.on_disk("finish", part.path, writer.publish, expect)
        except BadFile as exc:
            raise self._bad(exc, resp) from None

    async def _publish_small(
        self, part: PartFile, data: bytes, expect: Expect, late: bool
    ) -> Saved:
        """Check, hash, write, sync and rename a small file in one trip to the file thread
        (`late`: looking there first for a file already complete)."""
        whole = partial(part.save_whole, data, expect, look=late)
        try:
            saved = await self.transfers.on_disk("write", part.path, whole)
        except BadFile as exc:
            raise self._bad(exc, None) from None
        if self.on_progress is not None:
            self.on_progress(len(data), expect.size)
        return saved

    def _bad(self, exc: BadFile, resp: aiohttp.ClientResponse | None) -> _Bad:
        """The error for a body that failed its checks (the `.part` is already removed)."""
        if exc.integrity:
            message = f"{self.dest.name}: {exc.problem}; the partial file was removed"
            return _Bad(IntegrityError(message))
        what = f"not {'an MP4' if self.kind == 'mp4' else 'a ' + str(self.kind).upper()}"
        return _Bad(TransferError(self._what_arrived(resp, exc.head, f"{what} ({exc.problem})")))

    def _what_arrived(self, resp: aiohttp.ClientResponse | None, head: bytes, what: str) -> str:
        """Say what storage sent instead of the file: type, size, first bytes (no secrets)."""
        kind = resp.headers.get("Content-Type", "no content type") if resp is not None else ""
        size = resp.content_length if resp is not None else None
        sent = ", ".join(filter(None, [kind, f"{size} bytes" if size is not None else ""]))
        return (
            f"{self.dest.name}: storage sent {what}"
            + (f" [{sent}]" if sent else "")
            + f", starting {printable(head)!r}; nothing was saved under the final name"
        )

    async def _stream(self, writer: Writer, resp: aiohttp.ClientResponse, size: int | None) -> int:
        """Append the body to `.part`; returns the bytes now in it.

        The network and the disk work at the same time: blocks pass through a short queue
        (at most `QUEUE` MiB per download) to a writer that works off the event loop. A body
        longer than its stated size (or the cap) is cut off.
        """
        limit = size if size is not None else self.transfers.max_download_bytes
        send, receive = anyio.create_memory_object_stream[list[bytes]](QUEUE)
        written = [writer.size]
        try:
            async with anyio.create_task_group() as group:
                group.start_soon(self._drain, receive, writer, written, size)
                async with send:
                    received = writer.size
                    async for block in _blocks(resp):
                        received += sum(map(len, block))
                        if received > limit:
                            raise self._too_long(limit, size)
                        try:
                            await send.send(block)
                        except anyio.BrokenResourceError:
                            break  # the writer failed: its error is the one raised
        except BaseExceptionGroup as group_error:
            raise sole_error(group_error) from None
        return written[0]

    def _too_long(self, limit: int, size: int | None) -> _Bad:
        """The error for a body that outgrows what was stated (or the cap)."""
        source = "its stated size" if size is not None else "Limits.max_download_bytes"
        return _Bad(
            TransferError(f"{self.dest.name}: the body grew past {limit} bytes ({source}); cut off")
        )

    async def _close_quietly(self, writer: Writer) -> None:
        """Close after a failure without hiding it (the `.part` stays for resuming)."""
        with anyio.CancelScope(shield=True):
            await self.transfers.in_thread(writer.close)

    async def _drain(
        self,
        blocks: MemoryObjectReceiveStream[list[bytes]],
        writer: Writer,
        written: list[int],
        total: int | None,
    ) -> None:
        """Write queued blocks in order, counting what reached the file."""
        async with blocks:
            async for block in blocks:
                written[0] = await self.transfers.on_disk("write", self.dest, writer.write, block)
                if self.on_progress is not None:
                    self.on_progress(written[0], total)


async def _blocks(resp: aiohttp.ClientResponse) -> AsyncIterator[list[bytes]]:
    """The body as lists of pieces adding up to about `CHUNK` bytes, without copying.

    The socket hands out ~256 KiB pieces; grouping them makes one thread hop per MiB.
    """
    group: list[bytes] = []
    size = 0
    async for piece in resp.content.iter_any():
        group.append(piece)
        size += len(piece)
        if size >= CHUNK or len(group) >= MAX_PIECES:
            yield group
            group, size = [], 0
    if group:
        yield group


def _strong_validator(headers: CIMultiDictProxy[str]) -> str | None:
    """What `If-Range` may carry (RFC 9110 §13.1.5): a strong ETag, else a strong date.

    A weak ETag (`W/`) forbids resuming on the date; `Last-Modified` is strong only when the
    answer's `Date` is at least a second later (same clock, so the file cannot have changed
    twice within that second unseen).
    """
    etag = headers.get("ETag")
    if etag:
        return None if etag.startswith("W/") else etag
    modified, date = headers.get("Last-Modified"), headers.get("Date")
    if modified is None or date is None:
        return None
    try:
        gap = (
            email.utils.parsedate_to_datetime(date) - email.utils.parsedate_to_datetime(modified)
        ).total_seconds()
    except (TypeError, ValueError):
        return None
    return modified if gap >= 1 else None
