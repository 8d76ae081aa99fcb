"""One batch through the DBOS engine: enqueued, worked on by one worker, enqueued again."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from dbos import DBOSClient, EnqueueOptions

from cutpro_async import CutPro
from cutpro_async.distributed import (
    APP_NAME,
    BatchOptions,
    Tables,
    batch_id_of,
    enqueue,
    work,
    workflow_id_of,
)
from cutpro_async.errors import UsageError
from cutpro_async.testing import FakeCutPro
from tests.batch.conftest import video_urls

from .conftest import FAST_ENGINE, SIM_SETTINGS, fast_client

pytestmark = pytest.mark.anyio

MP4_BRAND = b"ftyp"


async def workflows_of(db_url: str, batch_id: str) -> list[tuple[str, str]]:
    """(workflow id, status) of every workflow of a batch, the analyses included."""
    client = DBOSClient(system_database_url=db_url, application_name=APP_NAME)
    try:
        found = await client.list_workflows_async(
            workflow_id_prefix=f"{batch_id}:", load_input=False, load_output=False
        )
    finally:
        client.destroy()
    return sorted((status.workflow_id, status.status) for status in found)


def check_saved(files: list[tuple[str, int, str]]) -> None:
    """Every saved file is an MP4 of its recorded size and SHA-256."""
    for path, size, sha256 in files:
        data = Path(path).read_bytes()
        assert data[4:8] == MP4_BRAND, path
        assert len(data) == size, path
        assert hashlib.sha256(data).hexdigest() == sha256, path


async def test_one_worker_clips_a_batch_and_a_second_enqueue_adds_nothing(
    db_url: str, tmp_path: Path
) -> None:
    """Five videos, one worker in this process: every video done, charged once, two verified
    files each; enqueueing the same batch again enqueues nothing, and working again pays
    nothing."""
    urls = video_urls(5, tag="one")
    options = BatchOptions(top_k=2)
    async with FakeCutPro(**SIM_SETTINGS) as fake:
        first = await enqueue(db_url, "small", urls, options)
        assert (first.batch_id, first.videos, first.new, first.repeated) == ("small", 5, 5, 0)

        def client() -> CutPro:
            return fast_client(fake.api_key, fake.base_url)

        report = await work(db_url, "solo-1", tmp_path / "out", client, settings=FAST_ENGINE)
        assert (report.finished, report.failed, report.other_versions) == (5, 0, 0)
        charges = fake.charges_per_video()
        async with Tables(db_url) as tables:
            videos = await tables.videos("small")
            files = await tables.files("small")
        assert [v.source for v in videos] == urls
        assert [v.phase for v in videos] == ["done"] * 5, [v.error for v in videos]
        assert [charges[v.video_id or ""] for v in videos] == [1] * 5
        assert sum(charges.values()) == 5
        assert [v.fence for v in videos] == [1] * 5  # one paid step each
        assert len(files) == 10 and {f.worker for f in files} == {"solo-1"}
        check_saved([(f.path, f.bytes, f.sha256) for f in files])
        before = await workflows_of(db_url, "small")
        # Per video: its workflow and its delivery (every clip of it).
        assert len(before) == 5 * 2 and {status for _, status in before} == {"SUCCESS"}

        again = await enqueue(db_url, "small", [*urls, urls[0]], options)
        assert (again.videos, again.new, again.repeated) == (5, 0, 1)
        assert await workflows_of(db_url, "small") == before
        report = await work(db_url, "solo-1", tmp_path / "out", client, settings=FAST_ENGINE)
        assert report.finished == 0
        assert fake.charges_per_video() == charges
        assert fake.requests["POST /clips"] == 5


async def test_failed_analyses_are_tried_again_never_unpaced(db_url: str, tmp_path: Path) -> None:
    """Half the analyses answer 502: each is tried again, every try a start of the shared
    window, so twelve videos end done without a single 429."""
    urls = video_urls(12, tag="flaky")
    async with FakeCutPro(faults="502=0.5@POST /clips/info", **SIM_SETTINGS) as fake:
        await enqueue(db_url, "flaky", urls, BatchOptions(top_k=1))

        def client() -> CutPro:
            return fast_client(fake.api_key, fake.base_url)

        report = await work(db_url, "solo-1", tmp_path / "out", client, settings=FAST_ENGINE)
        async with Tables(db_url) as tables:
            videos = await tables.videos("flaky")
        assert [v.phase for v in videos] == ["done"] * 12, [v.error for v in videos]
        assert report.finished == 12
        assert fake.injected["502"] > 0
        assert fake.requests["POST /clips/info"] == 12 + fake.injected["502"]
        assert fake.rate_limited["POST /clips/info"] == 0
        assert sum(fake.charges_per_video().values()) == 12


async def test_videos_of_another_workflow_version_are_reported_and_left(
    db_url: str, tmp_path: Path
) -> None:
    """A video enqueued by another version of the workflow code is not run by this one (its
    recorded steps could replay wrongly): the worker says so, does its own, and returns."""
    urls = video_urls(2, tag="version")
    options = BatchOptions(top_k=1)
    async with FakeCutPro(**SIM_SETTINGS) as fake:
        await enqueue(db_url, "current", urls[:1], options)
        client = DBOSClient(system_database_url=db_url, application_name=APP_NAME)
        try:
            old: EnqueueOptions = {
                "workflow_name": "cutpro.video",
                "queue_name": "cutpro_videos",
                "workflow_id": workflow_id_of("old", urls[1]),
                "app_version": "cutpro-video-0",
            }
            client.enqueue(old, "old", urls[1], options.to_json())
        finally:
            client.destroy()

        def cp() -> CutPro:
            return fast_client(fake.api_key, fake.base_url)

        report = await work(db_url, "solo-1", tmp_path / "out", cp, settings=FAST_ENGINE)
        assert (report.finished, report.other_versions) == (1, 1)
        assert await workflows_of(db_url, "old") == [(workflow_id_of("old", urls[1]), "ENQUEUED")]
        assert sum(fake.charges_per_video().values()) == 1


async def test_a_batch_id_keeps_its_options(db_url: str) -> None:
    """The same batch id with other options is refused (the workflows would disagree)."""
    urls = video_urls(2, tag="opts")
    await enqueue(db_url, "kept", urls, BatchOptions(top_k=2))
    with pytest.raises(UsageError, match="other options"):
        await enqueue(db_url, "kept", urls, BatchOptions(top_k=3))


def test_ids_derive_from_the_batch_and_the_source() -> None:
    """The batch id follows its sources and options; a workflow id, its batch and source."""
    urls = video_urls(3, tag="ids")
    options = BatchOptions()
    assert batch_id_of(urls, options) == batch_id_of(list(urls), BatchOptions())
    assert batch_id_of(urls, options) != batch_id_of(urls, BatchOptions(top_k=1))
    assert batch_id_of(urls, options) != batch_id_of(urls[::-1], options)
    assert workflow_id_of("b", urls[0]) == workflow_id_of("b", urls[0])
    assert workflow_id_of("b", urls[0]) != workflow_id_of("c", urls[0])
    assert workflow_id_of("b", urls[0]).startswith("b:")


async def test_local_files_and_bad_names_are_refused_before_anything_is_written() -> None:
    """A local file lives on one machine; a naming template must tell clips apart."""
    with pytest.raises(UsageError, match="local file"):
        await enqueue("postgresql://unused", "x", ["/tmp/video.mp4"])
    with pytest.raises(UsageError, match="clip_id"):
        BatchOptions(naming="{title}.mp4")
    with pytest.raises(UsageError, match="batch id"):
        await enqueue("postgresql://unused", "no spaces", video_urls(1))
