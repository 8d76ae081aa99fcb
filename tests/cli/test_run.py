"""`cutpro run` in a subprocess: files, manifest, JSON lines, dry runs and exit codes."""

from __future__ import annotations

from pathlib import Path

import anyio
import orjson
import pytest

from cutpro_async.batch import Stage
from cutpro_async.batch.manifest import FIELDS
from cutpro_async.testing import FakeCutPro

from .conftest import base_env, check_manifest, cutpro, env_for, error_lines, mp4s, write_list

pytestmark = pytest.mark.anyio


def url(tag: str, duration: int = 600) -> str:
    """A simulated video URL."""
    return f"https://www.youtube.com/watch?v={tag}&duration={duration}"


async def test_run_list_downloads_and_writes_manifest(fake: FakeCutPro, tmp_path: Path) -> None:
    """`cutpro run @list --out DIR` exits 0 with every clip on disk, described by the JSONL
    and CSV manifests, each video charged once; running it again skips them all."""
    urls = [url(f"cli{i}") for i in range(4)]
    out = tmp_path / "out"
    args = ("run", f"@{write_list(tmp_path, urls)}", "--out", out, "--top-k", "2", "--csv")
    done = await cutpro(*args, env=env_for(fake))
    assert done.returncode == 0, done.stderr.decode()
    rows = check_manifest(out, 8)
    assert [row["source"] for row in rows] == [u for u in urls for _ in range(2)]
    assert (out / "manifest.csv").read_text().splitlines()[0] == ",".join(FIELDS)
    assert (out / ".cutpro-state.sqlite").exists()
    assert sorted(fake.charges_per_video().values()) == [1] * 4
    assert "4 done, 0 failed, 0 skipped" in done.stderr.decode()
    again = await cutpro(*args, env=env_for(fake))
    assert again.returncode == 0
    assert "0 done, 0 failed, 4 skipped" in again.stderr.decode()
    assert sorted(fake.charges_per_video().values()) == [1] * 4
    check_manifest(out, 8)


async def test_json_prints_event_lines_ending_with_the_summary(
    fake: FakeCutPro, tmp_path: Path
) -> None:
    """`--json` prints one JSON object per line, the last one the Summary; every stage pool,
    sized by `--concurrency`, reports its events under its own name."""
    urls = [url("json1"), url("json2")]
    pools = ("--concurrency", "wait_clips=1,wait_render=1")
    done = await cutpro(
        "run", *urls, "--out", tmp_path, "--top-k", "1", "--json", *pools, env=env_for(fake)
    )
    assert done.returncode == 0, done.stderr.decode()
    lines = [orjson.loads(line) for line in done.stdout.decode().splitlines()]
    kinds = [line["event"] for line in lines]
    assert kinds[-1] == "Summary" and kinds.count("Summary") == 1
    assert kinds.count("VideoDone") == kinds.count("FileSaved") == 2
    assert {"StageStarted", "StageFinished", "Priced", "CreditsSpent"} <= set(kinds)
    started = {line["stage"] for line in lines if line["event"] == "StageStarted"}
    assert started == set(Stage) - {Stage.PUBLISH}  # publish only with --publish
    summary = lines[-1]
    assert (summary["done"], summary["failed"], summary["files"]) == (2, 0, 2)
    assert summary["credits_spent"] == fake.credits_spent() == 20
    assert summary["interrupted"] is False


async def test_dry_run_spends_nothing(fake: FakeCutPro, tmp_path: Path) -> None:
    """`--dry-run` prices every video, says what it would cost, and never submits."""
    urls = [url("dry1", 600), url("dry2", 1200)]
    done = await cutpro("run", *urls, "--out", tmp_path, "--dry-run", env=env_for(fake))
    assert done.returncode == 0, done.stderr.decode()
    assert "2 priced" in done.stderr.decode() and "30 credits needed" in done.stderr.decode()
    assert fake.credits_spent() == 0
    assert set(fake.requests) <= {"GET /balance", "POST /clips/info"}
    assert mp4s(tmp_path) == []


async def test_some_video_failed_exits_1(fake: FakeCutPro, tmp_path: Path) -> None:
    """A failed video makes the exit code 1; the other video's clips are still delivered."""
    done = await cutpro(
        "run", url("ok1"), url("fail1"), "--out", tmp_path, "--top-k", "1", env=env_for(fake)
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr.decode()
    # The job failed while the video waited for its clips: the phase it had reached is named.
    assert f"failed {url('fail1')} in phase submitted: SubmissionFailed" in done.stderr.decode()
    rows = check_manifest(tmp_path, 1)
    assert rows[0]["source"] == url("ok1")


@pytest.mark.parametrize(
    ("args", "with_key", "message"),
    [
        (("--timeframe", "30:10"), True, "--timeframe needs START:END"),
        (("--timeframe", "abc"), True, "--timeframe needs START:END"),
        (("--concurrency", "submit=x"), True, "--concurrency takes stage=N"),
        (("--concurrency", "wait=5"), True, "stages: analyze, submit, wait_clips, render"),
        ((), False, "no CutPro API key"),
        (("@/nonexistent/list.txt",), True, "cannot read the list /nonexistent/list.txt"),
    ],
    ids=[
        "timeframe-order",
        "timeframe-text",
        "concurrency",
        "unknown-stage",
        "no-key",
        "unreadable-list",
    ],
)
async def test_usage_errors_exit_2_with_one_line(
    fake: FakeCutPro,
    tmp_path: Path,
    args: tuple[str, ...],
    with_key: bool,
    message: str,
) -> None:
    """Bad options, a missing key or an unreadable list exit 2 with one `error:` line and no
    traceback, having spent nothing."""
    env = env_for(fake) if with_key else base_env()
    done = await cutpro("run", url("usage1"), *args, "--out", tmp_path, env=env)
    stderr = done.stderr.decode()
    assert done.returncode == 2, stderr
    assert len(error_lines(done.stderr)) == 1 and message in error_lines(done.stderr)[0]
    assert "Traceback" not in stderr
    assert fake.credits_spent() == 0


async def test_readme_command_with_simulator(tmp_path: Path) -> None:
    """The README's `cutpro run @examples/videos.txt --simulate --out DIR` needs no key, exits
    0 and leaves 60 MP4s and a 60-line manifest."""
    out = tmp_path / "clips"
    done = await cutpro("run", "@examples/videos.txt", "--simulate", "--out", out, env=base_env())
    assert done.returncode == 0, done.stderr.decode()
    assert "Simulated CutPro" in done.stderr.decode()
    rows = check_manifest(out, 60)
    assert len({row["video_id"] for row in rows}) == 20


async def test_rerun_with_a_failed_video_still_exits_1(fake: FakeCutPro, tmp_path: Path) -> None:
    """Running again over a record with a failed video still reports it with exit code 1."""
    args = ("run", url("ok2"), url("fail2"), "--out", tmp_path, "--top-k", "1")
    first = await cutpro(*args, env=env_for(fake))
    again = await cutpro(*args, env=env_for(fake))
    assert (first.returncode, again.returncode) == (1, 1)


async def test_two_runs_on_the_same_sources_pay_once(fake: FakeCutPro, tmp_path: Path) -> None:
    """Two `cutpro run` at once on the same list with different `--out`, against a server
    whose commits are slow: each video is charged once and both folders get every clip; a
    third run with `--resubmit` pays again on purpose."""
    urls = [url(f"twin{i}") for i in range(4)]
    listed = f"@{write_list(tmp_path, urls)}"
    fake.set_faults("slowcommit:0.5=0.5")
    results = {}

    async def run(out: str, *extra: str) -> None:
        results[out] = await cutpro(
            "run", listed, "--out", tmp_path / out, *extra, env=env_for(fake)
        )

    async with anyio.create_task_group() as group:
        group.start_soon(run, "a")
        group.start_soon(run, "b")
    assert [results[o].returncode for o in "ab"] == [0, 0], results["b"].stderr.decode()
    assert sorted(fake.charges_per_video().values()) == [1] * 4
    assert len(mp4s(tmp_path / "a")) == len(mp4s(tmp_path / "b")) == 12
    await run("c", "--resubmit")
    assert results["c"].returncode == 0
    assert sorted(fake.charges_per_video().values()) == [2] * 4


async def test_a_text_file_as_a_source_asks_if_a_list_was_meant(
    fake: FakeCutPro, tmp_path: Path
) -> None:
    """`cutpro run videos.txt` (without `@`) exits 2 asking "did you mean @videos.txt?"."""
    listed = write_list(tmp_path, [url("txt1")])
    done = await cutpro("run", listed, "--out", tmp_path / "out", env=env_for(fake))
    assert done.returncode == 2
    assert error_lines(done.stderr) == [
        f"error: {listed} is a text file, not a video: did you mean @{listed} (a list of "
        "sources, one a line)?"
    ]
    assert fake.requests["POST /clips/info"] == 0


async def test_an_empty_list_is_a_usage_error(fake: FakeCutPro, tmp_path: Path) -> None:
    """A list with no sources exits 2 saying it is empty, instead of a silent success."""
    listed = write_list(tmp_path, ["# nothing here", ""])
    done = await cutpro("run", f"@{listed}", "--out", tmp_path / "out", env=env_for(fake))
    assert done.returncode == 2
    assert "no sources to clip" in error_lines(done.stderr)[0]
