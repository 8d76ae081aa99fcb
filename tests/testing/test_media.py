"""Tests for the simulator's deterministic media bodies."""

from __future__ import annotations

import hashlib
import io
import struct
import zipfile

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cutpro_async.testing._media import (
    SAMPLE_MP4_PATH,
    Body,
    BytesBody,
    Mp4Body,
    ZipBody,
    iter_chunks,
    mp4_min_size,
    sample_mp4,
)

MIN = mp4_min_size()
SIZES = [MIN, MIN + 1, MIN + 1000, 64 * 1024, 3 * 64 * 1024 + 12345, 5_000_000]
# Large enough to span several 64 KiB payload blocks, small enough to hold in full.
MID = Mp4Body("mid", 4 * 64 * 1024 + 777)
MID_FULL = MID.read(0, MID.size)


def _boxes(body: Body) -> list[tuple[bytes, int, int]]:
    """Walk top-level MP4 boxes through ``read`` only, returning (type, offset, size)."""
    out: list[tuple[bytes, int, int]] = []
    pos = 0
    while pos < body.size:
        size, kind = struct.unpack(">I4s", body.read(pos, 8))
        if size == 1:
            (size,) = struct.unpack(">Q", body.read(pos + 8, 8))
        assert size >= 8
        out.append((kind, pos, size))
        pos += size
    return out


def _sha(body: Body) -> str:
    h = hashlib.sha256()
    for chunk in iter_chunks(body):
        h.update(chunk)
    return h.hexdigest()


class _Huge:
    """A 4 GiB body that must never be read."""

    size = 2**32
    etag = '"huge"'

    def read(self, offset: int, length: int) -> bytes:
        raise AssertionError("oversized body should be rejected before reading")


@pytest.mark.parametrize("size", SIZES)
def test_mp4_size_exact(size: int) -> None:
    """An Mp4Body reports and yields exactly the requested number of bytes."""
    body = Mp4Body("s", size)
    assert body.size == size
    assert sum(len(c) for c in iter_chunks(body)) == size
    assert body.read(size - 1, 10) and len(body.read(size - 1, 10)) == 1
    assert body.read(size, 10) == b""


@pytest.mark.parametrize("size", SIZES)
def test_mp4_box_layout(size: int) -> None:
    """Top-level boxes are ftyp, moov, mdat, then a trailing free box, summing to size."""
    body = Mp4Body("s", size)
    boxes = _boxes(body)
    kinds = [k for k, _, _ in boxes]
    assert kinds[0] == b"ftyp"
    assert kinds.index(b"moov") < kinds.index(b"mdat")
    assert kinds[-1] == b"free"
    assert sum(s for _, _, s in boxes) == size
    assert body.read(0, len(sample_mp4())) == sample_mp4()


def test_mp4_largesize_header_without_materialising() -> None:
    """A free box of 4 GiB or more uses a 64-bit largesize header, read via header and tail."""
    n = len(sample_mp4())
    size = n + 2**32 + 12345
    body = Mp4Body("big", size)
    assert body.read(n, 16) == struct.pack(">I4sQ", 1, b"free", size - n)
    boxes = _boxes(body)
    assert boxes[-1] == (b"free", n, size - n)
    assert sum(s for _, _, s in boxes) == size
    tail = body.read(size - 100, 1000)
    assert len(tail) == 100
    # Same payload position modulo the block period as in a small body with this seed.
    small = Mp4Body("big", n + 8 + 2**20)  # compact 8-byte header here
    off = (size - 100 - n - 16) % 2**16
    assert tail == small.read(n + 8 + off, 100)


def test_mp4_32bit_header_boundary() -> None:
    """The largest free box that fits 32 bits keeps the compact header; one more switches."""
    n = len(sample_mp4())
    fits = Mp4Body("b", n + 0xFFFFFFFF)
    assert fits.read(n, 8) == struct.pack(">I4s", 0xFFFFFFFF, b"free")
    over = Mp4Body("b", n + 2**32)
    assert over.read(n, 16) == struct.pack(">I4sQ", 1, b"free", 2**32)


@pytest.mark.parametrize("size", [MIN, MIN + 5, 200_000])
def test_mp4_deterministic_and_seed_dependent(size: int) -> None:
    """Same seed and size give identical bytes and ETag; another seed changes both."""
    a, b, c = Mp4Body("x", size), Mp4Body("x", size), Mp4Body("y", size)
    assert _sha(a) == _sha(b)
    assert a.etag == b.etag
    assert a.etag != c.etag
    assert a.etag.startswith('"') and a.etag.endswith('"')
    if size > MIN + 8:  # the minimum has an empty payload, so only the ETag differs
        assert _sha(a) != _sha(c)
    assert Mp4Body("x", size + 1).etag != a.etag


@settings(max_examples=200, deadline=None)
@given(offset=st.integers(0, MID.size + 100), length=st.integers(0, 300_000))
def test_mp4_random_read_matches_slice(offset: int, length: int) -> None:
    """``read`` at any offset and length equals slicing the full content."""
    assert MID.read(offset, length) == MID_FULL[offset : offset + length]


@settings(max_examples=100, deadline=None)
@given(
    start=st.integers(0, MID.size + 10),
    stop=st.one_of(st.none(), st.integers(0, MID.size + 10)),
    chunk=st.integers(997, 200_000),  # tiny chunks only add runtime
)
def test_iter_chunks_covers_range(start: int, stop: int | None, chunk: int) -> None:
    """Concatenated ``iter_chunks`` output equals the requested [start, end) range."""
    got = b"".join(iter_chunks(MID, start, stop, chunk))
    assert got == MID_FULL[start:stop]


def test_read_rejects_negative() -> None:
    """Negative offsets or lengths are programming errors, not empty reads."""
    with pytest.raises(ValueError):
        MID.read(-1, 5)
    with pytest.raises(ValueError):
        MID.read(0, -5)


@pytest.mark.parametrize("size", [0, MIN - 1, len(sample_mp4())])
def test_mp4_too_small(size: int) -> None:
    """Sizes below the sample plus an 8-byte free header are rejected, naming the minimum."""
    with pytest.raises(ValueError, match=str(MIN)):
        Mp4Body("s", size)


def _zip_entries() -> list[tuple[str, Body]]:
    return [
        ("clip_1.mp4", Mp4Body("one", 100_000)),
        ("clip 2.mp4", Mp4Body("two", MIN)),
        ("empty.txt", BytesBody(b"")),
        ("ünïcode.txt", BytesBody("héllo".encode())),
        ("clip_3.mp4", Mp4Body("three", 300_001)),
    ]


ZIP = ZipBody(_zip_entries())
ZIP_FULL = ZIP.read(0, ZIP.size)


def test_zip_opens_with_zipfile() -> None:
    """Python's zipfile reads the archive: names, member bytes, CRCs and timestamps match."""
    assert len(ZIP_FULL) == ZIP.size
    with zipfile.ZipFile(io.BytesIO(ZIP_FULL)) as zf:
        assert zf.testzip() is None
        assert zf.namelist() == [name for name, _ in _zip_entries()]
        for (name, body), info in zip(_zip_entries(), zf.infolist(), strict=True):
            assert info.compress_type == zipfile.ZIP_STORED
            assert info.date_time == (1980, 1, 1, 0, 0, 0)
            assert zf.read(name) == body.read(0, body.size)


def test_zip_deterministic() -> None:
    """Two archives from equal entries are byte-identical with equal ETags."""
    other = ZipBody(_zip_entries())
    assert other.read(0, other.size) == ZIP_FULL
    assert other.etag == ZIP.etag
    assert ZipBody(_zip_entries()[:2]).etag != ZIP.etag


def test_zip_empty() -> None:
    """An archive with no entries is a valid empty ZIP."""
    empty = ZipBody([])
    with zipfile.ZipFile(io.BytesIO(empty.read(0, empty.size))) as zf:
        assert zf.namelist() == []


@settings(max_examples=200, deadline=None)
@given(offset=st.integers(0, len(ZIP_FULL) + 100), length=st.integers(0, 500_000))
def test_zip_random_read_matches_slice(offset: int, length: int) -> None:
    """ZipBody ``read`` at any offset and length equals slicing the full archive."""
    assert ZIP.read(offset, length) == ZIP_FULL[offset : offset + length]


@pytest.mark.parametrize("name", ["a/b.mp4", "a\\b.mp4", "..", "x..y", "", "/abs", "n\x00ul"])
def test_zip_rejects_unsafe_names(name: str) -> None:
    """Entry names that could nest or escape on extraction are rejected."""
    with pytest.raises(ValueError, match="unsafe"):
        ZipBody([(name, BytesBody(b"x"))])


def test_zip_rejects_duplicates() -> None:
    """Duplicate entry names are rejected."""
    with pytest.raises(ValueError, match="duplicate"):
        ZipBody([("a", BytesBody(b"1")), ("a", BytesBody(b"2"))])


def test_zip_rejects_too_large_without_reading() -> None:
    """Archives over 4 GiB - 1 bytes are rejected before any entry is streamed."""
    with pytest.raises(ValueError, match="4 GiB"):
        ZipBody([("big.mp4", _Huge())])


def test_zip_rejects_too_many_entries() -> None:
    """More than 65535 entries would need ZIP64 and are rejected."""
    empty = BytesBody(b"")
    with pytest.raises(ValueError, match="65535"):
        ZipBody([(f"f{i}", empty) for i in range(65536)])


def test_fixture_parses_with_pymediainfo() -> None:
    """pymediainfo reads the fixture as a video of at least 60 s with width and height."""
    pymediainfo = pytest.importorskip("pymediainfo")
    if not pymediainfo.MediaInfo.can_parse():
        pytest.skip("libmediainfo shared library cannot be loaded")
    info = pymediainfo.MediaInfo.parse(SAMPLE_MP4_PATH)
    video = info.video_tracks[0]
    assert float(info.general_tracks[0].duration) >= 60_000
    assert video.width and video.height
    assert SAMPLE_MP4_PATH.stat().st_size < 20_000
