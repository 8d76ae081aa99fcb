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
    """A source as the record keys it: a URL as given, a local file as an absolute path."""
    text = source.strip()
    parts = urlsplit(text)
    if parts.scheme in ("http", "https") and parts.netloc:
        return text
    if parts.scheme and len(parts.scheme) > 1:
        raise UsageError(f"{text!r}: only http(s) URLs and local video files can be clipped")
    path = Path(text).expanduser()
    return str(path.resolve())


def is_url(source: str) -> bool:
    """Whether a normalised source is a URL (else it is a local file)."""
    return source.startswith(("http://", "https://"))


async def iterate(sources: Sources) -> AsyncIterator[str]:
    """The sources one by one, normalised, skipping blank lines and `#` comments."""
    if isinstance(sources, AsyncIterable):
        async for item in sources:
            if _wanted(item):
                yield normalize(item)
    else:
        for item in sources:
            if _wanted(item):
                yield normalize(item)


def _wanted(item: str) -> bool:
    """Blank lines and comments are not sources."""
    text = item.strip()
    return bool(text) and not text.startswith("#")


async def lines_of(handle: IO[str]) -> AsyncIterator[str]:
    """Lines of an open text file, read off the event loop one at a time."""
    while line := await anyio.to_thread.run_sync(handle.readline):
        yield line


async def expand_sources(arguments: Iterable[str]) -> AsyncIterator[str]:
    """Command-line SOURCES: a URL, a file, `@list.txt` (one source a line), or `-` (stdin)."""
    for argument in arguments:
        if argument == "-":
            async for line in lines_of(sys.stdin):
                yield line
        elif argument.startswith("@"):
            try:
                handle = await anyio.to_thread.run_sync(Path(argument[1:]).open)
            except OSError as exc:
                raise UsageError(f"cannot read the list {argument[1:]}: {exc.strerror}") from None
            try:
                async for line in lines_of(handle):
                    yield line
            finally:
                handle.close()
        else:
            yield argument
