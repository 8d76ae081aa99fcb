"""Simulator: generated clips, their downloads and expiry, template batches and the catalogue."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import anyio
import pytest

from cutpro_async.testing import FakeCutPro
from tests.conftest import RawApi

pytestmark = pytest.mark.anyio

URL = "https://www.youtube.com/watch?v=clips&duration=1200"
OWN_TEMPLATE = "80009919218057216"
COMMUNITY_TEMPLATE = "80009919218057301"
CLIP_FIELDS = {
    "id",
    "title",
    "description",
    "rating",
    "keywords",
    "start_time",
    "end_time",
    "language",
    "created_at",
    "thumbnail_url",
    "download_url",
    "play_url",
    "has_template_applied",
}


@asynccontextmanager
async def simulator(**settings: Any) -> AsyncIterator[tuple[FakeCutPro, RawApi]]:
    """A simulator with custom settings and raw HTTP access to it."""
    async with FakeCutPro(**settings) as sim, aiohttp.ClientSession() as session:
        yield sim, RawApi(session, sim.base_url, sim.api_key)


async def start_submission(api: RawApi, url: str = URL, **body: Any) -> tuple[str, str]:
    """Analyze and submit a URL; returns (video_id, submission_id)."""
    info = await api.post("/clips/info", {"url": url})
    assert info.status == 200, info.json
    video_id = info.json["video_id"]
    created = await api.post("/clips", {"video_id": video_id, **body})
    assert created.status == 201, created.json
    return video_id, created.json["submission_id"]


async def completed_submission(api: RawApi, fake: FakeCutPro, **body: Any) -> tuple[str, str]:
    """Analyze, submit and poll (bounded) until completed; returns (video_id, submission_id)."""
    video_id, sub_id = await start_submission(api, **body)
    for _ in range(200):
        reply = await api.get(f"/clips/{video_id}/submissions/{sub_id}")
        if reply.json["status"] == "completed":
            return video_id, sub_id
        assert reply.json["status"] != "failed"
        await anyio.sleep(0.01)
    raise AssertionError(f"submission {sub_id} did not complete on {fake}")


async def clips(api: RawApi, video_id: str, sub_id: str, query: str = "") -> list[dict[str, Any]]:
    """The clips list (200 expected)."""
    reply = await api.get(f"/clips/{video_id}/submissions/{sub_id}/clips{query}")
    assert reply.status == 200, reply.json
    items: list[dict[str, Any]] = reply.json["clips"]
    return items


async def test_clips_before_completion_is_409() -> None:
    """Listing clips while the submission runs is a 409."""
    async with simulator(time_scale=1) as (sim, api):
        video_id, sub_id = await start_submission(api)
        reply = await api.get(f"/clips/{video_id}/submissions/{sub_id}/clips")
        assert reply.status == 409
        assert reply.json["code"]
        applied = await api.post(
            f"/clips/{video_id}/submissions/{sub_id}/apply_template",
            {"template_id": OWN_TEMPLATE},
        )
        assert applied.status == 409
        sim.advance(10_000)
        assert (await api.get(f"/clips/{video_id}/submissions/{sub_id}/clips")).status == 200


async def test_clip_fields(api: RawApi, fake: FakeCutPro) -> None:
    """Every clip carries the reference's fields with sane values inside the source video."""
    video_id, sub_id = await completed_submission(api, fake)
    reply = await api.get(f"/clips/{video_id}/submissions/{sub_id}/clips")
    items = reply.json["clips"]
    sub = (await api.get(f"/clips/{video_id}/submissions/{sub_id}")).json
    assert len(items) == sub["clips_count"] > 0
    assert reply.json["pagination"]["total_count"] == len(items)
    for clip in items:
        assert set(clip) >= CLIP_FIELDS
        assert 0 <= clip["rating"] <= 10
        assert 0 <= clip["start_time"] < clip["end_time"] <= 1200
        assert isinstance(clip["keywords"], list)
        assert all(isinstance(word, str) for word in clip["keywords"])
        for name in ("id", "title", "description", "language", "created_at", "thumbnail_url"):
            assert isinstance(clip[name], str)
        assert clip["download_url"].startswith(fake.storage_url)
        assert clip["has_template_applied"] is False
    assert len({clip["id"] for clip in items}) == len(items)


async def test_clips_sorted_by_rating_desc(api: RawApi, fake: FakeCutPro) -> None:
    """By default clips come best-rated first; sort=rating&order=asc reverses that."""
    video_id, sub_id = await completed_submission(api, fake)
    ratings = [c["rating"] for c in await clips(api, video_id, sub_id)]
    assert ratings == sorted(ratings, reverse=True)
    ascending = [c["rating"] for c in await clips(api, video_id, sub_id, "?sort=rating&order=asc")]
    assert ascending == sorted(ratings)


async def test_clips_sorted_by_start_time(api: RawApi, fake: FakeCutPro) -> None:
    """sort=start_time&order=asc orders by position in the source; desc the other way."""
    video_id, sub_id = await completed_submission(api, fake)
    asc = [
        c["start_time"] for c in await clips(api, video_id, sub_id, "?sort=start_time&order=asc")
    ]
    assert asc == sorted(asc)
    desc = await clips(api, video_id, sub_id, "?sort=start_time&order=desc")
    assert [c["start_time"] for c in desc] == sorted(asc, reverse=True)
    titles = [c["title"] for c in await clips(api, video_id, sub_id, "?sort=title&order=asc")]
    assert titles == sorted(titles)
    spans = [
        c["end_time"] - c["start_time"]
        for c in await clips(api, video_id, sub_id, "?sort=duration&order=desc")
    ]
    assert spans == sorted(spans, reverse=True)


async def test_rating_filters(api: RawApi, fake: FakeCutPro) -> None:
    """min_rating and max_rating keep clips with rating >= min and <= max (bounds inclusive)."""
    video_id, sub_id = await completed_submission(api, fake)
    every = await clips(api, video_id, sub_id)
    ratings = sorted(c["rating"] for c in every)
    middle = ratings[len(ratings) // 2]
    high = await clips(api, video_id, sub_id, f"?min_rating={middle}")
    assert sorted(c["rating"] for c in high) == [r for r in ratings if r >= middle]
    low = await clips(api, video_id, sub_id, f"?max_rating={middle}")
    assert sorted(c["rating"] for c in low) == [r for r in ratings if r <= middle]
    exact = await clips(api, video_id, sub_id, f"?min_rating={middle}&max_rating={middle}")
    assert {c["rating"] for c in exact} == {middle}
    assert await clips(api, video_id, sub_id, "?min_rating=10&max_rating=0") == []
    assert len(await clips(api, video_id, sub_id, "?min_rating=0&max_rating=10")) == len(every)


@pytest.mark.parametrize(
    "query",
    [
        "sort=views",
        "order=up",
        "min_rating=11",
        "max_rating=-1",
        "min_rating=x",
        "max_rating=nan",
        "limit=0",
    ],
)
async def test_bad_clip_query(api: RawApi, fake: FakeCutPro, query: str) -> None:
    """Unknown sort/order values and out-of-range ratings are a 422 VALIDATION_ERROR."""
    video_id, sub_id = await completed_submission(api, fake)
    reply = await api.get(f"/clips/{video_id}/submissions/{sub_id}/clips?{query}")
    assert reply.status == 422
    assert reply.json["code"] == "VALIDATION_ERROR"


async def test_clips_paginate(api: RawApi, fake: FakeCutPro) -> None:
    """limit/page slice the rating-sorted clip list."""
    video_id, sub_id = await completed_submission(api, fake)
    every = [c["id"] for c in await clips(api, video_id, sub_id)]
    paged = await clips(api, video_id, sub_id, "?limit=2") + await clips(
        api, video_id, sub_id, "?limit=2&page=2"
    )
    assert [c["id"] for c in paged] == every[:4]


async def test_download_url_serves_mp4(api: RawApi, fake: FakeCutPro) -> None:
    """A clip's download_url fetches, with no API key, an MP4 that starts with an ftyp box."""
    video_id, sub_id = await completed_submission(api, fake)
    clip = (await clips(api, video_id, sub_id))[0]
    async with api.session.get(clip["download_url"]) as resp:
        assert resp.status == 200
        assert resp.content_type == "video/mp4"
        data = await resp.read()
    assert data[4:8] == b"ftyp"
    assert int.from_bytes(data[:4], "big") >= 8
    assert len(data) == int(resp.headers["Content-Length"])
    assert fake.key_leaks == []
    tampered = clip["download_url"].replace("signature=", "signature=0")
    async with api.session.get(tampered) as resp:
        assert resp.status == 403


async def test_expire_submission_is_410(api: RawApi, fake: FakeCutPro) -> None:
    """After fake.expire_submission the clips list is a 410 SUBMISSION_EXPIRED."""
    video_id, sub_id = await completed_submission(api, fake)
    fake.expire_submission(sub_id)
    reply = await api.get(f"/clips/{video_id}/submissions/{sub_id}/clips")
    assert reply.status == 410
    assert reply.json["code"] == "SUBMISSION_EXPIRED"
    applied = await api.post(
        f"/clips/{video_id}/submissions/{sub_id}/apply_template", {"template_id": OWN_TEMPLATE}
    )
    assert applied.status == 410


async def test_clips_expire_after_30_days(api: RawApi, fake: FakeCutPro) -> None:
    """Clips are still listed after 29 days and gone (410) after 31."""
    video_id, sub_id = await completed_submission(api, fake)
    fake.advance(29 * 86400)
    assert len(await clips(api, video_id, sub_id)) > 0
    fake.advance(2 * 86400)
    reply = await api.get(f"/clips/{video_id}/submissions/{sub_id}/clips")
    assert reply.status == 410
    assert reply.json["code"] == "SUBMISSION_EXPIRED"
    sub = await api.get(f"/clips/{video_id}/submissions/{sub_id}")
    assert sub.status == 200
    assert sub.json["status"] == "completed"


async def test_apply_template(api: RawApi, fake: FakeCutPro) -> None:
    """apply_template answers 202 `{total}` and marks every clip has_template_applied."""
    video_id, sub_id = await completed_submission(api, fake)
    count = len(await clips(api, video_id, sub_id))
    reply = await api.post(
        f"/clips/{video_id}/submissions/{sub_id}/apply_template", {"template_id": OWN_TEMPLATE}
    )
    assert reply.status == 202
    assert reply.json == {"total": count}
    assert all(c["has_template_applied"] for c in await clips(api, video_id, sub_id))
    assert fake.balance() == 10_000 - 20  # only the submission was charged


async def test_apply_template_to_some_clips() -> None:
    """With clip_ids only those clips get the template; an unknown clip id is a 404."""
    async with simulator(time_scale=1) as (sim, api):
        video_id, sub_id = await start_submission(api)
        sim.advance(10_000)
        ids = [c["id"] for c in await clips(api, video_id, sub_id)]
        path = f"/clips/{video_id}/submissions/{sub_id}/apply_template"
        unknown = await api.post(path, {"template_id": OWN_TEMPLATE, "clip_ids": ["c_nope"]})
        assert unknown.status == 404
        reply = await api.post(path, {"template_id": OWN_TEMPLATE, "clip_ids": ids[:2]})
        assert reply.status == 202
        assert reply.json == {"total": 2}
        applied = {c["id"]: c["has_template_applied"] for c in await clips(api, video_id, sub_id)}
        assert applied == {clip_id: clip_id in ids[:2] for clip_id in ids}


async def test_apply_template_batch_already_running() -> None:
    """A second apply_template at once is a 429 BATCH_ALREADY_RUNNING; later it is accepted."""
    async with simulator(time_scale=1) as (sim, api):
        video_id, sub_id = await start_submission(api)
        sim.advance(10_000)
        path = f"/clips/{video_id}/submissions/{sub_id}/apply_template"
        first = await api.post(path, {"template_id": OWN_TEMPLATE})
        assert first.status == 202
        second = await api.post(path, {"template_id": "80009919218057217"})
        assert second.status == 429
        assert second.json["code"] == "BATCH_ALREADY_RUNNING"
        assert second.json["extra"]["retry_after"] > 0
        sim.advance(second.json["extra"]["retry_after"] + 1)
        third = await api.post(path, {"template_id": OWN_TEMPLATE})
        assert third.status == 202


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"template_id": "999"}, 404, "TEMPLATE_NOT_FOUND"),
        ({}, 422, "VALIDATION_ERROR"),
        ({"template_id": 5}, 422, "VALIDATION_ERROR"),
        ({"template_id": OWN_TEMPLATE, "clip_ids": [1]}, 422, "VALIDATION_ERROR"),
    ],
)
async def test_apply_template_errors(
    api: RawApi, fake: FakeCutPro, body: dict[str, Any], status: int, code: str
) -> None:
    """An unknown template is a 404 TEMPLATE_NOT_FOUND; a bad body a 422; nothing is applied."""
    video_id, sub_id = await completed_submission(api, fake)
    reply = await api.post(f"/clips/{video_id}/submissions/{sub_id}/apply_template", body)
    assert reply.status == status
    assert reply.json["code"] == code
    assert not any(c["has_template_applied"] for c in await clips(api, video_id, sub_id))


async def test_apply_community_template_is_not_found(api: RawApi, fake: FakeCutPro) -> None:
    """A community template not copied into the workspace is a 404 TEMPLATE_NOT_FOUND."""
    video_id, sub_id = await completed_submission(api, fake)
    reply = await api.post(
        f"/clips/{video_id}/submissions/{sub_id}/apply_template",
        {"template_id": COMMUNITY_TEMPLATE},
    )
    assert reply.status == 404
    assert reply.json["code"] == "TEMPLATE_NOT_FOUND"


async def test_submission_template_applies_to_clips(api: RawApi, fake: FakeCutPro) -> None:
    """Clips of a submission made with template_id come out with has_template_applied true."""
    video_id, sub_id = await completed_submission(api, fake, template_id=OWN_TEMPLATE)
    assert all(c["has_template_applied"] for c in await clips(api, video_id, sub_id))


async def test_clip_language_follows_source_language(api: RawApi, fake: FakeCutPro) -> None:
    """Clips of a submission made with source_language=pt report language pt."""
    video_id, sub_id = await completed_submission(api, fake, source_language="pt")
    assert {c["language"] for c in await clips(api, video_id, sub_id)} == {"pt"}


async def test_delete_clip(api: RawApi, fake: FakeCutPro) -> None:
    """DELETE a clip answers 204, removes it from the list, and a second delete is a 404."""
    video_id, sub_id = await completed_submission(api, fake)
    before = await clips(api, video_id, sub_id)
    target = before[0]["id"]
    path = f"/clips/{video_id}/submissions/{sub_id}/clips/{target}"
    reply = await api.call("DELETE", path)
    assert reply.status == 204
    after = await clips(api, video_id, sub_id)
    assert [c["id"] for c in after] == [c["id"] for c in before[1:]]
    again = await api.call("DELETE", path)
    assert again.status == 404
    assert again.json["code"] == "CLIP_NOT_FOUND"
    sub = (await api.get(f"/clips/{video_id}/submissions/{sub_id}")).json
    assert sub["clips_count"] == len(after)


async def test_templates_filters(api: RawApi) -> None:
    """GET /templates lists all, filter=mine the own ones, filter=community the public ones."""
    every = await api.get("/templates")
    assert every.status == 200
    assert {"id", "name"} <= set(every.json["templates"][0])
    mine = (await api.get("/templates?filter=mine")).json["templates"]
    community = (await api.get("/templates?filter=community")).json["templates"]
    assert mine and community
    assert all(t["is_public"] is False for t in mine)
    assert all(t["is_public"] is True for t in community)
    assert OWN_TEMPLATE in {t["id"] for t in mine}
    assert COMMUNITY_TEMPLATE in {t["id"] for t in community}
    all_ids = {t["id"] for t in every.json["templates"]}
    assert all_ids == {t["id"] for t in mine} | {t["id"] for t in community}


@pytest.mark.parametrize("query", ["filter=all", "filter=MINE", "sort=popular"])
async def test_templates_bad_query(api: RawApi, query: str) -> None:
    """An unknown template filter or sort is a 422 VALIDATION_ERROR."""
    reply = await api.get(f"/templates?{query}")
    assert reply.status == 422
    assert reply.json["code"] == "VALIDATION_ERROR"
