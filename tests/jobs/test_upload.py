"""Uploads of local videos: checks before any request, the streamed PUT, and its retries."""

from __future__ import annotations

import errno
import io
import os
import shutil
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import aiohttp
import anyio
import pytest
from aiohttp import web

from cutpro_async import CutPro
from cutpro_async._retry import Retrier
from cutpro_async.errors import CutProError, LinkExpired, LocalFileError, UsageError
from cutpro_async.jobs import Transfers
from cutpro_async.jobs import _upload as upload_module
from cutpro_async.jobs._upload import Upload
from cutpro_async.models import SubmissionStatus
from cutpro_async.testing import FakeCutPro
from tests.conftest import FAST_RETRY

from .conftest import (
    SAMPLE,
)

pytestmark = pytest.mark.anyio

PUT = "storage PUT /uploads"


async def test_sample_upload_is_accepted(fake: FakeCutPro, client: CutPro) -> None:
    """The bundled 62 s sample uploads, is priced at 2 credits and can then be submitted."""
    info = await client.videos.upload(SAMPLE)
    assert info.duration == pytest.approx(62, abs=1)
    assert info.credits_cost == 2
    assert info.platform == "upload"
    assert fake.requests[PUT] == 1
    created = await client.submissions.create(info.video_id)
    assert created.status is SubmissionStatus.QUEUED
    assert created.credits_charged == 2
    assert fake.charges_per_video()[info.video_id] == 1
    assert fake.key_leaks == []


async def test_caller_figures_replace_probing(fake: FakeCutPro, client: CutPro) -> None:
    """Duration, width and height given by the caller are sent as they are (and priced)."""
    info = await client.videos.upload(SAMPLE, duration=125, width=64, height=36)
    assert info.duration == 125
    assert info.credits_cost == 3


async def test_progress_reports_the_final_total(client: CutPro) -> None:
    """The upload hook sees growing byte counts ending at the file's size, with that total."""
    size = SAMPLE.stat().st_size
    seen: list[tuple[int, int | None]] = []
    await client.videos.upload(SAMPLE, on_progress=lambda sent, total: seen.append((sent, total)))
    assert seen[-1] == (size, size)
    assert [sent for sent, _ in seen] == sorted(sent for sent, _ in seen)
    assert {total for _, total in seen} == {size}


def _wrong_extension(tmp: Path) -> Path:
    """The sample under an extension CutPro refuses."""
    return Path(shutil.copy(SAMPLE, tmp / "clip.avi"))


def _too_large(tmp: Path) -> Path:
    """A sparse `.mp4` one byte over 2 GiB."""
    path = tmp / "huge.mp4"
    with path.open("wb") as file:
        file.truncate(2 * 1024**3 + 1)
    return path


def _empty(tmp: Path) -> Path:
    """An empty `.mp4`."""
    path = tmp / "empty.mp4"
    path.touch()
    return path


def _folder(tmp: Path) -> Path:
    """A folder named like a video."""
    path = tmp / "folder.mp4"
    path.mkdir()
    return path


def _not_a_video(tmp: Path) -> Path:
    """Bytes that are no media at all, named `.mp4`."""
    path = tmp / "noise.mp4"
    path.write_bytes(b"not a video, just text\n" * 100)
    return path


@pytest.mark.parametrize(
    "make",
    [_wrong_extension, _too_large, _empty, _folder, _not_a_video],
    ids=["extension", "over-2GB", "empty", "folder", "not-media"],
)
async def test_guards_refuse_before_any_request(
    fake: FakeCutPro, client: CutPro, tmp_path: Path, make: Callable[[Path], Path]
) -> None:
    """Files CutPro would refuse raise `UsageError` without spending a single request."""
    path = make(tmp_path)
    before = dict(fake.requests)
    with pytest.raises(UsageError):
        await client.videos.upload(path)
    assert dict(fake.requests) == before


async def test_too_short_video_is_refused_before_any_request(
    fake: FakeCutPro, client: CutPro
) -> None:
    """A 30 s video (as the caller describes it) raises `UsageError` with no request made."""
    before = dict(fake.requests)
    with pytest.raises(UsageError, match="60"):
        await client.videos.upload(SAMPLE, duration=30, width=32, height=18)
    assert dict(fake.requests) == before


async def test_missing_file_is_a_local_error(
    fake: FakeCutPro, client: CutPro, tmp_path: Path
) -> None:
    """A path that does not exist raises `LocalFileError` (ENOENT), with no request made and no
    talk of a partial download."""
    before = dict(fake.requests)
    with pytest.raises(LocalFileError) as caught:
        await client.videos.upload(tmp_path / "missing.mp4")
    assert caught.value.errno == errno.ENOENT
    assert "partial download" not in str(caught.value)  # nothing was being downloaded
    assert dict(fake.requests) == before


async def test_transient_503_on_put_is_retried(fake: FakeCutPro, client: CutPro) -> None:
    """A 503 from storage on the PUT is repeated, and the upload succeeds."""
    fake.set_faults("503=1#1@PUT /uploads")
    info = await client.videos.upload(SAMPLE)
    assert info.credits_cost == 2
    assert fake.injected.get("503") == 1
    assert fake.requests[PUT] == 2
    assert fake.key_leaks == []


async def test_expired_upload_url_starts_a_new_upload(fake: FakeCutPro, client: CutPro) -> None:
    """An upload URL refused as expired is never PUT again: a new upload is started, and the
    file is registered once."""
    fake.set_faults("expire=1#1@PUT /uploads")
    info = await client.videos.upload(SAMPLE)
    assert info.video_id
    assert fake.requests["POST /videos/upload"] == 2
    assert fake.requests[PUT] == 2
    assert fake.requests["POST /videos/upload/complete"] == 1


async def test_upload_urls_that_always_expire_give_up_after_two_renewals(
    fake: FakeCutPro, client: CutPro
) -> None:
    """Storage refusing every upload URL (a bad signature looks the same) ends in
    `LinkExpired` after three uploads were started; nothing is registered."""
    fake.set_faults("expire=1@PUT /uploads")
    with pytest.raises(LinkExpired):
        await client.videos.upload(SAMPLE)
    assert fake.requests["POST /videos/upload"] == 3
    assert fake.requests[PUT] == 3
    assert fake.requests["POST /videos/upload/complete"] == 0


async def test_a_read_error_of_the_local_file_is_a_local_error(
    fake: FakeCutPro, client: CutPro, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file that cannot be read mid-upload raises `LocalFileError` at once (not retried as a
    network failure, not a `TransferError`)."""

    class Unreadable(io.BytesIO):
        def read(self, size: int | None = -1) -> bytes:
            raise OSError(errno.EIO, os.strerror(errno.EIO))

    monkeypatch.setattr(upload_module, "_open_binary", lambda path: Unreadable())
    with pytest.raises(LocalFileError) as caught:
        await client.videos.upload(SAMPLE)
    assert caught.value.errno == errno.EIO
    assert fake.requests[PUT] <= 1


@pytest.fixture
async def flaky_storage() -> AsyncIterator[tuple[str, list[bytes], list[bool]]]:
    """A loopback storage host answering 503 to the first PUT, then storing the body."""
    bodies: list[bytes] = []
    keyed: list[bool] = []

    async def put(request: web.Request) -> web.Response:
        body = await request.read()
        keyed.append("X-Api-Key" in request.headers or "Authorization" in request.headers)
        if len(keyed) == 1:
            return web.Response(status=503, text="slow down")
        bodies.append(body)
        return web.Response(status=200)

    app = web.Application(client_max_size=1024**3)
    app.router.add_put("/upload", put)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}/upload?signature=s3cr3t", bodies, keyed
    finally:
        await runner.cleanup()


async def test_put_retries_a_503_from_storage(
    flaky_storage: tuple[str, list[bytes], list[bool]],
) -> None:
    """The streamed PUT is sent again whole after a 503, and never carries a key."""
    url, bodies, keyed = flaky_storage
    size = SAMPLE.stat().st_size
    async with aiohttp.ClientSession() as session:
        transfers = Transfers(session, Retrier(FAST_RETRY), anyio.CapacityLimiter(1), 10, 60)
        upload = Upload(transfers, url, SAMPLE, size, "video/mp4")
        await upload.run()
    assert keyed == [False, False]
    assert bodies == [SAMPLE.read_bytes()]
    assert "s3cr3t" not in repr(upload)


async def test_upload_failure_names_no_secret(fake: FakeCutPro, client: CutPro) -> None:
    """The error for a refused PUT does not contain the signed URL's query string."""
    fake.set_faults("expire@PUT /uploads")
    with pytest.raises(CutProError) as caught:
        await client.videos.upload(SAMPLE)
    assert "signature=" not in str(caught.value)
    assert "expires=" not in str(caught.value)
