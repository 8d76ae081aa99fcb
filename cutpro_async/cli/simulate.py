"""`cutpro simulate`: the simulator as a standalone server.

Scripts learn where it listens from a readiness signal rather than from the banner:
`--ready-file PATH` (written atomically once both servers listen) or `--json` (one line on
stdout), each a JSON object with `base_url`, `api_key`, `storage_url` and `pid`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import click
import orjson

if TYPE_CHECKING:  # the simulator is imported only when one is started
    from ..testing import FakeCutPro


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8765, show_default=True, help="API port (0 picks a free one).")
@click.option("--storage-port", default=0, help="Port of the signed-link storage host (0: free).")
@click.option(
    "--time-scale",
    default=60.0,
    show_default=True,
    help="API-seconds per real second: 60 makes a 10-minute job take 10 s.",
)
@click.option("--credits", default=10_000.0, show_default=True, help="Opening balance.")
@click.option(
    "--faults",
    default="",
    help="Fault spec, e.g. '5xx=0.1,drop=0.3@POST /clips' or 'slowcommit:70' (see FakeCutPro).",
)
@click.option("--seed", default=0, show_default=True, help="Seed for content and faults.")
@click.option(
    "--render-bytes", default=256 * 1024, show_default=True, help="Size of rendered MP4s."
)
@click.option(
    "--storage-profile",
    default="s3",
    show_default=True,
    help="How storage answers downloads: s3, s3-kms, gcs, azure or plain (ETags, checksums).",
)
@click.option("--api-key", default=None, help="Key to accept (default: a random one).")
@click.option(
    "--analyze-limit", default=10, show_default=True, help="POST /clips/info calls per window."
)
@click.option(
    "--analyze-window", default=60.0, show_default=True, help="That window, in real seconds."
)
@click.option(
    "--request-limit",
    type=click.IntRange(min=1),
    default=None,
    help="API requests per window with one key, every route together (default: no limit).",
)
@click.option(
    "--request-window",
    default=1.0,
    show_default=True,
    type=click.FloatRange(min=0, min_open=True),
    help="That window, in real seconds.",
)
@click.option(
    "--render-expiry-hours", default=72.0, show_default=True, help="API-hours a render lasts."
)
@click.option(
    "--submission-expiry-days", default=30.0, show_default=True, help="API-days clips last."
)
@click.option(
    "--clock-offset",
    default=0.0,
    show_default=True,
    help="Seconds the server's clock is ahead (negative: behind): timestamps and Date headers.",
)
@click.option(
    "--latency",
    default="off",
    show_default=True,
    help="How long answers take: off, realistic (per route, lognormal around 50-300 ms, "
    "seeded by --seed), realistic*FACTOR, or SECONDS around which every route answers.",
)
@click.option(
    "--post-item-flaky-rate",
    default=0.0,
    show_default=True,
    type=click.FloatRange(0, 1),
    help="Share of post items whose first attempt fails (a retry of the item publishes it).",
)
@click.option(
    "--posts-list-style",
    default="suggested",
    show_default=True,
    type=click.Choice(["suggested", "data"]),
    help="Shape of GET /posts: {posts, pagination} with items, or {data} without either.",
)
@click.option(
    "--new-video-per-analysis",
    is_flag=True,
    help="Give every POST /clips/info a new video_id, even for a URL analyzed before.",
)
@click.option(
    "--ready-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Once listening, write base_url, api_key, storage_url and pid here as JSON.",
)
@click.option(
    "--json", "as_json", is_flag=True, help="Print that JSON as one line instead of the banner."
)
def simulate(
    host: str,
    port: int,
    storage_port: int,
    faults: str,
    api_key: str | None,
    ready_file: Path | None,
    as_json: bool,
    new_video_per_analysis: bool,
    **settings: Any,
) -> None:
    """Run the CutPro simulator until interrupted; prints its base URL and API key."""
    from ..testing import (  # late: only this command needs it
        FakeCutPro,
        LatencyModel,
        SimConfig,
        parse_faults,
    )

    try:
        plan = parse_faults(faults)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--faults") from None
    try:
        settings["latency"] = LatencyModel.parse(settings["latency"])
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--latency") from None
    try:
        config = SimConfig(same_video_for_same_url=not new_video_per_analysis, **settings)
    except ValueError as exc:  # the only setting a free string can get wrong is the profile
        raise click.BadParameter(str(exc), param_hint="--storage-profile") from None
    fake = FakeCutPro(
        config, faults=plan, api_key=api_key, host=host, port=port, storage_port=storage_port
    )
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(fake, ready_file, as_json))


def _readiness(fake: FakeCutPro) -> dict[str, object]:
    """What a script needs to reach a started simulator."""
    return {
        "base_url": fake.base_url,
        "api_key": fake.api_key,
        "storage_url": fake.storage_url,
        "pid": os.getpid(),
    }


def _write_atomically(path: Path, data: bytes) -> None:
    """Write a file whole or not at all, so that a reader never sees half of it."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


async def _serve(fake: FakeCutPro, ready_file: Path | None, as_json: bool) -> None:
    """Start the simulator, say how to reach it, and serve until SIGINT or SIGTERM."""
    try:
        await fake.start()
    except OSError as exc:
        raise click.ClickException(f"cannot listen: {exc} (pick another --port)") from None
    try:
        ready = orjson.dumps(_readiness(fake))
        if ready_file is not None:
            await anyio.to_thread.run_sync(_write_atomically, ready_file, ready)
        if as_json:
            click.echo(ready.decode())
        else:
            click.echo(
                f"CutPro simulator (no real credits are spent)\n"
                f"  CUTPRO_API_URL={fake.base_url}\n"
                f"  CUTPRO_API_KEY={fake.api_key}\n"
                f"  storage: {fake.storage_url} ({fake.config.storage_profile} profile)\n"
                + (f"  latency: {latency.name}\n" if (latency := fake.config.latency) else "")
                + "Press Ctrl-C to stop."
            )
        await _until_signalled()
    finally:
        await fake.close()
        if ready_file is not None:  # a stale file would point the next reader at nothing
            await anyio.Path(ready_file).unlink(missing_ok=True)


async def _until_signalled() -> None:
    """Wait for SIGINT or SIGTERM, so that `terminate()` also closes the servers cleanly."""
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for _ in signals:
            return
