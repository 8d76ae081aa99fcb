"""The simulator's storage host: signed, ranged, streamed downloads, through plain HTTP."""

from __future__ import annotations

import hashlib
import struct
from urllib.parse import urlsplit

import pytest

from cutpro_async.testing import FakeCutPro
from tests.conftest import RawApi

from .helpers import (
    completed_render,
    completed_submission,
    download_link,
    fetch,
    render_url,
    simulator,
)

pytestmark = pytest.mark.anyio


def origin(url: str) -> str:
    """scheme://host:port of a URL."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def boxes(data: bytes) -> list[tuple[str, int]]:
    """Top-level MP4 boxes as (type, size), walking the whole file."""
    out, pos = [], 0
    while pos < len(data):
        size, kind = struct.unpack(">I4s", data[pos : pos + 8])
        if size == 1:
            (size,) = struct.unpack(">Q", data[pos + 8 : pos + 16])
        assert size >= 8, (kind, size, pos)
        out.append((kind.decode("ascii"), size))
        pos += size
    assert pos == len(data)
    return out


async def test_download_is_on_the_storage_port_and_needs_no_key(
    fake: FakeCutPro, api: RawApi
) -> None:
    """A render link points at the storage host (another port) and works without a key."""
    url = await render_url(api)
    assert origin(url) == fake.storage_url
    assert origin(url) != origin(fake.base_url)
    status, headers, body = await fetch(api.session, url)
    assert status == 200
    assert len(body) == fake.config.render_bytes
    assert int(headers["Content-Length"]) == len(body)
    assert headers["ETag"].startswith('"')
    assert headers["Content-Type"] == "video/mp4"
    assert headers["Accept-Ranges"] == "bytes"
    assert fake.key_leaks == []


async def test_sending_the_api_key_to_storage_is_recorded(fake: FakeCutPro, api: RawApi) -> None:
    """An `X-Api-Key` sent to storage is recorded in `key_leaks` (the download still works)."""
    url = await render_url(api)
    status, _, _ = await fetch(api.session, url, {"X-Api-Key": fake.api_key})
    assert status == 200
    assert len(fake.key_leaks) == 1
    assert fake.key_leaks[0].startswith("GET /files/render/")


async def test_range_requests_return_exact_slices(fake: FakeCutPro, api: RawApi) -> None:
    """`bytes=a-b`, `bytes=a-` and `bytes=-n` answer 206 with exact Content-Range and bytes."""
    url = await render_url(api)
    _, _, full = await fetch(api.session, url)
    size = len(full)
    cases = [
        ("bytes=0-0", 0, 1),
        ("bytes=100-1099", 100, 1100),
        ("bytes=1000-", 1000, size),
        ("bytes=-500", size - 500, size),
        ("bytes=10-99999999", 10, size),
        (f"bytes=-{size + 10}", 0, size),
        (f"bytes={size - 1}-", size - 1, size),
    ]
    for header, start, end in cases:
        status, headers, body = await fetch(api.session, url, {"Range": header})
        assert status == 206, header
        assert headers["Content-Range"] == f"bytes {start}-{end - 1}/{size}", header
        assert int(headers["Content-Length"]) == end - start, header
        assert body == full[start:end], header


async def test_unsatisfiable_range_is_416(api: RawApi) -> None:
    """A range past the end answers 416 with `Content-Range: bytes */size`."""
    url = await render_url(api)
    _, _, full = await fetch(api.session, url)
    for header in (f"bytes={len(full)}-", f"bytes={len(full) + 5}-{len(full) + 10}", "bytes=-0"):
        status, headers, _ = await fetch(api.session, url, {"Range": header})
        assert status == 416, header
        assert headers["Content-Range"] == f"bytes */{len(full)}", header


async def test_if_range_honours_the_etag(api: RawApi) -> None:
    """`If-Range` with the current ETag gives 206; with another ETag the full body (200)."""
    url = await render_url(api)
    _, headers, full = await fetch(api.session, url)
    etag = headers["ETag"]
    status, _, body = await fetch(api.session, url, {"Range": "bytes=10-19", "If-Range": etag})
    assert status == 206
    assert body == full[10:20]
    status, got, body = await fetch(
        api.session, url, {"Range": "bytes=10-19", "If-Range": '"stale"'}
    )
    assert status == 200
    assert "Content-Range" not in got
    assert body == full


async def test_head_gives_headers_without_body(fake: FakeCutPro, api: RawApi) -> None:
    """`HEAD` answers the headers of the file (length, ETag) and no body."""
    url = await render_url(api)
    _, get_headers, _ = await fetch(api.session, url)
    async with api.session.head(url) as resp:
        body = await resp.read()
        assert resp.status == 200
        assert body == b""
        assert int(resp.headers["Content-Length"]) == fake.config.render_bytes
        assert resp.headers["ETag"] == get_headers["ETag"]


async def test_tampered_signature_is_403_xml(api: RawApi) -> None:
    """A link whose signature was altered is refused with 403 and an S3-style XML body."""
    url = await render_url(api)
    head, _, signature = url.rpartition("signature=")
    flipped = ("0" if signature[0] != "0" else "1") + signature[1:]
    for bad in (f"{head}signature={flipped}", url.split("?")[0]):
        status, headers, body = await fetch(api.session, bad)
        assert status == 403
        assert headers["Content-Type"].startswith("application/xml")
        assert body.startswith(b"<?xml")
        assert b"<Code>AccessDenied</Code>" in body


async def test_served_mp4_parses_and_fills_the_configured_size() -> None:
    """The MP4 walks as top-level boxes ftyp, moov, ..., free summing to `render_bytes`."""
    size = 3 * 1024 * 1024
    async with simulator(time_scale=6000, render_bytes=size) as (_, api):
        url = await render_url(api)
        status, headers, body = await fetch(api.session, url)
        assert status == 200
        assert len(body) == size == int(headers["Content-Length"])
        found = boxes(body)
        kinds = [kind for kind, _ in found]
        assert kinds[0] == "ftyp"
        assert "moov" in kinds
        assert "mdat" in kinds
        assert kinds[-1] == "free"
        assert sum(box_size for _, box_size in found) == size


async def test_downloads_are_deterministic_per_render(api: RawApi) -> None:
    """The same render downloads byte-identically twice; two renders differ."""
    done = await completed_submission(api)
    hashes = []
    for index in range(2):
        render = await completed_render(api, done, index)
        url = (await download_link(api, render["render_id"]))["url"]
        first = hashlib.sha256((await fetch(api.session, url))[2]).hexdigest()
        again_url = (await download_link(api, render["render_id"]))["url"]
        second = hashlib.sha256((await fetch(api.session, again_url))[2]).hexdigest()
        assert first == second
        hashes.append(first)
    assert hashes[0] != hashes[1]


async def test_redirect_downloads_302_from_the_api_port_to_storage() -> None:
    """With `redirect_downloads=True` the link is on the API port and 302s to storage."""
    async with simulator(time_scale=6000, redirect_downloads=True) as (fake, api):
        url = await render_url(api)
        assert origin(url) == origin(fake.base_url)
        async with api.session.get(url, allow_redirects=False) as resp:
            assert resp.status == 302
            location = resp.headers["Location"]
        assert origin(location) == fake.storage_url
        status, _, followed = await fetch(api.session, url)
        assert status == 200
        _, _, direct = await fetch(api.session, location)
        assert followed == direct
        assert len(followed) == fake.config.render_bytes
        assert fake.key_leaks == []
