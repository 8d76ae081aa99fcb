"""The embedded simulator of `cutpro run --simulate`, its world kept on disk.

    async with simulated_client(out / STATE_DIR_NAME, console, retry) as sim:
        ...  # sim.client: a CutPro; sim.identity: "simulated:<world id>", to bind a record to

The world (`STATE_DIR_NAME/STATE_FILE_NAME`, i.e. `OUT/.cutpro-simulator/world.sqlite`)
outlives the run: the next call with the same folder continues it (same API key, workspace,
videos, submissions, renders, credits; jobs carry on where they were), so an interrupted run,
a `--dry-run`, a budget skip or a rerun all resume. The simulator listens on a new port each
time, so a record is bound to `identity`, never to the changing `http://127.0.0.1:<port>/api/v1`.

The simulator (`cutpro_async.testing`, aiohttp's server) is imported inside the function: only
simulated runs load it.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import attrs
from rich.console import Console
from rich.markup import escape

from ..client import CutPro
from ..config import Budget, Pacing, Polling, RetryPolicy
from ..errors import StoreError, StoreLocked

SIM_TIME_SCALE = 600.0  # a 10-minute clipping job takes a second
SIM_ANALYZE_WINDOW = 1.0  # the simulator's 10-per-minute limit, sped up to 10 per second
STATE_DIR_NAME = ".cutpro-simulator"  # in OUT, next to the record
STATE_FILE_NAME = "world.sqlite"
IDENTITY_PREFIX = "simulated:"


@attrs.frozen
class SimulatedApi:
    """A client of the embedded simulator, and what names its world across runs."""

    client: CutPro
    #: `simulated:<world id>`: the same for every run on this world, unlike the base URL.
    identity: str
    #: The SQLite file the world is kept in.
    state_file: Path
    #: Whether an earlier run's world was continued (False: a new world was made).
    restored: bool


def state_dir_for(out: Path) -> Path:
    """Where `cutpro run --simulate --out OUT` keeps its world: `OUT/.cutpro-simulator`."""
    return out / STATE_DIR_NAME


@contextlib.asynccontextmanager
async def simulated_client(
    state_dir: Path, console: Console, retry: RetryPolicy
) -> AsyncIterator[SimulatedApi]:
    """A client of an embedded simulator whose world is kept in `state_dir`, continued if there.

    A state that cannot be used raises `StoreLocked` (another run uses it) or `StoreError`
    (not a simulator's state, damaged, or of another format version), saying what to do.
    """
    from ..testing import FakeCutPro, StateFileError, StateFileLocked  # only simulated runs

    state_file = state_dir / STATE_FILE_NAME
    try:
        # s3-kms: storage whose ETags look like MD5s but are not, as S3 sends for encrypted
        # objects.
        fake = FakeCutPro(
            time_scale=SIM_TIME_SCALE,
            analyze_window=SIM_ANALYZE_WINDOW,
            storage_profile="s3-kms",
            state_path=state_file,
        )
    except StateFileLocked as exc:
        raise StoreLocked(f"{exc} (is another simulated run using this folder?)") from None
    except StateFileError as exc:
        raise StoreError(str(exc)) from None
    except OSError as exc:
        raise StoreError(f"the simulated world in {state_dir} cannot be opened: {exc}") from None
    async with fake:
        kept = "continuing the world saved in" if fake.restored else "world kept in"
        console.print(
            f"[yellow]Simulated CutPro at {fake.base_url}: no real credits are spent "
            f"(clock {SIM_TIME_SCALE:g}x faster; {kept} {escape(str(state_dir))}).[/]",
            soft_wrap=True,
        )
        pacing = Pacing(endpoints={"POST /clips/info": Budget(10, SIM_ANALYZE_WINDOW)})
        polling = Polling(first=0.2, max_interval=1.0)
        async with CutPro(
            fake.api_key, base_url=fake.base_url, pacing=pacing, polling=polling, retry=retry
        ) as client:
            yield SimulatedApi(
                client, f"{IDENTITY_PREFIX}{fake.world_id}", state_file, fake.restored
            )
