"""The simulator's general request-rate limit: per key, across connections, off by default."""

from __future__ import annotations

import aiohttp
import pytest

from tests.conftest import RawApi

from .helpers import simulator, video_url

pytestmark = pytest.mark.anyio


async def test_the_general_limit_counts_every_route_and_connection_of_a_key() -> None:
    """`request_limit=3` per 60 s: three requests with one key on two connections (analyses
    included) pass, the fourth is a 429 RATE_LIMIT_EXCEEDED with both hints of the wait, and
    `rate_limited` counts it under its route."""
    async with (
        simulator(request_limit=3, request_window=60) as (fake, api),
        aiohttp.ClientSession() as other,
    ):
        second = RawApi(other, fake.base_url, fake.api_key)
        passed = [
            await api.get("/balance"),
            await second.get("/templates"),
            await api.post("/clips/info", {"url": video_url()}),
        ]
        refused = await second.get("/balance")
    assert [reply.status for reply in passed] == [200, 200, 200]
    assert refused.status == 429
    assert refused.json["code"] == "RATE_LIMIT_EXCEEDED"
    assert 0 < refused.json["extra"]["retry_after"] <= 60
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert fake.rate_limited == {"GET /balance": 1}
    assert fake.requests["GET /balance"] == 2  # the refused request was seen


async def test_each_key_has_a_limit_of_its_own() -> None:
    """Another key of the same workspace still gets answers when the first key is refused;
    refused requests and requests without a valid key take no place in a window."""
    async with simulator(request_limit=2, request_window=60) as (fake, api):
        other_key = fake.add_key(fake.workspace_id)
        assert (await api.get("/balance", key="cp_wrong")).status == 401
        first = [(await api.get("/balance")).status for _ in range(4)]
        other = [(await api.get("/balance", key=other_key)).status for _ in range(2)]
    assert first == [200, 200, 429, 429]
    assert other == [200, 200]
    assert fake.rate_limited == {"GET /balance": 2}


async def test_the_window_slides() -> None:
    """Once the window has passed since the first request, one more request is accepted."""
    async with simulator(request_limit=1, request_window=60, time_scale=1) as (fake, api):
        statuses = [(await api.get("/balance")).status for _ in range(2)]
        fake.advance(60)
        statuses.append((await api.get("/balance")).status)
    assert statuses == [200, 429, 200]


async def test_no_general_limit_by_default() -> None:
    """The reference documents no general limit: by default 50 quick requests all pass."""
    async with simulator() as (fake, api):
        statuses = {(await api.get("/balance")).status for _ in range(50)}
    assert statuses == {200}
    assert fake.config.request_limit is None and not fake.rate_limited
