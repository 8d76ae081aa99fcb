"""The distributed commands through real HTTP and a real PostgreSQL: `cutpro run --db` with
`cutpro worker` processes beside it, `cutpro status --db`, `cutpro manifest --db`,
`cutpro run --db embedded`, and the options refused before anything is enqueued."""

from __future__ import annotations

import hashlib
import signal
import subprocess
import sys
from pathlib import Path

import anyio
import attrs
import orjson
import psycopg
import pytest
from click.testing import CliRunner

from cutpro_async.cli import main
from cutpro_async.cli.distributed import TUNING
from cutpro_async.distributed import MANIFEST_FIELDS, Tables
from cutpro_async.distributed.presence import workers
from cutpro_async.testing import FakeCutPro
from tests.batch.conftest import video_urls
from tests.cli.conftest import COMMAND, ROOT, base_env, cutpro

from .conftest import ANALYZE_WINDOW, FAST_ENGINE, SIM_SETTINGS

pytestmark = pytest.mark.anyio

MP4_BRAND = b"ftyp"
#: Fast workers of four videos each, so that the batch spreads over every process.
TUNED = orjson.dumps(
    {
        "engine": {**attrs.asdict(FAST_ENGINE), "worker_concurrency": 4},
        "client": {
            "analyze_window": ANALYZE_WINDOW,
            "polling": 0.05,
            "backoff": 0.05,
            "commit_window": 1.0,
        },
    }
).decode()


def env_of(fake: FakeCutPro) -> dict[str, str]:
    """`cutpro`'s environment against `fake`, tuned for it."""
    return {
        **base_env(),
        "CUTPRO_API_KEY": fake.api_key,
        "CUTPRO_API_URL": fake.base_url,
        TUNING: TUNED,
    }


def verified(rows: list[dict[str, object]]) -> int:
    """Manifest rows whose file is an MP4 of the size and SHA-256 they state."""
    count = 0
    for row in rows:
        data = Path(str(row["path"])).read_bytes()
        if (
            data[4:8] == MP4_BRAND
            and len(data) == row["bytes"]
            and hashlib.sha256(data).hexdigest() == row["sha256"]
        ):
            count += 1
    return count


async def batch_exists(db_url: str, batch: str) -> bool:
    """Whether `batch` was enqueued (its row exists)."""
    try:
        async with Tables(db_url) as tables:
            return batch in await tables.batches()
    except psycopg.errors.UndefinedTable:
        return False


async def test_run_and_two_workers_pay_each_video_once(db_url: str, tmp_path: Path) -> None:
    """`cutpro run --db` plus two `cutpro worker` processes on 20 videos: each video charged
    once, every file verified; `status --db` agrees with the ledger; `manifest --db` lists
    every file with the worker that holds it."""
    urls = video_urls(20, tag="cli")
    async with FakeCutPro(credits=1000, **SIM_SETTINGS) as fake:
        env = env_of(fake)
        run_args = [*urls, "--db", db_url, "--out", tmp_path / "run", "--batch", "cli"]
        with (tmp_path / "run.log").open("wb") as sink:
            runner = await anyio.open_process(
                [*COMMAND, "run", *map(str, run_args), "--top-k", "1"],
                env=env,
                cwd=ROOT,
                stdout=sink,
                stderr=subprocess.STDOUT,
            )
        try:
            with anyio.fail_after(30):
                while not await batch_exists(db_url, "cli"):
                    await anyio.sleep(0.05)
            async with anyio.create_task_group() as group:
                done: dict[str, subprocess.CompletedProcess[bytes]] = {}

                async def work(worker: str) -> None:
                    done[worker] = await cutpro(
                        "worker",
                        "--db",
                        db_url,
                        "--out",
                        tmp_path / worker,
                        "--worker-id",
                        worker,
                        env=env,
                    )

                for worker in ("w1", "w2"):
                    group.start_soon(work, worker)
            with anyio.fail_after(60):
                code = await runner.wait()
        finally:
            if runner.returncode is None:
                runner.kill()
                await runner.wait()
        log = (tmp_path / "run.log").read_text()
        assert code == 0, log
        for worker, ended in done.items():
            assert ended.returncode == 0, (worker, ended.stderr.decode())
            assert f"worker {worker}: " in ended.stderr.decode()
        charges = fake.charges_per_video()
        credits = -sum(row.amount for row in fake.ledger() if row.amount < 0)

        listed = await cutpro("manifest", "--db", db_url, env=env)
        assert listed.returncode == 0, listed.stderr.decode()
        rows = [orjson.loads(line) for line in listed.stdout.splitlines()]
        status = await cutpro("status", "--db", db_url, "--batch", "cli", env=env)
    assert status.returncode == 0, status.stderr.decode()
    assert sorted(charges.values()) == [1] * 20 and len(charges) == 20
    assert len(rows) == 20
    assert all(tuple(row) == MANIFEST_FIELDS for row in rows)
    assert [row["source"] for row in rows] == urls
    assert {row["video_id"] for row in rows} == set(charges)
    assert verified(rows) == 20
    assert all(row["title"] and row["rating"] is not None for row in rows)
    held: dict[str, int] = {}
    for row in rows:
        folder = row["worker"] if row["worker"] in ("w1", "w2") else "run"
        assert Path(row["path"]).parent == tmp_path / folder, row
        held[row["worker"]] = held.get(row["worker"], 0) + 1
    assert len(held) >= 2, held  # the batch was spread over processes
    text = status.stdout.decode()
    assert "batch cli: 20 videos: 20 done" in text, text
    assert f"20 videos paid (0 adopted), {credits:g} credits charged" in text, text
    assert "20 files: " + ", ".join(f"{w} {n}" for w, n in sorted(held.items())) in text, text


async def test_run_on_an_embedded_postgres_and_again(tmp_path: Path) -> None:
    """`--db embedded` starts a PostgreSQL under OUT/.cutpro-pg, prints how workers join,
    clips the batch and stops the server; the same command again pays nothing more."""
    urls = video_urls(3, tag="embedded")
    out = tmp_path / "clips"
    async with FakeCutPro(**SIM_SETTINGS) as fake:
        env = env_of(fake)
        first = await cutpro("run", *urls, "--db", "embedded", "--out", out, env=env)
        assert first.returncode == 0, first.stderr.decode()
        printed = first.stdout.decode()
        assert "workers join with:" in printed
        assert f"cutpro worker --db 'postgresql://postgres:@/cutpro?host={out}" in printed
        assert (out / ".cutpro-pg").is_dir()
        assert "3 videos: 3 done" in first.stderr.decode()
        assert len(list(out.glob("*.mp4"))) == 9
        again = await cutpro("run", *urls, "--db", "embedded", "--out", out, env=env)
        assert again.returncode == 0, again.stderr.decode()
        assert "0 newly enqueued" in again.stderr.decode()
        assert sorted(fake.charges_per_video().values()) == [1, 1, 1]
    assert not list(out.glob("*.part"))


@pytest.mark.parametrize(
    ("extra", "said"),
    [
        (["--simulate"], "--simulate"),
        (["--json"], "--json"),
        (["--state", "x.sqlite"], "--state"),
        (["--concurrency", "render=2"], "--concurrency"),
        (["--naming", "{title}.{ext}"], "clip_id"),
        (["--batch", "no spaces"], "batch id"),
    ],
    ids=lambda v: v if isinstance(v, str) else v[0],
)
def test_refused_options_exit_2_before_anything_is_enqueued(
    db_url: str, tmp_path: Path, extra: list[str], said: str
) -> None:
    """What the engine does not take yet is one line and exit 2; nothing is written."""
    result = CliRunner().invoke(
        main,
        ["run", *video_urls(2, tag="refused"), "--db", db_url, "--out", str(tmp_path), *extra],
        env={"CUTPRO_API_KEY": "k", TUNING: ""},
    )
    assert result.exit_code == 2, result.output
    assert said in result.output
    assert len(result.output.strip().splitlines()) == 1, result.output
    with psycopg.connect(db_url) as conn:
        found = conn.execute("SELECT to_regclass('cutpro_batches')").fetchone()
    assert found == (None,)  # not even the tables


def test_other_mistakes_exit_2(db_url: str, tmp_path: Path) -> None:
    """A local file, a URL that is not PostgreSQL's, `status` with neither or an unknown
    batch, a worker told to join `embedded`: one line, exit 2."""
    video = tmp_path / "talk.mp4"
    video.write_bytes(b"x")
    cases = [
        (["run", str(video), "--db", db_url, "--out", str(tmp_path)], "local file"),
        (["run", "https://x.example/v", "--db", "mysql://x", "--out", str(tmp_path)], "URL"),
        (["run", "https://x.example/v", "--batch", "b", "--out", str(tmp_path)], "--db"),
        (["worker", "--db", "embedded", "--out", str(tmp_path)], "cutpro run --db embedded"),
        (["status"], "--state"),
        (["status", "--db", db_url], "no batch"),
        (["manifest", "--db", db_url, "--batch", "nope"], "no batch 'nope'"),
    ]
    for args, said in cases:
        result = CliRunner().invoke(main, args, env={"CUTPRO_API_KEY": "k", TUNING: ""})
        assert result.exit_code == 2, (args, result.output)
        assert said in result.output, (args, result.output)


#: Starts `cutpro` with SIGINT ignored, as a shell starts a background job (`cutpro worker &`):
#: the state a process inherits, and keeps unless it sets its own handler.
IGNORING_SIGINT = [
    sys.executable,
    "-c",
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_IGN); "
    "os.execv(sys.executable, [sys.executable, '-m', 'cutpro_async', *sys.argv[1:]])",
]


@pytest.mark.parametrize(
    ("stop", "command"),
    [
        (signal.SIGINT, COMMAND),
        (signal.SIGINT, IGNORING_SIGINT),  # a background job: Ctrl-C ignored, SIGINT still stops
        (signal.SIGTERM, COMMAND),  # a container or service manager stopping it
    ],
    ids=["ctrl-c", "sigint-to-background-job", "sigterm"],
)
async def test_a_signal_stops_a_following_worker_cleanly(
    db_url: str, tmp_path: Path, stop: signal.Signals, command: list[str]
) -> None:
    """`cutpro worker --follow` waits for work; SIGINT or SIGTERM stops it with exit 130,
    having left the batch (its row says stopped, not gone), whatever signal handling it
    inherited."""
    async with FakeCutPro(**SIM_SETTINGS) as fake:
        log = tmp_path / "worker.log"
        args = ["--db", db_url, "--out", str(tmp_path / "w"), "--worker-id", "w1", "--follow"]
        with log.open("wb") as sink:
            process = await anyio.open_process(
                [*command, "worker", *args],
                env=env_of(fake),
                cwd=ROOT,
                stdout=sink,
                stderr=subprocess.STDOUT,
            )
        try:
            with anyio.fail_after(60):
                while "joins" not in log.read_text():
                    await anyio.sleep(0.05)
                while not await workers(db_url, 30.0):
                    await anyio.sleep(0.05)
                await anyio.sleep(1)  # DBOS launching or launched: either way it must stop
                process.send_signal(stop)
                code = await process.wait()
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
    assert code == 130, log.read_text()
    assert "interrupted" in log.read_text()
    (row,) = await workers(db_url, 30.0)
    assert (row.worker_id, row.stopped) == ("w1", True)


def test_no_key_and_no_database_are_one_line(tmp_path: Path) -> None:
    """A worker without an API key: exit 2; a database that cannot be reached: exit 1; each
    one line, no traceback."""
    nowhere = "postgresql://nobody@127.0.0.1:1/none"
    runner = CliRunner()
    no_key = runner.invoke(
        main,
        ["worker", "--db", nowhere, "--out", str(tmp_path / "w")],
        env={"CUTPRO_API_KEY": None, "CUTPRO_CONFIG_DIR": str(tmp_path), TUNING: ""},
    )
    assert no_key.exit_code == 2, no_key.output
    assert "no CutPro API key" in no_key.output
    for args in (["status", "--db", nowhere], ["manifest", "--db", nowhere]):
        result = runner.invoke(main, args, env={TUNING: ""})
        assert result.exit_code == 1, (args, result.output)
        assert result.output.startswith("error: the database failed: "), result.output
        assert len(result.output.strip().splitlines()) == 1, result.output
