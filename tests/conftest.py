"""Shared fixtures: a simulator per test and a thin raw-HTTP helper to talk to it."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import attrs
import pytest

from cutpro_async import RetryPolicy
from cutpro_async.testing import FakeCutPro

#: Quick retries for tests; a paid request that failed ambiguously is given 1 s to commit.
FAST_RETRY = RetryPolicy(backoff_initial=0.01, backoff_max=0.05, commit_window=1.0)


def tmpfs_available() -> bool:
    """Whether a tmpfs can be mounted in a new user and mount namespace here (for tests of a
    really full disk)."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return False
    probe = subprocess.run(
        [unshare, "-rm", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt 2>/dev/null"],
        capture_output=True,
        timeout=30,
        check=False,
    )
    return probe.returncode == 0


@pytest.fixture(autouse=True)
def _no_saved_login(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """No test reads the developer's own `cutpro login`: a config folder of the tests' own."""
    monkeypatch.setenv("CUTPRO_CONFIG_DIR", str(tmp_path_factory.mktemp("config")))


@pytest.fixture
def anyio_backend() -> str:
    """aiohttp runs on asyncio only."""
    return "asyncio"


@attrs.frozen
class Reply:
    """Status, headers and decoded JSON (None for an empty body) of one raw request."""

    status: int
    headers: dict[str, str]
    json: Any
    body: bytes


@attrs.define
class RawApi:
    """Plain aiohttp requests to the simulator, with the API key unless told otherwise."""

    session: aiohttp.ClientSession
    base_url: str
    api_key: str

    async def call(
        self,
        method: str,
        path: str,
        *,
        key: str | None = "",
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> Reply:
        """One request; `key=None` sends no key, `key="..."` another key."""
        sent = dict(headers or {})
        chosen = self.api_key if key == "" else key
        if chosen is not None:
            sent["X-Api-Key"] = chosen
        async with self.session.request(
            method, self.base_url + path, headers=sent, **kwargs
        ) as resp:
            body = await resp.read()
            decoded = None
            if body and resp.content_type == "application/json":
                decoded = await resp.json()
            return Reply(resp.status, dict(resp.headers), decoded, body)

    async def get(self, path: str, **kwargs: Any) -> Reply:
        """GET."""
        return await self.call("GET", path, **kwargs)

    async def post(self, path: str, json: Any = None, **kwargs: Any) -> Reply:
        """POST with an optional JSON body."""
        return await self.call("POST", path, json=json, **kwargs)


@pytest.fixture
async def fake() -> AsyncIterator[FakeCutPro]:
    """A fast simulator: a 10-minute job takes about 0.1 s."""
    async with FakeCutPro(time_scale=6000) as server:
        yield server


@pytest.fixture
async def api(fake: FakeCutPro) -> AsyncIterator[RawApi]:
    """Raw HTTP access to `fake`."""
    async with aiohttp.ClientSession() as session:
        yield RawApi(session, fake.base_url, fake.api_key)
