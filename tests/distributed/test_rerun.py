"""`cutpro run --db` with the options of a run again, through real HTTP and a real PostgreSQL:
`--budget` never passed across workers (and raised, the skipped videos continue),
`--dry-run` prices and enqueues nothing, `--retry-failed` pays a paid video once, `--verify`
fetches again what changed on this machine."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import anyio
import psycopg
import pytest

from cutpro_async.distributed import Tables
from cutpro_async.testing import FakeCutPro
from tests.batch.conftest import video_url, video_urls
from tests.cli.conftest import COMMAND, ROOT, cutpro

from .conftest import SIM_SETTINGS
from .test_cli import batch_exists, env_of

pytestmark = pytest.mark.anyio

#: The route that renders a clip (a fault there fails a video after its paid step).
RENDER = "/clips/{videoId}/submissions/{submissionId}/clips/{clipId}/render"


def mp4s(folder: Path) -> list[Path]:
    """The MP4 files in `folder`, by name."""
    return sorted(folder.glob("*.mp4"))


def said(result: subprocess.CompletedProcess[bytes]) -> str:
    """What a command printed on stderr."""
    return result.stderr.decode()


async def test_two_workers_and_the_run_never_pass_the_budget(db_url: str, tmp_path: Path) -> None:
    """12 videos of 10 credits, a budget of 55, the run and two workers paying at once: five
    videos paid, seven skipped with the reason (exit 0: nothing failed), never more charged
    than the budget; run again with 200, the skipped ones go on, each video charged once."""
    urls = video_urls(12, tag="budget")
    async with FakeCutPro(credits=1000, **SIM_SETTINGS) as fake:
        env = env_of(fake)
        args = [*urls, "--db", db_url, "--batch", "budget", "--top-k", "1", "--no-render"]
        log = tmp_path / "run.log"
        with log.open("wb") as sink:
            runner = await anyio.open_process(
                [*COMMAND, "run", *args, "--out", str(tmp_path / "run"), "--budget", "55"],
                env=env,
                cwd=ROOT,
                stdout=sink,
                stderr=subprocess.STDOUT,
            )
        try:
            with anyio.fail_after(60):
                while not await batch_exists(db_url, "budget"):
                    await anyio.sleep(0.05)
            workers: dict[str, subprocess.CompletedProcess[bytes]] = {}

            async def work(worker: str) -> None:
                workers[worker] = await cutpro(
                    "worker", "--db", db_url, "--out", tmp_path / worker, "--worker-id", worker,
                    env=env,
                )  # fmt: skip

            async with anyio.create_task_group() as group:
                for worker in ("w1", "w2"):
                    group.start_soon(work, worker)
            with anyio.fail_after(120):
                code = await runner.wait()
        finally:
            if runner.returncode is None:
                runner.kill()
                await runner.wait()
        first = log.read_text()
        charged_first = fake.credits_spent()
        paid_first = dict(fake.charges_per_video())
        status = await cutpro("status", "--db", db_url, "--batch", "budget", env=env)
        again = await cutpro(*["run", *args, "--out", tmp_path / "run", "--budget", "200"], env=env)
        charges = fake.charges_per_video()
    assert code == 0, first
    for worker, ended in workers.items():
        assert ended.returncode == 0, (worker, said(ended))
    assert charged_first == 50 and len(paid_first) == 5, (charged_first, paid_first)
    text = status.stdout.decode()
    assert "12 videos: 5 done, 7 skipped" in text, text
    assert "budget 55 credits: 50 spent or held" in text, text
    assert text.count("skipped: over budget: 10 credits would take the batch past 55") == 7
    assert again.returncode == 0, said(again)
    assert "0 newly enqueued, 7 tried again" in said(again)
    assert "12 videos: 12 done" in said(again)
    assert "budget 200 credits: 120 spent or held" in said(again)
    assert sorted(charges.values()) == [1] * 12


async def test_dry_run_prices_every_video_and_enqueues_nothing(db_url: str, tmp_path: Path) -> None:
    """`--dry-run --db` analyses each video (free), prints what they would cost, pays nothing
    and writes nothing to the database."""
    urls = [video_url("dry", 600), video_url("dry", 125)]
    async with FakeCutPro(**SIM_SETTINGS) as fake:
        result = await cutpro(
            "run", *urls, "--db", db_url, "--out", tmp_path, "--dry-run", env=env_of(fake)
        )
        requests = fake.requests
    assert result.returncode == 0, said(result)
    assert "2 priced, 0 failed, 0 skipped" in said(result)
    assert "13 credits needed" in said(result)
    assert "dry run: nothing paid, nothing enqueued" in said(result)
    assert requests["POST /clips/info"] == 2 and requests["POST /clips"] == 0
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT to_regclass('cutpro_batches')").fetchone() == (None,)


async def test_retry_failed_pays_a_paid_video_once_and_a_failed_job_again(
    db_url: str, tmp_path: Path
) -> None:
    """Renders failing, two videos fail after paying, a third's clipping job fails: a rerun
    adds nothing; `--retry-failed` finishes the two on their submissions (no second charge)
    and pays the third again (its job failed); once more unchanged, nothing new."""
    good, bad = video_urls(2, tag="retry"), video_url("fail-retry")
    async with FakeCutPro(**SIM_SETTINGS) as fake:
        env = env_of(fake)
        args = [*good, bad, "--db", db_url, "--out", tmp_path, "--batch", "retry", "--top-k", "1"]
        fake.set_faults(f"500@POST {RENDER}")
        first = await cutpro("run", *args, env=env)
        fake.set_faults("")
        plain = await cutpro("run", *args, env=env)
        retried = await cutpro("run", *args, "--retry-failed", env=env)
        after = await cutpro("run", *args, env=env)
        charges = fake.charges_per_video()
        submits = fake.requests["POST /clips"]
        async with Tables(db_url) as tables:
            rows = {row.source: row for row in await tables.videos("retry")}
    assert first.returncode == 1 and "3 failed" in said(first), said(first)
    assert plain.returncode == 1 and "0 newly enqueued; working" in said(plain), said(plain)
    assert retried.returncode == 1, said(retried)
    assert "3 tried again" in said(retried) and "2 done, 1 failed" in said(retried)
    assert "0 newly enqueued; working" in said(after) and "2 done, 1 failed" in said(after)
    assert submits == 4  # the two good videos once, the failed job twice
    assert sorted(charges.values()) == [1, 1, 2]
    assert [rows[s].attempt for s in (*good, bad)] == [2, 2, 2]
    assert [rows[s].phase for s in (*good, bad)] == ["done", "done", "failed"]
    assert len(mp4s(tmp_path)) == 2


async def test_a_retry_whose_analysis_names_another_video_adopts_the_paid_one(
    db_url: str, tmp_path: Path
) -> None:
    """The API may give a URL a new video id at each analysis (a gap of the reference the
    simulator can play): a paid video that failed later is retried on the video it paid for,
    adopting its submission (no second charge), not on the new id its new analysis gave."""
    good = video_urls(1, tag="new-id")
    async with FakeCutPro(same_video_for_same_url=False, **SIM_SETTINGS) as fake:
        env = env_of(fake)
        args = [*good, "--db", db_url, "--out", tmp_path, "--batch", "new-id", "--top-k", "1"]
        fake.set_faults(f"500@POST {RENDER}")
        first = await cutpro("run", *args, env=env)
        fake.set_faults("")
        async with Tables(db_url) as tables:
            (paid,) = await tables.videos("new-id")
        retried = await cutpro("run", *args, "--retry-failed", env=env)
        async with Tables(db_url) as tables:
            (row,) = await tables.videos("new-id")
        analyses = fake.requests["POST /clips/info"]
    assert first.returncode == 1 and paid.submission_id is not None, said(first)
    assert retried.returncode == 0, said(retried)
    assert analyses == 2  # the retry analysed again, and got another video id
    assert (row.phase, row.attempt) == ("done", 2)
    assert (row.video_id, row.submission_id) == (paid.video_id, paid.submission_id)
    assert fake.charges_per_video() == {paid.video_id: 1}
    assert fake.requests["POST /clips"] == 1
    assert len(mp4s(tmp_path)) == 1


async def test_verify_fetches_again_what_changed_here_without_paying(
    db_url: str, tmp_path: Path
) -> None:
    """After a run, one clip changed in place and one removed: `--verify` checks every file
    of the run (size and SHA-256), fetches those two again, and pays nothing."""
    urls = video_urls(3, tag="verify")
    async with FakeCutPro(**SIM_SETTINGS) as fake:
        env = env_of(fake)
        args = [*urls, "--db", db_url, "--out", tmp_path, "--batch", "verify", "--top-k", "1"]
        first = await cutpro("run", *args, env=env)
        assert first.returncode == 0, said(first)
        files = mp4s(tmp_path)
        digests = {path: hashlib.sha256(path.read_bytes()).hexdigest() for path in files}
        data = bytearray(files[0].read_bytes())
        data[-1] ^= 0xFF  # one flipped byte: same size, other hash
        files[0].write_bytes(bytes(data))
        files[1].unlink()
        checked = await cutpro("run", *args, "--verify", env=env)
        charges = fake.charges_per_video()
    assert checked.returncode == 0, said(checked)
    assert "verified 3 files" in said(checked), said(checked)
    assert "2 missing or changed, fetched again (0 rendered again), nothing paid" in said(checked)
    assert {path: hashlib.sha256(path.read_bytes()).hexdigest() for path in files} == digests
    assert sorted(charges.values()) == [1, 1, 1]
