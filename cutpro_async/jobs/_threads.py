"""Work in a pool of threads, awaited from the event loop at little cost.

`anyio.to_thread.run_sync` yields to the loop twice before it starts (a checkpoint, the
limiter's) and hands each call to one particular idle worker, so a burst of small calls wakes
a thread each. A `ThreadPoolExecutor` shares one queue: a worker that is already awake takes
the next call. On cancel, a call not yet started is dropped; one that is running is waited for
(a thread cannot be stopped half-way through a write), then the cancel goes on, as with
anyio's default.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import TypeVar

import anyio

T = TypeVar("T")


async def in_thread(threads: Executor, work: Callable[..., T], *args: object) -> T:
    """`work(*args)` in one of `threads`, off the event loop; its result or its exception."""
    future: Future[T] = threads.submit(work, *args)
    try:
        return await asyncio.wrap_future(future)
    except asyncio.CancelledError:
        if not future.cancel():  # running already: let it finish before going on
            await _finish(future)
        raise


async def _finish(future: Future[T]) -> None:
    """Wait until a running call is over, shielded from the cancel being delivered."""
    done = asyncio.Event()
    loop = asyncio.get_running_loop()
    future.add_done_callback(lambda _: loop.call_soon_threadsafe(done.set))
    with anyio.CancelScope(shield=True):
        while not done.is_set():
            try:
                await done.wait()
            except asyncio.CancelledError:  # a plain asyncio cancel: not stopped by the shield
                continue
