"""Batch inputs: URLs and local files, from lists, text files, stdin or async iterables.

Everything is read lazily, one source at a time, so a list of a million URLs (or an endless
stream) is never loaded ahead of what the run can take.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterable, AsyncIterator, Iterable
from pathlib import Path
from typing import IO
from urllib.parse import urlsplit

import anyio

from ..errors import UsageError

Sources = Iterable[str] | AsyncIterable[str]


def normalize(source: str) -> str:
    """A source as the record keys it: a URL as given, a local file as an absolute path.

    `UsageError` for what cannot be a source: a name that is not valid UTF-8 (it could not be
    recorded), a scheme other than http(s) (`s3://`, `ftp://`).
    """
    text = source.strip()
    if not _is_text(text):
        raise UsageError(
            f"{printable(text)} is not valid UTF-8: rename the file (or fix the list's "
            "encoding) so that it can be recorded"
        )
    parts = urlsplit(text)
    if parts.scheme in ("http", "https") and parts.netloc:
        return text
    if parts.scheme and len(parts.scheme) > 1:
        raise UsageError(
            f"{parts.scheme}:// sources cannot be clipped: give a public http(s) URL, or "
            "download the file and give its local path"
        )
    path = Path(text).expanduser()
    return str(path.resolve())


def printable(source: str) -> str:
    """A source as it can be shown and recorded: undecodable bytes as `\\xNN` escapes."""
    return source.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _is_text(text: str) -> bool:
    """Whether a string is valid Unicode text (no lone surrogates from undecodable bytes)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def is_url(source: str) -> bool:
    """Whether a normalised source is a URL (else it is a local file)."""
    return source.startswith(("http://", "https://"))


async def iterate(sources: Sources) -> AsyncIterator[str]:
    """The sources one by one, stripped, skipping blank lines and `#` comments (not yet
    normalised: a source that cannot be is the failure of that source alone)."""
    if isinstance(sources, AsyncIterable):
        async for item in sources:
            if _wanted(item):
                yield _clean(item)
    else:
        for item in sources:
            if _wanted(item):
                yield _clean(item)


def _clean(item: str) -> str:
    """A source without surrounding blanks or a byte-order mark (lists saved by Notepad)."""
    return item.strip().lstrip("\ufeff").strip()


def _wanted(item: str) -> bool:
    """Blank lines and comments are not sources."""
    text = _clean(item)
    return bool(text) and not text.startswith("#")


async def lines_of(handle: IO[bytes]) -> AsyncIterator[str]:
    """Lines of an open binary file as UTF-8 text, read off the event loop one at a time;
    undecodable bytes are kept as surrogates, so only that line's source fails."""
    while line := await anyio.to_thread.run_sync(handle.readline):
        yield line.decode("utf-8", "surrogateescape")


async def expand_sources(arguments: Iterable[str]) -> AsyncIterator[str]:
    """Command-line SOURCES: a URL, a file, `@list.txt` (one source a line), or `-` (stdin)."""
    for argument in arguments:
        if argument == "-":
            async for line in lines_of(sys.stdin.buffer):
                yield line
        elif argument.startswith("@"):
            try:
                handle = await anyio.to_thread.run_sync(Path(argument[1:]).open, "rb")
            except OSError as exc:
                raise UsageError(f"cannot read the list {argument[1:]}: {exc.strerror}") from None
            try:
                async for line in lines_of(handle):
                    yield line
            finally:
                handle.close()
        else:
            yield argument
