"""Clips whose file is out of reach are fetched again, free: a lost worker's clips by another
worker (rendered again when their render expired), and a worker's own clip missing from its
folder."""

from __future__ import annotations

import hashlib
from pathlib import Path

import anyio
import pytest

from cutpro_async import CutPro
from cutpro_async.distributed import BatchOptions, Tables, enqueue, work
from cutpro_async.testing import FakeCutPro
from tests.batch.conftest import video_urls

from .conftest import FAST_ENGINE, SIM_SETTINGS, fast_client

pytestmark = pytest.mark.anyio

MP4_BRAND = b"ftyp"
#: Renders expire after 2 API hours: 1.2 real seconds at the tests' time scale.
EXPIRY_HOURS = 2.0


async def test_a_lost_workers_clips_and_a_missing_file_are_fetched_again_free(
    db_url: str, tmp_path: Path
) -> None:
    """Worker a clips three videos; its disk is then declared lost and its renders expire:
    worker b fetches the three clips again (rendered again) into its folder, then one of
    b's files is deleted and b fetches it again; nothing is paid twice, every row names b
    and a file that matches it."""
    urls = video_urls(3, tag="refetch")
    settings = {**SIM_SETTINGS, "render_expiry_hours": EXPIRY_HOURS}
    async with FakeCutPro(**settings) as fake:
        await enqueue(db_url, "again", urls, BatchOptions(top_k=1))

        def client() -> CutPro:
            return fast_client(fake.api_key, fake.base_url)

        first = await work(db_url, "a", tmp_path / "a", client, settings=FAST_ENGINE)
        assert (first.finished, first.failed, first.refetched) == (3, 0, None)
        charges, paid = fake.charges_per_video(), fake.requests["POST /clips"]
        await anyio.sleep(EXPIRY_HOURS * 3600 / SIM_SETTINGS["time_scale"] + 0.5)

        again = await work(
            db_url,
            "b",
            tmp_path / "b",
            client,
            settings=FAST_ENGINE,
            refetch_missing=True,
            lost=["a"],
        )
        assert again.refetched is not None
        assert (again.finished, again.refetched.fetched) == (0, 3)
        assert (again.refetched.rerendered, again.refetched.failed) == (3, [])
        async with Tables(db_url) as tables:
            files = await tables.files("again")
        assert [f.worker for f in files] == ["b"] * 3
        assert all(Path(f.path).parent == tmp_path / "b" for f in files)
        assert {Path(f.path).name for f in files} == {p.name for p in (tmp_path / "a").iterdir()}

        await anyio.Path(files[0].path).unlink()
        mine = await work(
            db_url, "b", tmp_path / "b", client, settings=FAST_ENGINE, refetch_missing=True
        )
        assert mine.refetched is not None and mine.refetched.fetched == 1
        async with Tables(db_url) as tables:
            files = await tables.files("again")
        assert fake.charges_per_video() == charges
        assert fake.requests["POST /clips"] == paid
    for saved in files:
        data = await anyio.Path(saved.path).read_bytes()
        assert data[4:8] == MP4_BRAND
        assert (len(data), hashlib.sha256(data).hexdigest()) == (saved.bytes, saved.sha256)
