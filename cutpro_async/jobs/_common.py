"""What the job-aware resources share: a download bound to the client's settings."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio

from .._http import Transport
from ..errors import UsageError
from ._download import Download
from ._partfile import PartFile
from .transfers import Downloaded, Progress, Transfers

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
) -> Downloaded:
    """Download a signed link to `dest` with the client's session, timeouts and retries.

    The link goes to a storage host: no API key is sent with it. `kind` (`mp4`, `zip`) is
    the container the file must be; by default it follows `dest`'s extension.
    """
    if await anyio.Path(dest).is_dir():
        raise UsageError(
            f"{dest} is a folder: pass the path of the file to write, e.g. {dest / 'clip.mp4'}"
        )
    kind = kind or KINDS.get(dest.suffix.lower())
    transfers = Transfers.of(transport)
    job = Download(transfers, url, dest, refresh, expected_size, kind, on_progress)
    return await job.run()


async def already_downloaded(transport: Transport, dest: Path) -> Downloaded | None:
    """The file at `dest` if it is complete already (a regular file: only those get a final
    name), with its size and SHA-256; None otherwise."""
    transfers = Transfers.of(transport)
    saved = await transfers.on_disk("read", dest, PartFile(dest).finished)
    return None if saved is None else Downloaded(dest, saved.size, saved.sha256, saved.verified)


def target_path(folder: str | Path, name: str) -> Path:
    """`folder/name`, refusing a name that would escape the folder."""
    base = Path(folder)
    path = base / name
    if path.parent != base or name in ("", ".", ".."):
        raise UsageError(f"unsafe file name {name!r}: give a plain name without folders")
    return path
