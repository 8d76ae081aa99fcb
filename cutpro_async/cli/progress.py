"""Rendering batch events for people (rich progress bars) or scripts (JSON lines)."""

from __future__ import annotations

from types import TracebackType

import orjson
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn

from .._converter import unstructure
from ..batch import Event, StageFinished, StageStarted, Summary, VideoFailed
from ..batch.events import STAGES


class LiveProgress:
    """A bar per stage (finished of started) and a line with credits, files and failures."""

    def __init__(self, console: Console) -> None:
        self._console = console
        self._progress = Progress(
            TextColumn("{task.description:>10}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[note]}"),
            console=console,
            transient=False,
        )
        self._tasks: dict[str, TaskID] = {
            stage: self._progress.add_task(stage, total=0, note="") for stage in STAGES
        }
        self._totals = self._progress.add_task("credits", total=None, note="")
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
        if isinstance(event, StageStarted):
            task = self._tasks[event.stage]
            self._progress.update(task, total=(self._progress.tasks[task].total or 0) + 1)
        elif isinstance(event, StageFinished):
            self._progress.advance(self._tasks[event.stage])
        elif isinstance(event, VideoFailed):
            self._console.print(f"[red]failed[/] {event.source} at {event.stage}: {event.error}")
        s = self.summary
        self._progress.update(
            self._totals,
            note=f"{s.credits_spent:g} spent · {s.files} files · "
            f"{s.done} done · {s.failed} failed · {s.skipped} skipped",
        )


class JsonLines:
    """One JSON object per event on stdout, for scripts."""

    def __call__(self, event: Event) -> None:
        """Print one event."""
        data = unstructure(event)
        data["event"] = type(event).__name__
        print(orjson.dumps(data, default=str).decode(), flush=True)
