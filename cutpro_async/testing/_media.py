"""Deterministic, random-access, streamable file bodies for the simulator.

Rendered clips are served as :class:`Mp4Body` (a real tiny MP4 padded with one
``free`` box to any size) and bulk downloads as :class:`ZipBody` (a STORED ZIP
whose layout is computed up front). Nothing large is ever held in memory: every
body answers ``read(offset, length)`` on demand, so HTTP range requests and
streaming are cheap.

The fixture ``data/sample.mp4`` (32x18, 1 fps, 62 s, H.264, 3688 bytes, moov
before mdat) was made once with ffmpeg 5.1 (not needed at runtime)::

    ffmpeg -f lavfi -i "testsrc2=size=32x18:rate=1:duration=62" \\
        -c:v libx264 -preset veryslow -crf 40 -pix_fmt yuv420p -g 62 -an \\
        -map_metadata -1 -fflags +bitexact -flags:v +bitexact \\
        -movflags +faststart sample.mp4
"""

from __future__ import annotations

import bisect
import functools
import hashlib
import struct
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Protocol

SAMPLE_MP4_PATH: Path = Path(__file__).with_name("data") / "sample.mp4"

_BLOCK_SIZE = 64 * 1024
_U32_MAX = 0xFFFFFFFF
# 1980-01-01 00:00:00, the DOS epoch: a fixed stamp keeps archives byte-identical.
_DOS_TIME, _DOS_DATE = 0, (1 << 5) | 1


@functools.cache
def sample_mp4() -> bytes:
    """Return the bytes of the bundled sample MP4 (read once)."""
    return SAMPLE_MP4_PATH.read_bytes()


def mp4_min_size() -> int:
    """Smallest size an :class:`Mp4Body` can have: the sample plus an empty ``free`` box."""
    return len(sample_mp4()) + 8


def _quoted_etag(*parts: object) -> str:
    digest = hashlib.sha256("\x00".join(map(str, parts)).encode()).hexdigest()
    return f'"{digest[:32]}"'


def _check_range(offset: int, length: int) -> None:
    if offset < 0 or length < 0:
        raise ValueError(f"offset and length must be >= 0, got {offset=} {length=}")


class Body(Protocol):
    """A file body of known size that can be read at any offset."""

    @property
    def size(self) -> int: ...

    @property
    def etag(self) -> str: ...

    def read(self, offset: int, length: int) -> bytes:
        """Return exactly ``min(length, size - offset)`` bytes (``b""`` past the end)."""
        ...


class BytesBody:
    """A small in-memory body (ZIP headers, tests)."""

    def __init__(self, data: bytes) -> None:
        self._data = bytes(data)
        self.etag = _quoted_etag("bytes", hashlib.sha256(self._data).hexdigest())

    @property
    def size(self) -> int:
        return len(self._data)

    def read(self, offset: int, length: int) -> bytes:
        _check_range(offset, length)
        return self._data[offset : offset + length]


class Mp4Body:
    """The sample MP4 followed by one ``free`` box padding it to exactly ``size`` bytes.

    moov precedes mdat in the sample and the padding is a trailing top-level box,
    so players and mediainfo still read it as the same 62 s clip.
    """

    def __init__(self, seed: str, size: int) -> None:
        sample = sample_mp4()
        if size < mp4_min_size():
            raise ValueError(f"Mp4Body size must be >= {mp4_min_size()} bytes, got {size}")
        box = size - len(sample)
        if box > _U32_MAX:  # 32-bit size field cannot hold it: size=1 + 64-bit largesize
            header = struct.pack(">I4sQ", 1, b"free", box)
        else:
            header = struct.pack(">I4s", box, b"free")
        self.size = size
        self.etag = _quoted_etag("mp4", seed, size, hashlib.sha256(sample).hexdigest())
        self._prefix = sample + header
        block = hashlib.shake_256(f"cutpro-free:{seed}".encode()).digest(_BLOCK_SIZE)
        # Doubled so any slice up to one block long starting mid-block is contiguous.
        self._tile = memoryview(block + block)

    def read(self, offset: int, length: int) -> bytes:
        """Return bytes [offset, offset+length) clipped to the body size."""
        _check_range(offset, length)
        end = min(offset + length, self.size)
        if offset >= end:
            return b""
        parts: list[bytes | memoryview] = []
        plen = len(self._prefix)
        if offset < plen:
            parts.append(self._prefix[offset : min(end, plen)])
            offset = plen
        while offset < end:
            start = (offset - plen) % _BLOCK_SIZE
            n = min(end - offset, _BLOCK_SIZE)
            parts.append(self._tile[start : start + n])
            offset += n
        return b"".join(parts)


def iter_chunks(
    body: Body, start: int = 0, end: int | None = None, chunk_size: int = 256 * 1024
) -> Iterator[bytes]:
    """Yield ``body`` bytes covering [start, end) (end exclusive, clipped to size)."""
    if start < 0 or chunk_size <= 0:
        raise ValueError(f"need start >= 0 and chunk_size > 0, got {start=} {chunk_size=}")
    stop = body.size if end is None else min(end, body.size)
    for pos in range(start, stop, chunk_size):
        yield body.read(pos, min(chunk_size, stop - pos))


def _check_entry_name(name: str) -> bytes:
    # Flat archives only: anything that could escape or nest on extraction is refused.
    if not name or "/" in name or "\\" in name or ".." in name or "\x00" in name:
        raise ValueError(f"unsafe ZIP entry name: {name!r}")
    return name.encode("utf-8")


class ZipBody:
    """A STORED (uncompressed, non-ZIP64) ZIP of ``entries``, readable at any offset."""

    def __init__(self, entries: Sequence[tuple[str, Body]]) -> None:
        if len(entries) > 0xFFFF:
            raise ValueError(f"ZIP without ZIP64 holds at most 65535 entries, got {len(entries)}")
        if len({name for name, _ in entries}) != len(entries):
            raise ValueError("duplicate ZIP entry names")
        segments: list[Body] = []
        central = bytearray()
        offset = 0
        for name, body in entries:
            raw = _check_entry_name(name)
            flags = 0 if raw.isascii() else 0x800  # bit 11: name is UTF-8
            # Size check before the CRC pass, so an oversized entry fails fast.
            if offset + 30 + len(raw) + body.size > _U32_MAX:
                raise ValueError("ZIP larger than 4 GiB - 1 bytes needs ZIP64 (unsupported)")
            crc = 0
            for chunk in iter_chunks(body):  # streamed once; never materialised
                crc = zlib.crc32(chunk, crc)
            fields = (20, flags, 0, _DOS_TIME, _DOS_DATE, crc, body.size, body.size, len(raw))
            local = struct.pack("<IHHHHHIIIHH", 0x04034B50, *fields, 0) + raw
            central += struct.pack("<IH", 0x02014B50, 20)
            central += struct.pack("<HHHHHIIIH", *fields)
            central += struct.pack("<HHHHII", 0, 0, 0, 0, 0, offset) + raw
            segments += [BytesBody(local), body]
            offset += len(local) + body.size
        n = len(entries)
        central += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, n, n, len(central), offset, 0)
        segments.append(BytesBody(bytes(central)))
        self.size = offset + len(central)
        if self.size > _U32_MAX:
            raise ValueError("ZIP larger than 4 GiB - 1 bytes needs ZIP64 (unsupported)")
        self.etag = _quoted_etag("zip", *(f"{name}={b.etag}" for name, b in entries))
        self._segments = segments
        self._starts: list[int] = []
        pos = 0
        for seg in segments:
            self._starts.append(pos)
            pos += seg.size

    def read(self, offset: int, length: int) -> bytes:
        """Return bytes [offset, offset+length) clipped to the archive size."""
        _check_range(offset, length)
        end = min(offset + length, self.size)
        parts: list[bytes] = []
        i = bisect.bisect_right(self._starts, offset) - 1
        while offset < end:
            seg, base = self._segments[i], self._starts[i]
            want = min(end, base + seg.size) - offset
            if want > 0:
                parts.append(seg.read(offset - base, want))
                offset += want
            i += 1
        return b"".join(parts)
