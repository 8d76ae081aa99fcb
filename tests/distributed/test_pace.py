"""The analysis window every worker shares: at most its limit of starts per period."""

from __future__ import annotations

import anyio
import pytest

from cutpro_async.distributed.pace import SharedWindow

pytestmark = pytest.mark.anyio


async def test_processes_sharing_a_window_start_no_more_than_its_limit(db_url: str) -> None:
    """Two holders of one window (as two workers) try eight starts: five get through, the
    others wait for the period to pass; a window of another name is not held up."""
    windows = [SharedWindow(db_url, "analyze", 5, 600.0) for _ in range(2)]
    other = SharedWindow(db_url, "other", 1, 600.0)
    started = 0

    async def start(window: SharedWindow) -> None:
        nonlocal started
        await window.start()
        started += 1

    try:
        with anyio.move_on_after(3.0):
            async with anyio.create_task_group() as group:
                for n in range(8):
                    group.start_soon(start, windows[n % 2])
        assert started == 5
        with anyio.fail_after(30):
            await other.start()
    finally:
        for window in (*windows, other):
            await window.close()
