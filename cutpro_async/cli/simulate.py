"""`cutpro simulate`: the simulator as a standalone server."""

from __future__ import annotations

import asyncio
import contextlib

import click

from ..testing import FakeCutPro, parse_faults


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
@click.option("--faults", default="", help="Fault spec, e.g. '5xx=0.1,drop=0.3@POST /clips'.")
@click.option("--seed", default=0, show_default=True, help="Seed for content and faults.")
@click.option(
    "--render-bytes", default=256 * 1024, show_default=True, help="Size of rendered MP4s."
)
@click.option("--api-key", default=None, help="Key to accept (default: a random one).")
@click.option(
    "--analyze-limit", default=10, show_default=True, help="POST /clips/info calls per window."
)
@click.option(
    "--analyze-window", default=60.0, show_default=True, help="That window, in real seconds."
)
@click.option(
    "--render-expiry-hours", default=72.0, show_default=True, help="API-hours a render lasts."
)
@click.option(
    "--submission-expiry-days", default=30.0, show_default=True, help="API-days clips last."
)
def simulate(
    host: str,
    port: int,
    storage_port: int,
    time_scale: float,
    credits: float,
    faults: str,
    seed: int,
    render_bytes: int,
    api_key: str | None,
    analyze_limit: int,
    analyze_window: float,
    render_expiry_hours: float,
    submission_expiry_days: float,
) -> None:
    """Run the CutPro simulator until interrupted; prints its base URL and API key."""
    try:
        plan = parse_faults(faults)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--faults") from None
    fake = FakeCutPro(
        faults=plan,
        api_key=api_key,
        host=host,
        port=port,
        storage_port=storage_port,
        time_scale=time_scale,
        credits=credits,
        seed=seed,
        render_bytes=render_bytes,
        analyze_limit=analyze_limit,
        analyze_window=analyze_window,
        render_expiry_hours=render_expiry_hours,
        submission_expiry_days=submission_expiry_days,
    )
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(fake))


async def _serve(fake: FakeCutPro) -> None:
    """Start the simulator, print how to reach it, and wait forever."""
    try:
        await fake.start()
    except OSError as exc:
        raise click.ClickException(f"cannot listen: {exc} (pick another --port)") from None
    click.echo(
        f"CutPro simulator (no real credits are spent)\n"
        f"  CUTPRO_API_URL={fake.base_url}\n"
        f"  CUTPRO_API_KEY={fake.api_key}\n"
        f"  storage: {fake.storage_url}\nPress Ctrl-C to stop.",
        err=False,
    )
    try:
        await asyncio.Event().wait()
    finally:
        await fake.close()
