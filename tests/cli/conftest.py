"""Fixtures for the command-line tests: `cutpro` in a subprocess against a simulator here."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import orjson
import pytest

from cutpro_async.testing import FakeCutPro

ROOT = Path(__file__).parents[2]
COMMAND = [sys.executable, "-m", "cutpro_async"]


#: The data folder (the machine's index of paid submissions) and the config folder (the login
#: saved by `cutpro login`) of the commands these tests run, so that they never touch the
#: user's own. The config folder stays empty: tests of `cutpro login` use their own.
DATA = Path(tempfile.mkdtemp(prefix="cutpro-test-data-"))
CONFIG = Path(tempfile.mkdtemp(prefix="cutpro-test-config-"))


def base_env() -> dict[str, str]:
    """This process's environment without any CUTPRO_* setting, a wide terminal, and data
    and config folders of the tests' own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CUTPRO_")}
    env["COLUMNS"] = "200"
    env["CUTPRO_DATA_DIR"] = str(DATA)
    env["CUTPRO_CONFIG_DIR"] = str(CONFIG)
    return env


def env_for(fake: FakeCutPro) -> dict[str, str]:
    """An environment that points `cutpro` at `fake`."""
    return {**base_env(), "CUTPRO_API_KEY": fake.api_key, "CUTPRO_API_URL": fake.base_url}


async def cutpro(
    *args: str | Path, env: dict[str, str], cwd: Path | None = None
) -> subprocess.CompletedProcess[bytes]:
    """Run `python -m cutpro_async ARGS` to the end while this event loop keeps serving."""
    return await anyio.run_process(
        [*COMMAND, *map(str, args)], env=env, cwd=cwd or ROOT, check=False
    )


@pytest.fixture
async def fake() -> AsyncIterator[FakeCutPro]:
    """A fast simulator whose `/clips/info` window is short (the CLI paces 10 a minute)."""
    async with FakeCutPro(time_scale=6000, analyze_window=0.2) as server:
        yield server


def write_list(folder: Path, urls: list[str]) -> Path:
    """A `@list` file of these URLs with a comment and a blank line."""
    path = folder / "list.txt"
    path.write_text("# videos\n\n" + "\n".join(urls) + "\n")
    return path


def manifest(out: Path) -> list[dict[str, Any]]:
    """The rows of `OUT/manifest.jsonl`."""
    lines = (out / "manifest.jsonl").read_text().splitlines()
    return [orjson.loads(line) for line in lines]


def check_manifest(out: Path, rows: int) -> list[dict[str, Any]]:
    """`rows` manifest lines, each naming a file in `out` with its size and SHA-256."""
    found = manifest(out)
    assert len(found) == rows
    for row in found:
        data = Path(row["path"]).read_bytes()
        assert Path(row["path"]).parent == out
        assert data[4:8] == b"ftyp"
        assert (len(data), hashlib.sha256(data).hexdigest()) == (row["bytes"], row["sha256"])
    assert sorted(p.name for p in out.glob("*.mp4")) == sorted(
        Path(row["path"]).name for row in found
    )
    assert not list(out.glob("*.part"))
    return found


def mp4s(folder: Path) -> list[str]:
    """The names of the MP4 files in `folder`."""
    return sorted(path.name for path in folder.glob("*.mp4"))


def error_lines(stderr: bytes) -> list[str]:
    """The `error:` lines of a command's stderr."""
    return [line for line in stderr.decode().splitlines() if line.startswith("error:")]
