"""The small commands: `cutpro status` on a run's record."""

from __future__ import annotations

from pathlib import Path

import pytest

from cutpro_async.testing import FakeCutPro

from .conftest import base_env, cutpro, env_for

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
    assert f"{bad}: SubmissionFailed" in text


async def test_status_of_a_missing_record_exits_2(tmp_path: Path) -> None:
    """A state file that does not exist is a usage error."""
    status = await cutpro("status", "--state", tmp_path / "nope.sqlite", env=base_env())
    assert status.returncode == 2
    assert "does not exist" in status.stderr.decode()
