"""The benchmarks' own logic: round order, the latency lower bound, profile summaries, the
report. Pure functions only: no simulator, no timing (the benchmarks themselves never run in
CI, and need the `bench` extra, which CI does not install)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import attrs
import pytest

from benchmarks._bound import MEAN_CLIP, RENDER_FIXED, analysis_pace, lower_bound
from benchmarks._docs import markdown
from benchmarks._profile import IDLE, by_package, hottest, hottest_total, package, shares
from benchmarks._report import Metric, load, summarize, table
from benchmarks._rounds import order, ratios, schedule
from cutpro_async.testing import LatencyModel, Spread
from cutpro_async.testing._jobs import submission_timeline


def test_rounds_alternate_abba_then_baab() -> None:
    """Each round runs every contender twice, mirrored; odd rounds mirror the even ones, so
    each contender goes first equally often."""
    assert order(["a", "b"], 0) == ["a", "b", "b", "a"]
    assert order(["a", "b"], 1) == ["b", "a", "a", "b"]
    assert order(["a", "b", "c"], 0) == ["a", "b", "c", "c", "b", "a"]
    runs = schedule(["a", "b"], 4)
    assert len(runs) == 16
    firsts = [name for _, name in runs[::4]]
    assert firsts.count("a") == firsts.count("b") == 2


def test_ratios_pair_rounds() -> None:
    """Per-round ratios; unequal series are refused."""
    assert ratios([2.0, 3.0], [1.0, 2.0]) == [2.0, 1.5]
    with pytest.raises(ValueError, match="rounds"):
        ratios([1.0], [1.0, 2.0])


def test_the_analysis_pace_counts_the_first_burst() -> None:
    """L per W: N analyses take (ceil(N/L) - 1) * W, the first window being a free burst."""
    assert analysis_pace(10, 10, 60) == 0
    assert analysis_pace(11, 10, 60) == 60
    assert analysis_pace(60, 10, 3) == 15
    assert analysis_pace(1000, 125, 10) == 70
    with pytest.raises(ValueError):
        analysis_pace(0, 10, 1)


def test_the_lower_bound_adds_the_last_windows_critical_path() -> None:
    """With every route at 100 ms and no jitter: the first half-latency, the pace, then half
    or whole latencies per step, the job, the last window's renders through the slots."""
    model = LatencyModel.uniform(0.1, 0)
    bound = lower_bound(
        model, videos=26, limit=10, window=5, time_scale=100, video_seconds=600, render_slots=5
    )
    job = submission_timeline(0, 600, 100, False).ends
    render = (RENDER_FIXED + MEAN_CLIP) / 100
    # 6 videos in the last window: two rounds of renders through 5 slots.
    halves, wholes = 5, 4  # a/2 s/2 p/2 r/2 q/2 ; l c k f
    expected_path = halves * 0.05 + wholes * 0.1 + job + 2 * render
    assert bound.first == pytest.approx(0.05)
    assert bound.pace == 10
    assert bound.critical_path == pytest.approx(expected_path)
    assert bound.total == pytest.approx(0.05 + 10 + expected_path)
    assert bound.renders == pytest.approx(26 * render / 5)


def test_the_lower_bound_reads_each_routes_median() -> None:
    """A slower paid request lengthens the bound by half its extra latency (it arrives)."""
    base = LatencyModel.realistic()
    routes = dict(base.routes)
    routes["POST /clips"] = Spread(routes["POST /clips"].median + 1.0)
    slower = attrs.evolve(base, routes=routes)
    kwargs = {"videos": 1000, "limit": 125, "window": 10.0, "time_scale": 600.0}
    a = lower_bound(base, video_seconds=600, **kwargs)  # type: ignore[arg-type]
    b = lower_bound(slower, video_seconds=600, **kwargs)  # type: ignore[arg-type]
    assert b.total - a.total == pytest.approx(0.5)


def _speedscope() -> dict[str, object]:
    """Three busy samples and one idle one: main -> work -> hash (x2), main -> io, a wait."""
    frames = [
        {"name": "main", "file": "/x/benchmarks/pipeline.py", "line": 1},
        {"name": "work", "file": "/v/site-packages/cutpro_async/batch/pipeline.py", "line": 2},
        {"name": "hash", "file": "/v/lib/python3.11/hashlib.py", "line": 3},
        {"name": "io", "file": "/v/cutpro_async/jobs/_partfile.py", "line": 4},
        {"name": "Condition.wait", "file": "/v/lib/python3.11/threading.py", "line": 5},
    ]
    samples = [[0, 1, 2], [0, 1, 2], [0, 3], [4]]
    return {
        "shared": {"frames": frames},
        "profiles": [
            {"type": "sampled", "samples": samples[:3], "weights": [1, 1, 1]},
            {"type": "sampled", "samples": samples[3:], "weights": [1]},
            {"type": "evented", "events": []},
        ],
    }


def test_profile_shares_count_own_and_total_time() -> None:
    """Own time goes to the leaf, total time to every frame of the stack once; idle waits are
    left out of both."""
    data = _speedscope()
    assert any(name.startswith("Condition.wait") for name in IDLE)
    got = {hot.name.split(" ")[0]: (hot.own, hot.total) for hot in shares(data)}
    assert got["hash"] == pytest.approx((2 / 3, 2 / 3))
    assert got["io"] == pytest.approx((1 / 3, 1 / 3))
    assert got["main"] == pytest.approx((0, 1))
    assert "Condition.wait" not in got
    assert hottest(data, 1)[0].name == "hash (lib/python3.11/hashlib.py:3)"
    assert hottest_total(data, 1)[0].name.startswith("main (benchmarks/pipeline.py")
    assert hottest(data)[1].name == "io (cutpro_async/jobs/_partfile.py:4)"
    assert package("io (cutpro_async/jobs/_partfile.py:4)") == "cutpro_async/jobs"
    assert package("f (cutpro_async/_http.py:9)") == "cutpro_async/_http"
    assert package("hash (lib/python3.11/hashlib.py:3)") == "stdlib hashlib"
    assert package("g (aiohttp/client.py:1)") == "aiohttp"
    assert by_package(shares(data))[0] == ("stdlib hashlib", pytest.approx(2 / 3))


def test_profile_shares_of_an_empty_profile() -> None:
    """No busy sample: nothing to show."""
    assert shares({"shared": {"frames": []}, "profiles": []}) == []


def test_metrics_summarize_and_meet_targets() -> None:
    """The median with its spread; `met` follows `better`; no target means no verdict."""
    m = summarize("s", "ratio", [1.2, 0.9, 1.0], 1.1, "lower")
    assert (m.value, m.low, m.high, m.met) == (1.0, 0.9, 1.2, True)
    assert summarize("s", "speed", [5.0], 10.0, "higher").met is False
    assert Metric("s", "n", 3.0, None, "lower").met is None
    text = table([m])
    assert "| s | ratio | 1.00x | 0.90x to 1.20x | ≤ 1.10x | yes |" in text


def test_a_saved_run_loads_back_and_renders(tmp_path: Path) -> None:
    """A results file (as `save` writes it) gives back its metrics, and the page names the
    machine, the command, every metric and the missed ones."""
    metrics = [
        Metric("pipeline", "client CPU per video / bare", 1.6, 1.3, "lower", "x", 1.5, 1.7),
        Metric("pacing", "wall time / true minimum", 1.02, 1.05, "lower", "x", 1.01, 1.03),
    ]
    info = {
        "machine": {
            "cpu": "Test CPU",
            "cores": "2",
            "python": "3.11.7",
            "system": "Linux",
            "commit": "abc1234",
            "date": "2026-11-29T00:00:00+00:00",
        },
        "quick": False,
        "seconds": 598.0,
        "command": "python -m benchmarks --markdown",
    }
    path = tmp_path / "run.json"
    rows = [{**attrs.asdict(m), "met": m.met} for m in metrics]
    path.write_text(json.dumps({**info, "metrics": rows}))
    loaded_info, loaded = load(path)
    assert loaded == metrics
    assert loaded_info["command"] == "python -m benchmarks --markdown"
    page = markdown(loaded_info, loaded)
    assert "Test CPU (2 cores" in page and "abc1234" in page and "598 s" in page
    assert "`python -m benchmarks --markdown`" in page
    assert "Targets met: 1 of 2. Missed: pipeline client CPU per video / bare." in page
    assert "(ceil(N / L) - 1) * W" in page
    assert not math.isnan(loaded[0].value)
