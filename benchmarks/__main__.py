"""`python -m benchmarks [--quick] [--only NAME ...]`: every scenario, one table, JSON, a chart.

Each scenario starts the simulator in its own process, measures the client side by side with
what users would write instead, and reports ratios with their targets. Results go to
`benchmarks/results/` (JSON and `ratios.png`); `--markdown` also rewrites BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

from . import downloads, faults, overhead, pacing, pipeline, simulator
from ._report import RESULTS, Metric, chart, machine, save, table

SCENARIOS: dict[str, Callable[[bool], list[Metric]]] = {
    "simulator": simulator.scenario,
    "overhead": overhead.scenario,
    "downloads": downloads.scenario,
    "pipeline": pipeline.scenario,
    "pacing": pacing.scenario,
    "faults": faults.scenario,
}
DOC = Path(__file__).resolve().parent.parent / "BENCHMARKS.md"
DOWNLOADS = """## How downloads are measured

`benchmarks/downloads.py` sets `CutPro.download` against a durable bare-aiohttp baseline doing
the same work: one shared `ClientSession`; the body's socket pieces grouped into ~1 MiB blocks
and passed through a 4-block queue to a thread (`asyncio.to_thread`) that hashes sha256 and
`os.writev`s them; then the length and MP4 structure checks, one `fdatasync`, the rename into
place and an `fsync` of the folder. Both fetch the same file from `s3-kms` storage (an opaque
ETag: the client checks length, MP4 structure and sha256, like the baseline, and the
benchmark checks that both agree on the sha256). Each round starts a fresh simulator process
and runs the contenders ABBA (BAAB in odd rounds); a round's ratio is bare seconds / client
seconds. The 200 MiB/s link is kernel TCP pacing (`SO_MAX_PACING_RATE`) on every connection
the simulator accepts (`benchmarks/_paced.py`): the simulator's `trickle:209715200` fault
sleeps after every 4 KiB piece and so delivers about 3 MiB/s. Memory: a fresh child process
downloads while the parent samples its VmRSS from `/proc/<pid>/status` every 2 ms
(`ru_maxrss` is inherited across exec). The client writes back every 16 MiB
(`sync_file_range`), the baseline only at its final `fdatasync`: that is why the client is
ahead on disk and on a paced link.
"""
MISSES = """## Where targets are missed, and why

- **1,000-video pipeline vs bare aiohttp** (about 2-2.7x wall time) **and vs a 32-thread
  `requests` pool** (about 2x, target 10x). On an instant simulator the client's CPU is the
  bottleneck: about 6 ms per video against about 3 ms for the bare pipeline, spent on the
  durable SQLite record (group-committed), `fsync` and SHA-256 of every file for the
  manifest, thread hand-offs for file I/O, typed models and events. The bare pipeline keeps
  no record and verifies nothing. The thread pool is bounded by the same simulator on the same
  two cores; the 10x target assumes a latency-bound API, which an instant simulator does not
  model.
"""


def _markdown(metrics: list[Metric], quick: bool, seconds: float) -> str:
    """BENCHMARKS.md: the table, the chart, the machine, how to reproduce."""
    info = machine()
    missed = [m for m in metrics if m.met is False]
    return (
        "# Benchmarks\n\n"
        f"Latest run: {info['date']}, commit {info['commit']}, "
        f"{'`--quick`' if quick else 'full'} suite in {seconds:.0f} s on {info['cpu']} "
        f"({info['cores']} cores, shared and noisy), Python {info['python']}.\n\n"
        "Every figure is measured side by side in one run; ratios are medians over the "
        "repeats, with their spread. The simulator always runs in its own process.\n\n"
        f"{table(metrics)}\n\n![ratios against targets](benchmarks/results/ratios.png)\n\n"
        f"Targets met: {sum(m.met is True for m in metrics)} of "
        f"{sum(m.met is not None for m in metrics)}."
        + (
            " Missed: " + "; ".join(f"{m.scenario} {m.name}" for m in missed) + "."
            if missed
            else ""
        )
        + "\n\n"
        + DOWNLOADS
        + "\n"
        + MISSES
        + "\n\nReproduce: `pip install -e '.[bench]' && python -m benchmarks --quick` "
        "(about 2 minutes) or without `--quick` (under 15 minutes).\n"
    )


def main() -> None:
    """Run the chosen scenarios and report."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, under 2 minutes")
    parser.add_argument("--only", nargs="*", choices=sorted(SCENARIOS), help="scenarios to run")
    parser.add_argument("--markdown", action="store_true", help="rewrite BENCHMARKS.md")
    args = parser.parse_args()
    started = time.monotonic()
    metrics: list[Metric] = []
    for name in args.only or SCENARIOS:
        print(f"running {name} ...", flush=True)
        metrics.extend(SCENARIOS[name](args.quick))
    seconds = time.monotonic() - started
    print(table(metrics))
    print(f"results: {save(metrics, args.quick)}; chart: {chart(metrics, RESULTS / 'ratios.png')}")
    if args.markdown:
        DOC.write_text(_markdown(metrics, args.quick, seconds))
        print(f"wrote {DOC}")


if __name__ == "__main__":
    main()
