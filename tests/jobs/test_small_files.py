"""Small files take one trip to the file thread: checked, hashed, written, synced, renamed."""

from __future__ import annotations

import errno
import io
import os
import struct
import threading
import time
import zipfile
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from cutpro_async import CutPro
from cutpro_async.errors import LocalFileError, TransferError, UsageError
from cutpro_async.jobs import _download, _partfile, transfers
from cutpro_async.jobs._checks import bytes_problem, container_problem
from cutpro_async.jobs._partfile import CHUNK, BadFile, Expect, PartFile
from cutpro_async.testing import FakeCutPro

from .conftest import finished_render, make_client, served_render, sha256_of

pytestmark = pytest.mark.anyio

MIB = 1024 * 1024


def names(folder: Path) -> list[str]:
    """The names in a folder, sorted."""
    return sorted(p.name for p in folder.iterdir())


@pytest.fixture
async def fake() -> AsyncIterator[FakeCutPro]:
    """A fast simulator with small renders (64 KiB)."""
    async with FakeCutPro(time_scale=6000, render_bytes=65536) as server:
        yield server


@pytest.fixture
async def client(fake: FakeCutPro) -> AsyncIterator[CutPro]:
    """An open fast client of `fake`."""
    async with make_client(fake) as cp:
        yield cp


@pytest.fixture
def trips(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The actions of every trip downloads make to the client's file threads."""
    seen: list[str] = []
    original = transfers.Transfers.on_disk

    async def counted(
        self: Any, action: str, path: Path, work: Callable[..., Any], *args: Any
    ) -> Any:
        seen.append(action)
        return await original(self, action, path, work, *args)

    monkeypatch.setattr(transfers.Transfers, "on_disk", counted)
    return seen


@pytest.fixture
def no_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail any read of a file back from the disk (`pread`: the checks and hashes)."""

    def refuse(*args: object) -> bytes:
        raise AssertionError("a file was read back")

    monkeypatch.setattr(os, "pread", refuse)


async def test_a_known_link_takes_one_trip(
    fake: FakeCutPro, client: CutPro, tmp_path: Path, trips: list[str], no_reads: None
) -> None:
    """With the link at hand, a small render is one request to storage and one trip to the
    file thread (look, check, hash, write, fdatasync, rename, folder fsync), never read back."""
    render = await finished_render(client)
    link = await client.renders.download_link(render.render_id)
    before = fake.requests["GET /renders/{renderId}/download"]
    done = await client.renders.download(render.render_id, tmp_path, name="a.mp4", link=link)
    assert trips == ["write"]
    assert fake.requests["GET /renders/{renderId}/download"] == before
    assert "mp4" in done.verified
    assert done.sha256 == sha256_of(done.path)
    assert names(tmp_path) == ["a.mp4"]


async def test_a_literal_name_looks_once_then_writes_once(
    fake: FakeCutPro, client: CutPro, tmp_path: Path, trips: list[str], no_reads: None
) -> None:
    """Without the link, the look for a file already there is the only other trip; the
    download uses what it found instead of looking again."""
    render = await finished_render(client)
    await client.renders.download(render.render_id, tmp_path, name="b.mp4")
    assert trips == ["read", "write"]


async def test_a_generic_link_looks_once_then_writes_once(
    fake: FakeCutPro, client: CutPro, tmp_path: Path, trips: list[str]
) -> None:
    """`CutPro.download` of a small file: one look (which also refuses a folder), one write."""
    render = await finished_render(client)
    link = await client.renders.download_link(render.render_id)
    await client.download(link.url, tmp_path / "c.mp4")
    assert trips == ["read", "write"]
    folder = tmp_path / "folder.mp4"
    folder.mkdir()
    with pytest.raises(UsageError, match="is a folder"):
        await client.download(link.url, folder)


async def test_a_known_link_keeps_a_file_already_complete(
    fake: FakeCutPro, client: CutPro, tmp_path: Path
) -> None:
    """The look in the writing trip still takes a complete file under the name as done:
    its bytes are left as they are (the body asked for is dropped)."""
    render = await finished_render(client)
    link = await client.renders.download_link(render.render_id)
    kept = tmp_path / "d.mp4"
    kept.write_bytes(b"an earlier run's file")
    done = await client.renders.download(render.render_id, tmp_path, name="d.mp4", link=link)
    assert done.verified == ("already there",)
    assert kept.read_bytes() == b"an earlier run's file"
    folder = tmp_path / "e.mp4"
    folder.mkdir()
    with pytest.raises(UsageError, match="is a folder"):
        await client.renders.download(render.render_id, tmp_path, name="e.mp4", link=link)


async def test_a_known_link_resumes_a_large_part(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """For a large file the look happens once the answer's headers are in: a `.part` that can
    be resumed is resumed (a second request, with `Range`), not started again."""
    asked: list[dict[str, str]] = []
    original = _download.Download._get

    async def spy(self: _download.Download, headers: dict[str, str]) -> Any:
        asked.append(dict(headers))
        return await original(self, headers)

    monkeypatch.setattr(_download.Download, "_get", spy)
    async with FakeCutPro(time_scale=6000, render_bytes=3 * MIB) as fake, make_client(fake) as cp:
        render = await finished_render(cp)
        link = await cp.renders.download_link(render.render_id)
        with pytest.raises(TransferError, match="on purpose"):
            await cp.download(link.url, tmp_path / "f.mp4", on_progress=_stop_after(CHUNK))
        kept = (tmp_path / "f.mp4.part").stat().st_size
        assert 0 < kept < 3 * MIB
        asked.clear()
        done = await cp.renders.download(render.render_id, tmp_path, name="f.mp4", link=link)
        assert [h.get("Range") for h in asked] == [None, f"bytes={kept}-"]
        assert done.sha256 == (await served_render(cp, render.render_id)).sha256
        assert names(tmp_path) == ["f.mp4"]


def _stop_after(limit: int) -> Callable[[int, int | None], None]:
    """A progress callback that cuts the download off once `limit` bytes are written."""

    def progress(done: int, total: int | None) -> None:
        if done >= limit:
            raise TransferError("stopped on purpose")

    return progress


def _mp4(size: int) -> bytes:
    """A structurally whole MP4 of `size` bytes."""
    head = struct.pack(">I4s", 16, b"ftyp") + b"isom\0\0\0\0"
    return head + struct.pack(">I4s", size - 16, b"mdat") + b"\1" * (size - 24)


def _zip() -> bytes:
    """A small whole ZIP."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("a.txt", "hello")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("kind", "data"),
    [
        ("mp4", _mp4(4096)),
        ("mp4", _mp4(4096)[:4000]),
        ("mp4", b"\0\0\0\x10mdat" + b"\0" * 8),
        ("mp4", b""),
        ("mp4", b"\0\0\0\x01ftyp\0\0\0\0\0\0\0\x20" + b"\0" * 16),
        ("zip", _zip()),
        ("zip", _zip()[:-10]),
        ("zip", b"not a zip at all"),
        (None, b"anything"),
    ],
)
def test_in_memory_checks_agree_with_the_file_checks(
    tmp_path: Path, kind: str | None, data: bytes
) -> None:
    """The container check of bytes in memory says what the check of the same file says."""
    path = tmp_path / "f"
    path.write_bytes(data)
    fd = os.open(path, os.O_RDONLY)
    try:
        on_disk = container_problem(kind, fd, len(data))
    finally:
        os.close(fd)
    assert bytes_problem(kind, data) == on_disk


def test_a_bad_small_body_is_never_written(tmp_path: Path) -> None:
    """A small body that fails its checks leaves nothing: no final file, no `.part` (an earlier
    attempt's is removed), no sidecar."""
    part = PartFile(tmp_path / "g.mp4")
    part.path.write_bytes(b"an earlier attempt")
    part.sidecar.write_bytes(b"{}")
    with pytest.raises(BadFile) as caught:
        part.save_whole(b"<html>nope</html>", Expect(None, "mp4", {}), look=False)
    assert not caught.value.integrity
    assert caught.value.head.startswith(b"<html>")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(BadFile) as caught:
        part.save_whole(_mp4(100), Expect(99, "mp4", {}), look=False)
    assert caught.value.integrity


def test_a_small_body_is_checked_against_stated_checksums(tmp_path: Path) -> None:
    """Stated checksums are computed over the bytes in memory; a mismatch is an integrity
    failure, a match is named in `verified`."""
    import base64
    import hashlib

    data = _mp4(1000)
    good = base64.b64encode(hashlib.md5(data).digest()).decode()
    part = PartFile(tmp_path / "sub" / "h.mp4")  # a folder not there yet is created
    saved = part.save_whole(data, Expect(1000, "mp4", {"md5": good}), look=True)
    assert saved.verified == ("length", "mp4", "md5")
    assert saved.sha256 == hashlib.sha256(data).hexdigest()
    assert (tmp_path / "sub" / "h.mp4").read_bytes() == data
    bad = base64.b64encode(b"\0" * 16).decode()
    with pytest.raises(BadFile, match="md5"):
        PartFile(tmp_path / "i.mp4").save_whole(data, Expect(None, "mp4", {"md5": bad}), look=False)


async def test_a_disk_full_while_streaming_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write failing mid-way through a large file is a `LocalFileError` about disk space,
    never the queue's own error (the reader stops once the writer has failed)."""
    async with FakeCutPro(time_scale=6000, render_bytes=3 * MIB) as fake, make_client(fake) as cp:
        render = await finished_render(cp)
        calls = [0]
        original = os.writev

        def full_after_one(fd: int, buffers: Any) -> int:
            calls[0] += 1
            if calls[0] > 1:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            return original(fd, buffers)

        monkeypatch.setattr(os, "writev", full_after_one)
        for attempt in range(5):  # the writer and the reader race: the same answer each time
            calls[0] = 0
            with pytest.raises(LocalFileError, match="disk space"):
                await cp.renders.download(render.render_id, tmp_path, name=f"{attempt}.mp4")


def test_folder_fsyncs_are_shared_but_always_follow_the_rename(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Threads publishing into one folder share fsyncs, yet each returns only after an fsync
    that started after its own rename has ended; a failed fsync is raised to its runner and
    the threads that waited on it run another."""
    syncs: list[tuple[float, float]] = []
    fail = [1]  # the first fsync fails

    def slow_sync(folder: Path) -> None:
        started = time.monotonic()
        time.sleep(0.01)
        if fail[0]:
            fail[0] -= 1
            raise OSError(errno.EIO, "an I/O error")
        syncs.append((started, time.monotonic()))

    monkeypatch.setattr(_partfile, "sync_folder", slow_sync)
    syncer = _partfile._FolderSyncs()
    calls: list[tuple[float, float]] = []
    errors: list[BaseException] = []

    def publish() -> None:
        for _ in range(10):
            asked = time.monotonic()
            try:
                syncer.after_rename(tmp_path)
            except OSError as exc:
                errors.append(exc)
                continue
            calls.append((asked, time.monotonic()))

    threads = [threading.Thread(target=publish) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(errors) == 1 and len(calls) == 79
    for asked, returned in calls:
        assert any(asked <= start and end <= returned for start, end in syncs)
    assert len(syncs) < len(calls) // 2  # shared: far fewer fsyncs than renames
