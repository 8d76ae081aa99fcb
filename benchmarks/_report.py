"""Benchmark results: one metric type, the terminal table, JSON, the chart and BENCHMARKS.md."""

from __future__ import annotations

import json
import os
import platform
import shutil
import statistics
import subprocess
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import attrs

RESULTS = Path(__file__).with_name("results")


@attrs.frozen
class Metric:
    """One measured figure with its target; `better` says which way is good."""

    scenario: str
    name: str
    value: float
    target: float | None
    better: str  # "lower" or "higher"
    unit: str = "x"
    low: float | None = None
    high: float | None = None

    @property
    def met(self) -> bool | None:
        """Whether the target is met (None when there is no target)."""
        if self.target is None:
            return None
        return self.value <= self.target if self.better == "lower" else self.value >= self.target


def summarize(
    scenario: str,
    name: str,
    samples: Sequence[float],
    target: float | None,
    better: str,
    unit: str = "x",
) -> Metric:
    """A metric from repeated samples: the median, with the spread."""
    return Metric(
        scenario, name, statistics.median(samples), target, better, unit, min(samples), max(samples)
    )


def _fmt(value: float | None, unit: str) -> str:
    """A number for the table."""
    if value is None:
        return ""
    return f"{value:,.2f}{unit}" if unit == "x" else f"{value:,.1f} {unit}"


def table(metrics: Sequence[Metric]) -> str:
    """The results as a Markdown table (also readable on a terminal)."""
    rows = ["| scenario | metric | median | spread | target | met |", "|---|---|---|---|---|---|"]
    for m in metrics:
        spread = f"{_fmt(m.low, m.unit)} to {_fmt(m.high, m.unit)}" if m.low is not None else ""
        sign = "≤" if m.better == "lower" else "≥"
        target = f"{sign} {_fmt(m.target, m.unit)}" if m.target is not None else "(reported)"
        met = {True: "yes", False: "**no**", None: ""}[m.met]
        rows.append(
            f"| {m.scenario} | {m.name} | {_fmt(m.value, m.unit)} | {spread} | {target} | {met} |"
        )
    return "\n".join(rows)


def machine() -> dict[str, str]:
    """What the numbers were measured on."""
    cpuinfo = Path("/proc/cpuinfo")
    lines = cpuinfo.read_text().splitlines() if cpuinfo.exists() else []
    names = [line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")]
    model = names[0] if names else platform.processor() or "unknown"
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    changed = subprocess.run(  # the measured code differs from the commit
        ["git", "status", "--porcelain", "--", "cutpro_async"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    if commit and changed:
        commit += " (with uncommitted changes to cutpro_async)"
    return {
        "cpu": model,
        "cores": str(os.cpu_count()),
        "python": platform.python_version(),
        "system": platform.platform(),
        "commit": commit or "unknown",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def save(
    metrics: Sequence[Metric],
    quick: bool,
    seconds: float = 0.0,
    command: str = "",
    measured_on: dict[str, str] | None = None,
) -> Path:
    """Write the JSON results (timestamped and `latest.json`); returns the timestamped one.
    `measured_on` is `machine()` as it was when the run started (its commit, its date)."""
    RESULTS.mkdir(exist_ok=True)
    data = {
        "machine": measured_on or machine(),
        "quick": quick,
        "seconds": round(seconds, 1),
        "command": command,
        "metrics": [{**attrs.asdict(m), "met": m.met} for m in metrics],
    }
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    text = json.dumps(data, indent=2)
    path = RESULTS / f"{stamp}{'-quick' if quick else ''}.json"
    path.write_text(text)
    (RESULTS / "latest.json").write_text(text)
    return path


def load(path: Path) -> tuple[dict[str, object], list[Metric]]:
    """A saved results file: (everything but the metrics, the metrics)."""
    data = json.loads(path.read_text())
    fields = {field.name for field in attrs.fields(Metric)}
    metrics = [Metric(**{k: v for k, v in m.items() if k in fields}) for m in data.pop("metrics")]
    return data, metrics


def _score(m: Metric) -> float:
    """How far a value is on the good side of its target (1 = exactly on it)."""
    assert m.target
    if m.better == "higher":
        return m.value / m.target
    return m.target / m.value if m.value else 10.0


def chart(metrics: Sequence[Metric], path: Path) -> Path:
    """A bar per metric with a target: the value as a fraction of its target (1 = on target)."""
    import matplotlib
    import matplotlib.ticker

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = [m for m in metrics if m.target]  # a target of 0 (no 429s) has no ratio to show
    scores = [min(10.0, max(0.05, _score(m))) for m in shown]
    labels = [f"{m.scenario}: {m.name}" for m in shown]
    fig, ax = plt.subplots(figsize=(10, 0.45 * len(shown) + 1.5))
    colors = ["#2e7d32" if m.met else "#c62828" for m in shown]
    ax.barh(labels, scores, color=colors)
    ax.axvline(1.0, color="black", linestyle="--", linewidth=1)
    ax.set_xscale("log")
    plain = matplotlib.ticker.FuncFormatter(lambda x, _: f"{x:g}")
    ax.xaxis.set_major_formatter(plain)
    ax.xaxis.set_minor_formatter(plain)
    ax.set_xlabel("value relative to target (right of the dashed line: target met)")
    ax.invert_yaxis()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def tidy(folder: Path, metrics: Sequence[Metric], scenario: str) -> bool:
    """Remove a scenario's working `folder` if every target was met and say True; else keep
    it (its logs and records say why) and say where."""
    if all(m.met is not False for m in metrics):
        shutil.rmtree(folder)
        return True
    print(f"{scenario}: a target was missed; kept {folder}")
    return False
