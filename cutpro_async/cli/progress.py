"""Showing a batch run to people or scripts, and its closing summary.

`open_display` picks one display for `cutpro run`: JSON lines on stdout for scripts
(`--json`); else, on stderr, live bars on a terminal, a plain progress line every few seconds
without one (CI, a log), or only failures and the summary (`-q`). Every display folds the
events it sees into a `Tally`, so that its `report` can say why videos were skipped or failed,
grouped by reason.
"""

from __future__ import annotations

import enum
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Self

import attrs
import click
import orjson
from rich.console import Console, RenderableType
from rich.progress import BarColumn, Progress, TaskID, TextColumn
from rich.table import Column
from rich.text import Text

from .._converter import unstructure
from ..batch import (
    CreditsSpent,
    Event,
    FileSaved,
    Phase,
    PostFinished,
    Priced,
    SourcesRead,
    Stage,
    StageFinished,
    StageStarted,
    Summary,
    VideoDone,
    VideoFailed,
    VideoSkipped,
)
from ._words import (
    DUPLICATE,
    clock,
    failure_advice,
    failure_reason,
    mib,
    number,
    plural,
    skip_reason,
    them,
)

#: Sources shown per reason at normal verbosity (`-v` shows them all).
EXAMPLES = 3
#: Seconds between two plain progress lines when stderr is not a terminal.
INTERVAL = 5.0
_UNPAID = frozenset({Phase.NEW, Phase.PRICED})


class Verbosity(enum.IntEnum):
    """How much a human display says."""

    QUIET = 0  # -q: failures as they happen and the summary line
    NORMAL = 1  # also progress, and the reasons for skips and failures with a few sources each
    VERBOSE = 2  # -v: also every price, spend, saved file and skip, and every source per reason

    @classmethod
    def of(cls, *, verbose: int = 0, quiet: bool = False) -> Verbosity:
        """The verbosity the `-v/--verbose` and `-q/--quiet` flags ask for."""
        if verbose and quiet:
            raise click.UsageError("-v/--verbose and -q/--quiet exclude each other")
        return cls.VERBOSE if verbose else cls.QUIET if quiet else cls.NORMAL


# -- what the events said ---------------------------------------------------------------------


@attrs.define
class Group:
    """The videos skipped, or failed, for one reason."""

    key: str  # what the members share: "over budget", "SubmissionFailed"
    text: str  # what to tell people ({them}: it or them)
    advise: bool = False  # whether to add the failure advice (run again / --retry-failed)
    sources: list[str] = attrs.field(factory=list)
    details: list[str] = attrs.field(factory=list)  # per source, what follows it ("" if none)
    paid: int = 0  # failures after the paid step began: the next run resumes them

    @property
    def count(self) -> int:
        """How many videos."""
        return len(self.sources)

    def explanation(self) -> str:
        """The reason, with the advice that fits its videos."""
        text = self.text
        if self.advise:
            text += f" ({failure_advice(self.paid, self.count - self.paid)})"
        return them(text, self.count)

    def examples(self, every: bool) -> Iterator[str]:
        """A line per source (the first `EXAMPLES` unless `every`), then how many are left."""
        shown = self.count if every else min(self.count, EXAMPLES)
        for source, detail in zip(self.sources[:shown], self.details[:shown], strict=True):
            yield source + detail
        if shown < self.count:
            yield f"and {number(self.count - shown)} more (-v lists them all)"

    def as_json(self) -> dict[str, object]:
        """The group for the JSON summary."""
        return {
            "reason": self.key,
            "text": self.explanation(),
            "count": self.count,
            "sources": self.sources,
        }


class Reasons:
    """Skips or failures grouped by reason."""

    def __init__(self) -> None:
        self._groups: dict[str, Group] = {}

    def add(
        self, key: str, text: str, source: str, detail: str = "", *, advise: bool = False
    ) -> Group:
        """Count one video under `key`; a text that differs within a group becomes the key."""
        group = self._groups.setdefault(key, Group(key, text, advise))
        if text != group.text:
            group.text = key
        group.sources.append(source)
        group.details.append(detail)
        return group

    def __iter__(self) -> Iterator[Group]:
        """The groups, the largest first (then in order of arrival)."""
        return iter(sorted(self._groups.values(), key=lambda g: -g.count))

    def __len__(self) -> int:
        """How many videos, in all groups."""
        return sum(group.count for group in self._groups.values())

    def short(self) -> str:
        """The keys with their counts: `over budget` or `18 over budget, 2 listed twice`."""
        groups = list(self)
        if len(groups) == 1:
            return groups[0].key
        return ", ".join(f"{group.count} {group.key}" for group in groups)


class Tally:
    """Everything a display shows, folded from the events."""

    def __init__(self) -> None:
        self.summary = Summary()
        self.entered = dict.fromkeys(Stage, 0)
        self.left = dict.fromkeys(Stage, 0)
        self.total: int | None = None  # known once every source is read
        self.ended = 0  # videos done, failed or skipped (sources listed twice not counted)
        self.skips = Reasons()
        self.failures = Reasons()
        self.post_failures = Reasons()  # by the API's error code

    def count(self, event: Event) -> None:
        """Fold one event in."""
        self.summary.count(event)
        if isinstance(event, StageStarted):
            self.entered[event.stage] += 1
        elif isinstance(event, StageFinished):
            self.left[event.stage] += 1
        elif isinstance(event, SourcesRead):
            self.total = event.count
        elif isinstance(event, VideoDone):
            self.ended += 1
        elif isinstance(event, VideoSkipped):
            self.ended += event.reason != DUPLICATE
            key, text, detail = skip_reason(event.reason)
            self.skips.add(key, text, event.source, detail)
        elif isinstance(event, VideoFailed):
            self.ended += 1
            key, text, message, advise = failure_reason(event.error)
            detail = f" in phase {event.phase}" + (f": {message}" if message else "")
            group = self.failures.add(key, text, event.source, detail, advise=advise)
            group.paid += event.phase not in _UNPAID
        elif isinstance(event, PostFinished) and event.status == "failed":
            code, _, text = (event.error or "unknown").partition(": ")
            where = f"{event.source} clip {event.clip_id} -> {event.account}"
            self.post_failures.add(code, text or code, where)

    def videos(self) -> str:
        """`3 of 20 videos` once every source is read, `3 videos so far` before."""
        if self.total is None:
            return f"{plural(self.ended, 'video')} so far"
        return f"{number(self.ended)} of {plural(self.total, 'video')}"

    def totals(self) -> str:
        """Files, credits, and failures and skips if any."""
        s = self.summary
        parts = [
            f"{plural(s.files, 'file')} ({mib(s.bytes)})",
            f"{plural(s.credits_spent, 'credit')} spent",
        ]
        parts += [f"{number(s.failed)} failed"] if s.failed else []
        parts += [f"{number(s.skipped)} skipped"] if s.skipped else []
        return " · ".join(parts)

    def stages(self) -> list[Stage]:
        """The stages to show: `publish` only once a video has entered it."""
        return [s for s in Stage if s is not Stage.PUBLISH or self.entered[s]]

    def line(self) -> str:
        """The plain progress line: videos, what each stage holds now, the totals."""
        stages = (f"{stage} {self.entered[stage] - self.left[stage]}" for stage in self.stages())
        return " · ".join([self.videos(), *stages, self.totals()])


def posts_line(summary: Summary) -> list[str]:
    """What the publish stage did, if anything: one line."""
    s = summary
    if not (s.posts_sent or s.posts_adopted or s.posts_published or s.posts_failed):
        return []
    parts = [f"{number(s.posts_published)} published"]
    parts += [f"{number(s.posts_scheduled)} scheduled"] if s.posts_scheduled else []
    parts += (
        [f"{number(s.posts_failed)} failed (cutpro posts --retry-failed)"] if s.posts_failed else []
    )
    if s.posts_adopted:
        parts.append(f"{number(s.posts_adopted)} found already posted (not posted again)")
    return ["posts: " + ", ".join(parts)]


# -- displays ---------------------------------------------------------------------------------


class Display:
    """Failure lines as they happen and the closing summary; the base of the other displays.

    Use it as a context manager around the run and as the run's `on_event`; after the run,
    `report(summary, ...)` writes the summary.
    """

    def __init__(self, console: Console, verbosity: Verbosity = Verbosity.NORMAL) -> None:
        self.console = console
        self.verbosity = verbosity
        self.tally = Tally()

    def __enter__(self) -> Self:
        """Start showing progress (nothing to start here)."""
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop showing progress (nothing to stop here)."""

    def __call__(self, event: Event) -> None:
        """Count and show one event."""
        self.tally.count(event)
        line = self._line(event)
        if line is not None:
            self.console.print(line, soft_wrap=True, highlight=False)
        self._show(event)

    def _line(self, event: Event) -> Text | None:
        """The line an event gets at this verbosity, if any."""
        if isinstance(event, VideoFailed):
            return Text.assemble(
                ("failed", "red"), f" {event.source} in phase {event.phase}: {event.error}"
            )
        if self.verbosity < Verbosity.VERBOSE:
            return None
        if isinstance(event, Priced):
            return Text(f"priced {event.source}: {plural(event.credits, 'credit')}")
        if isinstance(event, CreditsSpent):
            return Text(
                f"spent {plural(event.credits, 'credit')} on {event.source} "
                f"({plural(event.total, 'credit')} by this record)"
            )
        if isinstance(event, FileSaved):
            return Text(f"saved {event.path} ({mib(event.size)}) from {event.source}")
        if isinstance(event, VideoSkipped):
            _, text, detail = skip_reason(event.reason)
            return Text.assemble(("skipped", "yellow"), f" {event.source}{detail}: {them(text, 1)}")
        return None

    def _show(self, event: Event) -> None:
        """Update the progress shown (nothing here)."""

    def report(
        self,
        summary: Summary,
        *,
        dry_run: bool = False,
        out: Path | str | None = None,
        failed_in_record: int = 0,
    ) -> None:
        """The closing summary: the totals of `summary` (the batch's), why videos were skipped
        or failed, and how many other videos of the record (`failed_in_record` in all) failed
        in earlier runs."""
        for line in self.summary_lines(
            summary, dry_run=dry_run, out=out, failed_in_record=failed_in_record
        ):
            self.console.print(line, soft_wrap=True, highlight=False, markup=False)

    def summary_lines(
        self,
        summary: Summary,
        *,
        dry_run: bool = False,
        out: Path | str | None = None,
        failed_in_record: int = 0,
    ) -> list[str]:
        """The lines `report` prints."""
        tally, quiet = self.tally, self.verbosity <= Verbosity.QUIET
        failed, skipped = f"{number(summary.failed)} failed", f"{number(summary.skipped)} skipped"
        if quiet and len(tally.failures):
            failed += f" ({tally.failures.short()})"
        if quiet and len(tally.skips):
            skipped += f" ({tally.skips.short()})"
        verb = "priced" if dry_run else "done"
        where = f" in {out}" if out is not None else ""
        line = (
            f"{number(summary.done)} {verb}, {failed}, {skipped} · "
            f"{plural(summary.files, 'file')} ({mib(summary.bytes)}){where} · "
            f"{plural(summary.credits_spent, 'credit')} spent"
        )
        if dry_run:
            line += f" · {plural(summary.credits_priced, 'credit')} needed"
        line += f" · {summary.elapsed:.1f} s"
        if summary.interrupted:
            line += " · interrupted: run again to resume"
        lines = [line, *posts_line(summary)]
        if not quiet:
            every = self.verbosity >= Verbosity.VERBOSE
            for what, reasons in (("failed", tally.failures), ("skipped", tally.skips)):
                for group in reasons:
                    lines.append(f"{number(group.count)} {what}: {group.explanation()}")
                    lines += [f"    {example}" for example in group.examples(every)]
            for group in tally.post_failures:
                lines.append(f"{plural(group.count, 'post')} failed: {group.key}: {group.text}")
                lines += [f"    {example}" for example in group.examples(every)]
        already = sum(g.count for g in tally.skips if g.key == "already failed")
        earlier = failed_in_record - summary.failed - already
        if earlier > 0:
            advice = "cutpro status shows why; --retry-failed tries {them} again"
            lines.append(
                f"{plural(earlier, 'other video')} of this record failed in earlier runs "
                f"({them(advice, earlier)})"
            )
        return lines


class _Bars(Progress):
    """Rich progress whose bars sit in their own table, with a footer line below it, so the
    footer's length never squeezes the bars."""

    def __init__(self, footer: Callable[[], RenderableType], console: Console) -> None:
        self._footer = footer  # before Progress's own init, which renders once
        bar_width = max(10, min(30, console.width - 45))
        super().__init__(
            TextColumn("{task.description}", justify="right", table_column=Column(width=11)),
            BarColumn(bar_width=bar_width, table_column=Column(width=bar_width, no_wrap=True)),
            TextColumn("{task.fields[count]}", table_column=Column(no_wrap=True)),
            console=console,
            transient=False,
            expand=False,
        )

    def get_renderables(self) -> Iterable[RenderableType]:
        """The bars, then the footer."""
        yield self.make_tasks_table(self.tasks)
        yield self._footer()


class LiveProgress(Display):
    """On a terminal: a bar for the videos (of the total, once known), one per stage pool
    (finished of entered), and a line with files, credits, failures and skips."""

    def __init__(self, console: Console, verbosity: Verbosity = Verbosity.NORMAL) -> None:
        super().__init__(console, verbosity)
        self._progress = _Bars(lambda: Text(self.tally.totals()), console)
        self._videos = self._progress.add_task("videos", total=None, count=self.tally.videos())
        self._stages: dict[Stage, TaskID] = {
            stage: self._progress.add_task(stage.value, total=0, count="0/0")
            for stage in self.tally.stages()
        }

    def __enter__(self) -> Self:
        """Start the live display."""
        if self.verbosity > Verbosity.QUIET:
            self._progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop the live display, leaving its last frame on the screen."""
        self._progress.stop()

    def _show(self, event: Event) -> None:
        """Move the bars an event concerns."""
        tally = self.tally
        if isinstance(event, StageStarted | StageFinished):
            entered, left = tally.entered[event.stage], tally.left[event.stage]
            if event.stage not in self._stages:  # publish: shown once used
                self._stages[event.stage] = self._progress.add_task(
                    event.stage.value, total=0, count="0/0"
                )
            self._progress.update(
                self._stages[event.stage], total=entered, completed=left, count=f"{left}/{entered}"
            )
        elif isinstance(event, SourcesRead | VideoDone | VideoSkipped | VideoFailed):
            self._progress.update(
                self._videos, total=tally.total, completed=tally.ended, count=tally.videos()
            )


class PlainProgress(Display):
    """Without a terminal (CI, a log): a plain progress line every `interval` seconds, no
    live display and no escape codes.

    A thread prints the line even while no events come (long waits); `clock` and `ticking=False`
    let tests drive it through `tick()`.
    """

    def __init__(
        self,
        console: Console,
        verbosity: Verbosity = Verbosity.NORMAL,
        *,
        interval: float = INTERVAL,
        clock: Callable[[], float] = time.monotonic,
        ticking: bool = True,
    ) -> None:
        super().__init__(console, verbosity)
        self.interval = interval
        self._clock = clock
        self._ticking = ticking and verbosity > Verbosity.QUIET
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._started = self._last = clock()

    def __enter__(self) -> Self:
        """Start the clock, and the thread that prints the line while no events come."""
        self._started = self._last = self._clock()
        if self._ticking:
            self._stopping.clear()
            self._thread = threading.Thread(target=self._tick_on, name="cutpro-progress")
            self._thread.daemon = True
            self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop the thread."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def __call__(self, event: Event) -> None:
        """Count and show one event (the ticking thread reads the same tally)."""
        with self._lock:
            super().__call__(event)

    def _show(self, event: Event) -> None:
        """Print the progress line if it is due."""
        self.tick()

    def _tick_on(self) -> None:
        """The thread: look whether a line is due, often enough to keep the interval."""
        while not self._stopping.wait(min(self.interval, 1.0)):
            self.tick()

    def tick(self) -> None:
        """Print the progress line if `interval` seconds have passed since the last one."""
        if self.verbosity <= Verbosity.QUIET:
            return
        with self._lock:
            now = self._clock()
            if now - self._last < self.interval:
                return
            self._last = now
            line = f"[{clock(now - self._started)}] {self.tally.line()}"
            self.console.print(line, soft_wrap=True, highlight=False, markup=False)


class JsonLines(Display):
    """One JSON object per event on stdout, for scripts; the summary last, with the reasons
    for skips and failures."""

    def __init__(self) -> None:
        """No console: everything goes to stdout as JSON."""
        super().__init__(Console(stderr=True), Verbosity.QUIET)

    def __call__(self, event: Event) -> None:
        """Count and print one event."""
        self.tally.count(event)
        data = unstructure(event)
        data["event"] = type(event).__name__
        print(orjson.dumps(data, default=str).decode(), flush=True)

    def report(
        self,
        summary: Summary,
        *,
        dry_run: bool = False,
        out: Path | str | None = None,
        failed_in_record: int = 0,
    ) -> None:
        """The summary as one JSON object: the `Summary` fields, then `skipped_reasons` and
        `failed_reasons` (reason, text, count, sources)."""
        data = {
            "event": "Summary",
            **unstructure(summary),
            "skipped_reasons": [group.as_json() for group in self.tally.skips],
            "failed_reasons": [group.as_json() for group in self.tally.failures],
            "failed_posts": [group.as_json() for group in self.tally.post_failures],
        }
        print(orjson.dumps(data).decode(), flush=True)


def open_display(
    console: Console,
    *,
    as_json: bool = False,
    verbosity: Verbosity = Verbosity.NORMAL,
    interval: float = INTERVAL,
    clock: Callable[[], float] = time.monotonic,
) -> Display:
    """The display for a run: JSON lines, live bars on a terminal, plain lines every
    `interval` seconds without one, or failures and the summary only when quiet."""
    if as_json:
        return JsonLines()
    if verbosity <= Verbosity.QUIET:
        return Display(console, verbosity)
    if console.is_terminal and not console.is_dumb_terminal:
        return LiveProgress(console, verbosity)
    return PlainProgress(console, verbosity, interval=interval, clock=clock)
