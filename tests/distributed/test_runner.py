"""`DistributedBatch`: a batch on PostgreSQL run as `Batch` is, through real HTTP."""

from __future__ import annotations

import hashlib
from pathlib import Path

import anyio
import psycopg
import pytest

from cutpro_async import CutPro
from cutpro_async.batch import Batch, MemoryStore, Runner, RunOptions
from cutpro_async.distributed import BatchOptions, DistributedBatch, Tables
from cutpro_async.testing import FakeCutPro
from tests.batch.conftest import video_urls

from .conftest import FAST_ENGINE, SIM_SETTINGS, fast_client

pytestmark = pytest.mark.anyio


async def test_a_distributed_batch_reads_as_a_batch(db_url: str, tmp_path: Path) -> None:
    """Both are a `Runner`; `run` clips every video once and its summary counts them, their
    credits and their files; a second run of the same sources pays and enqueues nothing."""
    urls = video_urls(4, tag="runner")
    async with FakeCutPro(**SIM_SETTINGS) as fake:

        def client() -> CutPro:
            return fast_client(fake.api_key, fake.base_url)

        def job() -> DistributedBatch:
            return DistributedBatch(
                db_url, client, tmp_path / "out", BatchOptions(top_k=2), FAST_ENGINE
            )

        first = job()
        async with client() as local:
            assert isinstance(Batch(local, RunOptions(out=tmp_path), MemoryStore()), Runner)
        assert isinstance(first, Runner)
        summary = await first.run(iter(urls))
        assert first.enqueued is not None and first.enqueued.new == 4
        charges = fake.charges_per_video()
        assert sorted(charges.values()) == [1] * 4
        async with Tables(db_url) as tables:
            files = await tables.files(first.enqueued.batch_id)
        assert (summary.done, summary.failed, summary.skipped) == (4, 0, 0)
        assert summary.files == len(files) == 8
        assert summary.bytes == sum(f.bytes for f in files) > 0
        assert summary.credits_spent == fake.credits_spent() > 0
        assert not summary.interrupted
        for saved in files:
            data = await anyio.Path(saved.path).read_bytes()
            assert hashlib.sha256(data).hexdigest() == saved.sha256

        again = job()
        repeat = await again.run(urls)
        assert again.enqueued is not None and again.enqueued.new == 0
        assert (repeat.done, repeat.files, repeat.credits_spent) == (4, 8, summary.credits_spent)
        assert fake.charges_per_video() == charges
        assert fake.requests["POST /clips"] == 4


async def test_stop_leaves_the_batch_resumable(db_url: str, tmp_path: Path) -> None:
    """`stop` while the batch runs: `run` returns, interrupted, with videos unfinished; a
    later run finishes them, each charged once."""
    urls = video_urls(6, tag="stopped")
    async with FakeCutPro(**SIM_SETTINGS) as fake:

        def client() -> CutPro:
            return fast_client(fake.api_key, fake.base_url)

        first = DistributedBatch(db_url, client, tmp_path / "out", settings=FAST_ENGINE)
        async with anyio.create_task_group() as group:
            group.start_soon(first.run, urls)
            while not fake.requests["POST /clips"]:
                await anyio.sleep(0.01)
            first.stop()
        stopped = await first.summary()
        assert stopped.interrupted and stopped.done < 6
        summary = await DistributedBatch(
            db_url, client, tmp_path / "out", settings=FAST_ENGINE
        ).run(urls)
        assert (summary.done, summary.failed) == (6, 0)
        assert sorted(fake.charges_per_video().values()) == [1] * 6


async def test_wait_ends_when_no_workflow_is_left_to_end_a_row(db_url: str, tmp_path: Path) -> None:
    """A row left unfinished with no workflow to end it (its workflow ended another way):
    `wait` returns, saying so in `unfinished`, rather than waiting for ever."""
    async with FakeCutPro(**SIM_SETTINGS) as fake:

        def client() -> CutPro:
            return fast_client(fake.api_key, fake.base_url)

        job = DistributedBatch(db_url, client, tmp_path / "out", settings=FAST_ENGINE)
        await job.run(video_urls(2, tag="stuck"))
        async with await psycopg.AsyncConnection.connect(db_url, autocommit=True) as conn:
            await conn.execute(
                "UPDATE cutpro_videos SET phase = 'submitting' WHERE position = 0 "
                "AND batch_id = %s",
                (job.batch_id,),
            )
        status = await job.wait()
    assert status.unfinished == 1 and status.phases == {"submitting": 1, "done": 1}
