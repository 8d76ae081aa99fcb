"""`cutpro run`: the main job, many videos through the whole pipeline."""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import signal
import tempfile
from collections.abc import Callable
from pathlib import Path

import anyio
import attrs
import click
from rich.console import Console
from rich.text import Text

from .._groups import sole_error
from ..batch import (
    Batch,
    Concurrency,
    Phase,
    RunOptions,
    SQLiteStore,
    Stage,
    StoreError,
    SubmissionIndex,
    Summary,
    expand_sources,
    write_gallery,
    write_manifest,
)
from ..batch.naming import DEFAULT_NAMING, FIELDS, names_every_clip
from ..batch.publishing import PlannedPost
from ..client import CutPro
from ..config import RetryPolicy
from ..errors import UsageError
from ..models import Timeframe
from ._common import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    ApiOptions,
    api_options,
    execute,
    fail,
)
from ._simulated import simulated_client, state_dir_for
from .progress import Display, Verbosity, open_display
from .publishing import PublishChoice, plan_lines, publish_options, schedule_note

#: Free space the record needs on its disk before a run starts.
RECORD_ROOM = 4 * 1024**2


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


def _check_folders(out: Path, state: Path) -> None:
    """OUT and the record's folder exist and are writable, the record is writable and its disk
    has room: said before anything runs, not as a traceback after paying."""
    for folder, option in ((out, "--out"), (state.parent, "--state")):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=folder):
                pass
        except OSError as exc:
            fail(f"cannot write to {folder}: {exc.strerror or exc}; choose another {option}", 2)
    if state.exists() and not os.access(state, os.R_OK | os.W_OK):
        fail(
            f"the run record {state} is not writable: make it so (chmod u+rw) or choose "
            "another --state",
            EXIT_USAGE,
        )
    free = shutil.disk_usage(state.parent).free
    if free < RECORD_ROOM:
        fail(
            f"only {free / 1024**2:.1f} MiB free on the disk of {state.parent}: the run record "
            "needs room; free some space or choose another --state",
            EXIT_USAGE,
        )


def _options(**choices: object) -> RunOptions:
    """The run's options, checked: a bad one is one line and exit 2."""
    try:
        return RunOptions(**choices)  # type: ignore[arg-type]
    except UsageError as exc:
        option = "--naming" if "naming" in str(exc) else "an option"
        fail(f"{exc} (check {option})", EXIT_USAGE)


def _naming_note(naming: str) -> str | None:
    """What to tell a user whose template does not name every clip apart."""
    if naming == DEFAULT_NAMING or names_every_clip(naming):
        return None
    return (
        f"note: --naming {naming!r} may give two clips one name: the second gets -<clip id> "
        "before its extension (add {clip_id} to avoid it)"
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
    default=DEFAULT_NAMING,
    show_default=True,
    help="File names, from "
    + " ".join(f"{{{f}}}" for f in FIELDS)
    + "; the default is the server's name. A name two clips would share gets -<clip id>.",
)
@click.option(
    "--budget",
    type=click.FloatRange(0),
    help="Credits this record may spend, earlier runs included.",
)
@click.option("--dry-run", is_flag=True, help="Price every video, spend nothing.")
@click.option("--retry-failed", is_flag=True, help="Try failed videos again.")
@click.option(
    "--verify",
    is_flag=True,
    help="Also check the SHA-256 of every file earlier runs saved (presence and size are always "
    "checked); what is missing or changed is fetched again without paying again.",
)
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
@click.option(
    "--db",
    metavar="URL",
    help="Spread the batch over workers sharing this PostgreSQL (`embedded`: start one under "
    "OUT/.cutpro-pg for this machine's workers); see cutpro worker.",
)
@click.option(
    "--batch",
    metavar="NAME",
    help="With --db: the batch's id [default: derived from the sources and options].",
)
@publish_options
@click.option("--json", "as_json", is_flag=True, help="JSON lines of events and the summary.")
@click.option("--csv", "as_csv", is_flag=True, help="Also write manifest.csv.")
@click.option("-v", "--verbose", count=True, help="Say more: every price, payment and file.")
@click.option("-q", "--quiet", is_flag=True, help="Only failures and the closing summary.")
@api_options
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
    verify: bool,
    resubmit: bool,
    commit_window: float | None,
    concurrency: str | None,
    db: str | None,
    batch: str | None,
    publish: PublishChoice,
    as_json: bool,
    as_csv: bool,
    verbose: int,
    quiet: bool,
    api: ApiOptions,
) -> None:
    """Clip SOURCES (URLs, video files, @list.txt, or - for stdin) into OUT.

    Running the same command again resumes: finished videos are skipped, running ones are
    polled, nothing is paid (or posted) twice. Exit code 0: all done; 1: some videos or posts
    failed; 2: bad usage; 130: interrupted (run it again to resume).
    """
    if db is not None:
        from .distributed import Rerun, run_on_db

        _check_sources(sources)
        run_on_db(
            db,
            batch,
            sources,
            Path(out),
            {
                "top_k": top_k,
                "min_rating": min_rating,
                "strategy_id": strategy_id,
                "template_id": template_id,
                "timeframe": _timeframe(timeframe),
                "source_language": language,
                "naming": naming,
                "resubmit": resubmit,
                "render": not no_render,
            },
            {
                "simulate": simulate,
                "state": state is not None,
                "concurrency": concurrency is not None,
                "as_json": as_json,
                "as_csv": as_csv,
            },
            api,
            commit_window,
            publish.options(),
            Rerun(budget, dry_run, retry_failed, verify),
        )
    if batch is not None:
        fail("--batch names a batch of --db: give --db URL too", EXIT_USAGE)
    if simulate and api.given:
        fail("--simulate runs its own API: drop --api-url and --workspace, or --simulate", 2)
    _check_sources(sources)
    options = _options(
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
        verify=verify,
        concurrency=_concurrency(concurrency),
        publish=publish.options(),
    )
    state_path = Path(state) if state else options.out / ".cutpro-state.sqlite"
    _check_folders(options.out, state_path)
    console = Console(stderr=True)
    display = open_display(
        console, as_json=as_json, verbosity=Verbosity.of(verbose=verbose, quiet=quiet)
    )
    note = _naming_note(options.naming)
    if note and not quiet and not as_json:
        console.print(note, highlight=False, markup=False)
    if options.publish is not None and not quiet and not as_json:
        console.print(schedule_note(options.publish), highlight=False, markup=False)
    job = Job(options, state_path, simulate, api, RetryPolicy(commit_window=commit_window))
    ended = execute(job.run(sources, display, console, as_csv))
    summary = ended.summary
    if summary.done + summary.failed + summary.skipped == 0 and not summary.interrupted:
        fail("no sources to clip: the list given is empty (one URL or file a line)", 2)
    display.report(summary, dry_run=options.dry_run, out=options.out, failed_in_record=ended.failed)
    if ended.plan and not as_json:
        click.echo("\n".join(["would post:", *plan_lines(ended.plan)]))
    for problem in ended.problems:
        console.print(Text.assemble(("error: ", "red"), problem), soft_wrap=True)
    if summary.interrupted:
        raise SystemExit(EXIT_INTERRUPTED)
    trouble = ended.failed or ended.problems or summary.posts_failed
    raise SystemExit(EXIT_FAILED if trouble else EXIT_OK)


@attrs.define
class Ended:
    """How a run ended: the batch's summary, failed videos in the whole record, and what
    went wrong around the batch (a record that could not be saved, a manifest not written)."""

    summary: Summary
    failed: int = 0
    problems: list[str] = attrs.field(factory=list)
    plan: list[PlannedPost] = attrs.field(factory=list)  # a dry run's posts


@attrs.frozen
class Job:
    """One `cutpro run`: its options, record, API and retry policy."""

    options: RunOptions
    state: Path
    simulate: bool
    api: ApiOptions
    retry: RetryPolicy

    async def run(
        self, sources: tuple[str, ...], display: Display, console: Console, as_csv: bool
    ) -> Ended:
        """Open API and record, run the batch with `display`, write manifest and gallery."""
        async with contextlib.AsyncExitStack() as stack:
            client, endpoint, index = await self._connect(stack, console)
            store = await SQLiteStore.open(self.state)
            batch = Batch(client, self.options, store, index, endpoint=endpoint)
            ended = Ended(batch.summary)
            try:
                with display:
                    ended.summary = await _drive(batch, sources, display, console)
            except StoreError as exc:  # the disk filled up: what was saved stays resumable
                ended.problems.append(str(exc))
            await self._write_outputs(store, as_csv, ended)
            if self.options.dry_run and batch.publisher is not None:
                records = await store.records()
                ended.plan = batch.publisher.plan(records, client.server_time())
            try:
                await store.close()
            except StoreError as exc:
                if str(exc) not in ended.problems:  # the same full disk, said once
                    ended.problems.append(str(exc))
            return ended

    async def _connect(
        self, stack: contextlib.AsyncExitStack, console: Console
    ) -> tuple[CutPro, str | None, SubmissionIndex | None]:
        """The client, the name of its API for the record, and the machine's index.

        A simulated run keeps its world in OUT (its port changes, so the record is bound to
        the world's identity) and needs no machine index: no other record shares its world.
        """
        if self.simulate:
            sim = await stack.enter_async_context(
                simulated_client(state_dir_for(self.options.out), console, self.retry)
            )
            return sim.client, sim.identity, None
        client = await stack.enter_async_context(self.api.client(retry=self.retry))
        index = await stack.enter_async_context(SubmissionIndex())
        return client, None, index

    async def _write_outputs(self, store: SQLiteStore, as_csv: bool, ended: Ended) -> None:
        """Manifest(s) and gallery from the record, as far as the disk allows."""
        try:
            records = await store.records()
        except StoreError as exc:
            ended.problems.append(f"no manifest written: {exc}")
            return
        ended.failed = sum(r.phase == Phase.FAILED for r in records)
        out = self.options.out
        jsonl, csv, page = out / "manifest.jsonl", out / "manifest.csv", out / "index.html"
        await _write(ended, jsonl, functools.partial(write_manifest, records, jsonl))
        if as_csv:
            await _write(ended, csv, functools.partial(write_manifest, records, csv, as_csv=True))
        if self.options.render:
            await _write(ended, page, functools.partial(write_gallery, records, out))


async def _drive(
    batch: Batch, sources: tuple[str, ...], display: Display, console: Console
) -> Summary:
    """Run the batch, stopping it gently on the first Ctrl-C; its own error, unwrapped."""
    try:
        async with anyio.create_task_group() as group:
            group.start_soon(_interrupts, batch, console)
            summary = await batch.run(expand_sources(sources), on_event=display)
            group.cancel_scope.cancel()
    except BaseExceptionGroup as errors:
        raise sole_error(errors) from None
    return summary


async def _write(ended: Ended, path: Path, write: Callable[[], object]) -> None:
    """Write one output off the event loop; a failure is a problem to report, not a crash."""
    try:
        await anyio.to_thread.run_sync(write)
    except OSError as exc:
        ended.problems.append(f"cannot write {path}: {exc.strerror or exc}")


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
