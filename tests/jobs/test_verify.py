"""What a download is checked against on each kind of storage, and what a bad body costs."""

from __future__ import annotations

import asyncio
import re
import struct
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import orjson
import pytest
from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy

from cutpro_async import CutPro, IntegrityError, Limits, TransferError
from cutpro_async.jobs._download import _strong_validator
from cutpro_async.testing import FakeCutPro

from .conftest import finished_render, make_client, served_render, sha256_of, simulated

pytestmark = pytest.mark.anyio

STORAGE_GET = "storage GET /files"
#: What each profile lets the client verify beyond length and MP4 structure.
STATED = {"s3": (), "s3-kms": (), "gcs": ("crc32c", "md5"), "azure": ("md5",), "plain": ()}


@pytest.fixture(params=sorted(STATED))
async def fake(request: pytest.FixtureRequest) -> AsyncIterator[FakeCutPro]:
    """A fast simulator whose storage behaves as one profile."""
    async with FakeCutPro(time_scale=6000, storage_profile=request.param) as server:
        yield server


def files_in(folder: Path) -> list[str]:
    """The names in a folder, sorted."""
    return sorted(p.name for p in folder.iterdir())


async def test_verified_names_only_what_the_storage_states(
    fake: FakeCutPro, client: CutPro, tmp_path: Path
) -> None:
    """Every download checks length and MP4 structure; a checksum only where storage states
    one for the whole object (never the ETag, whatever its shape)."""
    render = await finished_render(client)
    done = await client.renders.download(render.render_id, tmp_path)
    reference = await served_render(client, render.render_id)
    assert done.sha256 == reference.sha256 == sha256_of(done.path)
    assert done.size == len(reference.body)
    assert done.verified == ("length", "mp4", *STATED[fake.config.storage_profile])


async def test_a_non_md5_etag_never_fails_a_download(tmp_path: Path) -> None:
    """S3 with SSE-KMS: a 32-hex ETag that is not the MD5 of the bytes; the file is fine."""
    async with simulated(storage_profile="s3-kms") as (_, cp):
        render = await finished_render(cp)
        reference = await served_render(cp, render.render_id)
        done = await cp.renders.download(render.render_id, tmp_path)
    assert re.fullmatch(r'"[0-9a-f]{32}"', reference.etag)
    assert done.path.read_bytes() == reference.body


async def test_a_multipart_etag_is_opaque_too(tmp_path: Path) -> None:
    """A multipart `"<hex>-N"` ETag above the part size neither fails nor verifies anything."""
    sizes = {"render_bytes": 3 * 1024 * 1024, "multipart_threshold": 1024 * 1024}
    async with simulated(**sizes) as (_, cp):
        render = await finished_render(cp)
        reference = await served_render(cp, render.render_id)
        done = await cp.renders.download(render.render_id, tmp_path)
    assert re.fullmatch(r'"[0-9a-f]{32}-\d+"', reference.etag)
    assert done.verified == ("length", "mp4")
    assert done.path.read_bytes() == reference.body


@pytest.mark.parametrize("fault", ["html", "shortlen", "eof", "truncate"])
async def test_a_bad_body_once_is_fetched_again(
    fake: FakeCutPro, client: CutPro, tmp_path: Path, fault: str
) -> None:
    """An error page, a short `Content-Length`, a cut close-delimited body: the next attempt
    (fresh or resumed) gives the right file, and nothing bad ever had the final name."""
    render = await finished_render(client)
    fake.set_faults(f"{fault}=1#1")
    done = await client.renders.download(render.render_id, tmp_path, name="c.mp4")
    fake.set_faults("")
    reference = await served_render(client, render.render_id)
    assert done.path.read_bytes() == reference.body
    assert files_in(tmp_path) == ["c.mp4"]


@pytest.mark.parametrize("fault", ["html", "shortlen", "eof"])
async def test_a_body_that_is_never_the_file_is_refused(
    fake: FakeCutPro, client: CutPro, tmp_path: Path, fault: str
) -> None:
    """Storage that keeps sending something else: `TransferError` saying what arrived, after
    one fresh attempt; nothing under the final name, no `.part` left."""
    render = await finished_render(client)
    fake.set_faults(f"{fault}=1")
    with pytest.raises(TransferError) as caught:
        await client.renders.download(render.render_id, tmp_path, name="c.mp4")
    assert fake.requests[STORAGE_GET] == 2
    assert "starting" in str(caught.value)  # the first bytes that arrived, printable
    if fault == "html":
        assert "text/html" in str(caught.value)
    assert files_in(tmp_path) == []


async def test_a_flipped_byte_is_caught_where_a_checksum_is_stated(
    fake: FakeCutPro, client: CutPro, tmp_path: Path
) -> None:
    """With md5/crc32c stated, a corrupt body is refused (`IntegrityError`) and fetched again;
    without one, the MP4 structure is all that can be checked, and `verified` says so."""
    render = await finished_render(client)
    stated = STATED[fake.config.storage_profile]
    fake.set_faults("corrupt=1")
    if stated:
        with pytest.raises(IntegrityError) as caught:
            await client.renders.download(render.render_id, tmp_path, name="c.mp4")
        assert "checksum" in str(caught.value)
        assert files_in(tmp_path) == []
        fake.set_faults("corrupt=1#1")
    done = await client.renders.download(render.render_id, tmp_path, name="c.mp4")
    fake.set_faults("")
    reference = await served_render(client, render.render_id)
    assert (done.path.read_bytes() == reference.body) == bool(stated)
    assert set(stated) <= set(done.verified)


async def test_a_resumed_download_still_checks_the_whole_file(tmp_path: Path) -> None:
    """After a resume, the stated checksums cover the whole file: the kept bytes are read back
    and hashed with the new ones."""
    async with simulated(render_bytes=4 * 1024 * 1024, storage_profile="gcs") as (fake, cp):
        render = await finished_render(cp)
        fake.set_faults("truncate=1#1")
        done = await cp.renders.download(render.render_id, tmp_path)
        fake.set_faults("")
        reference = await served_render(cp, render.render_id)
    assert fake.requests[STORAGE_GET] == 3  # cut short, resumed, then the reference
    assert {"md5", "crc32c"} <= set(done.verified)
    assert done.sha256 == reference.sha256


async def test_a_body_larger_than_the_cap_is_cut_off(tmp_path: Path) -> None:
    """A body with no length (chunked) growing past `Limits.max_download_bytes` is cut off;
    a stated size over the cap is refused before anything is written."""
    async with simulated(client_options={"limits": Limits(max_download_bytes=100_000)}) as (
        fake,
        cp,
    ):
        render = await finished_render(cp)
        with pytest.raises(TransferError, match="100000"):
            await cp.renders.download(render.render_id, tmp_path, name="big.mp4")
        assert fake.requests[STORAGE_GET] == 1
        fake.set_faults("chunked=1")
        with pytest.raises(TransferError, match="cut off"):
            await cp.renders.download(render.render_id, tmp_path, name="big.mp4")
    assert files_in(tmp_path) == []


async def test_garbage_in_the_sidecar_restarts_from_zero(
    fake: FakeCutPro, client: CutPro, tmp_path: Path
) -> None:
    """A `.part` whose sidecar is not what the client writes is replaced, not resumed."""
    render = await finished_render(client)
    (tmp_path / "g.mp4.part").write_bytes(b"x" * 1000)
    (tmp_path / "g.mp4.part.json").write_bytes(b"\x00not json{")
    done = await client.renders.download(render.render_id, tmp_path, name="g.mp4")
    reference = await served_render(client, render.render_id)
    assert done.path.read_bytes() == reference.body
    assert files_in(tmp_path) == ["g.mp4"]


@pytest.mark.parametrize(
    "url",
    ["http://storage.example.com/f.mp4?sig=s3cr3t", "ftp://storage.example.com/f.mp4?sig=s3cr3t"],
)
async def test_storage_links_must_be_https(fake: FakeCutPro, tmp_path: Path, url: str) -> None:
    """A plain-http (or other) link to a non-loopback host is refused before any request, and
    the error does not show the link's secret."""
    async with make_client(fake) as cp:
        with pytest.raises(TransferError) as caught:
            await cp.download(url, tmp_path / "f.mp4")
    assert "s3cr3t" not in str(caught.value)
    assert files_in(tmp_path) == []


def test_only_strong_validators_are_used_to_resume() -> None:
    """A strong ETag; else a `Last-Modified` a second or more before `Date`; a weak ETag
    forbids resuming on the date (RFC 9110 §13.1.5)."""

    def validator(**headers: str) -> str | None:
        fields = {k.replace("_", "-"): v for k, v in headers.items()}
        return _strong_validator(CIMultiDictProxy(CIMultiDict(fields)))

    modified, later = "Sun, 29 Nov 2026 10:00:00 GMT", "Sun, 29 Nov 2026 10:00:01 GMT"
    assert validator(ETag='"abc"') == '"abc"'
    assert validator(ETag='W/"abc"', Last_Modified=modified, Date=later) is None
    assert validator(Last_Modified=modified, Date=later) == modified
    assert validator(Last_Modified=modified, Date=modified) is None
    assert validator(Last_Modified=modified) is None


def tiny_mp4(size: int) -> bytes:
    """A structurally whole MP4 of `size` bytes: an `ftyp` box and one `mdat` filling the rest."""
    head = struct.pack(">I4s", 16, b"ftyp") + b"isom\0\0\0\0"
    return head + struct.pack(">I4s", size - 16, b"mdat") + b"\1" * (size - 24)


@asynccontextmanager
async def odd_storage(body: bytes, piece: int, *, length: bool) -> AsyncIterator[str]:
    """A loopback storage host sending `body` in `piece`-byte writes; yields the link."""

    async def serve(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "video/mp4"})
        if length:
            response.content_length = len(body)
        await response.prepare(request)
        for start in range(0, len(body), piece):
            await response.write(body[start : start + piece])
            await asyncio.sleep(0)
        return response

    app = web.Application()
    app.router.add_get("/f.mp4", serve)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}/f.mp4?sig=x"
    finally:
        await runner.cleanup()


async def test_a_body_in_thousands_of_small_pieces_is_written_whole(
    fake: FakeCutPro, tmp_path: Path
) -> None:
    """A slow link handing out 512-byte pieces (thousands per MiB) still downloads: blocks never
    hold more pieces than one `writev` takes."""
    body = tiny_mp4(3 * 1024 * 1024 // 2)
    async with odd_storage(body, 512, length=True) as link, make_client(fake) as cp:
        done = await cp.download(link, tmp_path / "f.mp4")
    assert done.path.read_bytes() == body


async def test_a_small_stated_size_never_buffers_an_endless_body(
    fake: FakeCutPro, tmp_path: Path
) -> None:
    """The API says 1,000 bytes, storage streams 20 MiB with no length: the body is cut off at
    the stated size, not read into memory whole."""
    body = tiny_mp4(20 * 1024 * 1024)
    async with odd_storage(body, 64 * 1024, length=False) as link, make_client(fake) as cp:
        with pytest.raises(TransferError, match="cut off"):
            await cp.download(link, tmp_path / "f.mp4", expected_size=1000)
    assert files_in(tmp_path) == []


async def test_a_sidecar_validator_that_cannot_be_a_header_restarts(
    fake: FakeCutPro, client: CutPro, tmp_path: Path
) -> None:
    """A sidecar whose validator holds a line break is garbage: the download starts again."""
    render = await finished_render(client)
    (tmp_path / "g.mp4.part").write_bytes(b"x" * 1000)
    sidecar = {"v": 1, "validator": '"a"\r\nX-Evil: 1', "stated": {}}
    (tmp_path / "g.mp4.part.json").write_bytes(orjson.dumps(sidecar))
    done = await client.renders.download(render.render_id, tmp_path, name="g.mp4")
    assert done.path.read_bytes() == (await served_render(client, render.render_id)).body
