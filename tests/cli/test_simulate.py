"""`cutpro simulate` in a subprocess: its readiness signals lead a script to a working server."""

from __future__ import annotations

import contextlib
import json
import subprocess
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import pytest

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


def call(
    ready: dict[str, Any], path: str, body: dict[str, Any] | None = None, timeout: float = 10
) -> Any:
    """GET (or POST `body` to) the API over HTTP with the key the simulator announced."""
    data = None if body is None else json.dumps(body).encode()
    headers = {"X-Api-Key": ready["api_key"], "Content-Type": "application/json"}
    request = urllib.request.Request(ready["base_url"] + path, data, headers)
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.load(response)


def balance(ready: dict[str, Any]) -> float:
    """`GET /balance` over HTTP with the key the simulator announced."""
    return float(call(ready, "/balance")["balance"])


def clip_link(ready: dict[str, Any]) -> str:
    """The signed link of a clip of a freshly analyzed and submitted video."""
    info = call(ready, "/clips/info", {"url": "https://youtu.be/cli?duration=600"})
    submission = call(ready, "/clips", {"video_id": info["video_id"]})
    path = f"/clips/{info['video_id']}/submissions/{submission['submission_id']}"
    deadline = time.monotonic() + 30
    while call(ready, path)["status"] != "completed":
        assert time.monotonic() < deadline, "the submission never completed"
        time.sleep(0.05)
    return str(call(ready, path + "/clips")["clips"][0]["download_url"])


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


def test_storage_profile_reaches_the_storage_host() -> None:
    """`--storage-profile gcs`: the files it links to carry GCS's two `x-goog-hash` lines."""
    process = start("--json", "--storage-profile", "gcs", "--time-scale", "100000")
    try:
        assert process.stdout is not None
        ready = json.loads(process.stdout.readline())
        with urllib.request.urlopen(clip_link(ready), timeout=10) as response:
            hashes = response.headers.get_all("x-goog-hash")
    finally:
        stop(process)
    assert [line.split("=", 1)[0] for line in hashes] == ["crc32c", "md5"]


def test_unknown_storage_profile_is_a_usage_error() -> None:
    """An unknown profile exits with status 2 and names the option and the valid profiles."""
    command = [*COMMAND, "simulate", "--port", "0", "--storage-profile", "ftp"]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=base_env())
    assert done.returncode == 2
    assert "--storage-profile" in done.stderr
    assert "s3-kms" in done.stderr


def submitted_by_a_client_that_gave_up(ready: dict[str, Any], video_id: str) -> list[Any]:
    """`POST /clips` abandoned after 0.2 s; then the video's submissions once one is listed."""
    with contextlib.suppress(TimeoutError, urllib.error.URLError):
        call(ready, "/clips", {"video_id": video_id}, timeout=0.2)
        raise AssertionError("the slow commit answered at once")
    path = f"/clips/{video_id}/submissions"
    deadline = time.monotonic() + 30
    while not (subs := call(ready, path)["submissions"]):
        assert time.monotonic() < deadline, "the abandoned submission never committed"
        time.sleep(0.05)
    return list(subs)


def test_clock_offset_new_videos_and_slowcommit_reach_the_server() -> None:
    """`--clock-offset -900` dates answers 15 minutes back, `--new-video-per-analysis` gives a
    URL a new video_id each time, and `--faults slowcommit:1` charges a client that gave up."""
    options = ("--clock-offset", "-900", "--new-video-per-analysis", "--faults", "slowcommit:1")
    process = start("--json", *options)
    try:
        assert process.stdout is not None
        ready = json.loads(process.stdout.readline())
        request = urllib.request.Request(ready["base_url"] + "/balance")
        request.add_header("X-Api-Key", ready["api_key"])
        with urllib.request.urlopen(request, timeout=10) as response:
            date = parsedate_to_datetime(response.headers["Date"])
        assert abs(date - (datetime.now(UTC) - timedelta(minutes=15))) < timedelta(seconds=5)
        body = {"url": "https://youtu.be/again?duration=600"}
        first, second = call(ready, "/clips/info", body), call(ready, "/clips/info", body)
        assert first["video_id"] != second["video_id"]
        assert len(submitted_by_a_client_that_gave_up(ready, first["video_id"])) == 1
        assert balance(ready) == 123 - first["credits_cost"]
    finally:
        stop(process)


def test_posts_list_style_reaches_the_server() -> None:
    """`--posts-list-style data` serves `GET /posts` as `{data: [...]}` (a GAP's other shape);
    `--post-item-flaky-rate` is taken (its effect is tested in the batch's publish tests)."""
    process = start("--json", "--posts-list-style", "data", "--post-item-flaky-rate", "0.5")
    try:
        assert process.stdout is not None
        ready = json.loads(process.stdout.readline())
        assert call(ready, "/posts") == {"data": []}
    finally:
        stop(process)


def test_request_limit_reaches_the_server() -> None:
    """`--request-limit 2 --request-window 60`: the third request with the key is a 429
    RATE_LIMIT_EXCEEDED with a `Retry-After`; a window of 0 is a usage error."""
    process = start("--json", "--request-limit", "2", "--request-window", "60")
    try:
        assert process.stdout is not None
        ready = json.loads(process.stdout.readline())
        assert balance(ready) == balance(ready) == 123
        with pytest.raises(urllib.error.HTTPError) as refused:
            balance(ready)
        with refused.value as error:
            assert error.code == 429 and int(error.headers["Retry-After"]) >= 1
            assert json.load(error)["code"] == "RATE_LIMIT_EXCEEDED"
    finally:
        stop(process)
    command = [*COMMAND, "simulate", "--port", "0", "--request-window", "0"]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=base_env())
    assert done.returncode == 2 and "--request-window" in done.stderr
