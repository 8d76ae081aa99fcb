"""`python -m benchmarks [--quick] [--only NAME ...] [--markdown] [--profile NAME]`.

Each scenario starts the simulator in its own process (a fresh one per contender's run where
they are compared), runs the contenders side by side in ABBA/BAAB rounds and reports medians
with their spread against the targets. Results go to `benchmarks/results/` (JSON and
`ratios.png`); `--markdown` also rewrites BENCHMARKS.md (`--from FILE` rewrites it from a
saved run). `--profile NAME` runs that scenario's client side under py-spy (else cProfile) and
writes the profile next to the results.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path

from . import (
    distributed,
    distributed_faults,
    downloads,
    faults,
    latency,
    overhead,
    pacing,
    pipeline,
    simulator,
)
from ._docs import markdown
from ._profile import profile
from ._report import RESULTS, Metric, chart, load, machine, save, table

SCENARIOS: dict[str, Callable[[bool], list[Metric]]] = {
    "simulator": simulator.scenario,
    "overhead": overhead.scenario,
    "pacing": pacing.scenario,
    "pipeline": pipeline.scenario,
    "downloads": downloads.scenario,
    "faults": faults.scenario,
    "latency": latency.scenario,
    "distributed": distributed.scenario,
    "distributed-faults": distributed_faults.scenario,
}
#: The client's side of each scenario alone, for `--profile`.
WORKLOADS: Mapping[str, Callable[[bool], None]] = {
    "overhead": overhead.workload,
    "pacing": pacing.workload,
    "pipeline": pipeline.workload,
    "pipeline-bare": pipeline.bare_workload,
    "downloads": downloads.workload,
    "latency": latency.workload,
}
DOC = Path(__file__).resolve().parent.parent / "BENCHMARKS.md"


def main() -> None:
    """Run the chosen scenarios and report, or profile one."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, about 4 minutes")
    parser.add_argument("--only", nargs="*", choices=sorted(SCENARIOS), help="scenarios to run")
    parser.add_argument("--markdown", action="store_true", help="rewrite BENCHMARKS.md")
    parser.add_argument("--from", dest="source", type=Path, help="a saved results JSON file")
    parser.add_argument(
        "--profile", choices=sorted(WORKLOADS), help="profile a scenario's client side"
    )
    parser.add_argument(
        "--gil", action="store_true", help="with --profile: only the thread holding the GIL"
    )
    parser.add_argument("--workload", choices=sorted(WORKLOADS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.workload:  # in the child process py-spy watches
        WORKLOADS[args.workload](args.quick)
        return
    if args.profile:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        print(f"profile: {profile(args.profile, args.quick, RESULTS, stamp, args.gil)}")
        return
    if args.source:
        info, metrics = load(args.source)
        print(table(metrics))
        print(f"chart: {chart(metrics, RESULTS / 'ratios.png')}")
    else:
        command = shlex.join(["python", "-m", "benchmarks", *sys.argv[1:]])
        started, measured_on = time.monotonic(), machine()  # the commit being measured
        metrics = []
        for name in args.only or SCENARIOS:
            print(f"running {name} ...", flush=True)
            metrics.extend(SCENARIOS[name](args.quick))
        seconds = time.monotonic() - started
        print(table(metrics))
        path = save(metrics, args.quick, seconds, command, measured_on)
        info, _ = load(path)
        print(f"results: {path}; chart: {chart(metrics, RESULTS / 'ratios.png')}")
    if args.markdown:
        DOC.write_text(markdown(info, metrics))
        print(f"wrote {DOC}")


if __name__ == "__main__":
    main()
