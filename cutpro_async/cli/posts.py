"""`cutpro posts --out OUT`: a run's posts and their items, as the API shows them now;
`--retry-failed` retries the items that failed."""

from __future__ import annotations

import contextlib
from pathlib import Path

import anyio
import attrs
import click
import orjson
from rich.console import Console

from ..batch import Record, SQLiteStore
from ..batch.options import PublishOptions
from ..batch.publishing import Account, Publisher
from ..batch.record import PostEntry
from ..client import CutPro
from ..config import RetryPolicy
from ._common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, ApiOptions, api_options, execute, fail
from ._simulated import simulated_client, state_dir_for

#: Items retried and followed at once.
RETRY_WIDTH = 8


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

    def line(self) -> str:
        """The row as one line of text."""
        when = f" at {self.scheduled_at}" if self.scheduled_at else ""
        outcome = self.published_url or self.error or ""
        status = self.status or "not posted"
        return f"{self.source}: clip {self.clip_id} -> {self.account}: {status}{when} {outcome}"


@click.command()
@click.option("--out", required=True, type=click.Path(file_okay=False), help="The run's folder.")
@click.option(
    "--state",
    type=click.Path(dir_okay=False),
    help="Run record [default: OUT/.cutpro-state.sqlite].",
)
@click.option("--simulate", is_flag=True, help="The run was simulated (`cutpro run --simulate`).")
@click.option("--retry-failed", is_flag=True, help="Retry every item that failed, then list.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object a line.")
@api_options
def posts(
    out: str,
    state: str | None,
    simulate: bool,
    retry_failed: bool,
    as_json: bool,
    api: ApiOptions,
) -> None:
    """List a run's posts with their items' status, published URL or error (read afresh from
    the API, and saved in the record). Exit code 1 when an item is still failed."""
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
    """Refresh (and retry) the record's posts; the rows to list."""
    async with contextlib.AsyncExitStack() as stack:
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
        publisher = await _publisher(client, records, store)
        placed = [(r, e) for r in records for e in r.posts.values() if e.post_id is not None]
        async with anyio.create_task_group() as group:
            for _record, entry in placed:
                group.start_soon(publisher.refresh, entry)
        if retry_failed:
            await _retry_failed(publisher, placed)
        for record in records:
            await store.save(record)
        names = {a.id: str(a) for a in publisher.accounts}
        return [_row(r, e, names) for r in records for e in r.posts.values()]


async def _publisher(client: CutPro, records: list[Record], store: SQLiteStore) -> Publisher:
    """A publisher of the record's accounts (as the API names them now)."""
    ids = {e.connection_id for r in records for e in r.posts.values()}
    accounts = [
        Account(c.id, c.platform, c.name) async for c in client.connections.iter() if c.id in ids
    ]
    options = PublishOptions(tuple(ids) or ("none",))
    return Publisher(
        client, options, accounts, save=store.save, emit=lambda event: None, records=records
    )


async def _retry_failed(publisher: Publisher, placed: list[tuple[Record, PostEntry]]) -> None:
    """Retry each failed item once and follow it until it finishes."""
    width = anyio.Semaphore(RETRY_WIDTH)

    async def again(record: Record, entry: PostEntry) -> None:
        async with width:
            await publisher.retry(entry)
            entry.retries += 1
            await publisher.follow(record, entry, limit=entry.retries)

    async with anyio.create_task_group() as group:
        for record, entry in placed:
            if entry.status == "failed" and entry.item_id is not None:
                group.start_soon(again, record, entry)


def _row(record: Record, entry: PostEntry, names: dict[str, str]) -> PostRow:
    """A record's post as a row."""
    return PostRow(
        record.source,
        entry.clip_id,
        names.get(entry.connection_id, entry.connection_id),
        entry.post_id,
        entry.status,
        None if entry.scheduled_at is None else entry.scheduled_at.isoformat(),
        entry.published_url,
        entry.error,
        entry.retries,
    )
