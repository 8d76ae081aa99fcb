"""What `cutpro run --db` changes in a batch it runs again: its budget, and new attempts of the
videos that ended without their clips.

    await set_budget(db_url, batch_id, options, 500)   # before `enqueue`: no worker pays first
    retried = await retry(db_url, batch_id, failed=True)

The budget is the batch's (every worker reads it at each payment): `--budget N` sets it to N
credits in all, what the batch spent before included; a run without `--budget` leaves it as it
was. A video's workflow id derives from the batch and the source, so a video that ended
(failed, or skipped over budget) can only run again as a new workflow: attempt `n` of the video
`KEY` is the workflow `KEY#n`, on the same row of the batch tables (`tables.attempt_of`). The
row is what makes a retry pay once: a video that already paid keeps its submission, which the
retry's paid step adopts under the video's lock. Giving attempts and enqueueing them are two
steps: each run enqueues every unfinished retry again (DBOS adds nothing for an id it has), so
a run stopped between them loses nothing, and a batch run again unchanged enqueues nothing new.
"""

from __future__ import annotations

from .engine import enqueue_videos
from .options import BatchOptions
from .tables import attempt_id, opened


async def set_budget(db_url: str, batch_id: str, options: BatchOptions, budget: float) -> None:
    """Note the batch (if new) and cap what it may spend at `budget` credits in all; a batch
    kept with other options is left alone (`enqueue` refuses it)."""
    wanted = options.to_json()
    async with opened(db_url) as tables:
        if await tables.add_batch(batch_id, wanted) == wanted:
            await tables.set_budget(batch_id, budget)


async def retry(db_url: str, batch_id: str, *, failed: bool) -> int:
    """Give a new attempt to the batch's videos skipped over budget that fit in what is left
    of it now, and with `failed` to its failed videos; enqueue every unfinished retry's
    workflow. Returns how many videos got a new attempt."""
    async with opened(db_url) as tables:
        again = await tables.next_attempts(batch_id, failed=failed)
        pending = await tables.retries(batch_id)
        options = await tables.options_of(batch_id)
    queued = [(attempt_id(key, attempt), source) for key, attempt, source in pending]
    await enqueue_videos(db_url, batch_id, queued, options)
    return len(again)
