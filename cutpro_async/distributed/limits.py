"""The API's per-key limits kept across every worker: renders in flight, and the request rate.

Renders: `GlobalSlots` is a semaphore of `size` slots in PostgreSQL, each a session advisory
lock. A worker takes a free slot (one statement tries them all) before `POST /renders` and
gives it back once the render is ready, so the renders of all workers together never exceed
the cap; a slot lives on its own session, so a worker killed mid-render frees its slots at
once (PostgreSQL ends the session when its socket closes). A paused worker keeps its slots
until it wakes or dies: the others render on the rest meanwhile.

Request rate: each worker paces its client at its share of the rate of all workers together,
`rate / live workers`, updated at every heartbeat (`share_rate`); its own 429 adaptation
(halve, pause, climb back) works within that share as in one process.
"""

from __future__ import annotations

import contextlib
import hashlib
import random
from collections.abc import AsyncIterator
from typing import Any

import anyio
import psycopg

from ..client import CutPro
from .tables import connect


def _base(name: str) -> int:
    """The first advisory lock number of the slots called `name` (the next `size` follow)."""
    digest = hashlib.sha256(f"cutpro slots {name}".encode()).digest()
    return int.from_bytes(digest[:6], "big")  # room above it for any number of slots


class GlobalSlots:
    """At most `size` holders across every process sharing the database, `name`d apart."""

    def __init__(self, db_url: str, name: str, size: int, polling: float = 0.5) -> None:
        self.db_url = db_url
        self.size = size
        self.polling = polling
        self._first = _base(name)
        self._idle: list[psycopg.AsyncConnection[tuple[Any, ...]]] = []
        #: Slots this process holds now (for tests and reports).
        self.held = 0

    @contextlib.asynccontextmanager
    async def hold(self) -> AsyncIterator[int]:
        """Wait for a free slot and hold it for the block; yields its number."""
        conn = self._idle.pop() if self._idle else await connect(self.db_url)
        slot: int | None = None
        try:
            while (slot := await self._take(conn)) is None:
                await anyio.sleep(self.polling * random.uniform(0.5, 1.5))
            self.held += 1
            yield slot
        finally:
            with anyio.CancelScope(shield=True):
                if slot is not None:
                    self.held -= 1
                await self._give_back(conn, slot)

    async def _take(self, conn: psycopg.AsyncConnection[tuple[Any, ...]]) -> int | None:
        """A free slot locked on `conn`, or None (tried from a random one, so that waiting
        workers do not all try slot 0 first)."""
        start = random.randrange(self.size)
        cursor = await conn.execute(
            "SELECT k FROM (SELECT (s + %s) %% %s AS k FROM generate_series(0, %s - 1) s) o "
            "WHERE pg_try_advisory_lock(%s + k) LIMIT 1",
            (start, self.size, self.size, self._first),
        )
        row = await cursor.fetchone()
        return None if row is None else int(row[0])

    async def _give_back(
        self, conn: psycopg.AsyncConnection[tuple[Any, ...]], slot: int | None
    ) -> None:
        """Unlock the slot and keep the connection for the next holder (closed if broken)."""
        try:
            if slot is not None:
                await conn.execute("SELECT pg_advisory_unlock(%s)", (self._first + slot,))
        except psycopg.Error:
            await conn.close()  # the session, and the lock with it, is gone
            return
        self._idle.append(conn)

    async def close(self) -> None:
        """Close the idle connections."""
        idle, self._idle = self._idle, []
        for conn in idle:
            await conn.close()


def share_rate(client: CutPro, total: float | None, live: int) -> None:
    """Pace `client`'s requests at its share of `total` requests a second among `live`
    workers (None: the client's own rate, shared). A 429 still halves the client's rate
    and it climbs back, within the share."""
    cell = client._transport.pacer._global  # the pacer's general rate (no setter of its own yet)
    if cell is None:
        return  # the client has no general rate: nothing to share
    total = total or client.settings.pacing.requests_per_second or cell.ceiling
    share = total / max(1, live)
    cell.ceiling = share
    cell.rate = min(cell.rate, share)
