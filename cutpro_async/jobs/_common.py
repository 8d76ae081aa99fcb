"""What the job-aware resources share: a download bound to the client's settings."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Literal

from .._http import Transport
from ..errors import UsageError
from ._download import Download
from ._partfile import PartFile, Resume
from .transfers import Downloaded, Progress, Transfers

#: What separates folders in a path here (`altsep` is None on POSIX).
_SEPARATORS = (os.sep, os.altsep)
#: The container a downloaded file must be, by its extension (others are not checked).
KINDS = {".mp4": "mp4", ".zip": "zip"}


async def fetch_file(
    transport: Transport,
    url: str,
    dest: Path,
    *,
    refresh: Callable[[], Awaitable[str]] | None = None,
    expected_size: int | None = None,
    kind: str | None = None,
    on_progress: Progress | None = None,
    first: Resume | Literal["late"] | None = None,
    sync_folder: bool = True,
) -> Downloaded:
    """Download a signed link to `dest` with the client's session, timeouts and retries.

    The link goes to a storage host: no API key is sent with it. `kind` (`mp4`, `zip`) is
    the container the file must be; by default it follows `dest`'s extension. A `dest` that
    is a folder is a `UsageError`. `first`: what the caller already knows of the disk (see
    `Download.first`). `sync_folder=False` leaves the fsync of the folder after the rename
    to the caller.
    """
    kind = kind or KINDS.get(dest.suffix.lower())
    transfers = Transfers.of(transport)
    job = Download(
        transfers, url, dest, refresh, expected_size, kind, on_progress, first, sync_folder
    )
    return await job.run()


async def look(transport: Transport, dest: Path) -> tuple[Downloaded | None, Resume]:
    """The file at `dest` if it is complete already (a regular file: only those get a final
    name), with its size and SHA-256; else None and what a download there can resume (one
    trip to a file thread). `UsageError` if `dest` is a folder."""
    transfers = Transfers.of(transport)
    saved, resume = await transfers.on_disk("read", dest, PartFile(dest).state)
    if saved is None:
        return None, resume
    return Downloaded(dest, saved.size, saved.sha256, saved.verified), resume


def target_path(folder: str | Path, name: str) -> Path:
    """`folder/name`, refusing a name that would escape the folder."""
    base = Path(folder)
    if name not in ("", ".", "..") and not any(sep and sep in name for sep in _SEPARATORS):
        return base / name  # one plain component: it cannot leave the folder
    path = base / name
    if path.parent != base or name in ("", ".", ".."):
        raise UsageError(f"unsafe file name {name!r}: give a plain name without folders")
    return path
