"""What the job-aware resources share: a download bound to the client's settings."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from .._http import Transport
from ..errors import UsageError
from ._download import Download
from .transfers import Progress, Transfers


async def fetch_file(
    transport: Transport,
    url: str,
    dest: Path,
    *,
    refresh: Callable[[], Awaitable[str]] | None = None,
    expected_size: int | None = None,
    on_progress: Progress | None = None,
) -> Path:
    """Download a signed link to `dest` with the client's session, timeouts and retries.

    The link goes to a storage host: no API key is sent with it.
    """
    job = Download(Transfers.of(transport), url, dest, refresh, expected_size, on_progress)
    return await job.run()


def target_path(folder: str | Path, name: str) -> Path:
    """`folder/name`, refusing a name that would escape the folder."""
    base = Path(folder)
    path = base / name
    if path.parent != base or name in ("", ".", ".."):
        raise UsageError(f"unsafe file name {name!r}: give a plain name without folders")
    return path
