"""`python -m benchmarks --profile SCENARIO`: a sampling profile of the client's side of it.

The scenario's `workload` (the client's part alone; the simulator stays in its own process,
unprofiled) runs in a child process under py-spy, which writes a speedscope file next to the
results (`benchmarks/results/<stamp>-profile-<scenario>.speedscope.json`; open it at
https://www.speedscope.app); `--gil` samples only the thread holding the GIL (Python's CPU).
Without py-spy (or where it may not trace), cProfile writes `...pstats` instead. Either way
the busiest functions are printed (and kept in a `.txt` beside the profile): by own time (the
leaf of a sample), by total time (anywhere in its stack), and own time per package.
"""

from __future__ import annotations

import cProfile
import json
import pstats
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import attrs

RATE = 250  # samples per second
#: Leaves of a waiting thread: py-spy's idle detection misses them here, so they are left out
#: (a thread pool's worker blocked on its queue shows as `_worker` itself: the get is in C).
IDLE = (
    "Condition.wait (",
    "EpollSelector.select (",
    "Event.wait (",
    "Thread.join (",
    "_worker (lib/python3.11/concurrent/futures/thread.py",
)


@attrs.frozen
class Hot:
    """A function's share of the samples: its own (leaf) and total (on the stack)."""

    name: str
    own: float
    total: float


def frame_name(frame: Mapping[str, Any]) -> str:
    """`function (file:line)`, the file shortened to its package path."""
    file = str(frame.get("file", ""))
    for marker in ("site-packages/", "cutpro_async/", "benchmarks/", "lib/python"):
        if marker in file:
            file = file[file.index(marker) :].removeprefix("site-packages/")
            break
    line = frame.get("line")
    return f"{frame['name']} ({file}{f':{line}' if line else ''})"


def shares(speedscope: Mapping[str, Any]) -> list[Hot]:
    """Every function of a speedscope file (all threads) with its own and total share of the
    busy samples (a waiting thread's are left out), busiest (own) first."""
    frames = [frame_name(f) for f in speedscope["shared"]["frames"]]
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    weight_sum = 0.0
    for profile in speedscope["profiles"]:
        if profile.get("type") != "sampled":
            continue
        for stack, weight in zip(profile["samples"], profile["weights"], strict=True):
            if stack and frames[stack[-1]].startswith(IDLE):
                continue  # a thread waiting, not working
            weight_sum += weight
            if stack:
                own[frames[stack[-1]]] += weight
            for name in {frames[index] for index in stack}:  # recursion counts once
                total[name] += weight
    if not weight_sum:
        return []
    hot = [Hot(name, own[name] / weight_sum, total[name] / weight_sum) for name in total]
    return sorted(hot, key=lambda h: (-h.own, -h.total, h.name))


def hottest(speedscope: Mapping[str, Any], top: int = 25) -> list[Hot]:
    """The `top` functions by own share (the leaf of the sample)."""
    return shares(speedscope)[:top]


def hottest_total(speedscope: Mapping[str, Any], top: int = 25) -> list[Hot]:
    """The `top` functions by total share (they, or what they called, were running)."""
    return sorted(shares(speedscope), key=lambda h: (-h.total, -h.own, h.name))[:top]


def package(name: str) -> str:
    """Where a hot function lives: `cutpro_async/<sub-package or module>`, a third-party
    package, `stdlib <module>`, or `benchmarks`."""
    where = name[name.rfind("(") + 1 :].split(":")[0]
    parts = where.split("/")
    if parts[0] == "cutpro_async":
        return "/".join(parts[:2]).removesuffix(".py")
    if parts[0] == "lib" and len(parts) > 2:
        return f"stdlib {parts[2].removesuffix('.py')}"
    if parts[0] == "benchmarks":
        return "benchmarks"
    return parts[0].removesuffix(".py") or "?"


def by_package(hot: list[Hot]) -> list[tuple[str, float]]:
    """Own shares summed per `package`, largest first."""
    sums: dict[str, float] = {}
    for h in hot:
        sums[package(h.name)] = sums.get(package(h.name), 0.0) + h.own
    return sorted(sums.items(), key=lambda item: -item[1])


def describe(hot: list[Hot], heading: str) -> str:
    """A plain table of hot functions."""
    rows = [heading, f"{'own':>6} {'total':>6}  function"]
    rows += [f"{h.own:6.1%} {h.total:6.1%}  {h.name}" for h in hot]
    return "\n".join(rows)


def profile(scenario: str, quick: bool, results: Path, stamp: str, gil: bool = False) -> Path:
    """Profile a scenario's workload; returns the file written. With `gil`, py-spy samples
    only the thread holding the GIL: Python's CPU time, without the threads' waits on I/O."""
    results.mkdir(exist_ok=True)
    spy = shutil.which("py-spy")
    if spy is not None:
        kind = "-gil" if gil else ""
        out = results / f"{stamp}-profile-{scenario}{kind}.speedscope.json"
        cmd = [spy, "record", "--format", "speedscope", "--rate", str(RATE), *(["--gil"] * gil)]
        cmd += ["--output", str(out), "--", sys.executable, "-m", "benchmarks"]
        cmd += ["--workload", scenario, *(["--quick"] if quick else [])]
        done = subprocess.run(cmd, cwd=results.parent.parent, check=False)
        if done.returncode == 0 and out.exists():
            data = json.loads(out.read_text())
            seconds = sum(sum(p["weights"]) for p in data["profiles"] if p.get("type") == "sampled")
            text = f"{seconds:.2f} s of samples ({'holding the GIL' if gil else 'all threads'})\n"
            text += describe(hottest(data), "by own time (share of busy samples):")
            text += "\n" + describe(hottest_total(data), "by total time:")
            text += "\nown time by package:\n" + "\n".join(
                f"{share:6.1%}  {name}" for name, share in by_package(shares(data))[:15]
            )
            print(text)
            out.with_name(out.name.removesuffix(".speedscope.json") + ".txt").write_text(text)
            return out
        print(f"py-spy failed ({done.returncode}); profiling with cProfile instead", flush=True)
    return _cprofile(scenario, quick, results, stamp)


def _cprofile(scenario: str, quick: bool, results: Path, stamp: str) -> Path:
    """cProfile of the workload in this process; the stats file."""
    from . import __main__ as main

    work: Callable[[bool], None] = main.WORKLOADS[scenario]
    out = results / f"{stamp}-profile-{scenario}.pstats"
    profiler = cProfile.Profile()
    profiler.runcall(work, quick)
    profiler.dump_stats(out)
    pstats.Stats(str(out)).sort_stats("tottime").print_stats(25)
    return out
