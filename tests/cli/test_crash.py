"""`cutpro run` killed or interrupted mid-run: rerunning finishes with one charge per video."""

from __future__ import annotations

import random
import re
import signal
import subprocess
from pathlib import Path

import anyio
import orjson
import pytest
from anyio.streams.buffered import BufferedByteReceiveStream

from cutpro_async.testing import FakeCutPro

from .conftest import COMMAND, ROOT, base_env, check_manifest, cutpro, env_for, write_list

pytestmark = pytest.mark.anyio

# The CLI paces `/clips/info` at the documented 10 a minute, so a run analyses ten videos at
# once and then waits a minute: ten videos (thirty clips) keep each run to a few seconds.
VIDEOS, TOP_K = 10, 3
FAULTS = "drop=0.3,reset=0.02,truncate=0.05"
MAX_RERUNS = 5


def crash_urls(tag: str) -> list[str]:
    """Videos of growing length, so that jobs end at different moments."""
    return [
        f"https://www.youtube.com/watch?v={tag}{i}&duration={300 + 120 * i}" for i in range(VIDEOS)
    ]


async def rerun_until_done(args: tuple[str | Path, ...], env: dict[str, str]) -> list[int]:
    """Run the command again until it exits 0 (at most MAX_RERUNS times); the exit codes."""
    codes: list[int] = []
    for _ in range(MAX_RERUNS):
        codes.append((await cutpro(*args, env=env)).returncode)
        if codes[-1] == 0:
            break
    return codes


def check_finished(fake: FakeCutPro, out: Path) -> None:
    """Every video charged exactly once and all its clips on disk, matching the manifest."""
    charges = fake.charges_per_video()
    assert len(charges) == VIDEOS and set(charges.values()) == {1}
    rows = check_manifest(out, VIDEOS * TOP_K)
    assert len({row["video_id"] for row in rows}) == VIDEOS
    assert fake.key_leaks == []


async def test_sigkill_at_a_random_moment_then_rerun(tmp_path: Path) -> None:
    """SIGKILL at a seeded random moment, then reruns until exit 0: every video done, charged
    once, every file's SHA-256 equal to its manifest line, no `.part` left."""
    out = tmp_path / "out"
    async with FakeCutPro(time_scale=600, analyze_window=0.2, faults=FAULTS, seed=11) as fake:
        env = env_for(fake)
        args = ("run", f"@{write_list(tmp_path, crash_urls('kill'))}", "--out", out)
        # A paid request cut short by the kill is waited for before paying again: 3 s here
        # (the simulator commits at once), not the default 120 s.
        args += ("--top-k", str(TOP_K), "--commit-window", "3")
        kill_after = random.Random(4242).uniform(0.5, 4.0)
        command = [*COMMAND, *map(str, args)]
        async with await anyio.open_process(
            command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        ) as process:
            with anyio.move_on_after(kill_after):
                await process.wait()
            if process.returncode is None:
                process.send_signal(signal.SIGKILL)
            killed = await process.wait()
        codes = await rerun_until_done(args, env)
        assert killed == -signal.SIGKILL, f"the run ended on its own within {kill_after:.2f} s"
        assert codes[-1] == 0, codes
        check_finished(fake, out)


async def test_sigint_exits_130_and_resumes(tmp_path: Path) -> None:
    """One SIGINT after the first charge stops the run with exit 130 and a resumable record;
    the rerun exits 0 with every video charged once and every file in the manifest."""
    out = tmp_path / "out"
    async with FakeCutPro(time_scale=600, analyze_window=0.2, faults=FAULTS, seed=12) as fake:
        env = env_for(fake)
        args = ("run", f"@{write_list(tmp_path, crash_urls('int'))}", "--out", out)
        args += ("--top-k", str(TOP_K), "--json", "--commit-window", "3")
        async with await anyio.open_process(
            [*COMMAND, *map(str, args)], env=env, cwd=ROOT, stderr=subprocess.DEVNULL
        ) as process:
            assert process.stdout is not None
            stream = BufferedByteReceiveStream(process.stdout)
            while orjson.loads(await stream.receive_until(b"\n", 1 << 20))["event"] != (
                "CreditsSpent"
            ):
                pass
            process.send_signal(signal.SIGINT)
            rest = b""
            with pytest.raises(anyio.EndOfStream):
                while True:
                    rest += await stream.receive()
            code = await process.wait()
        summary = orjson.loads(rest.splitlines()[-1])
        status = await cutpro("status", "--state", out / ".cutpro-state.sqlite", env=base_env())
        resumable = re.search(r"(\d+) resumable", status.stdout.decode())
        assert code == 130
        assert summary["event"] == "Summary" and summary["interrupted"] is True
        assert resumable is not None and int(resumable.group(1)) > 0
        assert (out / "manifest.jsonl").exists()
        codes = await rerun_until_done(args, env)
        assert codes == [0]
        check_finished(fake, out)
