"""File work in the client's threads: results, errors, and cancels that never cut a call short."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import anyio
import pytest

from cutpro_async.jobs._threads import in_thread

pytestmark = pytest.mark.anyio


async def test_result_and_error_come_back() -> None:
    """The call's result, or its exception, is what the await gives."""
    with ThreadPoolExecutor(2) as threads:
        assert await in_thread(threads, lambda a, b: a + b, 2, 3) == 5
        with pytest.raises(OSError, match="nope"):
            await in_thread(threads, _fail)


def _fail() -> None:
    raise OSError("nope")


async def test_a_cancel_waits_for_the_running_call() -> None:
    """A call already running when its caller is cancelled is waited for: the cancel only
    completes once the call is over (a half-done write is never abandoned)."""
    started, finished = threading.Event(), threading.Event()

    def slow() -> None:
        started.set()
        time.sleep(0.2)
        finished.set()

    with ThreadPoolExecutor(1) as threads:
        with anyio.CancelScope() as scope:
            async with anyio.create_task_group() as group:

                async def cancel_once_started() -> None:
                    while not started.is_set():
                        await anyio.sleep(0.005)
                    scope.cancel()

                group.start_soon(cancel_once_started)
                await in_thread(threads, slow)
        assert scope.cancelled_caught
        assert finished.is_set()


async def test_a_cancel_drops_a_call_not_yet_started() -> None:
    """A call still queued behind a busy thread never runs once its caller is cancelled."""
    ran: list[str] = []
    gate = threading.Event()
    with ThreadPoolExecutor(1) as threads:
        async with anyio.create_task_group() as group:
            group.start_soon(in_thread, threads, gate.wait)
            await anyio.sleep(0.02)
            with anyio.move_on_after(0.05) as scope:
                await in_thread(threads, ran.append, "queued")
            assert scope.cancelled_caught
            gate.set()
    assert ran == []
