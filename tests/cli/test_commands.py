"""The small commands: `cutpro status` on a run's record."""

from __future__ import annotations

from pathlib import Path

import pytest

from cutpro_async.batch import Phase, Record, SavedFile, SQLiteStore
from cutpro_async.testing import FakeCutPro

from .conftest import base_env, cutpro, env_for, error_lines

pytestmark = pytest.mark.anyio


async def test_status_prints_counts(fake: FakeCutPro, tmp_path: Path) -> None:
    """`cutpro status --state` counts videos per phase, files, credits and names failures."""
    ok, bad = (f"https://www.youtube.com/watch?v={t}&duration=600" for t in ("st1", "stfail"))
    run = await cutpro("run", ok, bad, "--out", tmp_path, "--top-k", "2", env=env_for(fake))
    assert run.returncode == 1
    status = await cutpro("status", "--state", tmp_path / ".cutpro-state.sqlite", env=base_env())
    text = status.stdout.decode()
    assert status.returncode == 0, status.stderr.decode()
    assert "2 videos: 1 done, 1 failed" in text
    assert "2 files, 20 credits spent, 0 resumable" in text
    assert f"{bad}: failed in phase submitted: SubmissionFailed" in text


async def test_status_of_a_missing_record_exits_2(tmp_path: Path) -> None:
    """A state file that does not exist is a usage error."""
    status = await cutpro("status", "--state", tmp_path / "nope.sqlite", env=base_env())
    assert status.returncode == 2
    assert "does not exist" in status.stderr.decode()


async def test_status_reads_a_record_while_a_run_holds_it(tmp_path: Path) -> None:
    """A run in progress holds the record's lock: `cutpro status` still reads it (no lock,
    read-only) and counts what is committed so far, in one line per plural."""
    path = tmp_path / ".cutpro-state.sqlite"
    (tmp_path / "a.mp4").write_bytes(b"0123456789")  # the recorded file, as saved
    run = await SQLiteStore.open(path)  # this test is the run in progress
    try:
        await run.save(
            Record(
                "https://example.com/one",
                0,
                phase=Phase.DONE,
                submission_id="s1",
                credits_charged=1.0,
                clips=[],
                files=[SavedFile("c1", "r1", str(tmp_path / "a.mp4"), 10, "ab" * 32)],
            )
        )
        first = await cutpro("status", "--state", path, env=base_env())
        await run.save(Record("https://example.com/two", 1, phase=Phase.SUBMITTED, video_id="v"))
        second = await cutpro("status", "--state", path, env=base_env())
    finally:
        await run.close()
    assert first.returncode == 0, first.stderr.decode()
    assert first.stdout.decode().splitlines() == [
        "1 video: 1 done",
        "1 file, 1 credit spent, 0 resumable",
    ]
    assert second.returncode == 0, second.stderr.decode()
    assert second.stdout.decode().splitlines()[:2] == [
        "2 videos: 1 submitted, 1 done",
        "1 file, 1 credit spent, 1 resumable",
    ]


async def test_status_names_why_videos_were_skipped(fake: FakeCutPro, tmp_path: Path) -> None:
    """A video over the budget shows as skipped (not as its phase), with the reason; it stays
    resumable."""
    url = "https://www.youtube.com/watch?v=stskip&duration=600"
    run = await cutpro("run", url, "--out", tmp_path, "--budget", "5", env=env_for(fake))
    assert run.returncode == 0, run.stderr.decode()
    status = await cutpro("status", "--state", tmp_path / ".cutpro-state.sqlite", env=base_env())
    lines = status.stdout.decode().splitlines()
    assert lines[0] == "1 video: 1 skipped"
    assert lines[1] == "0 files, 0 credits spent, 1 resumable"
    assert lines[2].startswith(f"{url}: skipped: over budget: 10 credits")


async def test_status_of_a_file_that_is_not_a_record(tmp_path: Path) -> None:
    """Any other file: one error line saying so, exit 1."""
    path = tmp_path / "notes.sqlite"
    path.write_text("not a database\n" * 100)
    status = await cutpro("status", "--state", path, env=base_env())
    assert status.returncode == 1
    [line] = error_lines(status.stderr)
    assert "is not a cutpro run record" in line
