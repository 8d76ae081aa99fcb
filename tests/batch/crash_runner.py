"""A batch run in its own process, for the crash tests: `python crash_runner.py LIST OUT`.

Talks to the simulator named by CUTPRO_API_URL / CUTPRO_API_KEY with fast test settings,
records in OUT/state.sqlite, prints the summary as JSON; exit 0 when every video is done.
"""

from __future__ import annotations

import sys
from pathlib import Path

import anyio
import orjson

from cutpro_async import Budget, CutPro, Pacing, Polling, RetryPolicy
from cutpro_async._converter import unstructure
from cutpro_async.batch import Batch, RunOptions, SQLiteStore

PACING = Pacing(requests_per_second=None, endpoints={"POST /clips/info": Budget(10, 0.2)})
POLLING = Polling(first=0.01, max_interval=0.05)
RETRY = RetryPolicy(backoff_initial=0.01, backoff_max=0.05, commit_window=1.0)


async def main(urls: list[str], out: Path) -> int:
    """Run the batch once; 0 when every video ended done."""
    store = await SQLiteStore.open(out / "state.sqlite")
    try:
        async with CutPro(pacing=PACING, polling=POLLING, retry=RETRY) as cp:
            summary = await Batch(cp, RunOptions(out=out, top_k=2), store).run(urls)
    finally:
        await store.close()
    print(orjson.dumps(unstructure(summary)).decode(), flush=True)
    return 0 if summary.done + summary.skipped == len(urls) and not summary.failed else 1


if __name__ == "__main__":
    sys.exit(anyio.run(main, Path(sys.argv[1]).read_text().split(), Path(sys.argv[2])))
