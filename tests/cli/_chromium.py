"""Debian's Chromium, headless, driven over the DevTools protocol (a websocket, with aiohttp).

No browser-driving dependency: Chromium is started with `--remote-debugging-port=0`, the port
it picked is read from `DevToolsActivePort` in its profile folder, and one page is attached
to over the browser's websocket (`Target.attachToTarget`, flat sessions).
"""

from __future__ import annotations

import base64
import itertools
import os
import shutil
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import IO, Any

import aiohttp
import anyio
import orjson
import pytest

#: Where CI gets the browser (`.ci/run` installs it when missing).
INSTALL = (
    "Chromium is not installed: install Debian's chromium "
    "(apt-get install -y --no-install-recommends chromium; .ci/run does this in CI)"
)


def chromium_binary() -> str:
    """The `chromium` command; the test FAILS (never skips) without it."""
    found = shutil.which("chromium")
    if found is None:
        pytest.fail(INSTALL, pytrace=False)
    return found


class Page:
    """One browser tab: commands go out with its session id, events are kept in order."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self._ws = ws
        self._ids = itertools.count(1)
        self.session: str | None = None
        #: Every event received, as (method, params), for this page's session.
        self.events: list[tuple[str, dict[str, Any]]] = []
        self._seen = 0  # events already handed out by `wait_for`

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        """Send one command and return its result (events met meanwhile are kept)."""
        number = next(self._ids)
        message: dict[str, Any] = {"id": number, "method": method, "params": params}
        if self.session is not None:
            message["sessionId"] = self.session
        await self._ws.send_str(orjson.dumps(message).decode())
        while True:
            reply = await self._receive()
            if reply.get("id") == number:
                if "error" in reply:
                    raise AssertionError(f"{method} failed: {reply['error']}")
                result: dict[str, Any] = reply["result"]
                return result

    async def wait_for(self, method: str) -> dict[str, Any]:
        """The next event `method` not yet waited for (one already received counts)."""
        while True:
            for index in range(self._seen, len(self.events)):
                if self.events[index][0] == method:
                    self._seen = index + 1
                    return self.events[index][1]
            await self._receive()

    async def _receive(self) -> dict[str, Any]:
        """One message; an event of this page's session is kept in `events`."""
        message = await self._ws.receive()
        if message.type is not aiohttp.WSMsgType.TEXT:
            raise AssertionError(f"Chromium closed the DevTools socket: {message!r}")
        data: dict[str, Any] = orjson.loads(message.data)
        if "method" in data and data.get("sessionId") == self.session:
            self.events.append((data["method"], data.get("params", {})))
        return data

    async def open(self, url: str) -> None:
        """Navigate and wait for the load event."""
        self._seen = len(self.events)
        await self.call("Page.navigate", url=url)
        await self.wait_for("Page.loadEventFired")

    async def evaluate(self, expression: str) -> Any:
        """The JSON value of an expression (a promise is awaited); a page exception fails."""
        result = await self.call(
            "Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True
        )
        if "exceptionDetails" in result:
            raise AssertionError(f"{expression!r} threw: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def screenshot(self, width: int = 1280) -> bytes:
        """A PNG of the whole page at `width` CSS pixels."""
        await self.call(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=800,
            deviceScaleFactor=1,
            mobile=False,
        )
        metrics = await self.call("Page.getLayoutMetrics")
        height = int(metrics["cssContentSize"]["height"])
        clip = {"x": 0, "y": 0, "width": width, "height": height, "scale": 1}
        shot = await self.call(
            "Page.captureScreenshot", format="png", clip=clip, captureBeyondViewport=True
        )
        return base64.b64decode(shot["data"])


@asynccontextmanager
async def chromium(profile: Path) -> AsyncIterator[Page]:
    """A headless Chromium with its profile in `profile`, and one blank page attached."""
    binary = chromium_binary()
    command = [
        binary,
        "--headless",
        f"--user-data-dir={profile}",
        "--remote-debugging-port=0",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-extensions",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--mute-audio",
        "--autoplay-policy=no-user-gesture-required",
        "about:blank",
    ]
    if os.geteuid() == 0:
        command.insert(2, "--no-sandbox")  # Chromium refuses to run its sandbox as root
    log = _log_file(profile)
    process = await anyio.open_process(command, stdout=log, stderr=subprocess.STDOUT)
    try:
        port_file = profile / "DevToolsActivePort"
        with anyio.fail_after(30):
            while len(lines := _lines(port_file)) < 2:
                if process.returncode is not None:
                    output = (profile / "chromium.log").read_text(errors="replace")
                    raise AssertionError(f"Chromium exited at start:\n{output[-3000:]}")
                await anyio.sleep(0.05)
        url = f"ws://127.0.0.1:{lines[0]}{lines[1]}"
        async with (
            aiohttp.ClientSession() as session,
            session.ws_connect(url, max_msg_size=0) as ws,
        ):
            page = Page(ws)
            target = await page.call("Target.createTarget", url="about:blank")
            attached = await page.call(
                "Target.attachToTarget", targetId=target["targetId"], flatten=True
            )
            page.session = attached["sessionId"]
            for domain in ("Page", "Runtime", "Network", "Log"):
                await page.call(f"{domain}.enable")
            yield page
    finally:
        if process.returncode is None:
            process.terminate()
            with anyio.move_on_after(10):
                await process.wait()
            if process.returncode is None:
                process.kill()
                await process.wait()
        await process.aclose()
        log.close()


def _log_file(profile: Path) -> IO[bytes]:
    """The profile folder, created, and Chromium's log file in it."""
    profile.mkdir(parents=True, exist_ok=True)
    return (profile / "chromium.log").open("wb")


def _lines(path: Path) -> list[str]:
    """The non-empty lines of a file that may not exist yet."""
    try:
        return [line for line in path.read_text().splitlines() if line]
    except FileNotFoundError:
        return []
