"""Whole-object checksums that storage services state (MD5, CRC32C), in one pass over a body."""

from __future__ import annotations

import hashlib

import attrs
import google_crc32c

from ._media import Body, iter_chunks

_PASS_CHUNK = 1024 * 1024


@attrs.frozen
class Digests:
    """The MD5 and CRC32C of a whole object, as raw values."""

    md5: bytes
    crc32c: int


def digests_of(body: Body) -> Digests:
    """Hash every byte of `body` once; slow for large bodies, so run it in a worker thread."""
    md5, crc = hashlib.md5(usedforsecurity=False), 0
    for chunk in iter_chunks(body, chunk_size=_PASS_CHUNK):
        md5.update(chunk)
        crc = google_crc32c.extend(crc, chunk)
    return Digests(md5.digest(), crc)
