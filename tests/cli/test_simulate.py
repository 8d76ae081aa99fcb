"""`cutpro simulate` in a subprocess: its readiness signals lead a script to a working server."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

from .conftest import COMMAND, ROOT, base_env

KEYS = {"base_url", "api_key", "storage_url", "pid"}


def start(*args: str | Path) -> subprocess.Popen[str]:
    """`cutpro simulate --port 0 --credits 123 ARGS` in the background."""
    command = [*COMMAND, "simulate", "--port", "0", "--credits", "123", *map(str, args)]
    return subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=ROOT, env=base_env())


def stop(process: subprocess.Popen[str]) -> int:
    """Terminate the simulator (SIGTERM) and return its exit code."""
    process.terminate()
    return process.wait(10)


def wait_for(path: Path, process: subprocess.Popen[str]) -> dict[str, Any]:
    """The ready file's JSON, once the simulator has written it."""
    deadline = time.monotonic() + 30
    while not path.exists():
        assert process.poll() is None, "the simulator exited before it was ready"
        assert time.monotonic() < deadline, "the simulator never wrote its ready file"
        time.sleep(0.05)
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def balance(ready: dict[str, Any]) -> float:
    """`GET /balance` over HTTP with the key the simulator announced."""
    request = urllib.request.Request(
        ready["base_url"] + "/balance", headers={"X-Api-Key": ready["api_key"]}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return float(json.load(response)["balance"])


def test_ready_file_leads_to_a_working_server(tmp_path: Path) -> None:
    """`--ready-file` holds the URL, key, storage URL and pid of a server that answers with
    that key, and SIGTERM stops it cleanly and removes the file."""
    path = tmp_path / "ready.json"
    process = start("--ready-file", path)
    try:
        ready = wait_for(path, process)
        assert set(ready) == KEYS and ready["pid"] == process.pid
        assert ready["storage_url"].startswith("http://127.0.0.1:")
        assert balance(ready) == 123
    finally:
        code = stop(process)
    assert code == 0 and not path.exists()


def test_json_prints_one_line_instead_of_the_banner() -> None:
    """`--json` prints exactly one JSON line with the same keys, and the server answers."""
    process = start("--json")
    try:
        assert process.stdout is not None
        ready = json.loads(process.stdout.readline())
        assert set(ready) == KEYS
        assert balance(ready) == 123
    finally:
        stop(process)
    assert process.stdout.read() == ""
