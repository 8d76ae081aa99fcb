"""What file transfers share: the client's session, timeouts, retrier and file threads."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

import aiohttp
import anyio
import attrs

from .._http import Transport
from .._retry import Decide, Retrier
from ._files import local_error

T = TypeVar("T")
#: `on_progress(done, total)`: bytes moved so far, and the whole size when known.
Progress = Callable[[int, int | None], object]


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

    @classmethod
    def of(cls, transport: Transport) -> Transfers:
        """The transfers of a client, bound to its open session."""
        t = transport.settings.timeouts
        return cls(transport.session, transport.retrier, transport.file_limiter, t.connect, t.stall)

    @property
    def timeout(self) -> aiohttp.ClientTimeout:
        """No total limit (a large file takes its time); a stall or a slow connect fails."""
        return aiohttp.ClientTimeout(
            total=None, sock_connect=self.connect_timeout, sock_read=self.stall_timeout
        )

    async def retry(
        self, attempt: Callable[[int], Awaitable[T]], decide: Decide, *, url: str, what: str
    ) -> T:
        """Run `attempt` through the client's retrier, on the budget of the link's host."""
        return await self.retrier.call(attempt, decide, what=what, host=urlsplit(url).netloc)

    async def on_disk(self, action: str, path: Path, work: Callable[..., T], *args: object) -> T:
        """A file operation off the event loop; OS errors become a clear `LocalFileError`."""
        try:
            return await anyio.to_thread.run_sync(work, *args, limiter=self.file_limiter)
        except OSError as exc:
            raise local_error(action, path, exc) from None
