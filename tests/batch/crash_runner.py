"""A batch killed (SIGKILL) at random moments and rerun: the crash tests' and benchmark's scenario.

`python crash_runner.py LIST OUT [--read-timeout S] [--commit-window S] [--top-k N]` runs the
batch once against the simulator named by CUTPRO_API_URL / CUTPRO_API_KEY with fast test
settings, records in OUT/state.sqlite, prints the summary as JSON; exit 0 when every video is
done. `crash_run` drives it: a simulator in the calling process, the batch in this script's
process, killed at seeded random moments, rerun to completion, then the ledger and the disk
checked. Used by `tests/batch/test_crash.py` and `python -m benchmarks --only faults`.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import random
import signal
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

import anyio
import attrs
import orjson

from cutpro_async import Budget, CutPro, Pacing, Polling, RetryPolicy, Timeouts
from cutpro_async._converter import unstructure
from cutpro_async.batch import Batch, Phase, Record, RunOptions, SQLiteStore
from cutpro_async.batch.options import PublishOptions
from cutpro_async.testing import FakeCutPro

RUNNER = Path(__file__).resolve()
# `/clips/info` paced like the simulator's 0.2 s window; no global cap on the fast pollers.
ANALYZE_WINDOW = 0.2
PACING = Pacing(
    requests_per_second=None, endpoints={"POST /clips/info": Budget(10, ANALYZE_WINDOW)}
)
POLLING = Polling(first=0.01, max_interval=0.05)
MP4_BRAND = b"ftyp"


@attrs.frozen
class RunnerSettings:
    """The runner's client and batch settings, passed to its process as arguments."""

    #: Read timeout of API calls; below a `slowcommit` delay, paid requests time out.
    read_timeout: float = 60.0
    #: How long a paid request that failed ambiguously may still commit; must exceed the
    #: simulator's `slowcommit` delay, else a commit later than it is paid twice (the API's hole).
    commit_window: float = 1.0
    top_k: int = 2
    #: Accounts each video's best clip is posted to (`platform:name,…`; empty: no posts).
    publish: str = ""

    def arguments(self) -> list[str]:
        """These settings as the script's command-line options."""
        return [
            f"--read-timeout={self.read_timeout}",
            f"--commit-window={self.commit_window}",
            f"--top-k={self.top_k}",
            f"--publish={self.publish}",
        ]


async def run_once(urls: list[str], out: Path, settings: RunnerSettings) -> int:
    """Run the batch once; 0 when every video ended done."""
    retry = RetryPolicy(
        backoff_initial=0.01, backoff_max=0.05, commit_window=settings.commit_window
    )
    timeouts = Timeouts(read=settings.read_timeout)
    store = await SQLiteStore.open(out / "state.sqlite")
    try:
        async with CutPro(pacing=PACING, polling=POLLING, retry=retry, timeouts=timeouts) as cp:
            publish = settings.publish.split(",") if settings.publish else None
            options = RunOptions(
                out=out,
                top_k=settings.top_k,
                publish=PublishOptions(publish) if publish else None,
            )
            summary = await Batch(cp, options, store).run(urls)
    finally:
        await store.close()
    print(orjson.dumps(unstructure(summary)).decode(), flush=True)
    return 0 if summary.done + summary.skipped == len(urls) and not summary.failed else 1


@attrs.frozen
class CrashReport:
    """What a killed-and-rerun batch left: exit codes, the simulator's ledger, the disk."""

    videos: int
    codes: list[int]  # every run's exit code, in order (-SIGKILL: killed)
    injected: dict[str, int]  # faults the simulator injected, by kind
    charges: list[int]  # how many times each record's video was charged, in record order
    total_charges: int  # every charge in the ledger, whatever video
    max_charges: int  # the most any video was charged
    records: list[Record]
    files_expected: int
    files_complete: int  # files whose size, sha256 and MP4 brand match the record
    parts_left: list[str]  # `.part` files still in the output folder
    key_leaks: list[str]
    paid_requests: int  # `POST /clips` the simulator received (retries and 409s included)
    submission_lists: int  # `GET /clips/{videoId}/submissions`: the client's reconciliations
    pending_commits: dict[str, float]  # slow commits still waiting at the end (should be none)
    #: Videos charged more than once (should be none): video id -> its debits, for the report.
    double_charged: dict[str, list[str]]
    seconds: float  # wall time, first run to last
    #: Items on the server per (render, account): a post sent twice shows as a 2.
    post_items: Counter[tuple[str, str]] = attrs.field(factory=Counter)
    posts_sent: int = 0  # `POST /posts` the simulator received

    @property
    def kills(self) -> int:
        """Runs that ended by SIGKILL (a run may finish before its planned kill)."""
        return self.codes.count(-signal.SIGKILL)

    @property
    def reruns(self) -> int:
        """Runs after the first (each resumed the record the one before left)."""
        return len(self.codes) - 1

    @property
    def sources(self) -> list[str]:
        """The records' sources, in order."""
        return [record.source for record in self.records]


async def _one_run(
    list_file: Path,
    out: Path,
    env: dict[str, str],
    settings: RunnerSettings,
    log: Path,
    kill_when: Callable[[], Awaitable[object]] | None,
) -> int:
    """One runner process, output to `log`; SIGKILLed once `kill_when` returns, if given
    (and the process has not ended before)."""
    command = [sys.executable, str(RUNNER), str(list_file), str(out), *settings.arguments()]
    with log.open("wb") as sink:
        async with await anyio.open_process(
            command, env=env, stdin=None, stdout=sink, stderr=sink
        ) as process:
            if kill_when is not None:
                async with anyio.create_task_group() as group:

                    async def ended() -> None:
                        await process.wait()
                        group.cancel_scope.cancel()

                    group.start_soon(ended)
                    await kill_when()
                    group.cancel_scope.cancel()
                if process.returncode is None:
                    process.send_signal(signal.SIGKILL)
            return await process.wait()


def _after(seconds: float) -> Callable[[], Awaitable[object]]:
    """A kill moment: `seconds` after the start."""
    return lambda: anyio.sleep(seconds)


def _after_posts(fake: FakeCutPro, count: int) -> Callable[[], Awaitable[object]]:
    """A kill moment: once the simulator has received `count` `POST /posts` in all."""

    async def reached() -> None:
        while fake.requests["POST /posts"] < count:
            await anyio.sleep(0.01)

    return reached


def complete_files(records: list[Record], top_k: int) -> int:
    """Files of done records whose size, sha256 and MP4 brand match what the record says."""
    count = 0
    for record in records:
        if record.phase != Phase.DONE or len(record.files) != top_k:
            continue
        for saved in record.files:
            path = Path(saved.path)
            data = path.read_bytes() if path.is_file() else b""
            if (
                data[4:8] == MP4_BRAND
                and len(data) == saved.bytes
                and hashlib.sha256(data).hexdigest() == saved.sha256
            ):
                count += 1
    return count


def _double_charges(fake: FakeCutPro, ledger: Counter[str]) -> dict[str, list[str]]:
    """Videos charged more than once, with each debit's submission and server time."""
    twice = {video for video, count in ledger.items() if count > 1}
    submissions = fake.world.workspaces[fake.workspace_id].submissions
    found: dict[str, list[str]] = {video: [] for video in twice}
    for row in fake.ledger():
        sub = submissions.get(row.reference_id or "")
        if row.type == "debit" and sub is not None and sub.video_id in twice:
            found[sub.video_id].append(f"{row.reference_id} at {row.created_at.isoformat()}")
    return found


def crash_urls(count: int) -> list[str]:
    """`count` distinct videos of 5 to 48 minutes (longer jobs give kills more to interrupt)."""
    return [
        f"https://www.youtube.com/watch?v=crash{i}&duration={300 + 90 * (i % 30)}"
        for i in range(count)
    ]


async def crash_run(
    folder: Path,
    videos: int,
    faults: str,
    *,
    kills: int,
    kill_between: tuple[float, float],
    settings: RunnerSettings,
    seed: int,
    time_scale: float = 300,
    max_reruns: int = 5,
    kills_at_posts: Sequence[int] = (),
) -> CrashReport:
    """Run `videos` videos in `folder`, SIGKILLed up to `kills` times, each after a seeded random
    number of seconds within `kill_between`, then once the simulator has received each count of
    `POST /posts` in `kills_at_posts`, then rerun until a run ends with every video done."""
    urls = crash_urls(videos)
    list_file, out = folder / "list.txt", folder / "out"
    list_file.write_text("\n".join(urls))
    out.mkdir()
    chance = random.Random(seed)
    config = {"time_scale": time_scale, "analyze_window": ANALYZE_WINDOW, "seed": seed}
    async with FakeCutPro(faults=faults, credits=100 * videos, **config) as fake:
        env = {
            **os.environ,
            "CUTPRO_API_KEY": fake.api_key,
            "CUTPRO_API_URL": fake.base_url,
            # The machine's submission index of this run alone, not the user's.
            "CUTPRO_DATA_DIR": str(folder / "data"),
        }
        started = time.monotonic()
        codes: list[int] = []
        moments = [_after(chance.uniform(*kill_between)) for _ in range(kills)]
        moments += [_after_posts(fake, count) for count in kills_at_posts]
        for run in range(len(moments) + max_reruns):
            kill_when = moments[run] if run < len(moments) else None
            log = folder / f"run{run}.log"
            codes.append(await _one_run(list_file, out, env, settings, log, kill_when))
            if codes[-1] == 0:  # every video done: nothing left to kill
                break
        seconds = time.monotonic() - started
        store = await SQLiteStore.open(out / "state.sqlite")
        try:
            records = await store.records()
        finally:
            await store.close()
        ledger: Counter[str] = fake.charges_per_video()
        injected, leaks = dict(fake.injected), list(fake.key_leaks)
        requests, pending = fake.requests, fake.pending_commits()
        double = _double_charges(fake, ledger)
        items = Counter((item.edit_id, item.connection_id) for item in fake.post_items())
    return CrashReport(
        videos=videos,
        codes=codes,
        injected=injected,
        charges=[ledger[record.video_id or ""] for record in records],
        total_charges=sum(ledger.values()),
        max_charges=max(ledger.values(), default=0),
        records=records,
        files_expected=videos * settings.top_k,
        files_complete=complete_files(records, settings.top_k),
        parts_left=sorted(str(p.relative_to(out)) for p in out.rglob("*.part")),
        key_leaks=leaks,
        paid_requests=requests["POST /clips"],
        submission_lists=requests["GET /clips/{videoId}/submissions"],
        pending_commits=pending,
        double_charged=double,
        seconds=seconds,
        post_items=items,
        posts_sent=requests["POST /posts"],
    )


def _main() -> int:
    """The script: run the batch once with the given settings."""
    parser = argparse.ArgumentParser(description="Run a batch once (for the crash tests).")
    parser.add_argument("list_file", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--read-timeout", type=float)
    parser.add_argument("--commit-window", type=float)
    parser.add_argument("--top-k", type=int)
    parser.add_argument("--publish")
    args = vars(parser.parse_args())
    # Retries, reconciliations and adoptions, with times, for a report if a video is paid twice.
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    urls, out = args.pop("list_file").read_text().split(), args.pop("out")
    settings = RunnerSettings(**{name: value for name, value in args.items() if value is not None})
    return anyio.run(run_once, urls, out, settings)


if __name__ == "__main__":
    sys.exit(_main())
