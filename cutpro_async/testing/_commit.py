"""Slow commits: a paid request checked at once and committed later, even if its client left."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

from ._world import WorkspaceState, World

T = TypeVar("T")


def credits_held(ws: WorkspaceState) -> float:
    """Credits promised to paid requests that have not committed yet."""
    return sum(ws.committing.values())


async def commit_later(
    world: World,
    ws: WorkspaceState,
    video_id: str,
    cost: float,
    delay: float,
    commit: Callable[[], T],
) -> T:
    """Hold the video and `cost` credits for `delay` real seconds, then run `commit`.

    The commit runs in a task of the world, shielded from the request, so that a client that
    times out or closes the connection meanwhile is still charged, as by an overloaded server.
    """
    ws.committing[video_id] = cost

    async def later() -> T:
        try:
            await asyncio.sleep(delay)
            return commit()
        finally:
            del ws.committing[video_id]

    return await asyncio.shield(world.spawn(later()))
