"""Small commands for single calls: info, balance, renders, download, status."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .._fs import is_intact
from ..batch import Credits, Phase, Record, SavedFile, SQLiteStore
from ..batch.record import reached
from ._common import ApiOptions, api_options, execute, fail
from ._words import plural

console = Console()


@click.command()
@click.argument("url")
@api_options
def info(url: str, api: ApiOptions) -> None:
    """Analyze a public video URL: title, duration and credit cost (free)."""

    async def work() -> None:
        async with api.client() as cp:
            video = await cp.videos.analyze(url)
        console.print(
            f"[bold]{video.title}[/] ({video.platform}, {video.duration / 60:.1f} min)\n"
            f"video_id {video.video_id}: costs {plural(video.credits_cost, 'credit')}, "
            f"balance {video.current_balance:g}"
        )

    execute(work())


@click.command()
@api_options
def balance(api: ApiOptions) -> None:
    """Show the workspace's credit balance."""

    async def work() -> None:
        async with api.client() as cp:
            result = await cp.balance.get()
        console.print(plural(result.balance, "credit"))

    execute(work())


@click.command()
@click.option("--status", type=click.Choice(["processing", "completed", "failed"]), default=None)
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 100))
@api_options
def renders(status: str | None, limit: int, api: ApiOptions) -> None:
    """List the newest renders."""

    async def work() -> None:
        async with api.client() as cp:
            page = await cp.renders.list(limit=limit, status=status)
        table = Table("render_id", "status", "progress", "name", "created")
        for item in page.renders:
            table.add_row(
                item.render_id,
                str(item.status),
                f"{item.progress:.0f}%",
                item.name or "",
                item.created_at.isoformat(timespec="seconds"),
            )
        console.print(table)

    execute(work())


@click.command()
@click.argument("render_id")
@click.option("--out", default=".", type=click.Path(file_okay=False), help="Folder to save into.")
@api_options
def download(render_id: str, out: str, api: ApiOptions) -> None:
    """Download a completed render's MP4 (resumable)."""

    async def work() -> None:
        async with api.client() as cp:
            done = await cp.renders.download(render_id, out)
        console.print(f"{done.path} ({done.size} bytes, sha256 {done.sha256})")

    execute(work())


@click.command()
@click.option(
    "--state",
    type=click.Path(dir_okay=False, exists=True),
    help="The record of a run (DIR/.cutpro-state.sqlite).",
)
@click.option("--db", metavar="URL", help="Or: the PostgreSQL of a batch spread over workers.")
@click.option("--batch", metavar="NAME", help="With --db: the batch [default: the only one].")
def status(state: str | None, db: str | None, batch: str | None) -> None:
    """Summarise a run's record: videos per phase, files, credits, why videos failed or were
    skipped; with --db, a batch across all its workers (files per worker). It reads without
    locking, so it works while the run is going on."""
    if (state is None) == (db is None):
        fail("give either --state FILE (a run's record) or --db URL (a distributed batch)", 2)
    if db is not None:
        from .distributed import show_status

        show_status(db, batch)
        return
    if batch is not None:
        fail("--batch names a batch of --db: give --db URL too", 2)
    assert state is not None
    records = execute(SQLiteStore.read(Path(state)))
    for line in summary_lines(records):
        console.print(line, highlight=False, soft_wrap=True)


def summary_lines(records: list[Record]) -> list[str]:
    """What `cutpro status` prints about a record (rich markup, sources escaped)."""
    phases = Counter(_shown_phase(record) for record in records)
    spent = Credits.of(records).spent
    files = sum(len(r.files) for r in records)
    gone = [f.path for r in records for f in r.files if not _still_there(f)]
    # What the next run picks up: unfinished videos, and paid ones that failed later.
    resumable = sum(
        not r.phase.is_final
        or (r.phase is Phase.FAILED and r.retryable and r.submit_intent is not None)
        for r in records
    )
    counts = ", ".join(f"{phases[phase]} {phase}" for phase in Phase if phases[phase])
    lines = [
        plural(len(records), "video") + (f": {counts}" if counts else ""),
        f"{plural(files, 'file')}, {plural(spent, 'credit')} spent, {resumable} resumable",
    ]
    if gone:
        lines.append(
            f"[yellow]{plural(len(gone), 'file')} missing or changed since saved[/] (a rerun "
            "fetches them again without paying): "
            + ", ".join(escape(p) for p in gone[:5])
            + (f" and {len(gone) - 5} more" if len(gone) > 5 else "")
        )
    for record in records:
        source = escape(record.source)
        if record.phase is Phase.FAILED:
            reason = escape(record.error or "no reason recorded")
            lines.append(f"[red]{source}[/]: failed in phase {reached(record)}: {reason}")
        elif _shown_phase(record) is Phase.SKIPPED:
            reason = escape((record.error or "").removeprefix(_SKIPPED))
            lines.append(f"[yellow]{source}[/]: skipped: {reason}")
    return lines


_SKIPPED = "skipped: "  # how the pipeline records why a video was not processed


def _still_there(saved: SavedFile) -> bool:
    """Whether a saved clip is still a regular file of its recorded size."""
    return is_intact(saved.path, saved.bytes)


def _shown_phase(record: Record) -> Phase:
    """The record's phase, or `skipped` for an unfinished one the last run skipped (over
    budget, not enough credits); it stays resumable."""
    if not record.phase.is_final and (record.error or "").startswith(_SKIPPED):
        return Phase.SKIPPED
    return record.phase
