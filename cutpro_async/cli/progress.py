"""Rendering batch events for people (rich progress bars) or scripts (JSON lines)."""

from __future__ import annotations

from types import TracebackType

import orjson
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn

from .._converter import unstructure
from ..batch import Event, Stage, StageFinished, StageStarted, Summary, VideoFailed


class LiveProgress:
    """A bar per stage pool (finished of entered) and a line with credits, files and failures."""

    def __init__(self, console: Console) -> None:
        self._console = console
        self._progress = Progress(
            TextColumn("{task.description:>11}"),
            BarColumn(),
            TextColumn("{task.fields[count]:>11}"),
            TextColumn("{task.fields[note]}"),
            console=console,
            transient=False,
        )
        self._tasks: dict[Stage, TaskID] = {
            stage: self._progress.add_task(stage.value, total=0, note="", count="0/0")
            for stage in Stage
        }
        self._totals = self._progress.add_task("totals", total=None, note="", count="")
        self.summary = Summary()

    def __enter__(self) -> LiveProgress:
        self._progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._progress.stop()

    def __call__(self, event: Event) -> None:
        """Show one event."""
        self.summary.count(event)
        if isinstance(event, StageStarted | StageFinished):
            self._count(event)
        elif isinstance(event, VideoFailed):
            self._console.print(
                f"[red]failed[/] {event.source} in phase {event.phase}: {event.error}"
            )
        s = self.summary
        self._progress.update(
            self._totals,
            note=f"{s.credits_spent:g} spent · {s.files} files · "
            f"{s.done} done · {s.failed} failed · {s.skipped} skipped",
        )

    def _count(self, event: StageStarted | StageFinished) -> None:
        """A stage bar: finished of entered."""
        task_id = self._tasks[event.stage]
        task = self._progress.tasks[task_id]
        total = (task.total or 0) + isinstance(event, StageStarted)
        done = task.completed + isinstance(event, StageFinished)
        self._progress.update(task_id, total=total, completed=done, count=f"{done:.0f}/{total:.0f}")


class JsonLines:
    """One JSON object per event on stdout, for scripts."""

    def __call__(self, event: Event) -> None:
        """Print one event."""
        data = unstructure(event)
        data["event"] = type(event).__name__
        print(orjson.dumps(data, default=str).decode(), flush=True)
