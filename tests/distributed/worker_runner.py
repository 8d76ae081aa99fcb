"""One worker process of the distributed tests, against the simulator named by
CUTPRO_API_KEY / CUTPRO_API_URL: `python worker_runner.py DB_URL WORKER_ID OUT`.

It works until the batch has nothing queued and nothing of its own pending, prints its
report as JSON, and exits 0. `start_worker` starts it from a test.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import anyio
import attrs
import orjson
from anyio.abc import Process

from cutpro_async.distributed import work

RUNNER = Path(__file__).resolve()


async def start_worker(
    db_url: str, worker_id: str, out: Path, env: dict[str, str], log: Path
) -> Process:
    """Start a worker process, its output appended to `log`."""
    command = [sys.executable, str(RUNNER), db_url, worker_id, str(out)]
    with log.open("ab") as sink:
        return await anyio.open_process(command, env=env, stdin=None, stdout=sink, stderr=sink)


def _main() -> int:
    """The script: one worker, until the batch is empty."""
    from tests.distributed.conftest import FAST_ENGINE, fast_client

    db_url, worker_id, out = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    report = anyio.run(lambda: work(db_url, worker_id, out, fast_client, settings=FAST_ENGINE))
    print(orjson.dumps(attrs.asdict(report)).decode(), flush=True)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(RUNNER.parents[2]))
    sys.exit(_main())
