"""README.md runs as pasted: every fenced block is run or, when marked, at least parsed; and
the README names every `cutpro` command.

How a block is checked is said by an HTML comment on the line right before its fence, else
follows from the block itself:

- ```` ```python ````: run as a file (`python example.py`) in an empty folder, with
  `CUTPRO_API_KEY` / `CUTPRO_API_URL` pointing at a `FakeCutPro` this test started.
- ```` ```sh ```` (or `bash`, `shell`) that starts a simulator (`cutpro simulate`,
  `--simulate`): run with `bash -euo pipefail` in an empty folder, no credentials set.
- `<!-- readme-test: syntax-only (why) -->`: only parsed (`compile`, `bash -n`), for a block
  that needs a real API key or another server.
- `<!-- readme-test: run; leaves GLOB...; prints "TEXT"... -->`: run as above, and also
  leaves a file matching each GLOB and prints each TEXT.

Any other block fails, so that a new block cannot go untested. A run passes when it exits 0
within `TIMEOUT`, leaves at least one MP4 (or what its marker names), every MP4 it leaves is
whole (`ftyp` at bytes 4:8) with no `.part` left over, every process it started has ended
(the simulator was stopped) and every `--ready-file` it named is gone.

Commands run with the venv's `bin` first on `PATH` (so `cutpro` is this checkout's) and with
data and config folders of their own, never the user's.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import anyio
import attrs
import pytest

from cutpro_async.cli import main as cutpro_command
from cutpro_async.testing import FakeCutPro

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
VENV_BIN = Path(sys.executable).parent  # not resolved: the venv's bin, where `cutpro` lives
TIMEOUT = 60.0  # seconds one block may take; all of them take about 20 s here
SHELLS = frozenset({"sh", "bash", "shell"})
FENCE = re.compile(r"^```([\w-]*)[ \t]*\n(.*?)^```[ \t]*$", re.M | re.S)
MARKER = re.compile(r"<!--\s*readme-test:\s*(.*?)\s*-->")
USES_SIMULATOR = re.compile(r"\bcutpro simulate\b|--simulate\b")
READY_FILE = re.compile(r"--ready-file[ =](\S+)")

#: The install-and-run and install-and-test lines at the top of the README, word for word.
#: tests/cli/test_run.py::test_readme_command_with_simulator runs the first one's `cutpro run`;
#: CI (.ci/run) runs the second one's `python -m pytest`.
INSTALL_LINES = (
    "python3 -m venv .venv && . .venv/bin/activate && pip install -e . && "
    "cutpro run @examples/videos.txt --simulate --out clips/",
    "python3 -m venv .venv && . .venv/bin/activate && pip install -e '.[dev]' && python -m pytest",
)


@attrs.frozen
class Block:
    """One fenced block of the README and the marker before it, if any."""

    line: int  # of the opening fence
    lang: str
    code: str
    marker: str | None

    def __str__(self) -> str:
        return f"README.md line {self.line} (```{self.lang})"


@attrs.frozen
class Plan:
    """What the test does with a block."""

    run: bool  # False: syntax only
    leaves: tuple[str, ...] = ()
    prints: tuple[str, ...] = ()


def readme_blocks() -> list[Block]:
    """Every fenced block, in order."""
    text = README.read_text()
    found = []
    for match in FENCE.finditer(text):
        before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1].strip()
        marker = MARKER.fullmatch(before)
        found.append(
            Block(
                line=text.count("\n", 0, match.start()) + 1,
                lang=match.group(1),
                code=match.group(2),
                marker=marker.group(1) if marker else None,
            )
        )
    return found


def plan_for(block: Block) -> Plan:
    """How to check a block, from its marker or its kind; a test failure when neither says."""
    if block.lang != "python" and block.lang not in SHELLS:
        pytest.fail(f"{block}: only python and sh blocks can be checked; use one of those")
    if block.marker is None:
        if block.lang == "python" or USES_SIMULATOR.search(block.code):
            return Plan(run=True)
        pytest.fail(
            f"{block} does not use the simulator, so it cannot be run here: make it use "
            "`cutpro simulate` or mark it <!-- readme-test: syntax-only (why) -->"
        )
    kind, *clauses = (part.strip() for part in block.marker.split(";"))
    if re.fullmatch(r"syntax-only \(.+\)", kind) and not clauses:
        return Plan(run=False)
    if kind != "run":
        pytest.fail(
            f"{block}: unknown marker {block.marker!r}; use 'syntax-only (why)' or "
            "'run; leaves GLOB...; prints \"TEXT\"...'"
        )
    leaves: list[str] = []
    prints: list[str] = []
    for clause in clauses:
        word, _, rest = clause.partition(" ")
        if word not in ("leaves", "prints") or not rest.strip():
            pytest.fail(f"{block}: unknown marker clause {clause!r}")
        (leaves if word == "leaves" else prints).extend(shlex.split(rest))
    return Plan(run=True, leaves=tuple(leaves), prints=tuple(prints))


def environment(home: Path, **settings: str) -> dict[str, str]:
    """This process's environment without CUTPRO_* settings, the venv's bin first on PATH,
    a wide terminal, and data and config folders under `home`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CUTPRO_")}
    env.update(
        PATH=f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",
        COLUMNS="200",
        CUTPRO_DATA_DIR=str(home / "data"),
        CUTPRO_CONFIG_DIR=str(home / "config"),
        XDG_CONFIG_HOME=str(home / "config"),
        XDG_DATA_HOME=str(home / "data"),
    )
    env.update(settings)
    return env


def group_alive(group: int) -> bool:
    """Whether any process of this process group is still running."""
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True


@attrs.frozen
class Outcome:
    """How a block's run ended."""

    code: int | None  # None: still running at the timeout
    output: str  # stdout and stderr, interleaved
    left_running: bool  # a process it started outlived it

    def tail(self) -> str:
        return self.output[-4000:]


async def run_block(command: list[str], cwd: Path, env: dict[str, str]) -> Outcome:
    """Run a command in a session of its own; then end whatever it left running."""
    log = cwd.parent / "output.txt"
    with log.open("wb") as sink:
        process = await anyio.open_process(
            command,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        code: int | None = None
        left = False
        try:
            with anyio.move_on_after(TIMEOUT):
                code = await process.wait()
            if code is not None:  # a process told to stop may take a moment to end
                deadline = time.monotonic() + 5
                while (left := group_alive(process.pid)) and time.monotonic() < deadline:
                    await anyio.sleep(0.1)
        finally:
            with anyio.CancelScope(shield=True):
                if group_alive(process.pid):
                    os.killpg(process.pid, signal.SIGKILL)
                await process.wait()
    return Outcome(code, log.read_text(errors="replace"), left)


def check_outcome(block: Block, plan: Plan, outcome: Outcome, cwd: Path) -> None:
    """A run exited 0 and left whole MP4s (and what its marker names), nothing running."""
    assert outcome.code is not None, f"{block} still ran after {TIMEOUT:g} s:\n{outcome.tail()}"
    assert outcome.code == 0, f"{block} exited {outcome.code}:\n{outcome.tail()}"
    assert not outcome.left_running, f"{block} left a process running (the simulator?)"
    for name in READY_FILE.findall(block.code):
        assert not (cwd / name).exists(), f"{block} left its ready file {name}"
    for pattern in plan.leaves:
        assert list(cwd.glob(pattern)), f"{block} left no {pattern}:\n{outcome.tail()}"
    for text in plan.prints:
        assert text in outcome.output, f"{block} did not print {text!r}:\n{outcome.tail()}"
    videos = sorted(cwd.rglob("*.mp4"))
    if not plan.leaves:
        assert videos, f"{block} left no MP4 file:\n{outcome.tail()}"
    for video in videos:
        assert video.read_bytes()[4:8] == b"ftyp", f"{block}: {video} is not an MP4"
    assert not list(cwd.rglob("*.part")), f"{block} left partial downloads"


BLOCKS = readme_blocks()


def test_the_blocks_are_all_found() -> None:
    """Every fence line opens or closes a block the test found (none hides from the test)."""
    fences = [line for line in README.read_text().splitlines() if line.startswith(("```", "~~~"))]
    assert len(fences) == 2 * len(BLOCKS), "a fence the test does not understand"
    assert BLOCKS, "the README has no code blocks?"


@pytest.mark.parametrize("block", BLOCKS, ids=lambda b: f"{b.lang}-line{b.line}")
async def test_block(block: Block, tmp_path: Path) -> None:
    """Each block runs as pasted (or, marked syntax-only, parses)."""
    plan = plan_for(block)
    cwd, home = tmp_path / "work", tmp_path / "home"
    cwd.mkdir()
    home.mkdir()
    if block.lang == "python":
        script = tmp_path / "example.py"
        script.write_text(block.code)
        if not plan.run:
            compile(block.code, str(block), "exec", dont_inherit=True)
            return
        async with FakeCutPro(time_scale=60_000) as fake:
            env = environment(home, CUTPRO_API_KEY=fake.api_key, CUTPRO_API_URL=fake.base_url)
            outcome = await run_block([sys.executable, str(script)], cwd, env)
    else:
        script = tmp_path / "example.sh"
        script.write_text(block.code)
        if not plan.run:
            parsed = await anyio.run_process(["bash", "-n", str(script)], check=False)
            assert parsed.returncode == 0, f"{block} is not valid bash:\n{parsed.stderr.decode()}"
            return
        for tool in ("curl", "jq"):
            if tool in block.code and shutil.which(tool) is None:
                pytest.fail(f"{block} needs {tool} (the README says so): install it")
        command = ["bash", "-euo", "pipefail", str(script)]
        outcome = await run_block(command, cwd, environment(home))
    check_outcome(block, plan, outcome, cwd)


def test_readme_names_every_command() -> None:
    """One `- `cutpro NAME ...`: what it does` line per registered command, and no other."""
    lines = re.findall(r"^- `cutpro ([a-z][a-z-]*)\b[^`]*`: (.*)$", README.read_text(), re.M)
    documented = Counter(name for name, _ in lines)
    assert all(what.strip() for _, what in lines), "a command line says nothing"
    assert [name for name, n in documented.items() if n > 1] == [], "a command listed twice"
    registered = set(cutpro_command.commands)
    assert sorted(registered - set(documented)) == [], "registered but not in the README"
    assert sorted(set(documented) - registered) == [], "in the README but not a `cutpro` command"


def test_the_first_lines_install_and_run() -> None:
    """The two indented commands under the title stay what the tests run."""
    lines = README.read_text().splitlines()
    assert tuple(line.strip() for line in lines[2:4]) == INSTALL_LINES
    assert all(line.startswith("    ") for line in lines[2:4])
