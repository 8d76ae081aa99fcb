"""`cutpro posts --out OUT` (or `--db URL`): a run's posts and their items, as the API shows
them now; `--retry-failed` retries the items that failed."""

from __future__ import annotations

import contextlib
from pathlib import Path

import attrs
import click
import orjson
from rich.console import Console

from ..batch import SQLiteStore
from ..batch.publishing import reviewer
from ..batch.record import PostEntry
from ..client import CutPro
from ..config import RetryPolicy
from ._common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, ApiOptions, api_options, execute, fail
from ._simulated import simulated_client, state_dir_for


@attrs.frozen
class PostRow:
    """One clip to one account, as listed."""

    source: str
    clip_id: str
    account: str
    post_id: str | None
    status: str | None
    scheduled_at: str | None
    published_url: str | None
    error: str | None
    retries: int

    @classmethod
    def of(cls, source: str, entry: PostEntry) -> PostRow:
        """A post as a row."""
        when = None if entry.scheduled_at is None else entry.scheduled_at.isoformat()
        return cls(
            source,
            entry.clip_id,
            entry.account or entry.connection_id,
            entry.post_id,
            entry.status,
            when,
            entry.published_url,
            entry.error,
            entry.retries,
        )

    def line(self) -> str:
        """The row as one line of text."""
        when = f" at {self.scheduled_at}" if self.scheduled_at else ""
        outcome = self.published_url or self.error or ""
        status = self.status or "not posted"
        return f"{self.source}: clip {self.clip_id} -> {self.account}: {status}{when} {outcome}"


@click.command()
@click.option("--out", type=click.Path(file_okay=False), help="The run's folder.")
@click.option(
    "--state",
    type=click.Path(dir_okay=False),
    help="Run record [default: OUT/.cutpro-state.sqlite].",
)
@click.option("--simulate", is_flag=True, help="The run was simulated (`cutpro run --simulate`).")
@click.option("--retry-failed", is_flag=True, help="Retry every item that failed, then list.")
@click.option("--db", metavar="URL", help="The PostgreSQL of a distributed batch (`run --db`).")
@click.option("--batch", metavar="NAME", help="With --db: the batch [default: the only one].")
@click.option("--json", "as_json", is_flag=True, help="One JSON object a line.")
@api_options
def posts(
    out: str | None,
    state: str | None,
    simulate: bool,
    retry_failed: bool,
    db: str | None,
    batch: str | None,
    as_json: bool,
    api: ApiOptions,
) -> None:
    """List a run's posts with their items' status, published URL or error (read afresh from
    the API, and saved in the record). Exit code 1 when an item is still failed."""
    if db is not None:
        from .distributed import check_db

        check_db(db, embedded_ok=False)
        rows = execute(_db_posts(db, batch, retry_failed, api))
    elif out is None:
        fail("give the run's --out (or --db URL for a distributed batch)", EXIT_USAGE)
    else:
        folder = Path(out)
        record_path = Path(state) if state else folder / ".cutpro-state.sqlite"
        if not record_path.is_file():
            fail(
                f"no run record at {record_path}: give the --out of a `cutpro run --publish` "
                "(or the record with --state)",
                EXIT_USAGE,
            )
        rows = execute(_posts(folder, record_path, simulate, retry_failed, api))
    if not rows:
        click.echo("no posts in this record: run `cutpro run … --publish CONNECTION`")
    for row in rows:
        click.echo(orjson.dumps(attrs.asdict(row)).decode() if as_json else row.line())
    raise SystemExit(EXIT_FAILED if any(r.status == "failed" for r in rows) else EXIT_OK)


async def _posts(
    folder: Path, record_path: Path, simulate: bool, retry_failed: bool, api: ApiOptions
) -> list[PostRow]:
    """Read the record's posts afresh (retrying failed items if asked), save them; the rows."""
    async with contextlib.AsyncExitStack() as stack:
        client: CutPro
        if simulate:
            console = Console(stderr=True)
            sim = await stack.enter_async_context(
                simulated_client(state_dir_for(folder), console, RetryPolicy())
            )
            client = sim.client
        else:
            client = await stack.enter_async_context(api.client())
        store = await SQLiteStore.open(record_path)
        stack.push_async_callback(store.close)
        records = [r for r in await store.records() if r.posts]
        await reviewer(client, records, store.save).review(records, retry_failed=retry_failed)
        return [PostRow.of(r.source, e) for r in records for e in r.posts.values()]


async def _db_posts(
    db: str, batch: str | None, retry_failed: bool, api: ApiOptions
) -> list[PostRow]:
    """The same for a distributed batch's posts."""
    from ..distributed import which_batch
    from ..distributed.posting import batch_posts

    batch_id = await which_batch(db, batch)
    async with api.client() as client:
        posted = await batch_posts(client, db, batch_id, retry_failed=retry_failed)
    return [PostRow.of(source, entry) for source, entry in posted]
