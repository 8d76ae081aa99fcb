"""Fixtures for the batch tests: a fast simulator and client, URLs, and on-disk checks."""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from cutpro_async import Budget, CutPro, Pacing, Polling
from cutpro_async.batch import Phase, Record
from cutpro_async.testing import FakeCutPro
from tests.conftest import FAST_RETRY

#: `/clips/info` sped up like the simulator's window; no global cap, so that hundreds of fast
#: pollers are not queued behind the default 20 requests/s (which makes 200 videos take ~75 s).
FAST_PACING = Pacing(requests_per_second=None, endpoints={"POST /clips/info": Budget(10, 0.2)})
FAST_POLLING = Polling(first=0.01, max_interval=0.05)
SIM_SETTINGS: dict[str, Any] = {"time_scale": 6000, "analyze_window": 0.2}
MP4_BRAND = b"ftyp"
_ids = itertools.count(1)


def video_url(tag: str = "v", duration: int = 600) -> str:
    """A fresh public video URL (600 s costs 10 credits); `fail` in `tag` makes it fail."""
    return f"https://www.youtube.com/watch?v={tag}{next(_ids)}&duration={duration}"


def video_urls(count: int, tag: str = "v", duration: int = 600) -> list[str]:
    """`count` distinct video URLs."""
    return [video_url(tag, duration) for _ in range(count)]


def make_client(fake: FakeCutPro, **options: Any) -> CutPro:
    """A client of `fake` with fast pacing, polling and retries (open it with `async with`)."""
    options.setdefault("pacing", FAST_PACING)
    options.setdefault("polling", FAST_POLLING)
    options.setdefault("retry", FAST_RETRY)
    return CutPro(fake.api_key, base_url=fake.base_url, **options)


@asynccontextmanager
async def simulated(**settings: Any) -> AsyncIterator[tuple[FakeCutPro, CutPro]]:
    """A fast simulator with these settings and an open fast client of it."""
    async with FakeCutPro(**{**SIM_SETTINGS, **settings}) as fake, make_client(fake) as cp:
        yield fake, cp


@pytest.fixture
async def sim() -> AsyncIterator[tuple[FakeCutPro, CutPro]]:
    """A fast, fault-free simulator and a client of it."""
    async with simulated() as pair:
        yield pair


def sha256_of(path: str | Path) -> str:
    """The SHA-256 of a file's bytes, recomputed."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def size_of(path: str | Path) -> int:
    """The size of a file in bytes."""
    return Path(path).stat().st_size


def names(folder: Path, pattern: str = "*") -> list[str]:
    """The sorted names of the files in `folder` matching `pattern`."""
    return sorted(path.name for path in folder.glob(pattern))


def check_files(records: Iterable[Record], top_k: int) -> int:
    """Every record done with `top_k` valid MP4s whose size and hash match; returns the count."""
    count = 0
    for record in records:
        assert record.phase == Phase.DONE, (record.source, record.phase, record.error)
        assert len(record.files) == top_k, record.source
        for saved in record.files:
            data = Path(saved.path).read_bytes()
            assert data[4:8] == MP4_BRAND
            assert len(data) == saved.bytes
            assert hashlib.sha256(data).hexdigest() == saved.sha256
            count += 1
    return count


def charges_of(fake: FakeCutPro, records: Iterable[Record]) -> list[int]:
    """How many times each record's video was charged, in record order."""
    charges = fake.charges_per_video()
    return [charges[record.video_id or ""] for record in records]
