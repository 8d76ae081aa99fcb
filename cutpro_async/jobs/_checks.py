"""What a downloaded file is checked against: stated checksums, its size and its structure.

An ETag is an opaque validator, never a checksum: S3 gives non-MD5 ETags for SSE-KMS/SSE-C and
multipart objects, Azure `0x…` ones, others weak `W/` ones. Only checksums the storage states
explicitly for the whole object are verified: `Content-MD5` (on a full answer),
`x-ms-blob-content-md5` (Azure, any answer), `x-goog-hash` md5/crc32c (GCS, any answer, unless
the stored object is transcoded) and full-object `x-amz-checksum-*` (on a full answer; a
composite `…-N` value is as opaque as a multipart ETag). `x-amz-checksum-crc64nvme` is not
checked (no maintained package computes it here). Besides, every file is checked for its
length and its container: an MP4 starts with `ftyp` and its top-level boxes tile the file
exactly; a ZIP starts with a local header and has a readable central directory.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import os
import struct
import zipfile
import zlib
from collections.abc import Callable, Iterable, Mapping
from typing import BinaryIO, Protocol

import google_crc32c
from multidict import CIMultiDictProxy

#: Content types that are never the file: error and login pages, API answers.
REFUSED_TYPES = frozenset({"text/html", "application/xml", "text/xml", "application/json"})
#: Top-level boxes an MP4 may have at most (a pathological file is refused, not walked).
_MAX_BOXES = 100_000


class Hasher(Protocol):
    """The part of `hashlib`'s interface the checks use."""

    def update(self, data: bytes, /) -> None: ...

    def digest(self) -> bytes: ...


class _Crc32:
    """zlib's CRC-32 behind the hashlib interface (big-endian digest, as S3 states it)."""

    def __init__(self) -> None:
        self._value = 0

    def update(self, data: bytes, /) -> None:
        self._value = zlib.crc32(data, self._value)

    def digest(self) -> bytes:
        return self._value.to_bytes(4, "big")


class _Crc32c:
    """CRC-32C (Castagnoli) from google-crc32c behind the hashlib interface."""

    def __init__(self) -> None:
        self._checksum = google_crc32c.Checksum()  # type: ignore[no-untyped-call]

    def update(self, data: bytes, /) -> None:
        self._checksum.update(data)  # type: ignore[no-untyped-call]

    def digest(self) -> bytes:
        return bytes(self._checksum.digest())  # type: ignore[no-untyped-call]


ALGORITHMS: dict[str, Callable[[], Hasher]] = {
    "md5": lambda: hashlib.md5(usedforsecurity=False),
    "sha1": lambda: hashlib.sha1(usedforsecurity=False),
    "sha256": hashlib.sha256,
    "crc32": _Crc32,
    "crc32c": _Crc32c,
}


def stated_checksums(headers: CIMultiDictProxy[str], *, whole: bool) -> dict[str, str]:
    """The whole-object checksums a storage answer states, as `{algorithm: base64 digest}`.

    `whole` says the answer carries the whole object (a 200); a 206's `Content-MD5` or
    `x-amz-checksum-*` would describe only its part, so they are not taken from it.
    """
    found: dict[str, str] = {}
    if whole:
        found.update(_amz_checksums(headers))
        _put(found, "md5", headers.get("Content-MD5"))
    _put(found, "md5", headers.get("x-ms-blob-content-md5"))
    if headers.get("x-goog-stored-content-encoding", "identity") == "identity":
        for algorithm, value in _goog_hashes(headers.getall("x-goog-hash", [])):
            _put(found, algorithm, value)
    return found


def _amz_checksums(headers: CIMultiDictProxy[str]) -> dict[str, str]:
    """Full-object `x-amz-checksum-<algorithm>` values (composite ones are opaque)."""
    if headers.get("x-amz-checksum-type", "FULL_OBJECT").upper() == "COMPOSITE":
        return {}
    found: dict[str, str] = {}
    for algorithm in ("crc32", "crc32c", "sha1", "sha256"):
        value = headers.get(f"x-amz-checksum-{algorithm}")
        if value and "-" not in value:  # `…-N`: a checksum of part checksums
            _put(found, algorithm, value)
    return found


def _goog_hashes(lines: Iterable[str]) -> Iterable[tuple[str, str]]:
    """`(algorithm, value)` pairs from `x-goog-hash` lines (`crc32c=…, md5=…`)."""
    for line in lines:
        for item in line.split(","):
            algorithm, _, value = item.strip().partition("=")
            if algorithm in ("md5", "crc32c") and value:
                yield algorithm, value


def _put(found: dict[str, str], algorithm: str, value: str | None) -> None:
    """Keep a stated base64 digest of the right length; ignore a malformed one."""
    size = {"md5": 16, "sha1": 20, "sha256": 32, "crc32": 4, "crc32c": 4}[algorithm]
    try:
        digest = base64.b64decode((value or "").strip(), validate=True)
    except (binascii.Error, ValueError):
        return
    if len(digest) == size:
        found[algorithm] = base64.b64encode(digest).decode()


def mismatched(stated: Mapping[str, str], hashers: Mapping[str, Hasher]) -> list[str]:
    """The algorithms whose stated digest differs from the computed one."""
    return [
        algorithm
        for algorithm, value in stated.items()
        if base64.b64encode(hashers[algorithm].digest()).decode() != value
    ]


#: `read(offset, length)`: up to `length` bytes of the file from `offset` (fewer at its end).
Read = Callable[[int, int], bytes]


def container_problem(kind: str | None, fd: int, size: int) -> str | None:
    """Why the open file is not a well-formed `kind` ("mp4", "zip"), or None when it is (or
    no kind)."""
    if kind == "mp4":
        return _mp4_problem(lambda offset, length: os.pread(fd, length, offset), size)
    if kind == "zip":
        with os.fdopen(os.dup(fd), "rb") as file:
            return _zip_problem(file, size)
    return None


def bytes_problem(kind: str | None, data: bytes) -> str | None:
    """Why `data`, a whole file held in memory, is not a well-formed `kind`, or None."""
    if kind == "mp4":
        return _mp4_problem(lambda offset, length: data[offset : offset + length], len(data))
    if kind == "zip":
        return _zip_problem(io.BytesIO(data), len(data))
    return None


def _mp4_problem(read: Read, size: int) -> str | None:
    """The first box must be `ftyp`, and the top-level boxes must tile the file exactly."""
    offset = boxes = 0
    while offset < size:
        header = read(offset, 16)
        if len(header) < 8:
            return f"a box header at byte {offset} is cut short"
        length, kind = struct.unpack(">I4s", header[:8])
        if length == 1 and len(header) == 16:
            length = struct.unpack(">Q", header[8:16])[0]
        elif length == 0:  # the last box runs to the end of the file
            length = size - offset
        if boxes == 0 and kind != b"ftyp":
            return "it does not start with an MP4 `ftyp` box"
        if length < 8 or not kind.isascii() or offset + length > size:
            return f"the box at byte {offset} runs past the end (a body cut short?)"
        offset, boxes = offset + length, boxes + 1
        if boxes > _MAX_BOXES:
            return f"more than {_MAX_BOXES} top-level boxes"
    return None if boxes else "it is empty"


def _zip_problem(file: BinaryIO, size: int) -> str | None:
    """A ZIP starts with a local file header and its central directory can be read."""
    file.seek(0)
    if file.read(4) not in (b"PK\x03\x04", b"PK\x05\x06"):
        return "it does not start with a ZIP header"
    try:
        with zipfile.ZipFile(file) as archive:
            ends = [info.header_offset + info.compress_size for info in archive.infolist()]
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        return f"its central directory cannot be read ({exc})"
    return "a member runs past the end" if any(end > size for end in ends) else None
