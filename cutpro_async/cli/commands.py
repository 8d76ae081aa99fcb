"""Small commands for single calls: info, balance, renders, download, status."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from ..batch import Credits, Phase, SQLiteStore
from ._common import ApiOptions, api_options, execute, fail

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
            f"video_id {video.video_id}: costs {video.credits_cost:g} credits, "
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
        console.print(f"{result.balance:g} credits")

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
    required=True,
    type=click.Path(dir_okay=False, exists=True),
    help="The record of a run (DIR/.cutpro-state.sqlite).",
)
def status(state: str) -> None:
    """Summarise a run's record: videos per phase, files, credits, failures."""

    async def work() -> None:
        store = await SQLiteStore.open(Path(state))
        try:
            records = await store.records()
        finally:
            await store.close()
        phases = Counter(record.phase for record in records)
        spent = Credits.of(records).spent
        files = sum(len(r.files) for r in records)
        # What the next run picks up: unfinished videos, and paid ones that failed later.
        running = sum(
            not r.phase.is_final
            or (r.phase is Phase.FAILED and r.retryable and r.submit_intent is not None)
            for r in records
        )
        console.print(
            f"{len(records)} videos: "
            + ", ".join(f"{n} {phase}" for phase, n in sorted(phases.items()))
            + f"\n{files} files, {spent:g} credits spent, {running} resumable"
        )
        for record in records:
            if record.error:
                console.print(f"[red]{record.source}[/]: {record.error}")

    if not Path(state).exists():
        fail(f"no record at {state}")
    execute(work())
