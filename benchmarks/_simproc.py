"""Run the simulator in its own process and read its CPU time and memory from /proc."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType

import aiohttp
import attrs

READY_TIMEOUT = 60.0  # seconds for the simulator to listen (a loaded machine imports slowly)


@attrs.define
class SimProcess:
    """`cutpro simulate` as a child process; `base_url`/`api_key` come from its ready file."""

    args: list[str] = attrs.field(factory=list)
    #: Bytes per second each connection may send (kernel TCP pacing, see `_paced`); 0: no limit.
    pace: int = 0
    base_url: str = ""
    api_key: str = ""
    storage_url: str = ""
    _proc: subprocess.Popen[str] | None = None

    def __enter__(self) -> SimProcess:
        with tempfile.TemporaryDirectory() as folder:
            ready = Path(folder) / "ready.json"
            paced = [str(Path(__file__).with_name("_paced.py")), str(self.pace)]
            cmd = [sys.executable, *(paced if self.pace else ["-m", "cutpro_async"])]
            cmd += ["simulate", "--port", "0"]
            cmd += ["--ready-file", str(ready), *self.args]
            self._proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, text=True)
            info = _wait_for(ready, self._proc, cmd)
        self.base_url, self.api_key = info["base_url"], info["api_key"]
        self.storage_url = info["storage_url"]
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._proc is not None
        self._proc.terminate()  # the simulator closes its servers on SIGTERM
        try:
            self._proc.wait(10)
        except subprocess.TimeoutExpired:  # a stuck request must not hang the benchmark
            self._proc.kill()
            self._proc.wait()

    def cpu_seconds(self) -> float:
        """User + system CPU time the simulator has used so far."""
        assert self._proc is not None
        with open(f"/proc/{self._proc.pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def peak_rss_mib(self) -> float:
        """The simulator's peak resident memory (VmHWM)."""
        assert self._proc is not None
        with open(f"/proc/{self._proc.pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        return 0.0


def _wait_for(ready: Path, proc: subprocess.Popen[str], cmd: list[str]) -> dict[str, str]:
    """The simulator's readiness JSON, once it has written it (it writes it atomically)."""
    deadline = time.monotonic() + READY_TIMEOUT
    while not ready.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"the simulator did not start: {' '.join(cmd)}")
        time.sleep(0.02)
    info: dict[str, str] = json.loads(ready.read_text())
    return info


async def render_links(sim: SimProcess, count: int) -> list[str]:
    """Signed download links of `count` distinct finished renders (at most 20)."""
    async with aiohttp.ClientSession(headers={"X-Api-Key": sim.api_key}) as session:

        async def call(method: str, path: str, body: object = None) -> dict[str, object]:
            async with session.request(method, sim.base_url + path, json=body) as resp:
                data: dict[str, object] = await resp.json()
                return data

        info = await call("POST", "/clips/info", {"url": "https://youtu.be/bench?duration=3600"})
        video = str(info["video_id"])
        sub = str((await call("POST", "/clips", {"video_id": video}))["submission_id"])
        base = f"/clips/{video}/submissions/{sub}"
        while (await call("GET", base))["status"] != "completed":
            await asyncio.sleep(0.05)
        clips = (await call("GET", f"{base}/clips?limit={count}"))["clips"]
        renders = [
            str((await call("POST", f"{base}/clips/{clip['id']}/render"))["render_id"])
            for clip in clips  # type: ignore[attr-defined]
        ]
        for render in renders:
            while (await call("GET", f"/renders/{render}"))["status"] != "completed":
                await asyncio.sleep(0.05)
        return [str((await call("GET", f"/renders/{r}/download"))["url"]) for r in renders]
