"""One worker process of the distributed tests, against the simulator named by
CUTPRO_API_KEY / CUTPRO_API_URL: `python worker_runner.py DB_URL WORKER_ID OUT`.

It works until the batch has nothing queued and nothing pending, prints its report as JSON,
and exits 0 (3 if it found itself presumed gone). Each step's start is written to the table
`test_step_starts` (workflow id, step id, worker, wall time in ms), so that a test can check
that no step ran again after its result was recorded. `start_worker` starts it from a test.
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

import anyio
import attrs
import orjson
import psycopg
from anyio.abc import Process

from cutpro_async.distributed import Tables, work
from cutpro_async.distributed.presence import PresumedGone

RUNNER = Path(__file__).resolve()
#: The exit code of a worker that found itself presumed gone (and stopped).
EXIT_GONE = 3
STEP_STARTS = """
    CREATE TABLE IF NOT EXISTS test_step_starts (
        workflow_id TEXT NOT NULL,
        step_id INTEGER NOT NULL,
        worker TEXT NOT NULL,
        started_ms BIGINT NOT NULL
    )
"""
#: The advisory lock that makes the table's creation safe when workers start together
#: (two concurrent CREATE TABLE IF NOT EXISTS can both try, and one fails).
_STEP_STARTS_LOCK = 20261129


async def create_step_starts(db_url: str) -> None:
    """Create the table of step starts, if missing, whoever else does at the same time."""
    conn = await psycopg.AsyncConnection.connect(db_url, autocommit=True)
    async with conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_STEP_STARTS_LOCK,))
        await conn.execute(STEP_STARTS)


async def start_worker(
    db_url: str, worker_id: str, out: Path, env: dict[str, str], log: Path
) -> Process:
    """Start a worker process, its output appended to `log`."""
    command = [sys.executable, str(RUNNER), db_url, worker_id, str(out)]
    with log.open("ab") as sink:
        return await anyio.open_process(command, env=env, stdin=None, stdout=sink, stderr=sink)


async def _work(db_url: str, worker_id: str, out: Path) -> int:
    """Work as `worker_id`, noting each step's start; the exit code."""
    from tests.distributed.conftest import FAST_ENGINE, fast_client

    await create_step_starts(db_url)
    async with Tables(db_url) as probe:

        async def started(workflow_id: str, step_id: int) -> None:
            await probe.run(
                "INSERT INTO test_step_starts VALUES (%s, %s, %s, %s)",
                (workflow_id, step_id, worker_id, int(time.time() * 1000)),
            )

        try:
            report = await work(
                db_url, worker_id, out, fast_client, settings=FAST_ENGINE, on_step=started
            )
        except PresumedGone as exc:
            print(f"presumed gone: {exc}", flush=True)
            return EXIT_GONE
    print(orjson.dumps(attrs.asdict(report)).decode(), flush=True)
    return 0


def _main() -> int:
    """The script: one worker, until the batch is empty."""
    db_url, worker_id, out = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    return anyio.run(_work, db_url, worker_id, out)


if __name__ == "__main__":
    sys.path.insert(0, str(RUNNER.parents[2]))
    sys.exit(_main())
