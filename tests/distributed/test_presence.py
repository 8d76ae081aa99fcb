"""Worker presence: one process per worker id, a heartbeat on the database's clock, and a
silent worker's session ended by PostgreSQL, which makes it gone to the others and stops it
when it wakes."""

from __future__ import annotations

import anyio
import pytest

from cutpro_async.distributed.presence import Presence, PresumedGone, workers
from cutpro_async.distributed.tables import ensure_schema
from cutpro_async.errors import UsageError

pytestmark = pytest.mark.anyio

#: Beats and the silence after which a worker is gone, in these tests.
BEAT, TIMEOUT = 0.2, 1.0


def presence(db_url: str, worker_id: str) -> Presence:
    """A presence with the tests' timings."""
    return Presence(db_url, worker_id, f"/tmp/{worker_id}", BEAT, TIMEOUT)


async def test_a_worker_id_is_held_by_one_process_at_a_time(db_url: str) -> None:
    """A second process joining with a live worker's id is refused (after waiting out the
    timeout for a process that just died); once the first leaves, the id is free again."""
    await ensure_schema(db_url)
    first, second = presence(db_url, "w1"), presence(db_url, "w1")
    await first.join()

    async def beating() -> None:
        while True:
            await first.beat()
            await anyio.sleep(BEAT)

    try:
        async with anyio.create_task_group() as group:
            group.start_soon(beating)
            with pytest.raises(UsageError, match="in use"):
                await second.join()
            group.cancel_scope.cancel()
    finally:
        await first.leave()
    await second.join()
    assert second.incarnation == first.incarnation + 1
    await second.leave()
    [row] = await workers(db_url, TIMEOUT)
    assert (row.worker_id, row.stopped, row.live) == ("w1", True, False)


async def test_a_silent_worker_is_gone_and_stops_when_it_wakes(db_url: str) -> None:
    """A worker that stops beating has its session ended by PostgreSQL after the timeout: the
    others see it gone (its lock free), and its next beat raises `PresumedGone`."""
    await ensure_schema(db_url)
    silent, live = presence(db_url, "silent"), presence(db_url, "live")
    await silent.join()
    await live.join()
    try:
        assert await live.beat() == 2
        assert await live.gone() == []
        with anyio.fail_after(10):
            while await live.gone() != ["silent"]:
                await live.beat()
                await anyio.sleep(BEAT)
        assert await live.beat() == 1
        with pytest.raises(PresumedGone, match="presumed gone"):
            await silent.beat()
        async with live.adopting() as got:
            assert got
            await live.adopted("silent", 3)
        found = {row.worker_id: row for row in await workers(db_url, TIMEOUT)}
        assert (found["silent"].live, found["silent"].adopted_by) == (False, "live")
        assert (found["silent"].adopted, found["live"].live) == (3, True)
    finally:
        await silent.close()
        await live.leave()
