"""Simulator: paid submissions, their charges, their status machine, listing and deletion."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import anyio
import pytest

from cutpro_async.testing import FakeCutPro
from tests.conftest import RawApi

pytestmark = pytest.mark.anyio

URL = "https://www.youtube.com/watch?v=subs&duration=600"
ORDER = [
    "queued",
    "downloading",
    "transcribing",
    "video_analysis",
    "analyzing",
    "finalizing",
    "completed",
]
TERMINAL = ("completed", "failed")
COMMUNITY_TEMPLATE = "80009919218057301"  # listed under filter=community, not mine
OWN_TEMPLATE = "80009919218057216"


@asynccontextmanager
async def simulator(**settings: Any) -> AsyncIterator[tuple[FakeCutPro, RawApi]]:
    """A simulator with custom settings and raw HTTP access to it."""
    async with FakeCutPro(**settings) as sim, aiohttp.ClientSession() as session:
        yield sim, RawApi(session, sim.base_url, sim.api_key)


async def analyze(api: RawApi, url: str = URL) -> str:
    """Analyze a URL and return its video id."""
    reply = await api.post("/clips/info", {"url": url})
    assert reply.status == 200, reply.json
    return str(reply.json["video_id"])


async def submit(api: RawApi, video_id: str, **body: Any) -> dict[str, Any]:
    """POST /clips expecting 201; returns the body."""
    reply = await api.post("/clips", {"video_id": video_id, **body})
    assert reply.status == 201, reply.json
    created: dict[str, Any] = reply.json
    return created


async def poll(api: RawApi, video_id: str, sub_id: str) -> list[dict[str, Any]]:
    """GET the submission every 10 ms until it is terminal; returns every observed body."""
    seen: list[dict[str, Any]] = []
    for _ in range(200):
        reply = await api.get(f"/clips/{video_id}/submissions/{sub_id}")
        assert reply.status == 200, reply.json
        seen.append(reply.json)
        if reply.json["status"] in TERMINAL:
            return seen
        await anyio.sleep(0.01)
    raise AssertionError(f"submission still {seen[-1]['status']} after 200 polls")


def is_ordered_subsequence(statuses: list[str], order: list[str]) -> bool:
    """Whether the statuses appear in `order`'s order (repeats allowed, no going back)."""
    ranks = [order.index(s) for s in statuses]
    return ranks == sorted(ranks)


async def test_submit_created(api: RawApi, fake: FakeCutPro) -> None:
    """POST /clips answers 201 with the four documented fields and status queued."""
    video_id = await analyze(api)
    reply = await api.post("/clips", {"video_id": video_id})
    assert reply.status == 201
    assert set(reply.json) == {"submission_id", "video_id", "status", "credits_charged"}
    assert reply.json["video_id"] == video_id
    assert reply.json["status"] == "queued"
    assert reply.json["credits_charged"] == 10
    assert isinstance(reply.json["submission_id"], str)


async def test_submit_debits_ledger(api: RawApi, fake: FakeCutPro) -> None:
    """The charge is one ledger debit of `usage` referencing the submission id."""
    video_id = await analyze(api)
    created = await submit(api, video_id)
    row = fake.ledger()[-1]
    assert row.type == "debit"
    assert row.amount == -created["credits_charged"] == -10
    assert row.reference_type == "usage"
    assert row.reference_id == created["submission_id"]
    assert row.balance_after == fake.balance() == 10_000 - 10
    assert fake.charges_per_video() == {video_id: 1}
    assert fake.credits_spent() == 10


@pytest.mark.parametrize(
    ("start", "end"), [(0, 600), (0, 60), (0, 61), (100, 220.5), (599, 600), (30.25, 150.25)]
)
async def test_timeframe_cost(api: RawApi, fake: FakeCutPro, start: float, end: float) -> None:
    """A timeframe costs ceil((end - start) / 60) credits, and that is what is debited."""
    video_id = await analyze(api)
    created = await submit(api, video_id, timeframe={"start": start, "end": end})
    expected = math.ceil((end - start) / 60)
    assert created["credits_charged"] == expected
    assert fake.balance() == 10_000 - expected
    sub = await api.get(f"/clips/{video_id}/submissions/{created['submission_id']}")
    assert sub.status == 200


async def test_exact_minute_timeframe_costs_one_credit(api: RawApi) -> None:
    """A segment of exactly 60 s costs 1 credit whatever its decimal bounds."""
    video_id = await analyze(api)
    created = await submit(api, video_id, timeframe={"start": 4.4, "end": 64.4})
    assert created["credits_charged"] == 1


@pytest.mark.parametrize(
    "timeframe",
    [
        {"start": 0, "end": 601},
        {"start": 100, "end": 100},
        {"start": 200, "end": 100},
        {"start": -1, "end": 100},
        {"start": "0", "end": 100},
        {"start": 0, "end": None},
        {"start": 0},
        {"start": True, "end": 100},
        [0, 100],
        "0-100",
    ],
)
async def test_bad_timeframe(api: RawApi, fake: FakeCutPro, timeframe: Any) -> None:
    """An impossible or non-numeric timeframe is a 422 and charges nothing."""
    video_id = await analyze(api)
    reply = await api.post("/clips", {"video_id": video_id, "timeframe": timeframe})
    assert reply.status == 422
    assert reply.json["code"] == "VALIDATION_ERROR"
    assert reply.json["extra"]["field"] == "timeframe"
    assert len(fake.ledger()) == 1
    assert fake.balance() == 10_000


@pytest.mark.parametrize("language", ["auto", "en", "pt"])
async def test_source_languages_accepted(api: RawApi, language: str) -> None:
    """The three documented source languages are accepted."""
    await submit(api, await analyze(api), source_language=language)


@pytest.mark.parametrize("language", ["fr", "EN", 1, ["en"]])
async def test_bad_source_language(api: RawApi, fake: FakeCutPro, language: Any) -> None:
    """Any other source_language is a 422 and charges nothing."""
    video_id = await analyze(api)
    reply = await api.post("/clips", {"video_id": video_id, "source_language": language})
    assert reply.status == 422
    assert reply.json["code"] == "VALIDATION_ERROR"
    assert fake.balance() == 10_000


async def test_unknown_template(api: RawApi, fake: FakeCutPro) -> None:
    """An unknown template_id is a 404 TEMPLATE_NOT_FOUND and charges nothing."""
    video_id = await analyze(api)
    reply = await api.post("/clips", {"video_id": video_id, "template_id": "123"})
    assert reply.status == 404
    assert reply.json["code"] == "TEMPLATE_NOT_FOUND"
    assert fake.balance() == 10_000
    await submit(api, video_id, template_id=OWN_TEMPLATE)


async def test_community_template_is_not_found(api: RawApi, fake: FakeCutPro) -> None:
    """A community template not copied into the workspace is a 404 TEMPLATE_NOT_FOUND."""
    mine = (await api.get("/templates?filter=mine")).json["templates"]
    assert COMMUNITY_TEMPLATE not in {t["id"] for t in mine}
    video_id = await analyze(api)
    reply = await api.post("/clips", {"video_id": video_id, "template_id": COMMUNITY_TEMPLATE})
    assert reply.status == 404
    assert reply.json["code"] == "TEMPLATE_NOT_FOUND"
    assert fake.balance() == 10_000


@pytest.mark.parametrize("body", [{"video_id": "v_unknown"}, {}, {"video_id": 5}])
async def test_unknown_or_missing_video(api: RawApi, fake: FakeCutPro, body: Any) -> None:
    """An unknown video is a 404 VIDEO_NOT_FOUND; a missing/mistyped id a 422; no charge."""
    reply = await api.post("/clips", body)
    if body.get("video_id") == "v_unknown":
        assert reply.status == 404
        assert reply.json["code"] == "VIDEO_NOT_FOUND"
    else:
        assert reply.status == 422
        assert reply.json["code"] == "VALIDATION_ERROR"
    assert len(fake.ledger()) == 1


async def test_second_submit_while_running() -> None:
    """A second POST /clips while the first runs is a 409 VIDEO_ALREADY_PROCESSING, not charged."""
    async with simulator(time_scale=1) as (sim, api):
        video_id = await analyze(api)
        created = await submit(api, video_id)
        for body in ({}, {"timeframe": {"start": 0, "end": 120}}):
            reply = await api.post("/clips", {"video_id": video_id, **body})
            assert reply.status == 409
            assert reply.json["code"] == "VIDEO_ALREADY_PROCESSING"
            assert reply.json["extra"]["submission_id"] == created["submission_id"]
        assert sim.charges_per_video() == {video_id: 1}
        assert sim.balance() == 10_000 - 10
        sim.advance(10_000)  # finished: the video may be clipped again, and charged again
        await submit(api, video_id)
        assert sim.charges_per_video() == {video_id: 2}


async def test_insufficient_credits() -> None:
    """A job that costs more than the balance is a 402 INSUFFICIENT_CREDITS with the numbers."""
    async with simulator(time_scale=6000, credits=5) as (sim, api):
        video_id = await analyze(api)
        reply = await api.post("/clips", {"video_id": video_id})
        assert reply.status == 402
        assert reply.json["code"] == "INSUFFICIENT_CREDITS"
        assert reply.json["extra"]["credits_needed"] == 10
        assert reply.json["extra"]["current_balance"] == 5
        assert sim.balance() == 5
        assert not sim.charges_per_video()
        # A segment the balance covers is accepted, down to zero.
        created = await submit(api, video_id, timeframe={"start": 0, "end": 300})
        assert created["credits_charged"] == 5
        assert sim.balance() == 0
        assert (await api.get("/balance")).json["balance"] == 0


async def test_status_machine(api: RawApi) -> None:
    """Polled statuses follow queued → … → completed in order, ending completed with clips."""
    video_id = await analyze(api)
    created = await submit(api, video_id)
    seen = await poll(api, video_id, created["submission_id"])
    statuses = [body["status"] for body in seen]
    assert set(statuses) <= set(ORDER)
    assert is_ordered_subsequence(statuses, ORDER)
    assert statuses[-1] == "completed"
    last = seen[-1]
    assert last["error_code"] is None
    assert last["clips_count"] > 0
    assert last["completed_at"] is not None
    for body in seen[:-1]:
        assert body["completed_at"] is None


async def test_status_machine_slow_scale_sees_every_phase() -> None:
    """Advancing a time_scale=1 clock through each phase shows every status in order."""
    async with simulator(time_scale=1) as (sim, api):
        video_id = await analyze(api)
        created = await submit(api, video_id)
        path = f"/clips/{video_id}/submissions/{created['submission_id']}"
        statuses = []
        for _ in range(400):
            body = (await api.get(path)).json
            statuses.append(body["status"])
            if body["status"] in TERMINAL:
                break
            sim.advance(2)  # every phase lasts at least 5 API-seconds
        assert [s for i, s in enumerate(statuses) if i == 0 or statuses[i - 1] != s] == ORDER


async def test_queue_fields_only_while_queued() -> None:
    """queue_position and estimated_time are set while queued and null afterwards."""
    async with simulator(time_scale=1) as (sim, api):
        video_id = await analyze(api)
        created = await submit(api, video_id)
        path = f"/clips/{video_id}/submissions/{created['submission_id']}"
        queued = (await api.get(path)).json
        assert queued["status"] == "queued"
        assert isinstance(queued["queue_position"], int) and queued["queue_position"] >= 1
        assert queued["estimated_time"] > 0
        assert queued["completed_at"] is None
        assert queued["error_code"] is None
        listed = (await api.get(f"/clips/{video_id}/submissions")).json["submissions"][0]
        assert listed["queue_position"] == queued["queue_position"]
        sim.advance(6)  # past the 5 s queue phase
        running = (await api.get(path)).json
        assert running["status"] == "downloading"
        assert running["queue_position"] is None
        assert running["estimated_time"] is None
        assert running["completed_at"] is None
        sim.advance(10_000)
        done = (await api.get(path)).json
        assert done["status"] == "completed"
        assert done["queue_position"] is None and done["estimated_time"] is None
        assert done["completed_at"] is not None


async def test_failing_url(api: RawApi, fake: FakeCutPro) -> None:
    """A URL containing "fail" ends `failed` with error_code download_failed."""
    video_id = await analyze(api, "https://www.youtube.com/watch?v=will-fail&duration=600")
    created = await submit(api, video_id)
    seen = await poll(api, video_id, created["submission_id"])
    statuses = [body["status"] for body in seen]
    assert statuses[-1] == "failed"
    assert set(statuses) <= {"queued", "downloading", "failed"}
    last = seen[-1]
    assert last["error_code"] == "download_failed"
    assert last["completed_at"] is not None
    for body in seen[:-1]:
        assert body["error_code"] is None


async def test_submission_fields(api: RawApi) -> None:
    """GET one submission and the list carry every field of the reference."""
    video_id = await analyze(api)
    created = await submit(api, video_id, timeframe={"start": 60, "end": 300}, strategy_id="strat1")
    sub_id = created["submission_id"]
    body = (await api.get(f"/clips/{video_id}/submissions/{sub_id}")).json
    assert {
        "submission_id",
        "video_id",
        "status",
        "error_code",
        "clips_count",
        "queue_position",
        "estimated_time",
        "created_at",
        "completed_at",
    } <= set(body)
    assert body["submission_id"] == sub_id and body["video_id"] == video_id
    listed = (await api.get(f"/clips/{video_id}/submissions")).json["submissions"][0]
    assert {
        "submission_id",
        "status",
        "error_code",
        "estimated_time",
        "queue_position",
        "is_priority",
        "strategy_id",
        "timeframe",
        "credit_cost",
        "is_reclip",
        "clips_count",
        "created_at",
        "completed_at",
    } <= set(listed)
    assert listed["timeframe"] == {"start": 60, "end": 300}
    assert listed["credit_cost"] == 4
    assert listed["strategy_id"] == "strat1"
    assert listed["is_priority"] is False and listed["is_reclip"] is False


async def test_list_submissions_newest_first(api: RawApi, fake: FakeCutPro) -> None:
    """A video's submissions list newest first and paginate."""
    video_id = await analyze(api)
    ids = []
    for _ in range(3):
        ids.append((await submit(api, video_id))["submission_id"])
        fake.advance(10_000)
    other = await analyze(api, "https://vimeo.com/other?duration=600")
    await submit(api, other)
    first = await api.get(f"/clips/{video_id}/submissions?limit=2")
    assert first.status == 200
    assert [s["submission_id"] for s in first.json["submissions"]] == [ids[2], ids[1]]
    assert first.json["pagination"] == {
        "current_page": 1,
        "total_pages": 2,
        "total_count": 3,
        "has_next_page": True,
        "has_previous_page": False,
        "limit": 2,
    }
    second = await api.get(f"/clips/{video_id}/submissions?limit=2&page=2")
    assert [s["submission_id"] for s in second.json["submissions"]] == [ids[0]]
    bad = await api.get(f"/clips/{video_id}/submissions?limit=101")
    assert bad.status == 422
    missing = await api.get("/clips/v_unknown/submissions")
    assert missing.status == 404
    assert missing.json["code"] == "VIDEO_NOT_FOUND"


async def test_submission_under_other_video_is_404(api: RawApi) -> None:
    """A submission id under another video's path, or an unknown id, is a 404."""
    first = await analyze(api)
    second = await analyze(api, "https://vimeo.com/second?duration=600")
    sub_id = (await submit(api, first))["submission_id"]
    crossed = await api.get(f"/clips/{second}/submissions/{sub_id}")
    assert crossed.status == 404
    assert crossed.json["code"] == "SUBMISSION_NOT_FOUND"
    unknown = await api.get(f"/clips/{first}/submissions/s_unknown")
    assert unknown.status == 404
    assert unknown.json["code"] == "SUBMISSION_NOT_FOUND"
    deleted = await api.call("DELETE", f"/clips/{second}/submissions/{sub_id}")
    assert deleted.status == 404
    assert (await api.get(f"/clips/{first}/submissions/{sub_id}")).status == 200


async def test_delete_submission(api: RawApi, fake: FakeCutPro) -> None:
    """DELETE a submission answers 204 with no body, then 404; the charge stays."""
    video_id = await analyze(api)
    sub_id = (await submit(api, video_id))["submission_id"]
    path = f"/clips/{video_id}/submissions/{sub_id}"
    reply = await api.call("DELETE", path)
    assert reply.status == 204
    assert reply.body == b""
    gone = await api.get(path)
    assert gone.status == 404
    assert (await api.call("DELETE", path)).status == 404
    listed = (await api.get(f"/clips/{video_id}/submissions")).json
    assert listed["submissions"] == []
    assert fake.charges_per_video() == {video_id: 1}


async def test_delete_submission_200_mode() -> None:
    """With delete_status=200 deleting a submission answers 200 `{}`."""
    async with simulator(time_scale=6000, delete_status=200) as (_, api):
        video_id = await analyze(api)
        sub_id = (await submit(api, video_id))["submission_id"]
        reply = await api.call("DELETE", f"/clips/{video_id}/submissions/{sub_id}")
        assert reply.status == 200
        assert reply.json == {}
        assert reply.headers["Content-Type"].startswith("application/json")
