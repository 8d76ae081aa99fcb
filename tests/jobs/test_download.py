"""Streaming, resumable, verified downloads of renders, bulk ZIPs and any signed link."""

from __future__ import annotations

import errno
import io
import os
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import orjson
import pytest

from cutpro_async import CutPro, RetryEvent, RetryPolicy, Timeouts
from cutpro_async.errors import (
    IntegrityError,
    LinkExpired,
    LocalFileError,
    TransferError,
    UsageError,
)
from cutpro_async.models import DownloadLink
from cutpro_async.testing import FakeCutPro

from .conftest import (
    finished_render,
    finished_submission,
    make_client,
    served,
    served_render,
    sha256_of,
    simulated,
)

pytestmark = pytest.mark.anyio

STORAGE_GET = "storage GET /files"
#: Every storage profile of the simulator: the whole download suite runs against each.
PROFILES = ("s3", "s3-kms", "gcs", "azure", "plain")
#: `plain` storage ignores `Range` and gives no strong validator: there a `.part` is never
#: resumed, the download starts again from byte 0.
RESUMABLE = {"s3": True, "s3-kms": True, "gcs": True, "azure": True, "plain": False}
LINK = "GET /renders/{renderId}/download"
MIB = 1024 * 1024


@pytest.fixture(params=PROFILES)
def profile(request: pytest.FixtureRequest) -> str:
    """The storage profile a test runs against."""
    return str(request.param)


@pytest.fixture
async def fake(profile: str) -> AsyncIterator[FakeCutPro]:
    """A fast simulator whose storage behaves as `profile`."""
    async with FakeCutPro(time_scale=6000, storage_profile=profile) as server:
        yield server


def write_sidecar(final: Path, validator: str, stated: dict[str, str] | None = None) -> None:
    """The resume sidecar a download keeps beside `<final>.part`."""
    data = {"v": 1, "validator": validator, "stated": stated or {}}
    final.with_name(final.name + ".part.json").write_bytes(orjson.dumps(data))


def leftovers(folder: Path) -> list[str]:
    """The names in a folder, sorted."""
    return sorted(p.name for p in folder.iterdir())


async def test_render_download_matches_served_bytes(
    fake: FakeCutPro, client: CutPro, tmp_path: Path
) -> None:
    """A render downloads to a file whose bytes equal what storage serves, with no leftovers."""
    render = await finished_render(client)
    path = (await client.renders.download(render.render_id, tmp_path)).path
    reference = await served_render(client, render.render_id)
    assert path.parent == tmp_path
    assert path.read_bytes() == reference.body
    assert leftovers(tmp_path) == [path.name]
    assert fake.key_leaks == []


async def test_resume_after_truncation(fake: FakeCutPro, client: CutPro, tmp_path: Path) -> None:
    """A body cut short is resumed with a second storage request and ends byte-identical."""
    render = await finished_render(client)
    fake.set_faults("truncate=1#1")
    path = (await client.renders.download(render.render_id, tmp_path, name="t.mp4")).path
    assert fake.injected["truncate"] == 1
    assert fake.requests[STORAGE_GET] == 2
    fake.set_faults("")
    reference = await served_render(client, render.render_id)
    assert sha256_of(path) == reference.sha256
    assert leftovers(tmp_path) == ["t.mp4"]


async def test_chunked_body_without_length(
    fake: FakeCutPro, client: CutPro, tmp_path: Path
) -> None:
    """A chunked body (no Content-Length) is downloaded whole, its total reported as unknown."""
    render = await finished_render(client)
    fake.set_faults("chunked=1")
    totals: set[int | None] = set()
    path = (
        await client.renders.download(
            render.render_id, tmp_path, on_progress=lambda done, total: totals.add(total)
        )
    ).path
    assert fake.injected["chunked"] == 1
    assert totals == {None}
    fake.set_faults("")
    assert sha256_of(path) == (await served_render(client, render.render_id)).sha256


async def test_redirect_to_storage_sends_no_key(tmp_path: Path, profile: str) -> None:
    """A link on the API host that 302s to storage is followed, and no key reaches storage."""
    async with simulated(redirect_downloads=True, storage_profile=profile) as (fake, cp):
        render = await finished_render(cp)
        link = await cp.renders.download_link(render.render_id)
        assert link.url.startswith(fake.base_url.split("/api/")[0] + "/r/")
        path = (await cp.renders.download(render.render_id, tmp_path)).path
        reference = await served(link.url)
        assert fake.requests[STORAGE_GET] == 2
        assert fake.key_leaks == []
    assert path.read_bytes() == reference.body


async def test_slow_trickle_within_stall_timeout_completes(tmp_path: Path, profile: str) -> None:
    """A slow but steady 1 MiB body completes in one request when no gap exceeds the stall."""
    options = {"timeouts": Timeouts(stall=5)}
    async with simulated(options, render_bytes=MIB, storage_profile=profile) as (fake, cp):
        render = await finished_render(cp)
        fake.set_faults("trickle:2000000=1")
        path = (await cp.renders.download(render.render_id, tmp_path)).path
        assert fake.injected["trickle"] == 1
        assert fake.requests[STORAGE_GET] == 1
        fake.set_faults("")
        reference = await served_render(cp, render.render_id)
    assert path.stat().st_size == MIB
    assert sha256_of(path) == reference.sha256


async def test_stall_longer_than_timeout_is_resumed(tmp_path: Path, profile: str) -> None:
    """A body pausing past `stall` is abandoned, then resumed to a correct file."""
    options = {"timeouts": Timeouts(stall=0.2)}
    async with simulated(options, render_bytes=MIB, storage_profile=profile) as (fake, cp):
        render = await finished_render(cp)
        fake.set_faults("stall:1=1#1")
        path = (await cp.renders.download(render.render_id, tmp_path)).path
        assert fake.injected["stall"] == 1
        assert fake.requests[STORAGE_GET] >= 2
        fake.set_faults("")
        reference = await served_render(cp, render.render_id)
    assert sha256_of(path) == reference.sha256
    assert leftovers(tmp_path) == [path.name]


async def test_stall_on_a_default_size_render_interrupts_the_body(
    fake: FakeCutPro, tmp_path: Path
) -> None:
    """`stall` pauses mid-body even for a default-size render, so the client must resume."""
    async with make_client(fake, timeouts=Timeouts(stall=0.2)) as cp:
        render = await finished_render(cp)
        fake.set_faults("stall:1=1#1")
        await cp.renders.download(render.render_id, tmp_path)
    assert fake.injected["stall"] == 1
    assert fake.requests[STORAGE_GET] == 2


async def test_expired_link_is_refreshed_through_the_api(
    fake: FakeCutPro, client: CutPro, tmp_path: Path
) -> None:
    """A link refused as expired is replaced by a new one from the API, and the file completes."""
    render = await finished_render(client)
    fake.set_faults("expire=1#1")
    path = (await client.renders.download(render.render_id, tmp_path, name="e.mp4")).path
    assert fake.injected["expire"] == 1
    assert fake.requests[LINK] == 2
    assert fake.requests[STORAGE_GET] == 2
    fake.set_faults("")
    assert sha256_of(path) == (await served_render(client, render.render_id)).sha256
    assert fake.key_leaks == []


async def test_link_refused_every_time_raises_link_expired(
    fake: FakeCutPro, client: CutPro, tmp_path: Path
) -> None:
    """A link that stays refused is refreshed twice, then `LinkExpired` names no secret."""
    render = await finished_render(client)
    fake.set_faults("expire=1")
    with pytest.raises(LinkExpired) as caught:
        await client.renders.download(render.render_id, tmp_path, name="e.mp4")
    assert fake.requests[LINK] == 3
    assert "signature=" not in str(caught.value)
    assert not (tmp_path / "e.mp4").exists()


async def test_gives_up_after_max_retries_and_resumes_later(
    fake: FakeCutPro, tmp_path: Path
) -> None:
    """Cut off on every attempt, a download raises `TransferError`; a later call completes it."""
    async with make_client(fake, retry=RetryPolicy(max_retries=2, backoff_initial=0.01)) as cp:
        render = await finished_render(cp)
        fake.set_faults("truncate=1")
        with pytest.raises(TransferError, match="call again to resume"):
            await cp.renders.download(render.render_id, tmp_path, name="g.mp4")
        assert fake.requests[STORAGE_GET] == 3
        assert not (tmp_path / "g.mp4").exists()
        fake.set_faults("")
        path = (await cp.renders.download(render.render_id, tmp_path, name="g.mp4")).path
        reference = await served_render(cp, render.render_id)
    assert sha256_of(path) == reference.sha256
    assert leftovers(tmp_path) == ["g.mp4"]


# -- a first attempt that fails still gets every retry ------------------------------------
# (the first attempt is made without the retry loop; a failure hands over to it)


@pytest.mark.parametrize("known_link", [False, True], ids=["looked-up", "known-link"])
async def test_a_storage_503_on_the_first_attempt_is_waited_out_and_told(
    tmp_path: Path, known_link: bool
) -> None:
    """Storage's 503 on the first request: `on_retry` hears of it with its `Retry-After` (1 s,
    not the 10 ms backoff), named without the signature, and the next request completes the
    file (also when the caller passed the link, as a batch does)."""
    events: list[RetryEvent] = []
    retry = RetryPolicy(backoff_initial=0.01, backoff_max=0.02, on_retry=events.append)
    async with FakeCutPro(time_scale=6000) as fake, make_client(fake, retry=retry) as cp:
        render = await finished_render(cp)
        link = await cp.renders.download_link(render.render_id) if known_link else None
        events.clear()
        fake.set_faults("503=1#1@/files")
        path = (await cp.renders.download(render.render_id, tmp_path, link=link)).path
        assert fake.requests[STORAGE_GET] == 2
        fake.set_faults("")
        reference = await served_render(cp, render.render_id)
    assert path.read_bytes() == reference.body
    assert [(e.attempt, e.wait) for e in events] == [(1, 1.0)]
    assert events[0].what.startswith("download of ")
    assert "signature" not in events[0].what


async def test_downloads_that_succeed_at_once_earn_storage_retries(tmp_path: Path) -> None:
    """With no retry budget to start with, storage's 503 ends a download after one request;
    a download that succeeds at its first attempt earns a retry, and the next 503 is retried."""
    retry = RetryPolicy(backoff_initial=0.01, backoff_max=0.02, budget_initial=0, budget_ratio=1)
    async with FakeCutPro(time_scale=6000) as fake, make_client(fake, retry=retry) as cp:
        render = await finished_render(cp)
        fake.set_faults("503=1#1@/files")
        with pytest.raises(TransferError):
            await cp.renders.download(render.render_id, tmp_path, name="a.mp4")
        assert fake.requests[STORAGE_GET] == 1
        await cp.renders.download(render.render_id, tmp_path, name="b.mp4")
        fake.set_faults("503=1#1@/files")
        await cp.renders.download(render.render_id, tmp_path, name="c.mp4")
    assert fake.requests[STORAGE_GET] == 4
    assert leftovers(tmp_path) == ["b.mp4", "c.mp4"]


async def test_a_deadline_bounds_the_retries_of_a_download(tmp_path: Path) -> None:
    """Storage's 503 asks for 1 s each time: within a 0.5 s deadline no retry fits, though the
    policy allows ten."""
    retry = RetryPolicy(max_retries=10, deadline=0.5)
    async with FakeCutPro(time_scale=6000) as fake, make_client(fake, retry=retry) as cp:
        render = await finished_render(cp)
        fake.set_faults("503=1@/files")
        with pytest.raises(TransferError, match="call again to resume"):
            await cp.renders.download(render.render_id, tmp_path)
    assert fake.requests[STORAGE_GET] == 1


async def test_cancelled_download_resumes_from_its_part(tmp_path: Path, profile: str) -> None:
    """A download cancelled mid-body keeps a `.part` that the next call resumes from its offset
    (or, on storage without ranges and validators, replaces from byte 0)."""
    async with simulated(render_bytes=4 * MIB, storage_profile=profile) as (fake, cp):
        render = await finished_render(cp)
        fake.set_faults("trickle:10000000")
        with anyio.CancelScope() as scope:

            def cancel_past_half(done: int, total: int | None) -> None:
                if done >= 2 * MIB:
                    scope.cancel()

            await cp.renders.download(
                render.render_id, tmp_path, name="c.mp4", on_progress=cancel_past_half
            )
        assert scope.cancelled_caught
        offset = (tmp_path / "c.mp4.part").stat().st_size
        assert not (tmp_path / "c.mp4").exists()
        second: list[int] = []
        path = (
            await cp.renders.download(
                render.render_id, tmp_path, name="c.mp4", on_progress=lambda d, t: second.append(d)
            )
        ).path
        fake.set_faults("")
        reference = await served_render(cp, render.render_id)
    assert 2 * MIB <= offset < len(reference.body)
    # Every count of the second call includes the kept bytes: it asked for a Range after them
    # (a restart from zero would first report one block, well under the 2 MiB kept).
    assert (second[0] > offset) == RESUMABLE[profile]
    assert second[-1] == len(reference.body)
    assert sha256_of(path) == reference.sha256
    assert leftovers(tmp_path) == ["c.mp4"]


async def test_disk_full_is_a_clear_error(
    fake: FakeCutPro, client: CutPro, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Writing to a full disk raises `LocalFileError` about disk space; no final file appears.

    The disk is made full by failing the write call itself with ENOSPC (a symlink to
    /dev/full no longer works: links in the folder are never followed).
    """
    render = await finished_render(client)

    def full(fd: int, buffers: object) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "writev", full)
    with pytest.raises(LocalFileError) as caught:
        await client.renders.download(render.render_id, tmp_path, name="x.mp4")
    assert "disk space" in str(caught.value)
    assert not (tmp_path / "x.mp4").exists()


async def test_links_placed_in_the_folder_are_never_followed(
    fake: FakeCutPro, client: CutPro, tmp_path: Path
) -> None:
    """Symlinks already at `.part`, its sidecar and the final name are replaced, never written
    through; a link at the final name is not taken for a finished download."""
    render = await finished_render(client)
    outside = tmp_path / "outside"
    outside.mkdir()
    victims = [outside / name for name in ("a", "b", "c")]
    for victim in victims:
        victim.write_bytes(b"precious")
    out = tmp_path / "out"
    out.mkdir()
    for name, victim in zip(("x.mp4.part", "x.mp4.part.json", "x.mp4"), victims, strict=True):
        (out / name).symlink_to(victim)
    done = await client.renders.download(render.render_id, out, name="x.mp4")
    assert all(victim.read_bytes() == b"precious" for victim in victims)
    assert not done.path.is_symlink()
    assert done.path.read_bytes() == (await served_render(client, render.render_id)).body
    assert leftovers(out) == ["x.mp4"]


def _unwritable_folder(tmp_path: Path) -> Path:
    """A folder where creating a file fails with a permission error."""
    if os.geteuid() != 0:
        folder = tmp_path / "ro"
        folder.mkdir()
        folder.chmod(0o500)
        return folder
    # root ignores file modes; sysfs still refuses new files to root.
    folder = Path("/sys/kernel")
    try:
        (folder / "cutpro-probe").open("wb").close()
    except PermissionError:
        return folder
    pytest.skip("running as root and no folder refuses writes to root")


async def test_permission_denied_is_a_clear_error(
    fake: FakeCutPro, client: CutPro, tmp_path: Path
) -> None:
    """A folder that refuses writes raises `LocalFileError` saying to fix permissions."""
    folder = _unwritable_folder(tmp_path)
    render = await finished_render(client)
    try:
        with pytest.raises(LocalFileError) as caught:
            await client.renders.download(render.render_id, folder, name="x.mp4")
        assert "permission" in str(caught.value).lower()
        assert not (folder / "x.mp4").exists()
    finally:
        if folder.is_relative_to(tmp_path):
            folder.chmod(0o700)


async def test_existing_file_is_not_downloaded_again(
    fake: FakeCutPro, client: CutPro, tmp_path: Path
) -> None:
    """A file already under a literal name costs no request at all the second time."""
    render = await finished_render(client)
    first = (await client.renders.download(render.render_id, tmp_path, name="done.mp4")).path
    before = dict(fake.requests)
    again = (await client.renders.download(render.render_id, tmp_path, name="done.mp4")).path
    assert again == first
    assert dict(fake.requests) == before


async def test_existing_file_under_server_name_costs_no_storage_request(
    fake: FakeCutPro, client: CutPro, tmp_path: Path
) -> None:
    """With the server's name, a second download asks for the link but never fetches bytes."""
    render = await finished_render(client)
    first = (await client.renders.download(render.render_id, tmp_path)).path
    again = (await client.renders.download(render.render_id, tmp_path)).path
    assert again == first
    assert fake.requests[STORAGE_GET] == 1


async def test_server_filenames_are_sanitised(
    fake: FakeCutPro, client: CutPro, tmp_path: Path
) -> None:
    """A clip title with `/` and `:` becomes a plain file name inside the target folder."""
    done = await finished_submission(client)
    index = next(i for i, clip in enumerate(done.clips) if "/" in clip.title)
    assert ":" in done.clips[index].title
    render = await finished_render(client, done, index)
    path = (await client.renders.download(render.render_id, tmp_path)).path
    assert path.parent == tmp_path
    assert "/" not in path.name and ":" not in path.name
    assert "50_50" in path.name and path.suffix == ".mp4"
    assert leftovers(tmp_path) == [path.name]


def test_dotdot_and_separators_in_server_names_stay_in_the_folder() -> None:
    """A server name made of `..` and separators is reduced to one safe file name."""
    from cutpro_async.jobs.renders import file_name

    for hostile in ("../../etc/passwd", "..", "a\\..\\b.mp4", "/abs/x.mp4", ""):
        name = file_name(DownloadLink(url="https://s/x", filename=hostile), "r1", None)
        assert name and "/" not in name and "\\" not in name
        assert not name.startswith(".")


async def test_name_templates_and_callables(
    fake: FakeCutPro, client: CutPro, tmp_path: Path
) -> None:
    """`{render_id}` templates and callables name the file; both get the same bytes."""
    render = await finished_render(client)
    rid = render.render_id
    by_template = (await client.renders.download(rid, tmp_path, name="{render_id}.mp4")).path
    by_stem = (await client.renders.download(rid, tmp_path, name="{render_id}-{stem}.{ext}")).path
    by_callable = (
        await client.renders.download(rid, tmp_path, name=lambda link: f"cb-{link.filename}")
    ).path
    assert by_template.name == f"{rid}.mp4"
    assert by_stem.name.startswith(f"{rid}-") and by_stem.suffix == ".mp4"
    assert by_callable.name.startswith("cb-") and "/" not in by_callable.name
    assert by_template.read_bytes() == by_stem.read_bytes() == by_callable.read_bytes()


@pytest.mark.parametrize(
    "template",
    [
        "{nope}.mp4",
        "{0}.mp4",
        "{render_id",
        "{render_id:d}.mp4",
        "{render_id.nope}.mp4",
    ],
)
async def test_bad_name_template_is_a_usage_error(
    fake: FakeCutPro, client: CutPro, tmp_path: Path, template: str
) -> None:
    """A template with unknown fields or bad syntax raises `UsageError`; nothing is fetched."""
    render = await finished_render(client)
    with pytest.raises(UsageError):
        await client.renders.download(render.render_id, tmp_path, name=template)
    assert fake.requests[STORAGE_GET] == 0
    assert leftovers(tmp_path) == []


async def test_complete_part_is_finished_on_416(
    fake: FakeCutPro, client: CutPro, tmp_path: Path, profile: str
) -> None:
    """A `.part` already holding every byte (with its validator) is published without
    re-fetching (storage without ranges sends the whole file again instead)."""
    render = await finished_render(client)
    reference = await served_render(client, render.render_id)
    (tmp_path / "f.mp4.part").write_bytes(reference.body)
    write_sidecar(tmp_path / "f.mp4", reference.etag)
    progress: list[int] = []
    before = fake.requests[STORAGE_GET]
    path = (
        await client.renders.download(
            render.render_id, tmp_path, name="f.mp4", on_progress=lambda d, t: progress.append(d)
        )
    ).path
    assert fake.requests[STORAGE_GET] == before + 1
    assert (progress == []) == RESUMABLE[profile]
    assert path.read_bytes() == reference.body
    assert leftovers(tmp_path) == ["f.mp4"]


async def test_corrupted_full_part_is_not_published_on_416(
    fake: FakeCutPro, client: CutPro, tmp_path: Path, profile: str
) -> None:
    """A full-length `.part` of zeros is not an MP4: it never gets the final name; it is
    removed and fetched once more afresh, which gives the right file."""
    render = await finished_render(client)
    reference = await served_render(client, render.render_id)
    (tmp_path / "f.mp4.part").write_bytes(bytes(len(reference.body)))
    write_sidecar(tmp_path / "f.mp4", reference.etag)
    before = fake.requests[STORAGE_GET]
    path = (await client.renders.download(render.render_id, tmp_path, name="f.mp4")).path
    assert path.read_bytes() == reference.body
    # A 416 for the full .part, then a fresh 200 (storage without ranges: one 200 at once).
    assert fake.requests[STORAGE_GET] == before + (2 if RESUMABLE[profile] else 1)
    assert leftovers(tmp_path) == ["f.mp4"]


async def test_if_range_mismatch_restarts_from_zero(
    fake: FakeCutPro, client: CutPro, tmp_path: Path
) -> None:
    """A `.part` with a stale ETag gets a full 200 answer, and the client starts over."""
    render = await finished_render(client)
    (tmp_path / "s.mp4.part").write_bytes(b"\xff" * 5000)
    write_sidecar(tmp_path / "s.mp4", '"0123456789abcdef0123456789abcdef"')
    path = (await client.renders.download(render.render_id, tmp_path, name="s.mp4")).path
    # One request: the garbage was overwritten, not resumed (that would fail the MP4 check).
    assert fake.requests[STORAGE_GET] == 1
    reference = await served_render(client, render.render_id)
    assert sha256_of(path) == reference.sha256
    assert leftovers(tmp_path) == ["s.mp4"]


async def test_corrupted_part_fails_md5_and_is_removed(
    fake: FakeCutPro, client: CutPro, tmp_path: Path, profile: str
) -> None:
    """A resumed `.part` with wrong bytes fails the MP4 check (the ETag is no checksum), is
    removed, and the fresh attempt that follows in the same call gives the right file."""
    render = await finished_render(client)
    reference = await served_render(client, render.render_id)
    half = len(reference.body) // 2
    (tmp_path / "m.mp4.part").write_bytes(b"\x00" * half)
    write_sidecar(tmp_path / "m.mp4", reference.etag)
    before = fake.requests[STORAGE_GET]
    path = (await client.renders.download(render.render_id, tmp_path, name="m.mp4")).path
    assert sha256_of(path) == reference.sha256
    # The resumed range, then a fresh 200 (storage without ranges: one 200 at once).
    assert fake.requests[STORAGE_GET] == before + (2 if RESUMABLE[profile] else 1)
    assert leftovers(tmp_path) == ["m.mp4"]


async def test_generic_download_of_a_signed_link(
    fake: FakeCutPro, client: CutPro, tmp_path: Path
) -> None:
    """`CutPro.download(url, path)` streams any signed link to a path, creating its folder."""
    render = await finished_render(client)
    link = await client.renders.download_link(render.render_id)
    target = tmp_path / "deep" / "file.mp4"
    path = (await client.download(link.url, target)).path
    reference = await served(link.url)
    assert path == target
    assert path.read_bytes() == reference.body
    assert fake.key_leaks == []


async def test_generic_download_checks_expected_size(
    fake: FakeCutPro, client: CutPro, tmp_path: Path
) -> None:
    """A body shorter than the promised `expected_size` raises `IntegrityError`; no file kept."""
    render = await finished_render(client)
    link = await client.renders.download_link(render.render_id)
    size = len((await served(link.url)).body)
    with pytest.raises(IntegrityError):
        await client.download(link.url, tmp_path / "f.mp4", expected_size=size + 1)
    assert leftovers(tmp_path) == []


async def test_bulk_zip_holds_every_render(
    fake: FakeCutPro, client: CutPro, tmp_path: Path
) -> None:
    """A bulk download is a valid ZIP whose members equal each render's bytes."""
    done = await finished_submission(client)
    renders = [await finished_render(client, done, i) for i in range(2)]
    job = await client.bulk_downloads.create([r.render_id for r in renders])
    path = (await client.bulk_downloads.download(job.job_id, tmp_path)).path
    assert path.parent == tmp_path and path.suffix == ".zip"
    with zipfile.ZipFile(io.BytesIO(path.read_bytes())) as archive:
        assert archive.testzip() is None
        members = {name: archive.read(name) for name in archive.namelist()}
    for render in renders:
        reference = await served_render(client, render.render_id)
        assert members.pop(f"{render.render_id}.mp4") == reference.body
    assert members == {}
    assert fake.key_leaks == []
