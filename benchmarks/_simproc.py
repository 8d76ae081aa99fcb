"""Run the simulator in its own process and read its CPU time and memory from /proc."""

from __future__ import annotations

import os
import subprocess
import sys
from types import TracebackType

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
