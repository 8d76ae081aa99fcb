"""`CutPro`: the async client, one attribute per API group."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from types import TracebackType

import aiohttp

from ._http import Transport
from ._settings import Settings, resolve_connection
from .config import (
    DEFAULT_LIMITS,
    DEFAULT_PACING,
    DEFAULT_POLLING,
    DEFAULT_RETRY,
    DEFAULT_TIMEOUTS,
    Limits,
    Pacing,
    Polling,
    RetryPolicy,
    Timeouts,
)
from .jobs import BulkDownloads, Downloaded, Posts, Progress, Renders, Submissions, Videos
from .jobs._common import fetch_file
from .resources import (
    BalanceResource,
    ClipsResource,
    ConnectionsResource,
    TemplatesResource,
    WorkspaceResource,
)


class CutPro:
    """An async client of the CutPro v1 API; use it as `async with CutPro() as cp:`.

    `api_key`, `workspace_id` and `base_url` fall back to `CUTPRO_API_KEY`,
    `CUTPRO_WORKSPACE_ID` and `CUTPRO_API_URL`, then to the login `cutpro login` saved (its
    workspace and URL only with its own key). Pass `session` to use your own
    `aiohttp.ClientSession` (it is left open on exit). Plain http is refused except to
    loopback addresses unless `allow_insecure_http=True`.
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        workspace_id: str | None = None,
        base_url: str | None = None,
        timeouts: Timeouts = DEFAULT_TIMEOUTS,
        retry: RetryPolicy = DEFAULT_RETRY,
        pacing: Pacing = DEFAULT_PACING,
        limits: Limits = DEFAULT_LIMITS,
        polling: Polling = DEFAULT_POLLING,
        session: aiohttp.ClientSession | None = None,
        allow_insecure_http: bool = False,
    ) -> None:
        found = resolve_connection(
            api_key,
            workspace_id=workspace_id,
            base_url=base_url,
            allow_insecure_http=allow_insecure_http,
        )
        self.settings = Settings(
            base_url=found.base_url,
            api_key=found.api_key,
            workspace_id=found.workspace_id,
            timeouts=timeouts,
            retry=retry,
            pacing=pacing,
            limits=limits,
            polling=polling,
            allow_insecure_http=allow_insecure_http,
        )
        self._transport = Transport(self.settings, session)
        self.workspace = WorkspaceResource(self._transport)
        self.balance = BalanceResource(self._transport)
        self.videos = Videos(self._transport)
        self.submissions = Submissions(self._transport)
        self.clips = ClipsResource(self._transport)
        self.templates = TemplatesResource(self._transport)
        self.renders = Renders(self._transport)
        self.bulk_downloads = BulkDownloads(self._transport)
        self.posts = Posts(self._transport)
        self.connections = ConnectionsResource(self._transport)

    def __repr__(self) -> str:
        workspace = f" workspace={self.settings.workspace_id}" if self.settings.workspace_id else ""
        return f"<CutPro {self.settings.base_url}{workspace}>"

    async def download(
        self,
        url: str,
        path: str | Path,
        *,
        expected_size: int | None = None,
        on_progress: Progress | None = None,
    ) -> Downloaded:
        """Stream any signed file link to `path` (resumable, verified; no API key is sent).

        A `.mp4` or `.zip` path is also checked to be a whole file of that kind.
        """
        return await fetch_file(
            self._transport, url, Path(path), expected_size=expected_size, on_progress=on_progress
        )

    @property
    def request_rate(self) -> float | None:
        """The ceiling of the client's general request rate, requests a second (None: none);
        `pacing.requests_per_second` until set."""
        return self._transport.pacer.request_rate

    @request_rate.setter
    def request_rate(self, ceiling: float | None) -> None:
        """Pace the client's requests at most `ceiling` a second from now on (None: no general
        rate), e.g. its share of a key's rate among processes; 429s still slow it down, and
        it climbs back towards the new ceiling."""
        self._transport.pacer.request_rate = ceiling

    def server_time(self) -> datetime:
        """The API server's current time, as its answers' `Date` headers tell it (the local
        time until the first answer): what to record before a paid request, for
        `submissions.create(attempt_started=...)` to compare with the server's timestamps."""
        return self._transport.clock.now()

    async def open(self) -> None:
        """Open the HTTP session (done by `async with`)."""
        await self._transport.open()

    async def close(self) -> None:
        """Close the HTTP session, unless it was given by the caller."""
        await self._transport.close()

    async def __aenter__(self) -> CutPro:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
