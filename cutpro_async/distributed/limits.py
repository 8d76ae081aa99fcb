"""The API's per-key limits kept across every worker: renders in flight, and the request rate.

Renders: `GlobalSlots` is a semaphore of `size` slots in PostgreSQL, each a session advisory
lock. A worker takes a free slot (trying them one by one) before `POST /renders` and
gives it back once the render is ready, so the renders of all workers together never exceed
the cap; a worker's slots live on one session of its own, so a worker killed mid-render frees
them at once (PostgreSQL ends the session when its socket closes), and one that stops
answering (paused, cut off) frees them after the heartbeat timeout: the session runs with
`idle_session_timeout` and each heartbeat pings it.

Request rate: each worker paces its client at its share of the rate of all workers together,
`rate / live workers`, updated at every heartbeat (`share_rate`, through the client's
`request_rate`); its own 429 adaptation (halve, pause, climb back) works within that share
as in one process.
"""

from __future__ import annotations

import contextlib
import hashlib
import random
from collections.abc import AsyncIterator
from typing import Any

import anyio
import attrs
import psycopg

from ..client import CutPro
from .tables import connect


def _base(name: str) -> int:
    """The first advisory lock number of the slots called `name` (the next `size` follow)."""
    digest = hashlib.sha256(f"cutpro slots {name}".encode()).digest()
    return int.from_bytes(digest[:6], "big")  # room above it for any number of slots


@attrs.define
class GlobalSlots:
    """At most `size` holders across every process sharing the database, `name`d apart.

    A process holds its slots on one session of its own (its locks end with it) and never
    more than `size` at once, so the slots cost each worker one connection. With a `lease`,
    PostgreSQL ends that session (freeing its slots) after that many seconds without a
    statement: `ping` it more often. Waiting holders try again every `polling` seconds.
    """

    db_url: str
    name: str
    size: int
    polling: float = 0.5
    lease: float | None = None
    _first: int = attrs.field(init=False)
    _local: anyio.Semaphore = attrs.field(init=False)
    _conn: psycopg.AsyncConnection[tuple[Any, ...]] | None = attrs.field(default=None, init=False)
    _opening: anyio.Lock = attrs.field(factory=anyio.Lock, init=False)
    _taking: anyio.Lock = attrs.field(factory=anyio.Lock, init=False)
    #: The slots this process holds (a session may take its own lock again: never asked).
    _mine: set[int] = attrs.field(factory=set, init=False)

    def __attrs_post_init__(self) -> None:
        self._first = _base(self.name)
        self._local = anyio.Semaphore(self.size)

    @contextlib.asynccontextmanager
    async def hold(self) -> AsyncIterator[int]:
        """Wait for a free slot and hold it for the block; yields its number."""
        async with self._local:
            while True:
                async with self._taking:  # one try at a time: each sees the others' slots
                    slot = await self._take()
                    if slot is not None:
                        self._mine.add(slot)
                        break
                await anyio.sleep(self.polling * random.uniform(0.5, 1.5))
            try:
                yield slot
            finally:
                self._mine.discard(slot)
                with anyio.CancelScope(shield=True):
                    await self._give_back(slot)

    @property
    def held(self) -> int:
        """Slots this process holds now."""
        return len(self._mine)

    async def _session(self) -> psycopg.AsyncConnection[tuple[Any, ...]]:
        """This process's slot session, opened on first use and again after a loss (the
        slots it held went with the lost one)."""
        async with self._opening:
            if self._conn is None or self._conn.closed:
                self._conn = conn = await connect(self.db_url)
                if self.lease is not None:
                    await conn.execute(
                        "SELECT set_config('idle_session_timeout', %s, false)",
                        (f"{int(self.lease * 1000)}",),
                    )
            return self._conn

    async def ping(self) -> None:
        """Keep the session from idling out (its slots freed) while this process answers."""
        conn = self._conn
        if conn is None or conn.closed:
            return
        try:
            await conn.execute("SELECT 1")
        except psycopg.OperationalError:
            await conn.close()  # its slots went with it; opened again at the next take

    async def _take(self) -> int | None:
        """A free slot, locked on this process's session, or None. One lock is tried per
        statement, skipping this process's own slots (a session that asks for a lock it holds
        gets it again, and would then hold it twice), from a random one on, so that waiting
        workers do not all try slot 0 first."""
        start = random.randrange(self.size)
        conn = await self._session()
        for step in range(self.size):
            slot = (start + step) % self.size
            if slot in self._mine:
                continue
            try:
                cursor = await conn.execute(
                    "SELECT pg_try_advisory_lock(%s)", (self._first + slot,)
                )
                row = await cursor.fetchone()
            except psycopg.OperationalError:
                await conn.close()  # opened again at the next try
                return None
            if row is not None and row[0]:
                return slot
        return None

    async def _give_back(self, slot: int) -> None:
        """Unlock a slot (nothing to do if its session is gone: the lock went with it)."""
        conn = self._conn
        if conn is None or conn.closed:
            return
        try:
            await conn.execute("SELECT pg_advisory_unlock(%s)", (self._first + slot,))
        except psycopg.OperationalError:
            await conn.close()

    async def close(self) -> None:
        """End the session (any slot still held is freed)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            await conn.close()


def share_rate(client: CutPro, total: float | None, live: int) -> None:
    """Pace `client`'s requests at its share of `total` requests a second among `live`
    workers (None: the client's configured rate; with neither, nothing is shared). A 429
    still halves the client's rate and it climbs back, within the share. Each worker keeps
    its own burst (`Pacing.burst`), so the live workers together may burst that many each."""
    total = total or client.settings.pacing.requests_per_second
    if total is not None:
        client.request_rate = total / max(1, live)
