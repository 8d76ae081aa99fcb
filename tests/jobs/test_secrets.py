"""Nothing signed escapes: every way a storage link can fail leaves its secret out of errors,
reprs and logs, and out of the batch record and `cutpro status`."""

from __future__ import annotations

import logging
import re
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from cutpro_async import CutProError, RetryPolicy
from cutpro_async.batch import Batch, RunOptions, SQLiteStore
from cutpro_async.testing import FakeCutPro
from tests.cli.conftest import cutpro, env_for

from .conftest import make_client, video_url

pytestmark = pytest.mark.anyio

#: Secret values behind every parameter name storage services sign with.
QUERY = "X-Amz-Signature=SECRET1&signature=SECRET2&Signature=SECRET3&sig=SECRET4&expires=9"
SECRET = re.compile(r"SECRET\d")
#: A signature-like parameter with a value that is not our placeholder.
SIGNED = re.compile(r"(?i)(?:x-amz-signature|signature|sig)=(?!REDACTED)[^&\s'\"<>]+")
FAST = RetryPolicy(max_retries=2, backoff_initial=0.01, backoff_max=0.02)


def evil_routes(base: Callable[[], str]) -> web.RouteTableDef:
    """A storage host that fails in every way a real one (or an attacker) can."""
    routes = web.RouteTableDef()

    @routes.get("/loop.mp4")
    async def loop(request: web.Request) -> web.Response:
        raise web.HTTPFound(f"{base()}/loop.mp4?{QUERY}")

    @routes.get("/bad-location.mp4")
    async def bad_location(request: web.Request) -> web.Response:
        return web.Response(status=302, headers={"Location": f"http://[::1/x?{QUERY}"})

    @routes.get("/huge-header.mp4")
    async def huge_header(request: web.Request) -> web.Response:
        return web.Response(body=b"x", headers={"X-Junk": "y" * 100_000})

    @routes.get("/refused.mp4")
    async def refused(request: web.Request) -> web.Response:
        echo = f"<Error><Code>SignatureDoesNotMatch</Code><Q>{request.query_string}</Q></Error>"
        return web.Response(status=403, text=echo, content_type="application/xml")

    @routes.get("/page.mp4")
    async def page(request: web.Request) -> web.Response:
        return web.Response(text=f"?{request.query_string}<html>", content_type="text/html")

    @routes.get("/broken.mp4")
    async def broken(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Length": "100000"})
        await response.prepare(request)
        await response.write(b"\x00" * 1000)
        assert request.transport is not None
        request.transport.abort()
        return response

    @routes.get("/down.mp4")
    async def down(request: web.Request) -> web.Response:
        return web.Response(status=503, text=request.query_string)

    return routes


@asynccontextmanager
async def evil_storage() -> AsyncIterator[str]:
    """The evil storage host on loopback; yields its base URL."""
    base = ""
    app = web.Application()
    app.add_routes(evil_routes(lambda: base))
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    base = f"http://127.0.0.1:{port}"
    try:
        yield base
    finally:
        await runner.cleanup()


def record_bytes(folder: Path) -> str:
    """The SQLite record and its side files, as text to search."""
    files = sorted(p for p in folder.glob("state.sqlite*") if p.is_file())
    return b"".join(p.read_bytes() for p in files).decode("latin-1")


def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize(
    "name",
    ["loop", "bad-location", "huge-header", "refused", "page", "broken", "down", "closed"],
)
async def test_no_failure_shows_the_signature(
    fake: FakeCutPro, tmp_path: Path, caplog: pytest.LogCaptureFixture, name: str
) -> None:
    """Redirect loops, bad redirects, oversize headers, refusals echoing the query, error
    pages, cut bodies, 5xx and closed ports: typed errors, secret-free text, repr and logs."""
    caplog.set_level(logging.DEBUG, logger="cutpro_async")
    async with evil_storage() as base, make_client(fake, retry=FAST) as cp:
        host = f"http://127.0.0.1:{closed_port()}" if name == "closed" else base
        with pytest.raises(CutProError) as caught:
            await cp.download(f"{host}/{name}.mp4?{QUERY}", tmp_path / "f.mp4")
    error = caught.value
    seen = [str(error), repr(error), caplog.text, str(error.__cause__ or "")]
    assert not any(SECRET.search(text) for text in seen), seen
    assert not isinstance(error, aiohttp.ClientError)


async def test_the_record_and_status_never_hold_a_signature(tmp_path: Path) -> None:
    """Downloads failing on storage (error pages, refusals, outages) leave errors in the SQLite
    record and in `cutpro status` with no signature value in them."""
    state = tmp_path / "state.sqlite"
    faults = ["html=1", "expire=1", "503=1@/files", "shortlen=1"]
    async with FakeCutPro(time_scale=6000) as fake, make_client(fake, retry=FAST) as cp:
        for number, fault in enumerate(faults):
            fake.set_faults(fault)
            store = await SQLiteStore.open(state)
            try:
                options = RunOptions(out=tmp_path / "out", top_k=1)
                summary = await Batch(cp, options, store).run([video_url(600 + number)])
            finally:
                await store.close()
            assert summary.failed == 1, fault
        done = await cutpro("status", "--state", state, env=env_for(fake))
    stored = record_bytes(tmp_path)
    output = (done.stdout + done.stderr).decode()
    assert "failed" in output
    assert not SIGNED.search(output), output
    assert not SIGNED.search(stored)


async def test_a_redirect_to_plain_http_is_refused_before_it_is_followed(
    fake: FakeCutPro, tmp_path: Path
) -> None:
    """A storage link redirecting to a plain-http host elsewhere is refused at that hop: the
    signature never travels unencrypted."""

    async def redirect(request: web.Request) -> web.Response:
        raise web.HTTPFound(f"http://192.0.2.1/f.mp4?{QUERY}")

    app = web.Application()
    app.router.add_get("/f.mp4", redirect)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        async with make_client(fake, retry=FAST) as cp:
            with pytest.raises(CutProError) as caught:
                await cp.download(f"{base}/f.mp4?{QUERY}", tmp_path / "f.mp4")
    finally:
        await runner.cleanup()
    assert "192.0.2.1" in str(caught.value) and "only https" in str(caught.value)
    assert not SECRET.search(str(caught.value))
