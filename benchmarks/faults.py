"""A batch under faults, SIGKILLed at random moments and rerun: does any video get paid twice?

    python -m benchmarks.faults [--quick]

The crash test's scenario (`tests/batch/crash_runner.py`) at 1,000 videos: the simulator in
this process, the batch in its own; `POST /clips` dropped after its commit (30%) or committed
1 s late (20%, twice the runner's 0.5 s read timeout, so the commit window must find it),
2% of API requests reset, 5% of downloads truncated; killed ten times at seeded random moments,
then rerun until a run finishes every video. Targets: at most one charge per video, total
charges equal to the videos, every file complete (size, sha256 and MP4 structure), no `.part`.
"""

from __future__ import annotations

import signal
import sys
import tempfile
from pathlib import Path

import anyio

from tests.batch.crash_runner import CrashReport, RunnerSettings, crash_run

from ._report import Metric, table, tidy

FAULTS = "drop=0.3,slowcommit:1=0.2,reset=0.02,truncate=0.05"
SETTINGS = RunnerSettings(read_timeout=0.5, commit_window=5.0)
SEED = 20261130


def _metrics(report: CrashReport) -> list[Metric]:
    """The report as benchmark rows."""
    name = f"{report.videos} videos"
    injected = ", ".join(f"{kind} {count}" for kind, count in sorted(report.injected.items()))
    rows = [
        Metric("faults", f"{name}: SIGKILLs survived", report.kills, None, "higher", "kills"),
        Metric("faults", f"{name}: reruns to finish", report.reruns, None, "lower", "runs"),
        Metric(
            "faults",
            f"{name}: faults injected ({injected})",
            sum(report.injected.values()),
            None,
            "higher",
            "faults",
        ),
        Metric(
            "faults",
            f"{name}: most charges of one video",
            report.max_charges,
            1,
            "lower",
            "charges",
        ),
        Metric(
            "faults",
            f"{name}: total charges / videos",
            report.total_charges / report.videos,
            1,
            "lower",
        ),
        Metric(
            "faults",
            f"{name}: videos charged exactly once",
            100 * report.charges.count(1) / report.videos,
            100,
            "higher",
            "%",
        ),
        Metric(
            "faults",
            f"{name}: files complete (of {report.files_expected})",
            100 * report.files_complete / report.files_expected,
            100,
            "higher",
            "%",
        ),
        Metric(
            "faults", f"{name}: `.part` files left", len(report.parts_left), 0, "lower", "files"
        ),
        Metric("faults", f"{name}: wall time, all runs", report.seconds, None, "lower", "s"),
    ]
    return rows


def scenario(quick: bool) -> list[Metric]:
    """Kills, reruns, faults, charges against videos, complete files, wall time."""
    videos, kills, kill_between = (300, 6, (1.5, 4.0)) if quick else (1000, 10, (2.0, 8.0))
    folder = Path(tempfile.mkdtemp(prefix="cutpro-faults-"))
    report = anyio.run(
        lambda: crash_run(
            folder,
            videos,
            FAULTS,
            kills=kills,
            kill_between=kill_between,
            settings=SETTINGS,
            seed=SEED,
        )
    )
    codes = ", ".join("SIGKILL" if code == -signal.SIGKILL else str(code) for code in report.codes)
    print(f"faults: runs ended {codes}; {report.paid_requests} POST /clips received")
    metrics = _metrics(report)
    if not tidy(folder, metrics, "faults"):
        print(f"faults: videos charged twice: {report.double_charged}")
    return metrics


if __name__ == "__main__":
    print(table(scenario("--quick" in sys.argv)))
