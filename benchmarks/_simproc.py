"""Run the simulator in its own process and read its CPU time and memory from /proc."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from types import TracebackType

import aiohttp
import attrs


@attrs.define
class SimProcess:
    """`cutpro simulate` as a child process; `base_url`/`api_key` are read from its banner."""

    args: list[str] = attrs.field(factory=list)
    base_url: str = ""
    api_key: str = ""
    storage_url: str = ""
    _proc: subprocess.Popen[str] | None = None

    def __enter__(self) -> SimProcess:
        cmd = [sys.executable, "-m", "cutpro_async", "simulate", "--port", "0", *self.args]
        self._proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            key, _, value = line.strip().partition("=")
            if key == "CUTPRO_API_URL":
                self.base_url = value
            elif key == "CUTPRO_API_KEY":
                self.api_key = value
            elif line.strip().startswith("storage:"):
                self.storage_url = line.split(":", 1)[1].strip()
                break
        if not self.storage_url:
            self._proc.kill()
            raise RuntimeError(f"the simulator did not start: {' '.join(cmd)}")
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._proc is not None
        self._proc.terminate()
        self._proc.wait(10)

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
