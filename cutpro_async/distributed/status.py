"""What a distributed batch has, across every worker: for `cutpro status --db` and
`cutpro manifest --db`.

    found = await batch_status(db_url, "my-batch")
    rows = await manifest_rows(db_url, "my-batch")  # one dict per clip saved, with its worker
"""

from __future__ import annotations

from typing import Any

import attrs

from ..batch.manifest import FIELDS
from ..errors import UsageError
from .presence import WorkerRow, workers
from .tables import VideoRow, opened

#: The phases of a video in the batch tables, in the order a video goes through them.
PHASES = ("queued", "priced", "submitting", "submitted", "clipped", "done", "failed", "skipped")
#: The phases a video ends in (a skipped one may get a new attempt from a later run).
FINAL = ("done", "failed", "skipped")
#: The manifest's fields: those of `cutpro_async.batch.manifest` plus the worker.
MANIFEST_FIELDS = (*FIELDS, "worker")


@attrs.frozen
class BatchStatus:
    """A batch across its workers: videos per phase, what was paid, files per worker, and
    the videos that failed (source, error)."""

    batch_id: str
    videos: int
    phases: dict[str, int]
    paid: int  # videos with a submission (each charged once)
    credits: float
    adopted: int  # of `paid`: submissions found on the server rather than created by a worker
    files: dict[str, int]  # files per worker holding them
    failures: list[tuple[str, str]]
    #: Every worker that joined the database (of any batch), live or gone.
    workers: list[WorkerRow] = attrs.field(factory=list)
    #: The videos skipped over budget (source, reason).
    skips: list[tuple[str, str]] = attrs.field(factory=list)
    #: The batch's budget (None: no cap), and the credits its paid steps spent or hold.
    budget: float | None = None
    spent: float = 0.0

    @property
    def unfinished(self) -> int:
        """Videos neither done, failed nor skipped."""
        return self.videos - sum(self.phases.get(phase, 0) for phase in FINAL)


async def which_batch(db_url: str, batch_id: str | None) -> str:
    """`batch_id` if that batch exists; None: the database's only batch. `UsageError` else."""
    async with opened(db_url) as tables:
        known = await tables.batches()
    if batch_id is not None:
        if batch_id not in known:
            raise UsageError(f"no batch {batch_id!r} in this database; it has: {_listed(known)}")
        return batch_id
    if len(known) != 1:
        raise UsageError(f"name the batch with --batch; this database has: {_listed(known)}")
    return known[0]


def _listed(batches: list[str]) -> str:
    """Batch ids for a message."""
    return ", ".join(batches) if batches else "no batch"


async def batch_status(db_url: str, batch_id: str, timeout: float = 30.0) -> BatchStatus:
    """The batch's videos, charges and files as the tables hold them now, and the workers
    (live: a heartbeat within `timeout` seconds)."""
    async with opened(db_url) as tables:
        videos: list[VideoRow] = await tables.videos(batch_id)
        paid, credits, adopted = await tables.charges(batch_id)
        files = await tables.files(batch_id)
        budget, spent = await tables.ledger(batch_id)
    phases: dict[str, int] = {}
    for video in videos:
        phases[video.phase] = phases.get(video.phase, 0) + 1
    held: dict[str, int] = {}
    for saved in files:
        held[saved.worker] = held.get(saved.worker, 0) + 1
    failures = [(v.source, v.error or "no reason recorded") for v in videos if v.phase == "failed"]
    skips = [(v.source, v.error or "no reason recorded") for v in videos if v.phase == "skipped"]
    held = dict(sorted(held.items()))
    found = await workers(db_url, timeout)
    return BatchStatus(
        batch_id,
        len(videos),
        phases,
        paid,
        credits,
        adopted,
        held,
        failures,
        found,
        skips,
        budget,
        spent,
    )


async def manifest_rows(db_url: str, batch_id: str) -> list[dict[str, Any]]:
    """One row per clip saved for the batch (source order, then rank): the fields of
    `MANIFEST_FIELDS`, `worker` naming the worker whose disk holds `path`."""
    async with opened(db_url) as tables:
        videos = {v.workflow_id: v for v in await tables.videos(batch_id)}
        files = await tables.files(batch_id)
    rows = []
    for saved in files:
        video = videos[saved.workflow_id]
        rows.append(
            {
                "source": video.source,
                "video_id": video.video_id,
                "clip_id": saved.clip_id,
                "title": saved.title,
                "rating": saved.rating,
                "start_time": saved.start_time,
                "end_time": saved.end_time,
                "render_id": saved.render_id,
                "path": saved.path,
                "bytes": saved.bytes,
                "sha256": saved.sha256,
                "worker": saved.worker,
            }
        )
    return rows
