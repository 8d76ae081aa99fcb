"""The error tree: which class each API answer raises, and what its text says.

Every API error's `str()` names the method, the path, the status and the API's code, and
client-side mistakes are `UsageError`s raised before anything is sent.
"""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from cutpro_async import (
    AlreadyInProgress,
    APIConnectionError,
    APIError,
    APITimeoutError,
    AuthenticationError,
    ConfigurationError,
    Conflict,
    CutPro,
    CutProError,
    Expired,
    InsufficientCredits,
    JobError,
    NotFound,
    Pacing,
    PermissionDenied,
    RateLimited,
    RenderFailed,
    RetryPolicy,
    ServerError,
    SubmissionFailed,
    SubmissionUncertain,
    TransportError,
    UsageError,
    ValidationError,
    WaitTimeout,
)
from cutpro_async.errors import error_class
from cutpro_async.testing import FakeCutPro
from tests.conftest import FAST_RETRY
from tests.resources.conftest import (
    completed_submission,
    jumped_submission,
    make_client,
    video_url,
)

pytestmark = pytest.mark.anyio


@pytest.fixture
async def client(fake: FakeCutPro) -> AsyncIterator[CutPro]:
    """A client of `fake` that retries quickly."""
    async with make_client(fake, retry=FAST_RETRY) as cp:
        yield cp


def assert_says_where(exc: APIError, method: str, path: str, status: int, code: str) -> None:
    """The error's attributes and text name the call, the status and the code."""
    assert (exc.method, exc.path, exc.status, exc.code) == (method, path, status, code)
    text = str(exc)
    for part in (method, path, str(status), code):
        assert part in text
    assert type(exc).__name__ in repr(exc)


# -- the tree -----------------------------------------------------------------------------


def test_the_tree_has_one_root_and_builtin_bases() -> None:
    """Everything is a `CutProError`; usage, timeout and connection errors keep builtin bases."""
    for cls in (
        APIError,
        TransportError,
        UsageError,
        SubmissionUncertain,
        JobError,
        WaitTimeout,
    ):
        assert issubclass(cls, CutProError)
    assert issubclass(UsageError, ValueError)
    assert issubclass(ConfigurationError, UsageError)
    assert issubclass(APITimeoutError, builtins.TimeoutError)
    assert issubclass(APITimeoutError, TransportError)
    assert issubclass(APIConnectionError, builtins.ConnectionError)
    assert issubclass(WaitTimeout, builtins.TimeoutError)
    assert issubclass(AlreadyInProgress, Conflict)
    assert issubclass(SubmissionFailed, JobError)
    assert issubclass(RenderFailed, JobError)
    for cls in (
        ValidationError,
        AuthenticationError,
        PermissionDenied,
        InsufficientCredits,
        NotFound,
        Conflict,
        Expired,
        RateLimited,
        ServerError,
    ):
        assert issubclass(cls, APIError)


@pytest.mark.parametrize(
    ("status", "code", "cls"),
    [
        (400, "INVALID_JSON", ValidationError),
        (401, "UNAUTHORIZED", AuthenticationError),
        (402, "INSUFFICIENT_CREDITS", InsufficientCredits),
        (403, "WORKSPACE_FORBIDDEN", PermissionDenied),
        (404, "VIDEO_NOT_FOUND", NotFound),
        (409, "VIDEO_ALREADY_PROCESSING", AlreadyInProgress),
        (409, "RENDER_ALREADY_IN_PROGRESS", AlreadyInProgress),
        (409, "RENDER_NOT_READY", Conflict),
        (410, "SUBMISSION_EXPIRED", Expired),
        (413, "FILE_TOO_LARGE", ValidationError),
        (422, "VALIDATION_ERROR", ValidationError),
        (429, "RATE_LIMIT_EXCEEDED", RateLimited),
        (500, "INTERNAL_ERROR", ServerError),
        (503, "SERVER_ERROR", ServerError),
        (599, "HTTP_599", ServerError),
        (418, "TEAPOT", APIError),
    ],
)
def test_error_class_by_status_and_code(status: int, code: str, cls: type[APIError]) -> None:
    """Status and code pick the class; the 409 codes of running jobs pick `AlreadyInProgress`."""
    assert error_class(status, code) is cls


def test_api_error_text_and_repr() -> None:
    """`str` is `METHOD path -> status CODE: message (hint)`; `repr` names class and code."""
    exc = NotFound(404, "VIDEO_NOT_FOUND", "no such video", method="GET", path="/clips/v1")
    assert str(exc).startswith("GET /clips/v1 -> 404 VIDEO_NOT_FOUND: no such video (")
    assert repr(exc) == "NotFound(status=404, code='VIDEO_NOT_FOUND')"
    assert exc.extra == {}
    assert exc.maybe_processed is False


def test_insufficient_credits_reads_numbers_only() -> None:
    """`credits_needed`/`current_balance` come from `extra`, None when missing or not numbers."""
    exc = InsufficientCredits(
        402, "INSUFFICIENT_CREDITS", "", {"credits_needed": 12, "current_balance": 3.5}
    )
    assert (exc.credits_needed, exc.current_balance) == (12.0, 3.5)
    odd = InsufficientCredits(402, "INSUFFICIENT_CREDITS", "", {"credits_needed": "12"})
    assert (odd.credits_needed, odd.current_balance) == (None, None)


def test_job_and_uncertain_errors_carry_their_ids() -> None:
    """Job errors keep job id, status and error code; `SubmissionUncertain` the video id."""
    failed = SubmissionFailed("boom", job_id="s1", status="failed", error_code="download_failed")
    assert (failed.job_id, failed.status, failed.error_code) == ("s1", "failed", "download_failed")
    started = datetime(2026, 1, 1, tzinfo=UTC)
    uncertain = SubmissionUncertain("v1", builtins.TimeoutError(), started)
    assert uncertain.attempt_started == started
    assert uncertain.video_id == "v1"
    assert "'v1'" in str(uncertain)
    assert "TimeoutError" in str(uncertain)


# -- each class from the simulator --------------------------------------------------------


async def test_401_is_authentication_error(fake: FakeCutPro) -> None:
    """A wrong key is `AuthenticationError`; the text points at CUTPRO_API_KEY, not the key."""
    async with CutPro("cp_not_a_real_key", base_url=fake.base_url) as cp:
        with pytest.raises(AuthenticationError) as caught:
            await cp.workspace.get()
    assert_says_where(caught.value, "GET", "/workspace", 401, "UNAUTHORIZED")
    assert "CUTPRO_API_KEY" in str(caught.value)
    assert "cp_not_a_real_key" not in str(caught.value)


async def test_402_is_insufficient_credits() -> None:
    """A submit the balance cannot pay is `InsufficientCredits` with the numbers; no charge."""
    async with FakeCutPro(time_scale=6000, credits=5) as fake, make_client(fake) as cp:
        info = await cp.videos.analyze(video_url(600))
        with pytest.raises(InsufficientCredits) as caught:
            await cp.submissions.create(info.video_id)
        assert fake.charges_per_video() == {}
    assert_says_where(caught.value, "POST", "/clips", 402, "INSUFFICIENT_CREDITS")
    assert caught.value.credits_needed == 10
    assert caught.value.current_balance == 5


async def test_403_for_a_workspace_the_key_cannot_use(fake: FakeCutPro) -> None:
    """A multi-workspace key: its own workspaces work, a foreign one is `PermissionDenied`."""
    second = fake.add_workspace(credits=50)
    foreign = fake.add_workspace()
    key = fake.add_key(fake.workspace_id, second)
    async with CutPro(key, base_url=fake.base_url, workspace_id=second) as cp:
        assert (await cp.workspace.get()).id == second
        assert (await cp.balance.get()).balance == 50
    async with CutPro(key, base_url=fake.base_url, workspace_id=foreign) as cp:
        with pytest.raises(PermissionDenied) as caught:
            await cp.workspace.get()
    assert_says_where(caught.value, "GET", "/workspace", 403, "WORKSPACE_FORBIDDEN")
    async with CutPro(key, base_url=fake.base_url) as cp:
        with pytest.raises(ValidationError) as unnamed:
            await cp.workspace.get()
    assert unnamed.value.code == "WORKSPACE_REQUIRED"


async def test_404_is_not_found(client: CutPro) -> None:
    """Unknown ids are `NotFound` with the API's specific code."""
    info = await client.videos.analyze(video_url(600))
    with pytest.raises(NotFound) as caught:
        await client.submissions.get(info.video_id, "s-nope")
    path = f"/clips/{info.video_id}/submissions/s-nope"
    assert_says_where(caught.value, "GET", path, 404, "SUBMISSION_NOT_FOUND")
    with pytest.raises(NotFound) as render:
        await client.renders.get("r-nope")
    assert_says_where(render.value, "GET", "/renders/r-nope", 404, "RENDER_NOT_FOUND")


async def test_409_already_in_progress_and_conflict() -> None:
    """Rendering a rendering clip is `AlreadyInProgress`; its early link is a plain `Conflict`."""
    async with FakeCutPro(time_scale=1) as fake, make_client(fake) as cp:
        done = await jumped_submission(fake, cp)
        clip = done.clips[0].id
        created = await cp.renders.create(done.video_id, done.submission_id, clip)
        with pytest.raises(AlreadyInProgress) as twice:
            await cp.renders.create(done.video_id, done.submission_id, clip)
        with pytest.raises(Conflict) as early:
            await cp.renders.download_link(created.render_id)
    path = f"/clips/{done.video_id}/submissions/{done.submission_id}/clips/{clip}/render"
    assert_says_where(twice.value, "POST", path, 409, "RENDER_ALREADY_IN_PROGRESS")
    assert not isinstance(early.value, AlreadyInProgress)
    link_path = f"/renders/{created.render_id}/download"
    assert_says_where(early.value, "GET", link_path, 409, "RENDER_NOT_READY")


async def test_410_is_expired(client: CutPro, fake: FakeCutPro) -> None:
    """Clips of an expired submission are `Expired`."""
    done = await completed_submission(client)
    fake.expire_submission(done.submission_id)
    with pytest.raises(Expired) as caught:
        await client.clips.list(done.video_id, done.submission_id)
    path = f"/clips/{done.video_id}/submissions/{done.submission_id}/clips"
    assert_says_where(caught.value, "GET", path, 410, "SUBMISSION_EXPIRED")


async def test_422_is_validation_error(client: CutPro) -> None:
    """A refused request is `ValidationError`, with the API's code and `extra`."""
    with pytest.raises(ValidationError) as caught:
        await client.videos.analyze(video_url(30))
    assert_says_where(caught.value, "POST", "/clips/info", 422, "VIDEO_TOO_SHORT")
    assert caught.value.extra["min_duration"] == 60


async def test_429_is_rate_limited_with_retry_after() -> None:
    """Past the analyze limit the call is `RateLimited` carrying the server's wait."""
    async with (
        FakeCutPro(analyze_limit=1, analyze_window=600) as fake,
        make_client(fake, retry=RetryPolicy(max_retry_after=5), pacing=Pacing(endpoints={})) as cp,
    ):
        await cp.videos.analyze(video_url(600))
        with pytest.raises(RateLimited) as caught:
            await cp.videos.analyze(video_url(600))
    assert_says_where(caught.value, "POST", "/clips/info", 429, "RATE_LIMIT_EXCEEDED")
    assert caught.value.retry_after is not None
    assert 500 < caught.value.retry_after <= 600


@pytest.mark.parametrize(
    ("status", "processed"), [(500, True), (502, True), (504, True), (503, False)]
)
async def test_5xx_is_server_error(fake: FakeCutPro, status: int, processed: bool) -> None:
    """5xx answers are `ServerError`s; all but a 503 with a wait hint may have been processed."""
    fake.set_faults(f"{status}=1")
    async with make_client(fake, retry=RetryPolicy(max_retries=0)) as cp:
        with pytest.raises(ServerError) as caught:
            await cp.balance.get()
    assert_says_where(caught.value, "GET", "/balance", status, "SERVER_ERROR")
    assert caught.value.maybe_processed is processed


# -- client-side mistakes -----------------------------------------------------------------


async def test_bad_arguments_are_usage_errors_and_send_nothing(
    client: CutPro, fake: FakeCutPro
) -> None:
    """page=0, limit=101, empty or non-string ids: `UsageError` before any request."""
    calls = [
        client.videos.list(page=0),
        client.videos.list(limit=101),
        client.posts.list(limit=0),
        client.renders.get(""),
        client.submissions.get("v1", ""),
        client.clips.delete("v1", "s1", ""),
        client.connections.get(None),  # type: ignore[arg-type]
        client.posts.get(42),  # type: ignore[arg-type]
    ]
    for call in calls:
        with pytest.raises(UsageError):
            await call
    assert sum(fake.requests.values()) == 0


async def test_a_slash_in_an_id_stays_inside_its_segment(client: CutPro, fake: FakeCutPro) -> None:
    """An id with `/` is quoted into one segment: 404, and other videos are untouched."""
    info = await client.videos.analyze(video_url(600))
    with pytest.raises(NotFound) as caught:
        await client.videos.delete(f"{info.video_id}/x")
    assert caught.value.path == f"/clips/{info.video_id}%2Fx"
    with pytest.raises(NotFound):
        await client.renders.download_link("x/../../workspace")
    assert [v.video_id for v in (await client.videos.list()).videos] == [info.video_id]
    assert fake.requests["GET /workspace"] == 0


async def test_dot_segment_ids_cannot_reach_another_endpoint(client: CutPro) -> None:
    """`clips.delete('..', '..', video_id)` must not become `DELETE /clips/{video_id}`."""
    info = await client.videos.analyze(video_url(600))
    with pytest.raises((NotFound, UsageError)):
        await client.clips.delete("..", "..", info.video_id)
    assert [v.video_id for v in (await client.videos.list()).videos] == [info.video_id]


def test_the_module_docstring_draws_every_error_class() -> None:
    """The tree in `cutpro_async.errors`' docstring names every exception class it defines."""
    import inspect

    from cutpro_async import errors

    classes = [
        name
        for name, value in vars(errors).items()
        if inspect.isclass(value)
        and issubclass(value, BaseException)
        and value.__module__ == errors.__name__
    ]
    assert errors.__doc__ is not None
    missing = [name for name in classes if name not in errors.__doc__]
    assert not missing
