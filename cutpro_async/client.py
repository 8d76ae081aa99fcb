"""`CutPro`: the async client, one attribute per API group."""

from __future__ import annotations

import os
from types import TracebackType

import aiohttp

from ._http import Transport
from ._settings import Settings, resolve_api_key, resolve_base_url
from .config import (
    DEFAULT_LIMITS,
    DEFAULT_PACING,
    DEFAULT_RETRY,
    DEFAULT_TIMEOUTS,
    Limits,
    Pacing,
    RetryPolicy,
    Timeouts,
)
from .resources import (
    BalanceResource,
    BulkDownloadsResource,
    ClipsResource,
    ConnectionsResource,
    PostsResource,
    RendersResource,
    SubmissionsResource,
    TemplatesResource,
    VideosResource,
    WorkspaceResource,
)


class CutPro:
    """An async client of the CutPro v1 API; use it as `async with CutPro() as cp:`.

    `api_key`, `workspace_id` and `base_url` fall back to `CUTPRO_API_KEY`,
    `CUTPRO_WORKSPACE_ID` and `CUTPRO_API_URL`. Pass `session` to use your own
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
        session: aiohttp.ClientSession | None = None,
        allow_insecure_http: bool = False,
    ) -> None:
        self.settings = Settings(
            base_url=resolve_base_url(base_url, allow_insecure_http),
            api_key=resolve_api_key(api_key),
            workspace_id=workspace_id or os.environ.get("CUTPRO_WORKSPACE_ID") or None,
            timeouts=timeouts,
            retry=retry,
            pacing=pacing,
            limits=limits,
        )
        self._transport = Transport(self.settings, session)
        self.workspace = WorkspaceResource(self._transport)
        self.balance = BalanceResource(self._transport)
        self.videos = VideosResource(self._transport)
        self.submissions = SubmissionsResource(self._transport)
        self.clips = ClipsResource(self._transport)
        self.templates = TemplatesResource(self._transport)
        self.renders = RendersResource(self._transport)
        self.bulk_downloads = BulkDownloadsResource(self._transport)
        self.posts = PostsResource(self._transport)
        self.connections = ConnectionsResource(self._transport)

    def __repr__(self) -> str:
        workspace = f" workspace={self.settings.workspace_id}" if self.settings.workspace_id else ""
        return f"<CutPro {self.settings.base_url}{workspace}>"

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
