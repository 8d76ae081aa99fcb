"""The API's per-key limits across workers: renders in flight under one cap in PostgreSQL,
and the general request rate shared among the live workers."""

from __future__ import annotations

from pathlib import Path

import anyio
import attrs
import pytest

from cutpro_async import CutPro, Pacing
from cutpro_async.distributed import BatchOptions, enqueue, work
from cutpro_async.distributed.limits import GlobalSlots, share_rate
from cutpro_async.distributed.tables import ensure_schema
from cutpro_async.testing import FakeCutPro
from tests.batch.conftest import video_urls

from .conftest import FAST_ENGINE, SIM_SETTINGS, fast_client

pytestmark = pytest.mark.anyio


def most_at_once(spans: list[tuple[float, float]]) -> int:
    """The largest number of (start, end) spans open at one instant."""
    edges = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans])
    most = now = 0
    for _, step in edges:
        now += step
        most = max(most, now)
    return most


async def test_slots_are_shared_by_every_holder_of_the_database(db_url: str) -> None:
    """Two processes' worth of holders (two `GlobalSlots`, each on a session of its own)
    never hold more than the three slots together, all of them get their turn, and every
    slot is free again afterwards."""
    await ensure_schema(db_url)
    workers = [GlobalSlots(db_url, "test", 3, polling=0.02) for _ in range(2)]
    held, most, done = [0], [0], [0]

    async def holder(slots: GlobalSlots) -> None:
        async with slots.hold() as slot:
            assert 0 <= slot < 3
            held[0] += 1
            most[0] = max(most[0], held[0])
            await anyio.sleep(0.05)
            held[0] -= 1
        done[0] += 1

    fresh = GlobalSlots(db_url, "test", 3, polling=0.02)
    try:
        async with anyio.create_task_group() as group:
            for n in range(16):
                group.start_soon(holder, workers[n % 2])
        assert (done[0], most[0]) == (16, 3)
        # Their sessions still open, none of them keeps a slot: a third takes all three.
        with anyio.fail_after(10):
            async with fresh.hold(), fresh.hold(), fresh.hold():
                assert fresh.held == 3
    finally:
        for slots in [*workers, fresh]:
            await slots.close()


async def test_a_silent_holder_loses_its_slots_after_the_lease(db_url: str) -> None:
    """A holder that pings its session keeps its slot past the lease; once it stops answering,
    PostgreSQL ends its session after the lease and another holder gets the slot."""
    await ensure_schema(db_url)
    quiet = GlobalSlots(db_url, "lease", 1, polling=0.05, lease=1.0)
    other = GlobalSlots(db_url, "lease", 1, polling=0.05)
    try:
        async with quiet.hold():

            async def pinging() -> None:
                while True:
                    await quiet.ping()
                    await anyio.sleep(0.2)

            async with anyio.create_task_group() as group:
                group.start_soon(pinging)
                with anyio.move_on_after(2.0) as waited:
                    async with other.hold():
                        pass
                group.cancel_scope.cancel()
            assert waited.cancelled_caught  # still held: the pings kept the session
            with anyio.fail_after(10):
                async with other.hold() as slot:
                    assert slot == 0
    finally:
        for slots in (quiet, other):
            await slots.close()


async def test_a_worker_renders_within_the_cap(db_url: str, tmp_path: Path) -> None:
    """With renders capped at two, the simulator never has more than two of the batch's
    renders between their creation and their completion (and it did have two)."""
    urls = video_urls(4, tag="cap")
    settings = {**SIM_SETTINGS, "time_scale": 600}  # renders long enough to overlap
    async with FakeCutPro(**settings) as fake:
        await enqueue(db_url, "cap", urls, BatchOptions(top_k=2))

        def client() -> CutPro:
            return fast_client(fake.api_key, fake.base_url)

        capped = attrs.evolve(FAST_ENGINE, render_concurrency=2)
        report = await work(db_url, "solo-1", tmp_path / "out", client, settings=capped)
        renders = [r for ws in fake.world.workspaces.values() for r in ws.renders.values()]
    assert (report.finished, report.failed, len(renders)) == (4, 0, 8)
    assert most_at_once([(r.created, r.timeline.ends) for r in renders]) == 2


async def test_each_live_worker_paces_at_its_share() -> None:
    """Among four live workers, a client of 20 requests a second runs at 5; alone again, at
    20; a total of 40 among four gives 10. A client without a rate gets one only from a
    total. (Its 429 adaptation within the share: tests/test_pacing.py.)"""
    async with (
        CutPro("cp_test", base_url="http://127.0.0.1:9", pacing=Pacing(20.0)) as cp,
        CutPro("cp_test", base_url="http://127.0.0.1:9", pacing=Pacing(None)) as unpaced,
    ):
        share_rate(cp, None, 4)
        assert cp.request_rate == 5.0
        share_rate(cp, None, 1)
        assert cp.request_rate == 20.0
        share_rate(cp, 40.0, 4)
        assert cp.request_rate == 10.0
        share_rate(unpaced, None, 4)
        assert unpaced.request_rate is None
        share_rate(unpaced, 40.0, 4)
        assert unpaced.request_rate == 10.0


#: Four workers' clients at 6 requests a second each, against a key limited to 12 a second:
#: shared, 1.5 each (6 together, half the limit); unshared, 24 together, twice the limit.
#: Either way is far from the limit, so the loaded machine's timing cannot flip the outcome.
WORKERS, CLIENT_RATE, KEY_LIMIT, REQUESTS_EACH = 4, 6.0, 12, 5


async def rate_limited_workers(shared: bool) -> tuple[int, int]:
    """(429s answered, requests answered) when `WORKERS` clients of one key (each its own
    connections) send `REQUESTS_EACH` requests at once, their rate shared or not."""
    pacing = Pacing(requests_per_second=CLIENT_RATE, burst=1, endpoints={})
    async with FakeCutPro(request_limit=KEY_LIMIT, request_window=1.0) as fake:

        async def worker() -> None:
            async with CutPro(fake.api_key, base_url=fake.base_url, pacing=pacing) as cp:
                if shared:
                    share_rate(cp, None, WORKERS)
                async with anyio.create_task_group() as group:
                    for _ in range(REQUESTS_EACH):
                        group.start_soon(cp.balance.get)

        async with anyio.create_task_group() as group:
            for _ in range(WORKERS):
                group.start_soon(worker)
        refused = sum(fake.rate_limited.values())
        return refused, fake.requests["GET /balance"] - refused


async def test_workers_sharing_the_rate_stay_under_the_keys_limit() -> None:
    """Four clients of one key, each paced at its share of the rate: the simulator's
    general limit refuses none of their 20 requests."""
    assert await rate_limited_workers(shared=True) == (0, WORKERS * REQUESTS_EACH)


async def test_the_same_load_unshared_meets_the_keys_limit() -> None:
    """The same four clients each at the whole rate get 429s, adapt, and all their requests
    are answered in the end."""
    refused, answered = await rate_limited_workers(shared=False)
    assert refused > 0
    assert answered == WORKERS * REQUESTS_EACH
