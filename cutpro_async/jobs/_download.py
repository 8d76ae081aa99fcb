"""Streaming, resumable, verified downloads from signed storage links.

Bytes go to `<name>.part` in ~1 MiB blocks written off the event loop; a `.part` left by a
crash, a cancel or a cut connection is resumed with `Range` + `If-Range` (its validator is kept
in `<name>.part.etag`). The file takes its final name only after its length (and the MD5, when
the ETag is one) checks out, so a file under its final name is always complete.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import IO

import aiohttp
import anyio
import attrs
from anyio.streams.memory import MemoryObjectReceiveStream

from .._groups import sole_error
from .._http import transport_error
from .._retry import backoff
from ..errors import IntegrityError, LinkExpired, TransferError
from ._files import redact_url
from .transfers import Progress, Transfers

log = logging.getLogger("cutpro_async")
CHUNK = 1024 * 1024
QUEUE = 4  # blocks in flight between the network and the disk, per download
SYNC_EVERY = 16 * CHUNK
_MD5_ETAG = re.compile(r'^"?([0-9a-fA-F]{32})"?$')
_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")
#: Fresh links asked of the API after storage refused one as expired, before giving up.
RENEWALS = 2


class _Again(Exception):
    """This attempt failed in a way that another attempt (resuming) may fix."""


@attrs.define
class _Part:
    """The `.part` file of a download and its validator sidecar."""

    final: Path

    @property
    def path(self) -> Path:
        """Where bytes are written until complete."""
        return self.final.with_name(self.final.name + ".part")

    @property
    def meta(self) -> Path:
        """Where the ETag of the bytes in `.part` is kept for `If-Range`."""
        return self.final.with_name(self.final.name + ".part.etag")

    def state(self) -> tuple[bool, int, str | None]:
        """Whether the final file exists (it is complete), else the bytes in `.part` and their
        ETag (0 and None when there is nothing to resume)."""
        if self.final.exists():
            return True, 0, None
        try:
            size = self.path.stat().st_size
            etag = self.meta.read_text().strip() or None
        except FileNotFoundError:
            return False, 0, None
        return (False, size, etag) if etag else (False, 0, None)

    def reset(self) -> None:
        """Forget the partial bytes."""
        self.path.unlink(missing_ok=True)
        self.meta.unlink(missing_ok=True)


@attrs.define
class Download:
    """One file to fetch; `run()` does it with retries, resume and link renewal."""

    transfers: Transfers
    url: str = attrs.field(repr=redact_url)
    dest: Path
    refresh: Callable[[], Awaitable[str]] | None = None
    expected_size: int | None = None
    on_progress: Progress | None = None

    async def run(self) -> Path:
        """Download to `dest` (returned at once if it already exists: it is complete)."""
        part = _Part(self.dest)
        for renewal in range(RENEWALS + 1):
            try:
                return await self._with_retries(part)
            except LinkExpired:
                if self.refresh is None or renewal == RENEWALS:
                    raise
                log.info("download link expired; renewing it (%s)", redact_url(self.url))
                self.url = await self.refresh()
        raise AssertionError("unreachable")  # pragma: no cover

    async def _with_retries(self, part: _Part) -> Path:
        """Attempts until one completes; interrupted ones resume where the last one stopped."""
        policy = self.transfers.retrier.policy

        def decide(exc: Exception, number: int) -> float | None:
            return backoff(policy, number) if isinstance(exc, _Again) else None

        try:
            return await self.transfers.retry(
                lambda _: self._attempt(part),
                decide,
                url=self.url,
                what=f"download of {redact_url(self.url)}",
            )
        except _Again as exc:
            raise TransferError(
                f"gave up on {redact_url(self.url)} ({exc}); call again to resume"
            ) from None

    async def _attempt(self, part: _Part) -> Path:
        """One request: resume or restart, stream, verify, rename."""
        complete, offset, etag = await self.transfers.on_disk("read", part.path, part.state)
        if complete:
            return self.dest
        headers = {"Accept-Encoding": "identity"}
        if offset and etag:
            headers.update({"Range": f"bytes={offset}-", "If-Range": etag})
        session, timeout = self.transfers.session, self.transfers.timeout
        try:
            async with session.get(self.url, headers=headers, timeout=timeout) as resp:
                kept = offset if resp.status in (206, 416) else 0
                return await self._receive(part, resp, kept, etag)
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

    async def _receive(
        self, part: _Part, resp: aiohttp.ClientResponse, offset: int, kept_etag: str | None
    ) -> Path:
        """Check the answer, write its body after the `offset` bytes kept, verify, publish.

        Small files cost three trips to the file thread: open, write, close-verify-rename.
        """
        total = _check_status(resp, offset, self.url)
        if resp.status == 416:
            if total is None:
                await self.transfers.on_disk("remove", part.path, part.reset)
                raise _Again("range not satisfiable; restarting")
            check = self._check(offset, kept_etag)  # `.part` already holds every byte
            await self.transfers.on_disk("finish", part.path, _finish, None, part, check)
            return self.dest
        etag = resp.headers.get("ETag")
        md5 = bool(etag and _MD5_ETAG.match(etag))
        if resp.status == 200 and total is not None and total <= CHUNK:
            # A small file: one trip to the file thread writes, checks and renames it.
            data = await resp.read()
            await self.transfers.on_disk(
                "write", part.path, _write_small, part, data, self._check(total, etag)
            )
            if self.on_progress is not None:
                self.on_progress(len(data), total)
            return self.dest
        file, digest = await self.transfers.on_disk(
            "open", part.path, _begin, part, etag, offset, md5
        )
        try:
            done = await self._stream(file, part.path, resp, offset, total, digest)
        except BaseException:
            await self._close_quietly(file)
            raise
        if total is not None and done < total:
            await self._close_quietly(file)
            raise _Again(f"body ended at {done} of {total} bytes")
        check = self._check(total, etag)
        await self.transfers.on_disk("finish", part.path, _finish, file, part, check, done, digest)
        return self.dest

    def _check(self, total: int | None, etag: str | None) -> _Check:
        """What the finished file must match."""
        expected = self.expected_size if self.expected_size is not None else total
        md5 = etag.strip('"').lower() if etag and _MD5_ETAG.match(etag) else None
        return _Check(self.dest.name, expected, md5)

    async def _stream(
        self,
        file: IO[bytes],
        path: Path,
        resp: aiohttp.ClientResponse,
        offset: int,
        total: int | None,
        digest: hashlib._Hash | None,
    ) -> int:
        """Append the body to the open `.part`; returns the bytes now in it.

        The network and the disk work at the same time: blocks pass through a short queue
        (at most `QUEUE` MiB per download) to a writer that works off the event loop.
        """
        send, receive = anyio.create_memory_object_stream[list[bytes]](QUEUE)
        written = [offset]
        try:
            async with anyio.create_task_group() as group:
                group.start_soon(self._drain, receive, file, path, digest, written, total)
                async with send:
                    async for block in _blocks(resp):
                        await send.send(block)
        except BaseExceptionGroup as group_error:
            raise sole_error(group_error) from None
        return written[0]

    async def _close_quietly(self, file: IO[bytes]) -> None:
        """Close after a failure without hiding it (the `.part` stays for resuming)."""
        with anyio.CancelScope(shield=True):
            try:
                await anyio.to_thread.run_sync(_close, file, limiter=self.transfers.file_limiter)
            except OSError as exc:
                log.debug("closing a partial download failed too: %s", exc)

    async def _drain(
        self,
        blocks: MemoryObjectReceiveStream[list[bytes]],
        file: IO[bytes],
        path: Path,
        digest: hashlib._Hash | None,
        written: list[int],
        total: int | None,
    ) -> None:
        """Write queued blocks in order, counting what reached the file."""
        async with blocks:
            async for block in blocks:
                await self.transfers.on_disk("write", path, _write_block, file, block, digest)
                written[0] += sum(map(len, block))
                if self.on_progress is not None:
                    self.on_progress(written[0], total)


@attrs.frozen
class _Check:
    """What a finished download must match before it gets its final name."""

    name: str
    size: int | None
    md5: str | None


async def _blocks(resp: aiohttp.ClientResponse) -> AsyncIterator[list[bytes]]:
    """The body as lists of pieces adding up to about `CHUNK` bytes, without copying.

    The socket hands out ~256 KiB pieces; grouping them makes one thread hop per MiB.
    """
    group: list[bytes] = []
    size = 0
    async for piece in resp.content.iter_any():
        group.append(piece)
        size += len(piece)
        if size >= CHUNK:
            yield group
            group, size = [], 0
    if group:
        yield group


def _check_status(resp: aiohttp.ClientResponse, offset: int, url: str) -> int | None:
    """The full size of the file (None if unknown); raises for refusals and odd answers."""
    status = resp.status
    if status in (401, 403, 410):
        raise LinkExpired(
            f"storage refused {redact_url(url)} ({status}): the link expired or "
            "was tampered with; ask the API for a new one",
            status=status,
        )
    if status == 416:
        match = re.match(r"bytes \*/(\d+)", resp.headers.get("Content-Range", ""))
        size = int(match.group(1)) if match else None
        return size if size == offset and offset else None
    if status in (408, 429) or status >= 500:
        raise _Again(f"storage answered {status}")
    if status == 206:
        match = _RANGE.match(resp.headers.get("Content-Range", ""))
        if not match or int(match.group(1)) != offset:
            raise _Again("storage sent another range than asked")
        return None if match.group(3) == "*" else int(match.group(3))
    if status != 200:
        raise TransferError(f"storage answered {status} for {redact_url(url)}", status=status)
    return resp.content_length


def _begin(
    part: _Part, etag: str | None, offset: int, md5: bool
) -> tuple[IO[bytes], hashlib._Hash | None]:
    """Record the validator, prime the checksum with kept bytes, open `.part` for writing."""
    part.path.parent.mkdir(parents=True, exist_ok=True)
    if etag:
        part.meta.write_text(etag)
    elif not offset:
        part.meta.unlink(missing_ok=True)
    digest = _md5_of(part.path, offset) if md5 else None
    return part.path.open("ab" if offset else "wb"), digest


def _write_small(part: _Part, data: bytes, check: _Check) -> None:
    """Write a whole small file to `.part`, then finish it (no resume sidecar needed)."""
    part.path.parent.mkdir(parents=True, exist_ok=True)
    part.meta.unlink(missing_ok=True)
    digest = hashlib.md5(data, usedforsecurity=False) if check.md5 else None
    with part.path.open("wb") as file:
        file.write(data)
        _finish(file, part, check, len(data), digest)


def _md5_of(path: Path, length: int) -> hashlib._Hash:
    """MD5 of the first `length` bytes of a file."""
    digest = hashlib.md5(usedforsecurity=False)
    if length == 0:
        return digest
    with path.open("rb") as file:
        while length > 0 and (block := file.read(min(CHUNK, length))):
            digest.update(block)
            length -= len(block)
    return digest


def _write_block(file: IO[bytes], block: list[bytes], digest: hashlib._Hash | None) -> None:
    """Write one block and feed the checksum; flush to disk every `SYNC_EVERY` bytes.

    Syncing as we go lets the disk work while the network keeps reading, so the final fsync
    (needed before the rename, or a crash could leave a "complete" file of zeros) is short.
    """
    file.writelines(block)
    if digest is not None:
        for piece in block:
            digest.update(piece)
    position = file.tell()
    if position // SYNC_EVERY != (position - sum(map(len, block))) // SYNC_EVERY:
        file.flush()
        os.fdatasync(file.fileno())


def _close(file: IO[bytes]) -> None:
    """Flush to disk and close."""
    try:
        file.flush()
        os.fsync(file.fileno())
    finally:
        file.close()


def _finish(
    file: IO[bytes] | None,
    part: _Part,
    check: _Check,
    done: int | None = None,
    digest: hashlib._Hash | None = None,
) -> None:
    """Close (if open), verify length and MD5, then rename `.part` into place (atomic).

    A `.part` that fails the check is removed, since resuming it could never succeed.
    """
    if file is not None:
        _close(file)  # closing twice (after `with`) is harmless
    size = part.path.stat().st_size if done is None else done
    if digest is None and check.md5 is not None and done is None:
        digest = _md5_of(part.path, size)
    problem = None
    if check.size is not None and size != check.size:
        problem = f"got {size} bytes, expected {check.size}"
    elif digest is not None and check.md5 is not None and digest.hexdigest() != check.md5:
        problem = "the MD5 of the bytes does not match the ETag"
    if problem is not None:
        part.reset()
        raise IntegrityError(f"{check.name}: {problem}; the partial file was removed")
    os.replace(part.path, part.final)
    part.meta.unlink(missing_ok=True)
