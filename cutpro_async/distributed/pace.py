"""Starts paced for every worker at once: at most `limit` in any `period` seconds, on the
database's clock (what a DBOS queue's limiter does, without a queue to poll).

One row per window name holds the times of its recent starts; a start is one statement that
drops the times older than the period and either adds its own or says how long to wait for
the oldest that counts to age out. Workers wait apart, so a start costs one statement.
"""

from __future__ import annotations

import hashlib
from typing import Any

import anyio
import attrs
import psycopg

from .tables import connect

_SCHEMA_LOCK = int.from_bytes(hashlib.sha256(b"cutpro pace").digest()[:8], "big", signed=True)
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS cutpro_pace ("
    "name TEXT PRIMARY KEY, starts TIMESTAMPTZ[] NOT NULL DEFAULT '{}')"
)


#: Drop the starts older than the period; add this one if fewer than the limit are left, else
#: say how long until the oldest that counts leaves the window.
_START = """
WITH cur AS (
    SELECT name, ARRAY(
        SELECT t FROM unnest(starts) AS t
        WHERE t > clock_timestamp() - make_interval(secs => %(period)s) ORDER BY t
    ) AS kept
    FROM cutpro_pace WHERE name = %(name)s FOR UPDATE
)
UPDATE cutpro_pace SET starts = CASE
    WHEN cardinality(cur.kept) < %(limit)s THEN cur.kept || clock_timestamp() ELSE cur.kept END
FROM cur WHERE cutpro_pace.name = cur.name
RETURNING cardinality(cur.kept) < %(limit)s, EXTRACT(EPOCH FROM
    cur.kept[greatest(1, cardinality(cur.kept) - %(limit)s + 1)]
    + make_interval(secs => %(period)s) - clock_timestamp())::float8
"""


@attrs.define
class SharedWindow:
    """At most `limit` starts of `name` in any `period` seconds across every process sharing
    the database. The process keeps one session for it, opened on first use."""

    db_url: str
    name: str
    limit: int
    period: float
    _conn: psycopg.AsyncConnection[tuple[Any, ...]] | None = attrs.field(default=None, init=False)
    _lock: anyio.Lock = attrs.field(factory=anyio.Lock, init=False)

    async def start(self) -> None:
        """Wait until a start is allowed, and count this one."""
        while True:
            try:
                async with self._lock:  # one statement at a time on the session
                    wait = await self._try()
            except psycopg.OperationalError:  # the session was lost: open another
                await self.close()
                wait = 0.5
            else:
                if wait <= 0:
                    return
            await anyio.sleep(wait)

    async def _try(self) -> float:
        """Count a start if the window allows one (0), else the seconds until it may. One
        statement: a process paused mid-start never holds the row."""
        conn = await self._session()
        cursor = await conn.execute(
            _START, {"name": self.name, "limit": self.limit, "period": self.period}
        )
        row = await cursor.fetchone()
        assert row is not None
        allowed, wait = row
        return 0.0 if allowed else max(0.001, float(wait))

    async def _session(self) -> psycopg.AsyncConnection[tuple[Any, ...]]:
        """This process's session (its row created if missing)."""
        if self._conn is None or self._conn.closed:
            conn = await connect(self.db_url)
            async with conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
                await conn.execute(_SCHEMA)
                await conn.execute(
                    "INSERT INTO cutpro_pace (name) VALUES (%s) ON CONFLICT DO NOTHING",
                    (self.name,),
                )
            self._conn = conn
        return self._conn

    async def close(self) -> None:
        """End the session."""
        conn, self._conn = self._conn, None
        if conn is not None:
            await conn.close()
