"""`cutpro run` as a new and then a careless user runs it (issue 12): resuming the README's own
command, options checked before paying, bad sources failing alone, reasons in the output."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import anyio
import pytest

from cutpro_async.testing import FakeCutPro
from tests.conftest import tmpfs_available

from .conftest import COMMAND, ROOT, base_env, check_manifest, cutpro, env_for, error_lines, mp4s

pytestmark = pytest.mark.anyio


def url(tag: str, duration: int = 600) -> str:
    """A simulated video URL."""
    return f"https://www.youtube.com/watch?v={tag}&duration={duration}"


def interrupted_after(seconds: float, *args: str | Path) -> subprocess.CompletedProcess[bytes]:
    """Run `cutpro ARGS`, press Ctrl-C once after `seconds`, and wait for it to stop."""
    process = subprocess.Popen(
        [*COMMAND, *map(str, args)],
        cwd=ROOT,
        env=base_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    time.sleep(seconds)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=60)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


async def test_the_readme_command_interrupted_and_run_again_ends_with_every_clip(
    tmp_path: Path,
) -> None:
    """Ctrl-C after a few seconds ("run again to resume"), run again: every clip, exit 0, and
    the simulated world (kept in OUT) charged each video once."""
    out = tmp_path / "clips"
    args = ("run", "@examples/videos.txt", "--simulate", "--out", out)
    first = await anyio.to_thread.run_sync(interrupted_after, 4.0, *args)
    assert first.returncode == 130, first.stderr.decode()
    assert "run again to resume" in first.stderr.decode()
    again = await cutpro(*args, env=base_env())
    stderr = again.stderr.decode()
    assert again.returncode == 0, stderr
    assert "continuing the world saved in" in stderr
    rows = check_manifest(out, 60)
    assert len({row["video_id"] for row in rows}) == 20
    assert len(mp4s(out)) == 60 and (out / "index.html").exists()
    status = await cutpro("status", "--state", out / ".cutpro-state.sqlite", env=base_env())
    assert "20 done" in status.stdout.decode() + status.stderr.decode()


async def test_a_simulated_dry_run_and_budget_skips_continue_the_same_record(
    tmp_path: Path,
) -> None:
    """`--dry-run`, then `--budget 0` (every video skipped, the reason shown), then a plain
    run: one record, one world, every video done and charged once."""
    out = tmp_path / "out"
    sources = [url(f"simrec{i}") for i in range(3)]
    base = ("run", *sources, "--simulate", "--out", out, "--top-k", "1")
    priced = await cutpro(*base, "--dry-run", env=base_env())
    assert priced.returncode == 0, priced.stderr.decode()
    broke = await cutpro(*base, "--budget", "0", env=base_env())
    assert broke.returncode == 0, broke.stderr.decode()
    assert "3 skipped: over the budget" in broke.stderr.decode()
    done = await cutpro(*base, env=base_env())
    assert done.returncode == 0, done.stderr.decode()
    assert "3 done" in done.stderr.decode()
    check_manifest(out, 3)


@pytest.mark.parametrize(
    ("naming", "says"),
    [("{titel}.mp4", "unknown field {titel}"), ("{0}.mp4", "named fields")],
)
async def test_a_bad_naming_template_exits_2_before_paying(
    fake: FakeCutPro, tmp_path: Path, naming: str, says: str
) -> None:
    """A template with an unknown field is one line, exit 2, and nothing is analyzed or paid."""
    done = await cutpro(
        "run", url("name1"), "--out", tmp_path, "--naming", naming, env=env_for(fake)
    )
    assert done.returncode == 2, done.stderr.decode()
    [line] = error_lines(done.stderr)
    assert says in line and "{clip_id}" in line
    assert "Traceback" not in done.stderr.decode()
    assert fake.requests["POST /clips/info"] == 0 and fake.credits_spent() == 0


@pytest.mark.parametrize("naming", ["same.mp4", "{rank}.mp4"])
async def test_one_name_for_many_clips_still_gives_a_file_per_clip(
    fake: FakeCutPro, tmp_path: Path, naming: str
) -> None:
    """3 videos x 3 clips under one template name: 9 files, 9 manifest paths, and a note."""
    sources = [url(f"same{naming[0]}{i}") for i in range(3)]
    done = await cutpro("run", *sources, "--out", tmp_path, "--naming", naming, env=env_for(fake))
    assert done.returncode == 0, done.stderr.decode()
    assert "-<clip id>" in done.stderr.decode()
    rows = check_manifest(tmp_path, 9)
    assert len({row["path"] for row in rows}) == 9 and len(mp4s(tmp_path)) == 9


async def test_an_out_folder_that_cannot_be_made_exits_2(fake: FakeCutPro, tmp_path: Path) -> None:
    """`--out` under a regular file: one line saying to choose another, no traceback."""
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    done = await cutpro("run", url("out1"), "--out", blocker / "out", env=env_for(fake))
    assert done.returncode == 2, done.stderr.decode()
    [line] = error_lines(done.stderr)
    assert "choose another --out" in line and "Traceback" not in done.stderr.decode()
    assert fake.requests["POST /clips/info"] == 0


async def test_bad_sources_fail_alone(fake: FakeCutPro, tmp_path: Path) -> None:
    """A list that is not UTF-8 (a Latin-1 file name), an `s3://` line and a missing file:
    each fails with its reason, the good videos finish, exit 1, no traceback."""
    good = [url("alone1"), url("alone2")]
    listed = tmp_path / "list.txt"
    lines = [good[0], "s3://bucket/talk.mp4", str(tmp_path / "missing.mp4"), good[1]]
    listed.write_bytes(
        "\n".join(lines).encode() + b"\n" + str(tmp_path).encode() + b"/caf\xe9.mp4\n"
    )
    out = tmp_path / "out"
    done = await cutpro("run", f"@{listed}", "--out", out, "--top-k", "1", env=env_for(fake))
    stderr = done.stderr.decode()
    assert done.returncode == 1, stderr
    assert "Traceback" not in stderr
    assert "2 done, 3 failed" in stderr
    assert "s3://" in stderr and "not valid UTF-8" in stderr and "missing.mp4" in stderr
    assert "partial download" not in stderr
    check_manifest(out, 2)
    again = await cutpro("run", f"@{listed}", "--out", out, "--top-k", "1", env=env_for(fake))
    assert again.returncode == 1 and "Traceback" not in again.stderr.decode()


async def test_a_deleted_clip_is_fetched_again_by_the_rerun(
    fake: FakeCutPro, tmp_path: Path
) -> None:
    """A clip deleted from OUT comes back on the rerun without paying again."""
    args = ("run", url("gone1"), "--out", tmp_path, "--top-k", "2")
    first = await cutpro(*args, env=env_for(fake))
    assert first.returncode == 0, first.stderr.decode()
    victim = tmp_path / mp4s(tmp_path)[0]
    victim.unlink()
    state = tmp_path / ".cutpro-state.sqlite"
    status = await cutpro("status", "--state", state, env=env_for(fake))
    assert "1 file missing or changed since saved" in status.stdout.decode()
    again = await cutpro(*args, env=env_for(fake))
    assert again.returncode == 0, again.stderr.decode()
    assert victim.exists() and "1 file" in again.stderr.decode()
    assert list(fake.charges_per_video().values()) == [1]
    check_manifest(tmp_path, 2)
    status = await cutpro("status", "--state", state, env=env_for(fake))
    assert "missing" not in status.stdout.decode()


async def test_a_record_of_another_api_says_how_to_start_a_new_one(
    fake: FakeCutPro, tmp_path: Path
) -> None:
    """A record with unfinished videos made against one API, run against another: exit 2
    naming the options that start a new record."""
    out = tmp_path / "out"
    args = ("run", url("bound1"), "--out", out, "--top-k", "1", "--dry-run")
    priced = await cutpro(*args, env=env_for(fake))
    assert priced.returncode == 0, priced.stderr.decode()
    async with FakeCutPro(time_scale=6000, analyze_window=0.2) as other:
        done = await cutpro("run", url("bound1"), "--out", out, env=env_for(other))
    assert done.returncode == 2
    [line] = error_lines(done.stderr)
    assert "--state NEW.sqlite" in line and "another --out" in line


#: In a mount namespace of its own: OUT on a tmpfs too small for the clips, a run, then the
#: same tmpfs grown and the same run again. The outputs are separated by a marker line.
FULL_DISK_SCRIPT = """
mount -t tmpfs -o size=6m tmpfs "$OUT"
"$PYTHON" -m cutpro_async run "$@" --out "$OUT" 2>&1; echo "exit $?"
echo "=== grown"
mount -o remount,size=64m "$OUT"
"$PYTHON" -m cutpro_async run "$@" --out "$OUT" 2>&1; echo "exit $?"
ls "$OUT"
"""


@pytest.mark.skipif(not tmpfs_available(), reason="no user namespaces to mount a tmpfs in")
async def test_a_full_disk_ends_the_run_cleanly_and_the_rerun_continues(tmp_path: Path) -> None:
    """OUT fills up mid-run (a real ENOSPC): no traceback, the summary, exit 1; with room the
    same command finishes every video, each charged once."""
    out = tmp_path / "out"
    out.mkdir()
    sources = [url(f"full{i}") for i in range(8)]
    async with FakeCutPro(time_scale=6000, analyze_window=0.2, render_bytes=1024**2) as fake:
        env = {**env_for(fake), "OUT": str(out), "PYTHON": sys.executable}
        with anyio.fail_after(180):
            done = await anyio.run_process(
                ["unshare", "-rm", "sh", "-c", FULL_DISK_SCRIPT, "sh", *sources, "--top-k", "1"],
                env=env,
                cwd=ROOT,
                check=False,
            )
        charges = fake.charges_per_video()
    first, grown = done.stdout.decode().split("=== grown")
    assert "Traceback" not in first and "Traceback" not in grown
    assert "exit 1" in first and "free" in first and "credits spent" in first
    assert "exit 0" in grown, grown
    assert grown.count(".mp4") >= 8 and sorted(charges.values()) == [1] * 8
