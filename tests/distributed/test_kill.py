"""Three worker processes on one batch, SIGKILLed at random and restarted: every video is
charged exactly once, every clip's file is on some worker's disk and verified."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from .cluster import ClusterReport, kill_urls, run_cluster

pytestmark = pytest.mark.anyio


def check(report: ClusterReport) -> None:
    """One charge per video, every video done, every file complete, no 429 from analysis."""
    assert [row.source for row in report.rows] == kill_urls(report.videos)
    assert [row.phase for row in report.rows] == ["done"] * report.videos, [
        (row.source, row.phase, row.error) for row in report.rows if row.phase != "done"
    ]
    assert report.charges == [1] * report.videos, report.charges
    assert report.total_charges == report.videos
    assert len(report.files) == 2 * report.videos
    assert report.files_complete == len(report.files)
    assert report.parts_left == []
    assert report.analyze_429s == 0
    assert report.key_leaks == []
    for worker, codes in report.codes.items():  # killed runs, then one that found it done
        assert codes[-1] == 0, (worker, codes)
        assert set(codes[:-1]) <= {-signal.SIGKILL}, (worker, codes)


async def test_killed_workers_charge_each_video_once(db_url: str, tmp_path: Path) -> None:
    """45 videos on three workers, a third of the paid requests' answers dropped after their
    commit, four SIGKILLs at seeded random moments (each worker restarted under its id)."""
    report = await run_cluster(
        tmp_path,
        db_url,
        45,
        "drop=0.3",
        workers=3,
        kills=4,
        kill_between=(0.8, 1.8),
        seed=20261129,
        deadline=90,
    )
    check(report)
    assert report.kills >= 3, report.codes
    assert report.injected.get("drop", 0) > 0, report.injected
    print(
        f"\n{report.videos} videos, {report.kills} kills, {report.total_charges} charges, "
        f"{report.paid_requests} paid requests, {report.analyses} analyses, "
        f"{len(report.files)} files {report.finished_by}, {report.seconds:.1f} s"
    )
