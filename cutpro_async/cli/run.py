"""`cutpro run`: the main job, many videos through the whole pipeline."""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import anyio
import click
import orjson
from rich.console import Console

from .._converter import unstructure
from .._groups import sole_error
from ..batch import (
    Batch,
    Concurrency,
    Event,
    Phase,
    RunOptions,
    SQLiteStore,
    Stage,
    SubmissionIndex,
    Summary,
    expand_sources,
    write_manifest,
)
from ..client import CutPro
from ..config import Budget, Pacing, Polling, RetryPolicy
from ..errors import UsageError
from ..models import Timeframe
from ._common import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, execute, fail
from .progress import JsonLines, LiveProgress

SIM_TIME_SCALE = 600.0  # a 10-minute clipping job takes a second
SIM_ANALYZE_WINDOW = 1.0  # the simulator's 10-per-minute limit, sped up to 10 per second


def _timeframe(value: str | None) -> Timeframe | None:
    """`START:END` in seconds."""
    if value is None:
        return None
    try:
        return Timeframe.parse(value)
    except UsageError:
        fail(f"--timeframe needs START:END seconds with 0 <= START < END, got {value!r}", 2)


def _check_sources(sources: tuple[str, ...]) -> None:
    """A text file given as a source is a list meant with `@`: say so before anything runs."""
    for source in sources:
        if source.lower().endswith((".txt", ".list", ".csv")) and Path(source).is_file():
            fail(
                f"{source} is a text file, not a video: did you mean @{source} (a list of "
                "sources, one a line)?",
                2,
            )


def _concurrency(value: str | None) -> Concurrency:
    """`stage=N,...` for the stage pools."""
    if not value:
        return Concurrency()
    try:
        pairs = dict(item.split("=", 1) for item in value.split(","))
        return Concurrency(**{Stage(stage.strip()).value: int(n) for stage, n in pairs.items()})
    except (TypeError, ValueError) as exc:
        stages = ", ".join(Stage)
        fail(f"--concurrency takes stage=N pairs (stages: {stages}): {exc}", 2)


@click.command()
@click.argument("sources", nargs=-1, required=True)
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Folder for the MP4s.")
@click.option(
    "--simulate", is_flag=True, help="Run against the embedded simulator (no real credits)."
)
@click.option(
    "--state",
    type=click.Path(dir_okay=False),
    help="Run record [default: OUT/.cutpro-state.sqlite].",
)
@click.option(
    "--top-k", default=3, show_default=True, type=click.IntRange(1, 100), help="Clips per video."
)
@click.option("--min-rating", type=click.FloatRange(0, 10), help="Only clips rated at least this.")
@click.option("--strategy-id", help="Saved clipping strategy.")
@click.option("--template-id", help="Edit template applied to the chosen clips before rendering.")
@click.option("--timeframe", help="Only process START:END seconds of each video.")
@click.option(
    "--language", default="auto", show_default=True, type=click.Choice(["auto", "en", "pt"])
)
@click.option("--no-render", is_flag=True, help="Stop after choosing clips (nothing downloaded).")
@click.option(
    "--naming",
    default="{video_id}_{clip_id}.mp4",
    show_default=True,
    help="File names: {video_id} {clip_id} {render_id} {rank}.",
)
@click.option(
    "--budget",
    type=click.FloatRange(0),
    help="Credits this record may spend, earlier runs included.",
)
@click.option("--dry-run", is_flag=True, help="Price every video, spend nothing.")
@click.option("--retry-failed", is_flag=True, help="Try failed videos again.")
@click.option(
    "--commit-window",
    type=click.FloatRange(min=0, min_open=True),
    help="Seconds a paid request that failed ambiguously may still commit on the server; "
    "nothing is paid again before [default: the larger of 120 and 3 read timeouts].",
)
@click.option(
    "--resubmit",
    is_flag=True,
    help="Pay again on purpose, even where a usable submission of the video exists.",
)
@click.option(
    "--concurrency",
    help="Stage pools, e.g. analyze=4,submit=4,wait_clips=1000,render=8,wait_render=1000,"
    "download=4.",
)
@click.option("--json", "as_json", is_flag=True, help="JSON lines of events and the summary.")
@click.option("--csv", "as_csv", is_flag=True, help="Also write manifest.csv.")
def run(
    sources: tuple[str, ...],
    out: str,
    simulate: bool,
    state: str | None,
    top_k: int,
    min_rating: float | None,
    strategy_id: str | None,
    template_id: str | None,
    timeframe: str | None,
    language: str,
    no_render: bool,
    naming: str,
    budget: float | None,
    dry_run: bool,
    retry_failed: bool,
    resubmit: bool,
    commit_window: float | None,
    concurrency: str | None,
    as_json: bool,
    as_csv: bool,
) -> None:
    """Clip SOURCES (URLs, video files, @list.txt, or - for stdin) into OUT.

    Running the same command again resumes: finished videos are skipped, running ones are
    polled, nothing is paid twice. Exit code 0: all done; 1: some failed; 2: bad usage;
    130: interrupted (run it again to resume).
    """
    options = RunOptions(
        out=Path(out),
        top_k=top_k,
        min_rating=min_rating,
        strategy_id=strategy_id,
        template_id=template_id,
        timeframe=_timeframe(timeframe),
        source_language=language,
        render=not no_render,
        naming=naming,
        budget=budget,
        dry_run=dry_run,
        retry_failed=retry_failed,
        resubmit=resubmit,
        concurrency=_concurrency(concurrency),
    )
    _check_sources(sources)
    state_path = Path(state) if state else options.out / ".cutpro-state.sqlite"
    console = Console(stderr=True)
    summary, failed = execute(
        _run(sources, options, state_path, simulate, as_json, as_csv, console, commit_window)
    )
    if summary.done + summary.failed + summary.skipped == 0 and not summary.interrupted:
        fail("no sources to clip: the list given is empty (one URL or file a line)", 2)
    _report(summary, options, as_json, console)
    if summary.interrupted:
        raise SystemExit(EXIT_INTERRUPTED)
    if failed and not summary.failed:
        console.print(
            f"{failed} videos of this record failed in earlier runs "
            "(cutpro status shows why; --retry-failed tries them again)"
        )
    raise SystemExit(EXIT_FAILED if failed else EXIT_OK)


async def _run(
    sources: tuple[str, ...],
    options: RunOptions,
    state_path: Path,
    simulate: bool,
    as_json: bool,
    as_csv: bool,
    console: Console,
    commit_window: float | None,
) -> tuple[Summary, int]:
    """Open client and record, run the batch with progress, write the manifest.

    Returns the summary and how many videos of the whole record are failed.
    """
    async with contextlib.AsyncExitStack() as stack:
        retry = RetryPolicy(commit_window=commit_window)
        client = await stack.enter_async_context(_client(simulate, console, retry))
        store = await SQLiteStore.open(state_path)
        stack.push_async_callback(store.close)
        index = await stack.enter_async_context(SubmissionIndex())
        batch = Batch(client, options, store, index)
        show: Callable[[Event], object] = JsonLines() if as_json else LiveProgress(console)
        with contextlib.ExitStack() as screen:
            if isinstance(show, LiveProgress):
                screen.enter_context(show)
            try:
                async with anyio.create_task_group() as group:
                    group.start_soon(_interrupts, batch, console)
                    summary = await batch.run(expand_sources(sources), on_event=show)
                    group.cancel_scope.cancel()
            except BaseExceptionGroup as errors:
                raise sole_error(errors) from None
        records = await store.records()
        await anyio.to_thread.run_sync(write_manifest, records, options.out / "manifest.jsonl")
        if as_csv:
            await anyio.to_thread.run_sync(
                lambda: write_manifest(records, options.out / "manifest.csv", as_csv=True)
            )
        return summary, sum(r.phase == Phase.FAILED for r in records)


@contextlib.asynccontextmanager
async def _client(simulate: bool, console: Console, retry: RetryPolicy) -> AsyncIterator[CutPro]:
    """The real API from the environment, or the embedded simulator."""
    if not simulate:
        async with CutPro(retry=retry) as client:
            yield client
        return
    from ..testing import FakeCutPro  # imported late: only simulated runs need the server

    # s3-kms: storage whose ETags look like MD5s but are not, as S3 sends for encrypted objects.
    async with FakeCutPro(
        time_scale=SIM_TIME_SCALE, analyze_window=SIM_ANALYZE_WINDOW, storage_profile="s3-kms"
    ) as fake:
        console.print(
            f"[yellow]Simulated CutPro at {fake.base_url}: no real credits are spent "
            f"(clock {SIM_TIME_SCALE:g}x faster).[/]"
        )
        pacing = Pacing(endpoints={"POST /clips/info": Budget(10, SIM_ANALYZE_WINDOW)})
        polling = Polling(first=0.2, max_interval=1.0)
        async with CutPro(
            fake.api_key, base_url=fake.base_url, pacing=pacing, polling=polling, retry=retry
        ) as client:
            yield client


async def _interrupts(batch: Batch, console: Console) -> None:
    """First Ctrl-C: stop taking work, keep the record resumable. Second: quit at once."""
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        count = 0
        async for _ in signals:
            count += 1
            if count == 1:
                console.print(
                    "[yellow]stopping: a paid step in flight finishes and is saved, the rest "
                    "resumes next run; Ctrl-C again to quit now (the record stays resumable)[/]"
                )
                batch.stop()
            else:
                os._exit(EXIT_INTERRUPTED)  # the record is saved after every step


def _report(summary: Summary, options: RunOptions, as_json: bool, console: Console) -> None:
    """The closing summary."""
    if as_json:
        print(orjson.dumps({"event": "Summary", **unstructure(summary)}).decode())
        return
    verb = "priced" if options.dry_run else "done"
    console.print(
        f"{summary.done} {verb}, {summary.failed} failed, {summary.skipped} skipped · "
        f"{summary.files} files ({summary.bytes / 1024**2:.1f} MiB) in {options.out} · "
        f"{summary.credits_spent:g} credits spent"
        + (f" · {summary.credits_priced:g} credits needed" if options.dry_run else "")
        + f" · {summary.elapsed:.1f} s"
        + (" · interrupted: run again to resume" if summary.interrupted else "")
    )
