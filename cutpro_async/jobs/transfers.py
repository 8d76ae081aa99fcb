"""What file transfers share: the client's session, timeouts, retrier and file threads."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

import aiohttp
import anyio
import attrs

from .._http import Transport
from .._retry import Decide, Retrier, retry_after
from .._settings import check_storage_link
from ..config import DEFAULT_LIMITS
from ._files import local_error
from ._threads import in_thread

T = TypeVar("T")
#: Statuses storage answers for an expired (or tampered) signed link: S3 403, GCS 400.
REFUSALS = frozenset({400, 401, 403, 410})
#: `on_progress(done, total)`: bytes moved so far, and the whole size when known.
Progress = Callable[[int, int | None], object]


@attrs.frozen
class Downloaded:
    """A downloaded file under its final name.

    `sha256` was computed while writing; `verified` names what was checked (`length`, `mp4`
    or `zip`, and each checksum the storage stated: `md5`, `crc32c`, ...), or says the file was
    `already there` (complete files are the only ones with their final name).
    """

    path: Path
    size: int
    sha256: str
    verified: tuple[str, ...]


@attrs.frozen
class Transfers:
    """The client's means for moving files to and from signed storage links.

    Storage links go to another host: no API key is ever sent with them, and their retries
    spend that host's retry budget, not the API's.
    """

    session: aiohttp.ClientSession
    retrier: Retrier
    file_limiter: anyio.CapacityLimiter
    connect_timeout: float | None
    stall_timeout: float | None
    max_download_bytes: int = DEFAULT_LIMITS.max_download_bytes
    allow_insecure_http: bool = False
    #: The client's file threads; None: `anyio.to_thread` bounded by `file_limiter`.
    threads: Executor | None = None

    @classmethod
    def of(cls, transport: Transport) -> Transfers:
        """The transfers of a client, bound to its open session."""
        settings = transport.settings
        return cls(
            transport.session,
            transport.retrier,
            transport.file_limiter,
            settings.timeouts.connect,
            settings.timeouts.stall,
            settings.limits.max_download_bytes,
            settings.allow_insecure_http,
            transport.file_threads,
        )

    def check_link(self, url: str) -> None:
        """Refuse a link that is not https (plain http only to loopback, or when allowed)."""
        check_storage_link(url, self.allow_insecure_http)

    @property
    def timeout(self) -> aiohttp.ClientTimeout:
        """No total limit (a large file takes its time); a stall or a slow connect fails."""
        return aiohttp.ClientTimeout(
            total=None, sock_connect=self.connect_timeout, sock_read=self.stall_timeout
        )

    async def retry(
        self,
        attempt: Callable[[int], Awaitable[T]],
        decide: Decide,
        *,
        url: str,
        what: str,
        after: tuple[Exception, float] | None = None,
    ) -> T:
        """Run `attempt` through the client's retrier, on the budget of the link's host.

        `after`: the caller made attempt 0 itself, begun at that monotonic time, and it
        raised that error (see `Retrier.retry`).
        """
        host = urlsplit(url).netloc
        if after is None:
            return await self.retrier.call(attempt, decide, what=what, host=host)
        error, started = after
        return await self.retrier.retry(
            error, attempt, decide, what=what, host=host, started=started
        )

    def succeeded(self, url: str) -> None:
        """A transfer from or to `url` succeeded at its first attempt: its host's budget
        earns."""
        self.retrier.succeeded(urlsplit(url).netloc)

    async def on_disk(self, action: str, path: Path, work: Callable[..., T], *args: object) -> T:
        """A file operation off the event loop; OS errors become a clear `LocalFileError`."""
        try:
            if self.threads is not None:  # straight to the threads: one coroutine fewer
                return await in_thread(self.threads, work, *args)
            return await self.in_thread(work, *args)
        except OSError as exc:
            raise local_error(action, path, exc) from None

    async def in_thread(self, work: Callable[..., T], *args: object) -> T:
        """`work(*args)` in a file thread (a running one is waited for, even on cancel)."""
        if self.threads is not None:
            return await in_thread(self.threads, work, *args)
        return await anyio.to_thread.run_sync(work, *args, limiter=self.file_limiter)


def storage_wait(resp: aiohttp.ClientResponse, transfers: Transfers) -> float | None:
    """The wait a storage answer asks for (`Retry-After`), if any and not too long to honour."""
    hint = retry_after(resp.headers, {})
    return hint if hint is not None and hint <= transfers.retrier.policy.max_retry_after else None
