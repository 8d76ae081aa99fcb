"""A batch process killed (SIGKILL) at random moments resumes without paying twice."""

from __future__ import annotations

import os
import random
import signal
import sys
from pathlib import Path

import anyio
import pytest

from cutpro_async.batch import SQLiteStore

from .conftest import charges_of, check_files, names, simulated, video_url

pytestmark = pytest.mark.anyio

RUNNER = Path(__file__).with_name("crash_runner.py")
FAULTS = "drop=0.3,reset=0.02,truncate=0.05"
KILLS = 4
MAX_RERUNS = 5


async def run_batch(
    list_file: Path, out: Path, env: dict[str, str], kill_after: float | None
) -> int:
    """One runner process; SIGKILLed after `kill_after` seconds if given. Its exit code."""
    command = [sys.executable, str(RUNNER), str(list_file), str(out)]
    async with await anyio.open_process(command, env=env) as process:
        if kill_after is not None:
            with anyio.move_on_after(kill_after):
                await process.wait()
            if process.returncode is None:
                process.send_signal(signal.SIGKILL)
        return await process.wait()


async def test_sigkilled_batch_resumes_to_one_charge_per_video(tmp_path: Path) -> None:
    """Killed four times at seeded random moments, the batch is rerun to completion: every
    video done, each charged exactly once, every file matching its hash, no `.part` left."""
    urls = [video_url(duration=300 + 90 * i) for i in range(30)]  # longer videos, longer jobs
    list_file, out = tmp_path / "list.txt", tmp_path / "out"
    list_file.write_text("\n".join(urls))
    out.mkdir()
    chance = random.Random(20240607)
    async with simulated(time_scale=300, faults=FAULTS) as (fake, _):
        env = {**os.environ, "CUTPRO_API_KEY": fake.api_key, "CUTPRO_API_URL": fake.base_url}
        codes = [
            await run_batch(list_file, out, env, chance.uniform(0.3, 1.5)) for _ in range(KILLS)
        ]
        for _ in range(MAX_RERUNS):
            codes.append(await run_batch(list_file, out, env, None))
            if codes[-1] == 0:
                break
        store = await SQLiteStore.open(out / "state.sqlite")
        try:
            records = await store.records()
        finally:
            await store.close()
        charges = charges_of(fake, records)
        total = sum(fake.charges_per_video().values())
        assert fake.key_leaks == []
    assert -signal.SIGKILL in codes[:KILLS], codes
    assert codes[-1] == 0, codes
    assert [r.source for r in records] == urls
    assert charges == [1] * 30 and total == 30
    assert check_files(records, top_k=2) == 60
    assert names(out, "*.part") == []
