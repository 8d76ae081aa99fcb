"""Renders and bulk ZIP downloads of the simulator, through plain HTTP."""

from __future__ import annotations

import io
import zipfile

import pytest

from cutpro_async.testing import FakeCutPro
from tests.conftest import RawApi

from .helpers import (
    completed_render,
    completed_submission,
    download_link,
    fetch,
    simulator,
    start_render,
    wait_render,
)

pytestmark = pytest.mark.anyio

TERMINAL = {"completed", "failed", "cancelled", "expired"}


async def test_render_request_is_queued_with_the_documented_fields(api: RawApi) -> None:
    """A first render request answers 202 with the queued shape and no download link."""
    done = await completed_submission(api)
    reply = await api.post(done.render_path(0))
    assert reply.status == 202
    body = reply.json
    assert set(body) == {
        "render_id",
        "edit_setting_id",
        "status",
        "has_watermark",
        "output_resolution",
        "from_cache",
        "download_url",
    }
    assert body["status"] == "queued"
    assert body["from_cache"] is False
    assert body["download_url"] is None
    assert body["has_watermark"] is False
    assert body["output_resolution"] == "1080p"
    assert body["render_id"] and body["edit_setting_id"]


async def test_render_again_while_rendering_is_409_then_cached_200_after_completion() -> None:
    """A second request is 409 while rendering and a 200 cache hit of the same render after."""
    async with simulator(time_scale=60) as (fake, api):
        done = await completed_submission(api, fake)
        first = await start_render(api, done)
        again = await api.post(done.render_path(0))
        assert again.status == 409
        assert again.json["code"] == "RENDER_ALREADY_IN_PROGRESS"
        await wait_render(api, first["render_id"], fake)
        cached = await api.post(done.render_path(0))
        assert cached.status == 200
        assert cached.json["from_cache"] is True
        assert cached.json["status"] == "completed"
        assert cached.json["render_id"] == first["render_id"]
        assert cached.json["edit_setting_id"] == first["edit_setting_id"]
        assert cached.json["download_url"].startswith(fake.storage_url + "/files/")
        listed = await api.get("/renders")
        assert [r["render_id"] for r in listed.json["renders"]] == [first["render_id"]]


async def test_409_names_the_running_render_unless_the_knob_is_off() -> None:
    """`extra.render_id` of the 409 names the running render; `name_running_render=False`
    drops it, since the reference does not promise it."""
    for named in (True, False):
        async with simulator(time_scale=60, name_running_render=named) as (fake, api):
            done = await completed_submission(api, fake)
            first = await start_render(api, done)
            again = await api.post(done.render_path(0))
            assert again.status == 409
            assert again.json["code"] == "RENDER_ALREADY_IN_PROGRESS"
            expected = {"render_id": first["render_id"]} if named else {}
            assert again.json["extra"] == expected


async def test_render_status_machine_queued_active_completed() -> None:
    """A render waiting for a slot goes queued -> active -> completed with sane progress/times."""
    async with simulator(time_scale=60, max_concurrent_renders=1) as (fake, api):
        done = await completed_submission(api, fake)
        await start_render(api, done, 0)  # takes the only slot
        second = await start_render(api, done, 1)
        seen = []
        for _ in range(300):
            reply = await api.get(f"/renders/{second['render_id']}")
            assert reply.status == 200
            seen.append(reply.json)
            if reply.json["status"] in TERMINAL:
                break
            fake.advance(5)
        statuses = [s["status"] for s in seen]
        assert [s for i, s in enumerate(statuses) if i == 0 or statuses[i - 1] != s] == [
            "queued",
            "active",
            "completed",
        ]
        progress = [s["progress"] for s in seen]
        assert all(0 <= p <= 100 for p in progress)
        assert progress == sorted(progress)
        assert progress[-1] == 100
        for snap in seen:
            assert (snap["started_at"] is None) == (snap["status"] == "queued")
            assert (snap["completed_at"] is None) == (snap["status"] != "completed")
            if snap["status"] == "queued":
                assert snap["progress"] == 0
        last = seen[-1]
        assert last["created_at"] <= last["started_at"] <= last["completed_at"]
        assert last["name"] == done.clips[1]["title"]


async def test_concurrency_cap_queues_renders_and_limits_report_it() -> None:
    """With one render slot, three renders show 1 active and 2 queued in `/renders/limits`."""
    async with simulator(time_scale=600, max_concurrent_renders=1) as (fake, api):
        done = await completed_submission(api, fake)
        for index in range(3):
            await start_render(api, done, index)
        limits = await api.get("/renders/limits")
        assert limits.status == 200
        assert limits.json["usage"] == {
            "active_count": 1,
            "queued_count": 2,
            "total_pending": 3,
            "max_concurrent": 1,
        }
        assert limits.json["plan"] == {
            "video_quality": "1080p",
            "watermark": False,
            "priority_processing": False,
            "max_concurrent_renders": 1,
            "render_expiry_hours": 72,
        }
        processing = await api.get("/renders", params={"status": "processing"})
        assert processing.json["pagination"]["total_count"] == 3


async def test_list_renders_newest_first_with_status_filter(api: RawApi) -> None:
    """`GET /renders` lists newest first and filters by the coarse status; a bad status is 422."""
    done = await completed_submission(api)
    ids = [(await start_render(api, done, i))["render_id"] for i in range(3)]
    for render_id in ids:
        await wait_render(api, render_id)
    listed = await api.get("/renders")
    assert listed.status == 200
    assert [r["render_id"] for r in listed.json["renders"]] == ids[::-1]
    assert listed.json["pagination"]["total_count"] == 3
    for status, expected in (("completed", ids[::-1]), ("processing", []), ("failed", [])):
        reply = await api.get("/renders", params={"status": status})
        assert reply.status == 200
        assert [r["render_id"] for r in reply.json["renders"]] == expected
    paged = await api.get("/renders", params={"limit": 2, "page": 2})
    assert [r["render_id"] for r in paged.json["renders"]] == [ids[0]]
    bad = await api.get("/renders", params={"status": "queued"})
    assert bad.status == 422
    assert bad.json["code"] == "VALIDATION_ERROR"


async def test_download_link_is_409_before_completion_and_a_link_after() -> None:
    """The download link of a running render is 409; once completed it is `{url, filename}`."""
    async with simulator(time_scale=60) as (fake, api):
        done = await completed_submission(api, fake)
        created = await start_render(api, done)
        early = await api.get(f"/renders/{created['render_id']}/download")
        assert early.status == 409
        assert early.json["code"] == "RENDER_NOT_READY"
        await wait_render(api, created["render_id"], fake)
        link = await download_link(api, created["render_id"])
        assert set(link) == {"url", "filename"}
        assert link["filename"] == done.clips[0]["title"] + ".mp4"
        status, _, body = await fetch(api.session, link["url"])
        assert status == 200
        assert len(body) == fake.config.render_bytes


async def test_unknown_render_is_404(api: RawApi) -> None:
    """An unknown render id is 404 for GET, download and DELETE."""
    for method, path in (
        ("GET", "/renders/r404"),
        ("GET", "/renders/r404/download"),
        ("DELETE", "/renders/r404"),
    ):
        reply = await api.call(method, path)
        assert reply.status == 404
        assert reply.json["code"] == "RENDER_NOT_FOUND"


async def test_delete_running_render_cancels_it() -> None:
    """DELETE of a running render answers 204 and leaves it `cancelled` for good."""
    async with simulator(time_scale=60) as (fake, api):
        done = await completed_submission(api, fake)
        created = await start_render(api, done)
        gone = await api.call("DELETE", f"/renders/{created['render_id']}")
        assert gone.status == 204
        assert gone.body == b""
        reply = await api.get(f"/renders/{created['render_id']}")
        assert reply.json["status"] == "cancelled"
        fake.advance(3600)
        later = await api.get(f"/renders/{created['render_id']}")
        assert later.json["status"] == "cancelled"
        assert later.json["progress"] < 100
        link = await api.get(f"/renders/{created['render_id']}/download")
        assert link.status == 409


async def test_render_cancelled_while_queued_never_starts() -> None:
    """A render cancelled while still queued keeps `started_at` null: it never went active."""
    async with simulator(time_scale=60, max_concurrent_renders=1) as (fake, api):
        done = await completed_submission(api, fake)
        await start_render(api, done, 0)
        queued = await start_render(api, done, 1)
        assert (await api.call("DELETE", f"/renders/{queued['render_id']}")).status == 204
        fake.advance(3600)
        reply = await api.get(f"/renders/{queued['render_id']}")
        assert reply.json["status"] == "cancelled"
        assert reply.json["started_at"] is None


async def test_cancelling_the_active_render_lets_the_queued_one_start() -> None:
    """With one slot, cancelling the active render makes the queued render active."""
    async with simulator(time_scale=60, max_concurrent_renders=1) as (fake, api):
        done = await completed_submission(api, fake)
        active = await start_render(api, done, 0)
        queued = await start_render(api, done, 1)
        assert (await api.call("DELETE", f"/renders/{active['render_id']}")).status == 204
        limits = await api.get("/renders/limits")
        assert limits.json["usage"]["active_count"] == 1
        assert limits.json["usage"]["queued_count"] == 0
        reply = await api.get(f"/renders/{queued['render_id']}")
        assert reply.json["status"] == "active"


async def test_delete_completed_render_removes_it(api: RawApi) -> None:
    """DELETE of a completed render answers 204, then the render is 404."""
    render = await completed_render(api)
    path = f"/renders/{render['render_id']}"
    gone = await api.call("DELETE", path)
    assert gone.status == 204
    assert (await api.get(path)).status == 404
    assert (await api.call("DELETE", path)).status == 404
    assert (await api.get("/renders")).json["renders"] == []


async def test_render_expires_after_the_plan_hours(fake: FakeCutPro, api: RawApi) -> None:
    """73 hours after completion a render is `expired`, its link 410, and it can be redone."""
    done = await completed_submission(api)
    render = await completed_render(api, done)
    fake.advance(73 * 3600)
    reply = await api.get(f"/renders/{render['render_id']}")
    assert reply.json["status"] == "expired"
    link = await api.get(f"/renders/{render['render_id']}/download")
    assert link.status == 410
    assert link.json["code"] == "RENDER_EXPIRED"
    again = await api.post(done.render_path(0))
    assert again.status == 202
    assert again.json["render_id"] != render["render_id"]
    assert again.json["from_cache"] is False


async def test_render_failure_rate_one_fails_every_render() -> None:
    """With `render_failure_rate=1.0` renders end `failed`, with no link and no cache hit."""
    async with simulator(time_scale=6000, render_failure_rate=1.0) as (_, api):
        done = await completed_submission(api)
        created = await start_render(api, done)
        failed = await wait_render(api, created["render_id"], status="failed")
        assert failed["completed_at"] is not None
        link = await api.get(f"/renders/{created['render_id']}/download")
        assert link.status == 409
        listed = await api.get("/renders", params={"status": "failed"})
        assert [r["render_id"] for r in listed.json["renders"]] == [created["render_id"]]
        again = await api.post(done.render_path(0))
        assert again.status == 202
        assert again.json["render_id"] != created["render_id"]


# -- bulk downloads ----------------------------------------------------------------------


async def test_bulk_download_job_lifecycle_and_zip_contents() -> None:
    """A bulk job goes queued -> completed and its ZIP holds each render's exact bytes."""
    async with simulator(time_scale=60) as (fake, api):
        done = await completed_submission(api, fake)
        renders = [await completed_render(api, done, i, fake) for i in range(2)]
        ids = [r["render_id"] for r in renders]
        created = await api.post("/renders/bulk-download", {"render_ids": ids})
        assert created.status == 202
        assert set(created.json) == {"job_id", "status"}
        assert created.json["status"] == "queued"
        path = f"/renders/bulk-download/{created.json['job_id']}"
        seen = []
        for _ in range(100):
            reply = await api.get(path)
            assert reply.status == 200
            seen.append(reply.json)
            if reply.json["status"] == "completed":
                break
            fake.advance(1)
        assert seen[0]["status"] == "queued"
        assert "active" in [s["status"] for s in seen]
        for snap in seen:
            assert {"file_size", "download_url", "filename", "expires_at"} <= set(snap)
            assert snap["expires_at"] is not None
            assert snap["render_count"] == 2
            assert 0 <= snap["progress"] <= 100
            if snap["status"] != "completed":
                assert snap["completed_at"] is None
                assert snap["download_url"] is None
                assert snap["file_size"] is None
        final = seen[-1]
        assert final["status"] == "completed"
        assert final["completed_at"] is not None
        assert final["progress"] == 100
        assert final["filename"].endswith(".zip")
        status, _, archive = await fetch(api.session, final["download_url"])
        assert status == 200
        assert len(archive) == final["file_size"]
        with zipfile.ZipFile(io.BytesIO(archive)) as zipped:
            assert zipped.testzip() is None
            assert sorted(zipped.namelist()) == sorted(f"{i}.mp4" for i in ids)
            for render_id in ids:
                link = await download_link(api, render_id)
                _, _, own = await fetch(api.session, link["url"])
                assert zipped.read(f"{render_id}.mp4") == own
        assert fake.key_leaks == []


async def test_bulk_download_rejects_bad_render_lists() -> None:
    """Bulk download: an empty list is 422, an unknown id 404, a running render 409."""
    async with simulator(time_scale=60) as (fake, api):
        done = await completed_submission(api, fake)
        ready = await completed_render(api, done, 0, fake)
        running = await start_render(api, done, 1)
        cases = [
            ({"render_ids": []}, 422),
            ({}, 422),
            ({"render_ids": [ready["render_id"], ready["render_id"]]}, 422),
            ({"render_ids": [ready["render_id"], "r404"]}, 404),
            ({"render_ids": [ready["render_id"], running["render_id"]]}, 409),
        ]
        for body, status in cases:
            reply = await api.post("/renders/bulk-download", body)
            assert reply.status == status, (body, reply.json)
        unknown = await api.get("/renders/bulk-download/b404")
        assert unknown.status == 404
