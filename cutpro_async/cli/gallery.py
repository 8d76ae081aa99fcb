"""`cutpro gallery OUT`: (re)write OUT/index.html, the page to watch a run's clips."""

from __future__ import annotations

from pathlib import Path

import anyio
import click

from ..batch import SQLiteStore, write_gallery
from ._common import EXIT_USAGE, execute, fail


@click.command()
@click.argument("out", type=click.Path())
@click.option(
    "--state",
    type=click.Path(),
    help="The run's record [default: OUT/.cutpro-state.sqlite].",
)
def gallery(out: str, state: str | None) -> None:
    """Write OUT/index.html from the run's record (clips by rating, filter by video); print
    its path. The page works offline: open it in any browser."""
    folder = Path(out)
    record = Path(state) if state else folder / ".cutpro-state.sqlite"
    if not folder.is_dir():
        fail(f"no folder {out}: give the --out folder of a `cutpro run`", EXIT_USAGE)
    if not record.is_file():
        fail(
            f"no run record at {record}: run `cutpro run ... --out {out}` first "
            "(or give the record with --state)",
            EXIT_USAGE,
        )
    click.echo(execute(_write(folder, record)))


async def _write(folder: Path, record: Path) -> Path:
    """Read every record (read-only: a run may be writing it), then write the page off the
    event loop."""
    records = await SQLiteStore.read(record)
    return await anyio.to_thread.run_sync(write_gallery, records, folder)
