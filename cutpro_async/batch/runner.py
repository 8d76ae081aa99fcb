"""What runs a batch, whatever keeps it: the one interface of `Batch` (one machine, its record
in SQLite) and `cutpro_async.distributed.DistributedBatch` (many machines, PostgreSQL).

    async def clip_all(runner: Runner, urls: list[str]) -> None:
        summary = await runner.run(urls)
        print(f"{summary.done} done, {summary.failed} failed")
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from .events import Summary
from .sources import Sources


@runtime_checkable
class Runner(Protocol):
    """Runs sources through the pipeline and says what was done; `stop` stops taking work,
    leaving what ran resumable."""

    async def run(self, sources: Sources) -> Summary:
        """Process every source; the summary."""
        ...

    def stop(self) -> None:
        """Stop taking work; a later `run` goes on where this one stopped."""
        ...
