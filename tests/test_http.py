"""The transport over real HTTP: headers, classified retries, hints, bodies, secrets, sessions.

Most tests run against `FakeCutPro`; a few need answers the simulator never gives (unknown
statuses, proxy error pages, slow or odd bodies) and use a tiny recording server instead.
"""

from __future__ import annotations

import builtins
import logging
import socket
import time
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from types import SimpleNamespace
from typing import Any

import aiohttp
import anyio
import attrs
import orjson
import pytest
from aiohttp import web

from cutpro_async import (
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    CutPro,
    CutProError,
    InsufficientCredits,
    Limits,
    NotFound,
    Pacing,
    RateLimited,
    RetryEvent,
    RetryPolicy,
    ServerError,
    Timeouts,
    ValidationError,
    __version__,
)
from cutpro_async.models import PostTarget, PostVideo, RenderStatus, SubmissionStatus
from cutpro_async.testing import FakeCutPro
from tests.conftest import FAST_RETRY
from tests.resources.conftest import (
    completed_render,
    completed_submission,
    make_client,
    video_url,
)

pytestmark = pytest.mark.anyio

KEY = "cp_test_0123456789abcdef0123456789abcdef"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@attrs.define
class Recorder:
    """A loopback server answering from `routes` (`(METHOD, path)` -> handler), recording calls."""

    routes: dict[tuple[str, str], Handler]
    seen: list[SimpleNamespace] = attrs.field(factory=list)
    base_url: str = ""

    async def dispatch(self, request: web.Request) -> web.StreamResponse:
        """Record the request, then answer it (404 text for anything unknown)."""
        body = await request.read()
        self.seen.append(
            SimpleNamespace(
                method=request.method, path=request.path, headers=request.headers, body=body
            )
        )
        handler = self.routes.get((request.method, request.path))
        if handler is None:
            return web.Response(status=404, text="no such route")
        return await handler(request)


@asynccontextmanager
async def recorder(routes: dict[tuple[str, str], Handler]) -> AsyncIterator[Recorder]:
    """A `Recorder` serving on 127.0.0.1; its `base_url` ends in `/api/v1`."""
    rec = Recorder(routes)
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", rec.dispatch)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    rec.base_url = f"http://127.0.0.1:{runner.addresses[0][1]}/api/v1"
    try:
        yield rec
    finally:
        await runner.cleanup()


def reply(status: int = 200, body: Any = None, *, text: str | None = None, **kw: Any) -> Handler:
    """A handler answering a fixed JSON body (or text)."""

    async def handle(_: web.Request) -> web.StreamResponse:
        if text is not None:
            return web.Response(status=status, text=text, **kw)
        if body is None:
            return web.Response(status=status, **kw)
        return web.Response(
            status=status, body=orjson.dumps(body), content_type="application/json", **kw
        )

    return handle


def free_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def no_retry(**kw: Any) -> RetryPolicy:
    """A policy that never repeats a request."""
    return RetryPolicy(max_retries=0, **kw)


SUBMISSION = {
    "submission_id": "s1",
    "status": "completed",
    "created_at": "2025-01-01T00:00:00Z",
    "video_id": "v1",
}


# -- what goes on the wire ----------------------------------------------------------------


async def test_requests_carry_key_agent_and_json_headers() -> None:
    """Every call sends `X-Api-Key`, `User-Agent: cutpro-async/<version>` and JSON headers."""
    routes = {
        ("GET", "/api/v1/balance"): reply(body={"balance": 5}),
        ("POST", "/api/v1/clips/info"): reply(body={"nope": 1}, status=422),
    }
    async with recorder(routes) as rec, CutPro(KEY, base_url=rec.base_url) as cp:
        assert (await cp.balance.get()).balance == 5
        with pytest.raises(ValidationError):
            await cp.videos.analyze("https://www.youtube.com/watch?v=x")
    get, post = rec.seen
    assert get.headers["X-Api-Key"] == KEY
    assert get.headers["User-Agent"] == f"cutpro-async/{__version__}"
    assert get.headers["Accept"] == "application/json"
    assert "Content-Type" not in get.headers
    assert "X-Workspace-Id" not in get.headers
    assert post.headers["Content-Type"] == "application/json"
    assert orjson.loads(post.body) == {"url": "https://www.youtube.com/watch?v=x"}


async def test_workspace_id_is_sent_when_given() -> None:
    """`workspace_id` travels as `X-Workspace-Id`."""
    routes = {("GET", "/api/v1/balance"): reply(body={"balance": 5})}
    async with (
        recorder(routes) as rec,
        CutPro(KEY, base_url=rec.base_url, workspace_id="pw42") as cp,
    ):
        await cp.balance.get()
    assert rec.seen[0].headers["X-Workspace-Id"] == "pw42"


# -- retry classification -----------------------------------------------------------------


async def test_get_retries_two_503s_then_succeeds(fake: FakeCutPro) -> None:
    """`503=1#2` on a GET: two retries (after the 1 s hints), then the answer."""
    fake.set_faults("503=1#2")
    async with make_client(fake, retry=FAST_RETRY) as cp:
        started = time.monotonic()
        balance = await cp.balance.get()
    assert balance.balance == fake.balance()
    assert fake.requests["GET /balance"] == 3
    assert fake.injected == {"503": 2}
    assert time.monotonic() - started >= 1.8


@pytest.mark.parametrize("spec", ["5xx=1#2@GET /workspace", "reset=1#1@GET /workspace"])
async def test_get_survives_5xx_and_resets(fake: FakeCutPro, spec: str) -> None:
    """Random 5xx answers and connection resets on a GET are retried until it succeeds."""
    fake.set_faults(spec)
    async with make_client(fake, retry=FAST_RETRY) as cp:
        ws = await cp.workspace.get()
    assert ws.id == fake.workspace_id
    assert sum(fake.injected.values()) >= 1
    assert fake.requests["GET /workspace"] == 1 + sum(fake.injected.values())


async def test_4xx_answers_are_never_retried() -> None:
    """404, 422, 402 and 401 are raised after exactly one request each."""
    async with FakeCutPro(time_scale=6000, credits=5) as fake:
        async with make_client(fake, retry=FAST_RETRY) as cp:
            info = await cp.videos.analyze(video_url(600))
            with pytest.raises(NotFound):
                await cp.submissions.get(info.video_id, "s-missing")
            with pytest.raises(ValidationError):
                await cp.videos.analyze(video_url(30))  # too short: 422
            with pytest.raises(InsufficientCredits):
                await cp.submissions.create(info.video_id)
        async with CutPro("cp_wrong", base_url=fake.base_url, retry=FAST_RETRY) as cp:
            with pytest.raises(AuthenticationError):
                await cp.workspace.get()
        assert fake.requests["GET /clips/{videoId}/submissions/{submissionId}"] == 1
        assert fake.requests["POST /clips/info"] == 2
        assert fake.requests["POST /clips"] == 1
        assert fake.requests["GET /clips/{videoId}/submissions"] == 0
        assert fake.requests["GET /workspace"] == 1


async def test_max_retries_zero_never_repeats(fake: FakeCutPro) -> None:
    """With `max_retries=0` a 503 is raised at once as `ServerError` with its wait hint."""
    fake.set_faults("503=1#1")
    async with make_client(fake, retry=no_retry()) as cp:
        with pytest.raises(ServerError) as caught:
            await cp.balance.get()
    assert caught.value.status == 503
    assert caught.value.retry_after == 1.0
    assert caught.value.maybe_processed is False
    assert fake.requests["GET /balance"] == 1


async def test_retry_budget_is_shared_across_calls(fake: FakeCutPro) -> None:
    """`budget_initial=2, budget_ratio=0`: two retries in all, then every call fails at once."""
    retry = RetryPolicy(backoff_initial=0.01, backoff_max=0.02, budget_initial=2, budget_ratio=0)
    fake.set_faults("502=1@GET /balance")
    async with make_client(fake, retry=retry) as cp:
        with pytest.raises(ServerError):
            await cp.balance.get()
        assert fake.requests["GET /balance"] == 3
        with pytest.raises(ServerError):
            await cp.balance.get()
        assert fake.requests["GET /balance"] == 4


async def test_a_wait_above_max_retry_after_is_raised_at_once() -> None:
    """A 429 asking for ~600 s, above `max_retry_after=5`, raises `RateLimited` unretried."""
    async with (
        FakeCutPro(analyze_limit=1, analyze_window=600) as fake,
        make_client(fake, retry=RetryPolicy(max_retry_after=5), pacing=Pacing(endpoints={})) as cp,
    ):
        await cp.videos.analyze(video_url(600))
        with pytest.raises(RateLimited) as caught:
            await cp.videos.analyze(video_url(600))
        assert caught.value.retry_after is not None
        assert caught.value.retry_after > 5
        assert caught.value.code == "RATE_LIMIT_EXCEEDED"
        assert fake.requests["POST /clips/info"] == 2


async def test_a_refused_long_wait_does_not_freeze_other_calls() -> None:
    """After giving up on a 600 s wait, an unrelated call of the same client still goes out."""
    async with (
        FakeCutPro(analyze_limit=1, analyze_window=600) as fake,
        make_client(fake, retry=RetryPolicy(max_retry_after=5), pacing=Pacing(endpoints={})) as cp,
    ):
        await cp.videos.analyze(video_url(600))
        with pytest.raises(RateLimited):
            await cp.videos.analyze(video_url(600))
        with anyio.fail_after(2):
            await cp.balance.get()


@pytest.mark.parametrize("kind", ["429-header", "429-body", "429"])
async def test_429_hint_alone_is_honoured(fake: FakeCutPro, kind: str) -> None:
    """A 429 with only `Retry-After`, only `extra.retry_after`, or both: waited out, then done."""
    fake.set_faults(f"{kind}:1=1#1@GET /balance")
    async with make_client(fake, retry=FAST_RETRY) as cp:
        started = time.monotonic()
        await cp.balance.get()
    assert time.monotonic() - started >= 0.9  # the 1 s hint, not the 10 ms backoff
    assert fake.requests["GET /balance"] == 2


@pytest.mark.parametrize("kind", ["429-header", "429-body"])
async def test_429_hint_alone_sets_retry_after(fake: FakeCutPro, kind: str) -> None:
    """Either hint alone becomes `RateLimited.retry_after`."""
    fake.set_faults(f"{kind}:1=1#1@GET /balance")
    async with make_client(fake, retry=no_retry()) as cp:
        with pytest.raises(RateLimited) as caught:
            await cp.balance.get()
    assert caught.value.retry_after == 1.0
    assert caught.value.status == 429


async def test_an_ambiguous_delete_that_went_through_is_a_success(fake: FakeCutPro) -> None:
    """A delete that was committed before its 502 reports success, not `NotFound`."""
    async with make_client(fake, retry=FAST_RETRY) as cp:
        info = await cp.videos.analyze(video_url(600))
        fake.set_faults("commit502=1#1@DELETE /clips/{videoId}")
        assert await cp.videos.delete(info.video_id) is None


# -- a first attempt that fails still gets every retry ------------------------------------
# (the first attempt is made without the retry loop; a failure hands over to it)


async def test_a_failed_first_attempt_waits_the_hint_and_tells_on_retry(fake: FakeCutPro) -> None:
    """A 429 on the first attempt: `on_retry` hears of it with the server's 1 s wait (not the
    10 ms backoff), the budget is paused for it, and the second attempt's answer is returned."""
    events: list[RetryEvent] = []
    fake.set_faults("429-header:1=1#1@GET /balance")
    async with make_client(fake, retry=attrs.evolve(FAST_RETRY, on_retry=events.append)) as cp:
        balance = await cp.balance.get()
    assert balance.balance == fake.balance()
    assert [(e.what, e.attempt, e.wait, type(e.error)) for e in events] == [
        ("GET /balance", 1, 1.0, RateLimited)
    ]
    assert fake.requests["GET /balance"] == 2


async def test_calls_that_succeed_at_once_earn_retries(fake: FakeCutPro) -> None:
    """With no retry budget to start with, a 502 is raised after one request; two calls that
    succeed at their first attempt earn half a retry each, and the next 502 is retried."""
    retry = RetryPolicy(backoff_initial=0.01, backoff_max=0.02, budget_initial=0, budget_ratio=0.5)
    async with make_client(fake, retry=retry) as cp:
        fake.set_faults("502=1#1@GET /balance")
        with pytest.raises(ServerError):
            await cp.balance.get()
        assert fake.requests["GET /balance"] == 1
        await cp.workspace.get()
        await cp.workspace.get()
        fake.set_faults("502=1#1@GET /balance")
        await cp.balance.get()
    assert fake.requests["GET /balance"] == 3


@pytest.mark.parametrize(("deadline", "sent"), [(0.5, 1), (1.5, 2)])
async def test_a_deadline_bounds_the_retries_of_an_api_call(
    fake: FakeCutPro, deadline: float, sent: int
) -> None:
    """Every 503 asks for 1 s: within a 0.5 s deadline no retry fits, within 1.5 s one does,
    though the policy allows ten."""
    fake.set_faults("503=1@GET /balance")
    async with make_client(fake, retry=RetryPolicy(max_retries=10, deadline=deadline)) as cp:
        with pytest.raises(ServerError):
            await cp.balance.get()
    assert fake.requests["GET /balance"] == sent


# -- the total timeout ----------------------------------------------------------------------


def trickle(pause: float, *, slow: int = 1_000_000) -> Handler:
    """A handler whose first `slow` answers send `{"balance": 1}` a byte every `pause` s
    (each byte well within the read timeout); later ones answer at once."""
    calls = [0]

    async def handle(request: web.Request) -> web.StreamResponse:
        calls[0] += 1
        body = b'{"balance": 1}'
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        resp.content_length = len(body)
        await resp.prepare(request)
        for byte in body:
            if calls[0] <= slow:
                await anyio.sleep(pause)
            await resp.write(bytes([byte]))
        return resp

    return handle


async def test_an_answer_slower_than_total_is_a_timeout_error() -> None:
    """A body trickling in for 2.8 s, each byte in time for `read`, is cut off at `total`:
    `APITimeoutError` (also the builtin), maybe processed; the caller's task goes on."""
    timeouts = Timeouts(read=5, total=0.3)
    async with (
        recorder({("GET", "/api/v1/balance"): trickle(0.2)}) as rec,
        CutPro(KEY, base_url=rec.base_url, timeouts=timeouts, retry=no_retry()) as cp,
    ):
        with pytest.raises(APITimeoutError) as caught:
            await cp.balance.get()
        await anyio.sleep(0.05)  # no cancel left over for the task
    assert isinstance(caught.value, builtins.TimeoutError)
    assert caught.value.maybe_processed is True
    assert "GET /balance" in str(caught.value)


async def test_a_timed_out_call_is_retried_and_told() -> None:
    """A GET cut off by `total` is retried like any other failure: `on_retry` sees the
    `APITimeoutError`, and the second, quick answer is returned."""
    events: list[RetryEvent] = []
    retry = attrs.evolve(FAST_RETRY, on_retry=events.append)
    async with (
        recorder({("GET", "/api/v1/balance"): trickle(0.2, slow=1)}) as rec,
        CutPro(KEY, base_url=rec.base_url, timeouts=Timeouts(total=1), retry=retry) as cp,
    ):
        assert (await cp.balance.get()).balance == 1
    assert [(e.attempt, type(e.error)) for e in events] == [(1, APITimeoutError)]
    assert len(rec.seen) == 2


async def test_only_the_calls_past_total_time_out() -> None:
    """Among calls in flight together, the slow ones time out and the quick ones started
    around them finish; a slow call started after the first timeout is cut off too (the
    one timer waits for the next deadline)."""
    routes = {
        ("GET", "/api/v1/balance"): reply(200, {"balance": 1}),
        ("GET", "/api/v1/workspace"): trickle(0.3),
    }
    outcomes: dict[str, str] = {}
    async with (
        recorder(routes) as rec,
        CutPro(KEY, base_url=rec.base_url, timeouts=Timeouts(total=1), retry=no_retry()) as cp,
    ):

        async def call(name: str, delay: float, get: Callable[[], Awaitable[object]]) -> None:
            await anyio.sleep(delay)
            try:
                await get()
            except APITimeoutError:
                outcomes[name] = "timed out"
            else:
                outcomes[name] = "answered"

        async with anyio.create_task_group() as group:
            for delay in (0.0, 0.2, 1.4):  # the last one starts after the first timeout
                group.start_soon(call, f"slow {delay}", delay, cp.workspace.get)
            for delay in (0.1, 0.5, 1.2, 1.6):
                group.start_soon(call, f"quick {delay}", delay, cp.balance.get)
    assert outcomes == {
        "slow 0.0": "timed out",
        "slow 0.2": "timed out",
        "slow 1.4": "timed out",
        "quick 0.1": "answered",
        "quick 0.5": "answered",
        "quick 1.2": "answered",
        "quick 1.6": "answered",
    }


async def test_a_cancel_from_outside_stays_a_cancel() -> None:
    """A caller's own cancel during a call (before `total`) cancels it: no `APITimeoutError`,
    and the next call is still bounded by `total`."""
    async with (
        recorder({("GET", "/api/v1/balance"): trickle(0.2)}) as rec,
        CutPro(KEY, base_url=rec.base_url, timeouts=Timeouts(total=1), retry=no_retry()) as cp,
    ):
        with anyio.move_on_after(0.2) as scope:
            await cp.balance.get()
        assert scope.cancelled_caught
        with pytest.raises(APITimeoutError):
            await cp.balance.get()


# -- bodies ---------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [204, 200])
async def test_every_delete_returns_none_for_204_and_empty_200(status: int) -> None:
    """Deletes of videos, submissions, clips, renders and posts return None either way."""
    async with (
        FakeCutPro(time_scale=6000, delete_status=status) as fake,
        make_client(fake, retry=FAST_RETRY) as cp,
    ):
        done = await completed_submission(cp)
        render = await completed_render(cp, done)
        connection = (await cp.connections.list(platform="tiktok")).connections[0]
        video = PostVideo(render.edit_setting_id, [PostTarget(connection.id)])
        post = await cp.posts.create([video, video])
        item = (await cp.posts.get(post.post_id)).items[0]
        assert await cp.posts.delete_item(post.post_id, item.id) is None
        assert await cp.posts.delete(post.post_id) is None
        assert await cp.renders.cancel(render.render_id) is None
        assert await cp.clips.delete(done.video_id, done.submission_id, done.clips[0].id) is None
        assert await cp.submissions.delete(done.video_id, done.submission_id) is None
        assert await cp.videos.delete(done.video_id) is None
        assert (await cp.videos.list()).videos == []


async def test_unknown_fields_and_statuses_are_tolerated() -> None:
    """Extra keys are ignored; an unknown status parses, is not known and not terminal."""
    sub = {**SUBMISSION, "status": "paused_for_review", "reviewer": {"name": "x"}}
    render = {
        "render_id": "r1",
        "edit_setting_id": "e1",
        "name": None,
        "status": "upscaling",
        "progress": 40,
        "output_resolution": "4k",
        "created_at": "2025-01-01T00:00:00Z",
        "gpu": "h100",
    }
    routes = {
        ("GET", "/api/v1/clips/v1/submissions/s1"): reply(body=sub),
        ("GET", "/api/v1/renders/r1"): reply(body=render),
    }
    async with recorder(routes) as rec, CutPro(KEY, base_url=rec.base_url) as cp:
        got = await cp.submissions.get("v1", "s1")
        rendering = await cp.renders.get("r1")
    assert got.status == "paused_for_review"
    assert isinstance(got.status, SubmissionStatus)
    assert not got.status.is_known
    assert not got.status.is_terminal
    assert SubmissionStatus.COMPLETED.is_known
    assert rendering.status == "upscaling"
    assert isinstance(rendering.status, RenderStatus)
    assert not rendering.status.is_terminal


async def test_a_proxy_error_page_is_a_server_error() -> None:
    """An HTML 502 from a proxy becomes `ServerError` with code `HTTP_502` and some text."""
    page = "<html><body><h1>502 Bad Gateway</h1></body></html>"
    routes = {("GET", "/api/v1/balance"): reply(502, text=page, content_type="text/html")}
    async with (
        recorder(routes) as rec,
        CutPro(KEY, base_url=rec.base_url, retry=no_retry()) as cp,
    ):
        with pytest.raises(ServerError) as caught:
            await cp.balance.get()
    assert caught.value.status == 502
    assert caught.value.code == "HTTP_502"
    assert "Bad Gateway" in caught.value.message
    assert caught.value.maybe_processed is True


async def test_error_code_under_error_key_is_read() -> None:
    """An error body that names its code `error` (not `code`) still gives that code."""
    routes = {("GET", "/api/v1/balance"): reply(404, {"error": "GONE_AWAY", "message": "m"})}
    async with recorder(routes) as rec, CutPro(KEY, base_url=rec.base_url) as cp:
        with pytest.raises(NotFound) as caught:
            await cp.balance.get()
    assert caught.value.code == "GONE_AWAY"


@pytest.mark.parametrize(
    "handler",
    [
        reply(200),
        reply(200, text="OK"),
        reply(200, text="", content_type="application/json"),
        reply(204),
    ],
    ids=["empty-200", "text-200", "empty-json-200", "204"],
)
async def test_delete_tolerates_empty_and_text_bodies(handler: Handler) -> None:
    """A delete answered with no body, a text body or 204 returns None."""
    routes = {("DELETE", "/api/v1/clips/v1"): handler}
    async with recorder(routes) as rec, CutPro(KEY, base_url=rec.base_url) as cp:
        assert await cp.videos.delete("v1") is None


async def test_an_oversized_body_is_refused() -> None:
    """A JSON answer above `Limits.max_json_bytes` raises a `CutProError` naming the cap."""
    big = {"balance": 1, "padding": "x" * 10_000}
    routes = {("GET", "/api/v1/balance"): reply(body=big)}
    async with (
        recorder(routes) as rec,
        CutPro(KEY, base_url=rec.base_url, limits=Limits(max_json_bytes=1000)) as cp,
    ):
        with pytest.raises(CutProError, match="max_json_bytes"):
            await cp.balance.get()


@pytest.mark.parametrize(
    "handler",
    [reply(200, text="<html>captive portal</html>", content_type="text/html"), reply(200, {})],
    ids=["html", "wrong-shape"],
)
async def test_an_unexpected_success_body_is_a_cutpro_error(handler: Handler) -> None:
    """A success answer that is not the documented JSON raises a `CutProError`."""
    routes = {("GET", "/api/v1/workspace"): handler}
    async with recorder(routes) as rec, CutPro(KEY, base_url=rec.base_url) as cp:
        with pytest.raises(CutProError):
            await cp.workspace.get()


# -- transport failures -------------------------------------------------------------------


async def test_a_refused_connection_is_a_connection_error() -> None:
    """Nothing listening: `APIConnectionError` (also the builtin), not processed, key-free text."""
    base = f"http://127.0.0.1:{free_port()}/api/v1"
    async with CutPro(KEY, base_url=base, retry=FAST_RETRY) as cp:
        with pytest.raises(APIConnectionError) as caught:
            await cp.balance.get()
    assert isinstance(caught.value, builtins.ConnectionError)
    assert caught.value.maybe_processed is False
    assert "GET /balance" in str(caught.value)
    assert KEY not in str(caught.value)


async def test_a_slow_answer_is_a_timeout_error() -> None:
    """No byte within `Timeouts(read=...)`: `APITimeoutError` (a builtin too), maybe processed."""

    async def slow(_: web.Request) -> web.Response:
        await anyio.sleep(0.5)
        return web.json_response({"balance": 1})

    async with (
        recorder({("GET", "/api/v1/balance"): slow}) as rec,
        CutPro(KEY, base_url=rec.base_url, timeouts=Timeouts(read=0.1), retry=no_retry()) as cp,
    ):
        with pytest.raises(APITimeoutError) as caught:
            await cp.balance.get()
    assert isinstance(caught.value, builtins.TimeoutError)
    assert caught.value.maybe_processed is True
    assert KEY not in str(caught.value)


# -- secrets and sessions -----------------------------------------------------------------


async def test_the_key_and_signed_queries_never_show(caplog: pytest.LogCaptureFixture) -> None:
    """Logs, error texts, reprs and tracebacks never contain the key or a link's signature."""
    caplog.set_level(logging.DEBUG, logger="cutpro_async")
    errors: list[BaseException] = []
    async with FakeCutPro(time_scale=6000) as fake:
        async with make_client(fake, retry=FAST_RETRY) as cp:
            fake.set_faults("502=1#1@GET /balance, drop=1#1")
            await cp.balance.get()
            done = await completed_submission(cp)
            render = await completed_render(cp, done)
            link = await cp.renders.download_link(render.render_id)
            for call in (
                cp.submissions.get(done.video_id, "s-missing"),
                cp.videos.analyze(video_url(30)),
            ):
                try:
                    await call
                except CutProError as exc:
                    errors.append(exc)
            fake.set_faults("502=1")
            try:
                await cp.workspace.get()
            except CutProError as exc:
                errors.append(exc)
            client_repr = repr(cp)
        fake.set_faults("")
        wrong = "cp_wrong_" + "f" * 32
        async with CutPro(wrong, base_url=fake.base_url, retry=FAST_RETRY) as bad:
            try:
                await bad.workspace.get()
            except CutProError as exc:
                errors.append(exc)
        key = fake.api_key
    assert [type(e).__name__ for e in errors] == [
        "NotFound",
        "ValidationError",
        "ServerError",
        "AuthenticationError",
    ]
    assert "retrying" in caplog.text  # the retries and adoption were logged
    assert "adopting" in caplog.text
    signature = link.url.split("?", 1)[1]
    for secret in (key, wrong, signature, "signature="):
        assert secret not in caplog.text
        assert secret not in client_repr
        for exc in errors:
            assert secret not in str(exc)
            assert secret not in repr(exc)
            assert secret not in "".join(traceback.format_exception(exc))


async def test_a_callers_session_is_used_and_left_open(fake: FakeCutPro) -> None:
    """`session=` is used for every call (headers included) and stays open after the client."""
    sent: list[dict[str, str]] = []

    async def on_start(_: Any, __: Any, params: aiohttp.TraceRequestStartParams) -> None:
        sent.append(dict(params.headers))

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(on_start)
    async with aiohttp.ClientSession(trace_configs=[trace]) as session:
        async with CutPro(fake.api_key, base_url=fake.base_url, session=session) as cp:
            await cp.balance.get()
        assert session.closed is False
        async with CutPro(fake.api_key, base_url=fake.base_url, session=session) as cp:
            await cp.workspace.get()  # the same session serves a second client
        assert session.closed is False
    assert len(sent) == 2
    assert sent[0]["User-Agent"] == f"cutpro-async/{__version__}"
    assert sent[0]["X-Api-Key"] == fake.api_key


async def test_an_own_session_is_closed_on_exit(fake: FakeCutPro) -> None:
    """The client's own session closes with it; a call afterwards says how to open it."""
    cp = make_client(fake)
    async with cp:
        await cp.balance.get()
    with pytest.raises(CutProError, match="async with"):
        await cp.balance.get()
    async with cp:  # and it can be opened again
        await cp.balance.get()
