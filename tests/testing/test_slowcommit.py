"""The `slowcommit` fault: `POST /clips` is checked at once and committed SECONDS later,
whether or not the client waited for the answer."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest

from cutpro_async.testing import FakeCutPro, Fault, parse_faults
from tests.conftest import RawApi, Reply

from .helpers import simulator, video_url

pytestmark = pytest.mark.anyio

DELAY = 1.0  # real seconds between the checks and the commit
PATIENT = aiohttp.ClientTimeout(total=30)
IMPATIENT = aiohttp.ClientTimeout(total=0.1)


async def analyzed(api: RawApi, duration: int = 600) -> str:
    """The video_id of a freshly analyzed URL."""
    info = await api.post("/clips/info", {"url": video_url(duration)})
    assert info.status == 200, info.json
    return str(info.json["video_id"])


async def submit(api: RawApi, video_id: str, **kwargs: Any) -> Reply:
    """`POST /clips` for the video."""
    return await api.post("/clips", {"video_id": video_id}, **kwargs)


async def listed(api: RawApi, video_id: str) -> list[dict[str, Any]]:
    """The video's submissions as `GET /clips/{videoId}/submissions` lists them."""
    reply = await api.get(f"/clips/{video_id}/submissions")
    assert reply.status == 200, reply.json
    return list(reply.json["submissions"])


async def until(condition: Any, seconds: float = 10.0) -> None:
    """Wait (polling) until `condition()` holds."""
    for _ in range(int(seconds / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the condition never held")


def created_at(sub: dict[str, Any]) -> datetime:
    """A submission's `created_at` as an aware datetime."""
    return datetime.fromisoformat(sub["created_at"].replace("Z", "+00:00"))


def test_slowcommit_parses_with_post_clips_as_its_default_route() -> None:
    """`slowcommit:SECONDS` is an API fault aimed at `POST /clips` unless told otherwise."""
    [fault] = parse_faults("slowcommit:2.5")
    assert fault == Fault("slowcommit", param=2.5)
    assert fault.applies_to("POST /clips")
    assert not fault.applies_to("POST /clips/info")
    assert Fault("slowcommit").value > 0


async def test_patient_client_gets_201_after_the_commit() -> None:
    """A client that waits gets its 201 once the commit is done; before it, nothing is charged
    or listed, and `created_at` is the commit time."""
    async with simulator(faults=f"slowcommit:{DELAY}") as (fake, api):
        video_id = await analyzed(api)
        sent = datetime.now(UTC)
        answer = asyncio.create_task(submit(api, video_id, timeout=PATIENT))
        await until(lambda: video_id in fake.pending_commits())
        assert fake.charges_per_video() == {} and await listed(api, video_id) == []
        reply = await answer
        assert reply.status == 201, reply.json
        [sub] = await listed(api, video_id)
        assert sub["submission_id"] == reply.json["submission_id"]
        assert created_at(sub) >= sent + timedelta(seconds=DELAY - 0.05)
        assert fake.charges_per_video() == {video_id: 1}
        assert fake.pending_commits() == {}


@pytest.mark.parametrize("leave", ["timeout", "close"])
async def test_a_client_that_leaves_is_still_charged(leave: str) -> None:
    """A client that times out or closes the connection after 0.1 s sees nothing charged then,
    and is charged exactly once when the commit time has passed."""
    async with simulator(faults=f"slowcommit:{DELAY}") as (fake, api):
        video_id = await analyzed(api)
        balance = fake.balance()
        if leave == "timeout":
            with pytest.raises(asyncio.TimeoutError):
                await submit(api, video_id, timeout=IMPATIENT)
        else:
            request = asyncio.create_task(submit(api, video_id, timeout=PATIENT))
            await asyncio.sleep(0.1)
            request.cancel()  # aiohttp closes a connection whose answer was not read
            with pytest.raises(asyncio.CancelledError):
                await request
        assert fake.charges_per_video() == {} and await listed(api, video_id) == []
        await until(lambda: not fake.pending_commits())
        assert len(await listed(api, video_id)) == 1
        assert fake.charges_per_video() == {video_id: 1}
        assert fake.balance() == balance - fake.credits_spent()


async def test_second_submit_during_the_wait_gets_409_at_once() -> None:
    """While a submission waits to commit, another `POST /clips` for the video is refused with
    409 `VIDEO_ALREADY_PROCESSING` at once (before the first commits); only one is charged."""
    async with simulator(faults="slowcommit:30") as (fake, api):
        video_id = await analyzed(api)
        first = asyncio.create_task(submit(api, video_id, timeout=PATIENT))
        await until(lambda: video_id in fake.pending_commits())
        second = await submit(api, video_id, timeout=aiohttp.ClientTimeout(total=5))
        assert second.status == 409, second.json
        assert second.json["code"] == "VIDEO_ALREADY_PROCESSING"
        assert not first.done() and fake.charges_per_video() == {}
        fake.set_faults("")
        third = await submit(api, video_id)
        assert third.status == 409
        first.cancel()


async def test_402_comes_at_once_and_counts_held_credits() -> None:
    """The credit check is made at once; credits held by a waiting commit are not available
    to another video, so a second 10-credit job on a 15-credit balance gets 402 at once."""
    async with simulator(faults="slowcommit:30", credits=15) as (fake, api):
        first_video, second_video = await analyzed(api), await analyzed(api)
        first = asyncio.create_task(submit(api, first_video, timeout=PATIENT))
        await until(lambda: first_video in fake.pending_commits())
        refused = await submit(api, second_video, timeout=aiohttp.ClientTimeout(total=5))
        assert refused.status == 402, refused.json
        assert refused.json["extra"] == {"credits_needed": 10, "current_balance": 15}
        assert fake.pending_commits() == {first_video: 10}
        first.cancel()


async def test_closing_the_simulator_drops_waiting_commits() -> None:
    """A commit still waiting when the simulator closes never happens (a server went down)."""
    fake = await FakeCutPro(faults="slowcommit:30").start()
    async with aiohttp.ClientSession() as session:
        api = RawApi(session, fake.base_url, fake.api_key)
        video_id = await analyzed(api)
        request = asyncio.create_task(submit(api, video_id, timeout=PATIENT))
        await until(lambda: video_id in fake.pending_commits())
        await asyncio.wait_for(fake.close(), 10)
        with pytest.raises(aiohttp.ClientError):
            await request
    assert fake.charges_per_video() == {} and fake.pending_commits() == {}
