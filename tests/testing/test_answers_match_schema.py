"""Every answer the simulator serves validates against the schema its own document gives it."""

from __future__ import annotations

from typing import Any

import attrs
import pytest

from cutpro_async.testing import FakeCutPro
from tests.conftest import RawApi

from .helpers import poll, simulator, video_url, wait_render
from .schemas import answer_schema, errors
from .test_openapi import REFERENCE

pytestmark = pytest.mark.anyio
SUB = "/clips/{videoId}/submissions/{submissionId}"
CLIP = SUB + "/clips/{clipId}"


@attrs.define
class Tour:
    """Calls operations by their documented path and checks each answer against the document."""

    api: RawApi
    doc: dict[str, Any]
    seen: set[tuple[str, str]] = attrs.field(factory=set)

    async def call(self, method: str, template: str, json: Any = None, /, **params: str) -> Any:
        """One request (`template` may end in a query); the answer must match its schema."""
        reply = await self.api.call(method, template.format(**params), json=json)
        template = template.partition("?")[0]
        schema = answer_schema(self.doc, method, template, reply.status)
        if schema is None:
            assert reply.body == b"", (method, template, reply.body)
        else:
            assert errors(self.doc, schema, reply.json) == [], (method, template, reply.json)
        if reply.status < 400:
            self.seen.add((method, template))
        return reply.json


@pytest.fixture
async def tour(api: RawApi) -> Tour:
    """A tour of the simulator, with its served document."""
    return Tour(api, (await api.get("/openapi.json", key=None)).json)


async def _clips(tour: Tour, fake: FakeCutPro) -> dict[str, str]:
    """Account, videos, an upload and a completed submission; returns the path ids."""
    for path in ("/workspace", "/balance", "/balance/history", "/templates"):
        await tour.call("GET", path)
    info = await tour.call("POST", "/clips/info", {"url": video_url(600)})
    ticket = await tour.call("POST", "/videos/upload", {"file_name": "a.mp4", "file_size": 4})
    headers = {"Content-Type": "video/mp4"}
    async with tour.api.session.put(ticket["upload_url"], data=b"abcd", headers=headers) as put:
        assert put.status == 200
    done = {"video_id": ticket["video_id"], "file_name": "a.mp4", "duration": 90}
    await tour.call("POST", "/videos/upload/complete", {**done, "width": 640, "height": 360})
    await tour.call("GET", "/clips?sort=title")
    ids = {"videoId": info["video_id"]}
    created = await tour.call("POST", "/clips", {"video_id": ids["videoId"]})
    ids["submissionId"] = created["submission_id"]
    await tour.call("GET", "/clips/{videoId}/submissions", **ids)
    await tour.call("GET", SUB, **ids)
    fake.advance(3600)
    await poll(tour.api, SUB.format(**ids), lambda s: s["status"] == "completed", fake)
    await tour.call("GET", SUB, **ids)
    clips = await tour.call("GET", SUB + "/clips?sort=title", **ids)
    template = {"template_id": "80009919218057216", "clip_ids": [clips["clips"][0]["id"]]}
    await tour.call("POST", SUB + "/apply_template", template, **ids)
    await tour.call("DELETE", CLIP, clipId=clips["clips"][-1]["id"], **ids)
    return {**ids, "clipId": clips["clips"][0]["id"]}


async def _renders(tour: Tour, fake: FakeCutPro, ids: dict[str, str]) -> dict[str, Any]:
    """A render from request to bulk ZIP; returns the completed render."""
    created = await tour.call("POST", CLIP + "/render", **ids)
    render_id = created["render_id"]
    await tour.call("GET", "/renders/{renderId}", renderId=render_id)
    await tour.call("GET", "/renders/limits")
    render = await wait_render(tour.api, render_id, fake)
    await tour.call("GET", "/renders?status=completed")
    await tour.call("POST", CLIP + "/render", **ids)  # the cache hit: 200
    await tour.call("GET", "/renders/{renderId}/download", renderId=render_id)
    job = await tour.call("POST", "/renders/bulk-download", {"render_ids": [render_id]})
    fake.advance(600)
    await tour.call("GET", "/renders/bulk-download/{jobId}", jobId=job["job_id"])
    return render


async def _posts(tour: Tour, fake: FakeCutPro, edit_id: str) -> None:
    """A post to an active and an expired account: scheduled, changed, published, retried."""
    connections = (await tour.call("GET", "/connections"))["connections"]
    await tour.call("GET", "/connections/{id}", id=connections[0]["id"])
    targets = [{"connectionId": c["id"]} for c in connections if c["platform"] != "youtube"]
    later = "2999-01-01T00:00:00Z"
    body = {"videos": [{"editId": edit_id, "targets": targets}], "scheduled_at": later}
    post_id = (await tour.call("POST", "/posts", body))["post_id"]
    await tour.call("PATCH", "/posts/{id}", {"scheduled_at": "2998-01-01T00:00:00Z"}, id=post_id)
    await tour.call("POST", "/posts/{id}/publish", id=post_id)
    fake.advance(600)
    post = await tour.call("GET", "/posts/{id}", id=post_id)
    failed = next(item["id"] for item in post["items"] if item["status"] == "failed")
    await tour.call("POST", "/posts/{id}/items/{itemId}/retry", id=post_id, itemId=failed)
    await tour.call("GET", "/posts?status=processing")
    await tour.call("DELETE", "/posts/{id}/items/{itemId}", id=post_id, itemId=failed)
    await tour.call("DELETE", "/posts/{id}", id=post_id)


async def test_every_operation_answers_as_documented(tour: Tour, fake: FakeCutPro) -> None:
    """A tour of all 34 operations: each answer validates, with no undocumented key."""
    ids = await _clips(tour, fake)
    render = await _renders(tour, fake, ids)
    await _posts(tour, fake, render["edit_setting_id"])
    await tour.call("DELETE", "/renders/{renderId}", renderId=render["render_id"])
    await tour.call("DELETE", SUB, **ids)
    await tour.call("DELETE", "/clips/{videoId}", videoId=ids["videoId"])
    assert tour.seen == set(REFERENCE)


async def test_error_answers_are_documented_error_bodies(tour: Tour) -> None:
    """4xx answers (unknown id, bad body, bad query) validate as the documented `ErrorBody`."""
    assert (await tour.call("GET", "/renders/{renderId}", renderId="nope"))["code"]
    assert (await tour.call("POST", "/clips", {"video_id": 1}))["code"] == "VALIDATION_ERROR"
    reply = await tour.call("GET", "/balance/history?type=gift")
    assert reply["extra"] == {"field": "type"}


async def test_deletes_answering_200_are_documented() -> None:
    """A simulator set to answer deletes with 200 sends the documented `Deleted` body."""
    async with simulator(time_scale=6000, delete_status=200) as (_, api):
        tour = Tour(api, (await api.get("/openapi.json", key=None)).json)
        info = await tour.call("POST", "/clips/info", {"url": video_url(600)})
        assert await tour.call("DELETE", "/clips/{videoId}", videoId=info["video_id"]) == {}
