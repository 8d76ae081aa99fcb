"""Download throughput and memory: the client against a durable bare-aiohttp baseline.

    python -m benchmarks --only downloads [--quick]      (or python -m benchmarks.downloads)

Both contenders fetch the same MP4 from `s3-kms` storage (an opaque ETag and no stated
checksum, so the client checks length + MP4 structure + sha256, nothing more) and do the same
work, so that the ratio shows the cost of the client itself:

- **bare** (`bare_download`): one shared `aiohttp.ClientSession`; the body's socket pieces
  grouped into ~1 MiB blocks and handed through a 4-block queue to a writer that runs in a
  thread (`asyncio.to_thread`), which hashes sha256 and `os.writev`s each block; at the end,
  in one trip to a thread: the length and MP4 structure checks, one `fdatasync`, close, the
  rename into place and an `fsync` of the folder.
- **client**: `CutPro.download(url, path)`.

Throughput: each round starts a fresh simulator process, in which each contender downloads
the file twice in ABBA order (BAAB in odd rounds, so each goes first equally often); the figure
is bare seconds / client seconds per round, median and spread over the rounds, on the project's
disk (256 MiB), on tmpfs (`/dev/shm`, 256 MiB and 1 GiB) and over a link paced to 200 MiB/s
per connection (256 MiB; kernel TCP pacing, see `_paced`). Memory: a fresh child process
downloads 8 files of 512 MiB at once (and, separately, one of 1 GiB) while the parent samples
its VmRSS from `/proc/<pid>/status` (`ru_maxrss` is inherited across exec and would lie).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import hashlib
import json
import os
import resource
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import Any

import aiohttp
import attrs

from cutpro_async import CutPro

from ._report import Metric, summarize
from ._simproc import SimProcess, render_links

MIB = 1024 * 1024
BLOCK = MIB  # bytes per write, as the client's
QUEUE = 4  # blocks between the network and the writer, as the client's
PROFILE = "s3-kms"
LINK_RATE = 200 * MIB  # bytes per second of the paced scenario
DISK = Path(__file__).resolve().parent.parent  # the project folder's filesystem
TMPFS = Path("/dev/shm")
RSS_EVERY = 0.002  # seconds between VmRSS samples
TIMEOUT = aiohttp.ClientTimeout(total=None, sock_read=60)
DISK_AND_TMPFS = {"disk": (256,), "tmpfs": (256, 1024)}  # MiB per download, full suite


class _Sink:
    """The bare baseline's file side; every method runs in a thread, never on the loop."""

    def __init__(self, part: Path) -> None:
        self.part = part
        self.fd = os.open(part, os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
        self.sha256 = hashlib.sha256()
        self.size = 0
        self.sync_seconds = 0.0

    def write(self, pieces: list[bytes]) -> None:
        """Hash the pieces and append them (one `writev`, finishing a short write)."""
        for piece in pieces:
            self.sha256.update(piece)
        total = sum(map(len, pieces))
        written = os.writev(self.fd, pieces)
        if written < total:
            rest = b"".join(pieces)[written:]
            while rest:
                rest = rest[os.write(self.fd, rest) :]
        self.size += total

    def publish(self, dest: Path, expected: int | None) -> None:
        """Check length and MP4 structure, `fdatasync`, rename into place, fsync the folder."""
        try:
            if expected is not None and self.size != expected:
                raise RuntimeError(f"got {self.size} bytes, expected {expected}")
            check_mp4(self.fd, self.size)
            start = time.perf_counter()
            os.fdatasync(self.fd)
            self.sync_seconds = time.perf_counter() - start
        finally:
            os.close(self.fd)
        os.replace(self.part, dest)
        folder = os.open(dest.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)


def check_mp4(fd: int, size: int) -> None:
    """The first box is `ftyp` and the top-level boxes tile the file exactly (a few preads)."""
    offset = 0
    while offset < size:
        header = os.pread(fd, 16, offset)
        length, kind = struct.unpack(">I4s", header[:8])
        if length == 1:
            length = struct.unpack(">Q", header[8:16])[0]
        elif length == 0:
            length = size - offset
        if (offset == 0 and kind != b"ftyp") or length < 8 or offset + length > size:
            raise RuntimeError(f"not an MP4: bad box at byte {offset}")
        offset += length
    if not size:
        raise RuntimeError("not an MP4: empty")


@attrs.frozen
class BareResult:
    """What the baseline reports of one download."""

    size: int
    sha256: str
    sync_seconds: float  # the final fdatasync alone


async def bare_download(session: aiohttp.ClientSession, url: str, dest: Path) -> BareResult:
    """The durable bare-aiohttp download described in the module docstring."""
    part = dest.with_name(dest.name + ".part")
    async with session.get(url, headers={"Accept-Encoding": "identity"}) as resp:
        if resp.status != 200 or resp.content_type != "video/mp4":
            raise RuntimeError(f"storage answered {resp.status} {resp.content_type}")
        sink = await asyncio.to_thread(_Sink, part)
        queue: asyncio.Queue[list[bytes] | None] = asyncio.Queue(QUEUE)

        async def drain() -> None:
            while (block := await queue.get()) is not None:
                await asyncio.to_thread(sink.write, block)

        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(drain())
                pieces: list[bytes] = []
                size = 0
                async for piece in resp.content.iter_any():
                    pieces.append(piece)
                    size += len(piece)
                    if size >= BLOCK:
                        await queue.put(pieces)
                        pieces, size = [], 0
                if pieces:
                    await queue.put(pieces)
                await queue.put(None)
        except BaseException:
            await asyncio.to_thread(os.close, sink.fd)
            raise
        await asyncio.to_thread(sink.publish, dest, resp.content_length)
    return BareResult(sink.size, sink.sha256.hexdigest(), sink.sync_seconds)


@attrs.frozen
class Round:
    """One round's seconds per download of each contender, and the baseline's final fdatasync."""

    bare: tuple[float, ...]
    client: tuple[float, ...]
    bare_sync: float
    bare_cpu: float = 0.0  # CPU seconds of this process (every thread) over the bare downloads
    client_cpu: float = 0.0

    @property
    def ratio(self) -> float:
        """Bare seconds / client seconds (above 1: the client is faster)."""
        return sum(self.bare) / sum(self.client)


#: The order within a round, ABBA, so that a drift in the machine's speed cancels out; odd
#: rounds mirror it (BAAB), so each contender goes first equally often.
ORDER = ("bare", "client", "client", "bare")


async def _round(sim: SimProcess, url: str, folder: Path, mirrored: bool) -> Round:
    """Each contender downloads `url` twice, in ABBA order; every file is removed after."""
    seconds: dict[str, list[float]] = {"bare": [], "client": []}
    cpu = {"bare": 0.0, "client": 0.0}
    digests: set[str] = set()
    syncs = []
    async with aiohttp.ClientSession() as warm, warm.get(url, headers={"Range": "bytes=0-4095"}):
        pass  # the fresh simulator's storage path is warm before either contender starts
    async with (
        CutPro(sim.api_key, base_url=sim.base_url) as cp,
        aiohttp.ClientSession(timeout=TIMEOUT) as session,
    ):
        for who in ORDER[::-1] if mirrored else ORDER:
            dest = folder / f"{who}.mp4"
            gc.collect()
            used = _cpu_seconds()
            start = time.perf_counter()
            if who == "client":
                got = await cp.download(url, dest)
                seconds[who].append(time.perf_counter() - start)
                if set(got.verified) != {"length", "mp4"}:  # same checks as the baseline
                    raise RuntimeError(f"the client verified {got.verified}, not length + mp4")
                digests.add(got.sha256)
            else:
                bare = await bare_download(session, url, dest)
                seconds[who].append(time.perf_counter() - start)
                digests.add(bare.sha256)
                syncs.append(bare.sync_seconds)
            cpu[who] += _cpu_seconds() - used
            await asyncio.to_thread(dest.unlink)
    if len(digests) != 1:
        raise RuntimeError("the contenders disagree on the file's sha256")
    return Round(
        tuple(seconds["bare"]),
        tuple(seconds["client"]),
        statistics.median(syncs),
        cpu["bare"],
        cpu["client"],
    )


def _cpu_seconds() -> float:
    """User + system CPU time of this process so far, all threads."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def throughput(mib: int, rounds: int, where: Path, pace: int = 0) -> list[Round]:
    """`rounds` rounds, each on a fresh simulator (ABBA, then BAAB, and so on)."""
    results = []
    args = ["--time-scale", "100000", "--storage-profile", PROFILE]
    for index in range(rounds):
        with SimProcess([*args, "--render-bytes", str(mib * MIB)], pace=pace) as sim:
            (url,) = asyncio.run(render_links(sim, 1))
            with tempfile.TemporaryDirectory(dir=where, prefix=".bench-downloads-") as tmp:
                results.append(asyncio.run(_round(sim, url, Path(tmp), index % 2 == 1)))
    return results


def _vm_rss_mib(pid: int | str = "self") -> float:
    """A process's current resident memory (VmRSS), 0 once it has gone."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0.0


def _child(args: argparse.Namespace) -> None:
    """In a fresh process: warm up, say our RSS, download every link at once, say done."""

    async def run() -> None:
        folder = Path(args.folder)
        async with (
            CutPro(args.api_key, base_url=args.base_url) as cp,
            aiohttp.ClientSession(timeout=TIMEOUT) as session,
        ):
            await cp.balance.get()  # the client's session and models are warm
            print(json.dumps({"rss": _vm_rss_mib()}), flush=True)
            jobs: list[Coroutine[Any, Any, object]]
            if args.contender == "client":
                jobs = [cp.download(u, folder / f"{i}.mp4") for i, u in enumerate(args.urls)]
            else:
                jobs = [
                    bare_download(session, u, folder / f"{i}.mp4") for i, u in enumerate(args.urls)
                ]
            await asyncio.gather(*jobs)
        print(json.dumps({"done": True}), flush=True)

    asyncio.run(run())


@attrs.frozen
class Memory:
    """RSS of a measuring child process: before the downloads, and the peak sampled during."""

    before: float
    peak: float
    samples: int

    @property
    def added(self) -> float:
        """What the downloads added."""
        return self.peak - self.before


def memory(contender: str, mib: int, count: int) -> Memory:
    """Sample the RSS of a child process downloading `count` files of `mib` MiB at once."""
    args = ["--time-scale", "100000", "--storage-profile", PROFILE]
    with SimProcess([*args, "--render-bytes", str(mib * MIB)]) as sim:
        urls = asyncio.run(render_links(sim, count))
        with tempfile.TemporaryDirectory(dir=DISK, prefix=".bench-downloads-") as tmp:
            cmd = [sys.executable, "-m", "benchmarks.downloads", "--child", contender]
            cmd += ["--base-url", sim.base_url, "--api-key", sim.api_key, "--folder", tmp]
            with subprocess.Popen(
                [*cmd, "--urls", *urls], stdout=subprocess.PIPE, text=True, cwd=DISK
            ) as proc:
                out = proc.stdout
                assert out is not None
                before = json.loads(out.readline())["rss"]
                done = threading.Event()

                def drain() -> None:
                    out.read()
                    done.set()

                threading.Thread(target=drain).start()
                peak, samples = before, 0
                while not done.is_set():
                    peak, samples = max(peak, _vm_rss_mib(proc.pid)), samples + 1
                    time.sleep(RSS_EVERY)
            if proc.returncode:
                raise RuntimeError(f"the {contender} memory child failed ({proc.returncode})")
    return Memory(before, peak, samples)


def _ratio_metric(name: str, rounds: Sequence[Round], target: float) -> Metric:
    """The median ratio with its spread, against `target`."""
    return summarize("downloads", name, [r.ratio for r in rounds], target, "higher")


def _speed(mib: int, seconds: Sequence[float]) -> float:
    """Median MiB/s."""
    return mib / statistics.median(seconds)


def scenario(quick: bool) -> list[Metric]:
    """Throughput ratios on disk, on tmpfs and at 200 MiB/s; memory of parallel and big ones."""
    # The disk at 256 MiB, tmpfs (CPU-bound) at 256 MiB and 1 GiB: the suite stays ~10 minutes.
    sizes, rounds = ({"disk": (64,), "tmpfs": (64,)}, 3) if quick else (DISK_AND_TMPFS, 5)
    paced_mib = 64 if quick else 256
    parallel_mib, big_mib = (64, 128) if quick else (512, 1024)
    metrics: list[Metric] = []
    throughput(8, 1, TMPFS if TMPFS.is_dir() else DISK)  # unmeasured: imports, caches, threads
    places = [("disk", DISK)] + ([("tmpfs", TMPFS)] if TMPFS.is_dir() else [])
    runs: list[tuple[str, int, float, list[Round]]] = []
    for label, where in places:
        for mib in sizes[label]:
            runs.append((f"on {label} ({mib} MiB)", mib, 0.95, throughput(mib, rounds, where)))
    cpu_bound = runs[-1]  # the largest file on tmpfs: no disk, no link, CPU is all there is
    rate = f"{LINK_RATE // MIB} MiB/s"
    paced = throughput(paced_mib, rounds, DISK, pace=LINK_RATE)
    runs.append((f"at {rate} on disk ({paced_mib} MiB)", paced_mib, 0.97, paced))
    for what, mib, target, result in runs:
        metrics.append(_ratio_metric(f"throughput {what} / durable bare aiohttp", result, target))
        speeds = (
            _speed(mib, [t for r in result for t in r.client]),
            _speed(mib, [t for r in result for t in r.bare]),
        )
        sync = statistics.median(r.bare_sync for r in result)
        print(
            f"  {what}: client {speeds[0]:.0f} MiB/s, bare {speeds[1]:.0f} MiB/s, "
            f"bare's final fdatasync {sync * 1000:.0f} ms; ratios (bare s / client s) "
            + " ".join(f"{r.ratio:.2f} ({sum(r.bare):.2f}/{sum(r.client):.2f})" for r in result)
            + "; client CPU / bare CPU "
            + " ".join(f"{r.client_cpu / r.bare_cpu:.2f}" for r in result),
            flush=True,
        )
        metrics.append(
            Metric("downloads", f"client speed {what}", speeds[0], None, "higher", "MiB/s")
        )
    metrics.append(
        summarize(
            "downloads",
            f"client CPU / bare CPU, same downloads {cpu_bound[0]}",
            [r.client_cpu / r.bare_cpu for r in cpu_bound[3]],
            None,
            "lower",
        )
    )
    many = {who: memory(who, parallel_mib, 8) for who in ("client", "bare")}
    one = {who: memory(who, big_mib, 1) for who in ("client", "bare")}
    for who in ("client", "bare"):
        print(f"  memory {who}: 8 parallel {many[who]}, one {one[who]}", flush=True)
    for who, (parallel_target, one_target) in (("client", (150.0, 64.0)), ("bare", (None, None))):
        metrics.append(
            Metric(
                "downloads",
                f"{who}: peak RSS, 8 parallel {parallel_mib} MiB downloads",
                many[who].peak,
                parallel_target,
                "lower",
                "MiB",
            )
        )
        metrics.append(
            Metric(
                "downloads",
                f"{who}: RSS added by one {big_mib} MiB download",
                one[who].added,
                one_target,
                "lower",
                "MiB",
            )
        )
    return metrics


def workload(quick: bool) -> None:
    """The client's part alone, for `--profile`: three downloads on tmpfs (else the disk)."""
    mib = 64 if quick else 256
    args = [
        "--time-scale",
        "100000",
        "--storage-profile",
        PROFILE,
        "--render-bytes",
        str(mib * MIB),
    ]
    with SimProcess(args) as sim:
        (url,) = asyncio.run(render_links(sim, 1))
        where = TMPFS if TMPFS.is_dir() else DISK
        with tempfile.TemporaryDirectory(dir=where, prefix=".bench-downloads-") as tmp:

            async def fetch() -> None:
                async with CutPro(sim.api_key, base_url=sim.base_url) as cp:
                    for index in range(3):
                        await cp.download(url, Path(tmp) / f"{index}.mp4")

            asyncio.run(fetch())


def main() -> None:
    """Print the table, or run as the measuring child process."""
    from ._report import table

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--child", choices=("client", "bare"), help=argparse.SUPPRESS)
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    parser.add_argument("--api-key", help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    parser.add_argument("--urls", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        args.contender = args.child
        _child(args)
    else:
        print(table(scenario(args.quick)))


if __name__ == "__main__":
    main()
