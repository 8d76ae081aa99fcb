"""Posts (publishing renders) and connected accounts of the simulator, through plain HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import pytest

from cutpro_async.testing import FakeCutPro
from tests.conftest import RawApi

from .helpers import completed_render, poll, simulator

pytestmark = pytest.mark.anyio

TERMINAL = {"completed", "partial", "failed"}


@attrs.frozen
class Setup:
    """A simulator with one completed render and its seeded connections by platform."""

    fake: FakeCutPro
    api: RawApi
    edit_id: str
    connections: dict[str, str]

    def body(self, *platforms: str, **extra: Any) -> dict[str, Any]:
        """A create-post body sending the render to these platforms' accounts."""
        targets = [
            {"connectionId": self.connections[p], "metadata": {p: {"title": "Hi"}}}
            for p in platforms
        ]
        return {"videos": [{"editId": self.edit_id, "targets": targets}], **extra}

    async def create(self, *platforms: str, **extra: Any) -> dict[str, Any]:
        """Create a post; returns the 201 body."""
        reply = await self.api.post("/posts", self.body(*platforms, **extra))
        assert reply.status == 201, reply.json
        return dict(reply.json)

    async def settle(self, post_id: str) -> dict[str, Any]:
        """Poll a post until it is terminal (jumping the clock)."""
        reply = await poll(
            self.api, f"/posts/{post_id}", lambda p: p["status"] in TERMINAL, self.fake
        )
        return dict(reply.json)


@pytest.fixture
async def setup() -> AsyncIterator[Setup]:
    """A slow simulator (time moved by hand) with a completed render to publish."""
    async with simulator(time_scale=60) as (fake, api):
        render = await completed_render(api, fake=fake)
        listed = await api.get("/connections")
        connections = {c["platform"]: c["id"] for c in listed.json["connections"]}
        yield Setup(fake, api, render["edit_setting_id"], connections)


def iso(when: datetime) -> str:
    """An ISO 8601 UTC time with a trailing Z."""
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse(text: str) -> datetime:
    """A timestamp from the API."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


async def test_connections_are_seeded_and_filterable(api: RawApi) -> None:
    """Three accounts are seeded (tiktok, youtube active; instagram expired) and filterable."""
    reply = await api.get("/connections")
    assert reply.status == 200
    found = {c["platform"]: c for c in reply.json["connections"]}
    assert {p: c["status"] for p, c in found.items()} == {
        "tiktok": "active",
        "youtube": "active",
        "instagram": "expired",
    }
    assert reply.json["pagination"]["total_count"] == 3
    for conn in found.values():
        assert {"id", "platform", "name", "username", "status", "created_at"} <= set(conn)
    tiktok = await api.get("/connections", params={"platform": "tiktok"})
    assert [c["id"] for c in tiktok.json["connections"]] == [found["tiktok"]["id"]]
    none = await api.get("/connections", params={"platform": "facebook"})
    assert none.json["connections"] == []
    one = await api.get(f"/connections/{found['youtube']['id']}")
    assert one.status == 200
    assert one.json == found["youtube"]
    unknown = await api.get("/connections/cn404")
    assert unknown.status == 404
    assert unknown.json["code"] == "CONNECTION_NOT_FOUND"


async def test_post_to_an_active_account_completes(setup: Setup) -> None:
    """Publishing now to an active account is 201, then the post and its item complete."""
    created = await setup.create("tiktok")
    assert set(created) == {"post_id", "item_count", "status", "scheduled_at"}
    assert created["item_count"] == 1
    assert created["status"] in ("pending", "processing")
    assert created["scheduled_at"] is None
    post = await setup.settle(created["post_id"])
    assert post["status"] == "completed"
    assert post["item_count"] == 1
    [item] = post["items"]
    assert item["status"] == "completed"
    assert item["error"] is None
    assert item["connection_id"] == setup.connections["tiktok"]
    assert item["platform"] == "tiktok"
    assert item["edit_id"] == setup.edit_id
    assert item["published_url"].startswith("https://")


async def test_post_to_active_and_expired_accounts_is_partial_and_retry_fails_again(
    setup: Setup,
) -> None:
    """Active + expired accounts give `partial`; the failed item retries, then fails again."""
    created = await setup.create("youtube", "instagram")
    assert created["item_count"] == 2
    post = await setup.settle(created["post_id"])
    assert post["status"] == "partial"
    items = {i["platform"]: i for i in post["items"]}
    assert items["youtube"]["status"] == "completed"
    assert items["youtube"]["published_url"]
    failed = items["instagram"]
    assert failed["status"] == "failed"
    assert failed["error"]
    assert failed["published_url"] is None
    base = f"/posts/{created['post_id']}/items"
    not_failed = await setup.api.post(f"{base}/{items['youtube']['id']}/retry")
    assert not_failed.status == 409
    assert not_failed.json["code"] == "ITEM_NOT_FAILED"
    unknown = await setup.api.post(f"{base}/pi404/retry")
    assert unknown.status == 404
    retried = await setup.api.post(f"{base}/{failed['id']}/retry")
    assert retried.status == 200
    assert retried.json["status"] == "processing"
    again = {i["platform"]: i for i in retried.json["items"]}
    assert again["instagram"]["status"] == "processing"
    assert again["youtube"]["status"] == "completed"
    final = await setup.settle(created["post_id"])
    assert final["status"] == "partial"
    assert {i["platform"]: i["status"] for i in final["items"]} == {
        "youtube": "completed",
        "instagram": "failed",
    }


async def test_post_to_only_expired_accounts_fails(setup: Setup) -> None:
    """A post whose every item fails ends `failed`."""
    created = await setup.create("instagram")
    post = await setup.settle(created["post_id"])
    assert post["status"] == "failed"
    assert post["items"][0]["status"] == "failed"


async def test_scheduled_post_can_be_rescheduled_then_published_now(setup: Setup) -> None:
    """A scheduled post is pending, reschedulable, publishable now, then frozen (409)."""
    when = datetime.now(UTC) + timedelta(hours=1)
    created = await setup.create("tiktok", scheduled_at=iso(when))
    assert created["status"] == "pending"
    assert abs(parse(created["scheduled_at"]) - when) < timedelta(seconds=1)
    path = f"/posts/{created['post_id']}"
    pending = await setup.api.get(path)
    assert pending.json["status"] == "pending"
    assert [i["status"] for i in pending.json["items"]] == ["pending"]
    later = when + timedelta(hours=1)
    moved = await setup.api.call("PATCH", path, json={"scheduled_at": iso(later)})
    assert moved.status == 200
    assert moved.json["status"] == "pending"
    assert abs(parse(moved.json["scheduled_at"]) - later) < timedelta(seconds=1)
    past = await setup.api.call("PATCH", path, json={"scheduled_at": "2020-01-01T00:00:00Z"})
    assert past.status == 422
    published = await setup.api.post(f"{path}/publish")
    assert published.status == 200
    assert published.json["status"] == "processing"
    final = await setup.settle(created["post_id"])
    assert final["status"] == "completed"
    frozen = await setup.api.call("PATCH", path, json={"scheduled_at": iso(later)})
    assert frozen.status == 409
    assert frozen.json["code"] == "POST_ALREADY_PUBLISHED"
    twice = await setup.api.post(f"{path}/publish")
    assert twice.status == 409


async def test_delete_item_and_post(setup: Setup) -> None:
    """Deleting an item or a post answers 204, and the deleted thing is 404 afterwards."""
    created = await setup.create(
        "tiktok", "youtube", scheduled_at=iso(datetime.now(UTC) + timedelta(hours=1))
    )
    path = f"/posts/{created['post_id']}"
    items = (await setup.api.get(path)).json["items"]
    gone = await setup.api.call("DELETE", f"{path}/items/{items[0]['id']}")
    assert gone.status == 204
    again = await setup.api.call("DELETE", f"{path}/items/{items[0]['id']}")
    assert again.status == 404
    left = await setup.api.get(path)
    assert left.json["item_count"] == 1
    assert [i["id"] for i in left.json["items"]] == [items[1]["id"]]
    removed = await setup.api.call("DELETE", path)
    assert removed.status == 204
    assert (await setup.api.get(path)).status == 404
    assert (await setup.api.call("DELETE", path)).status == 404
    assert (await setup.api.post(f"{path}/publish")).status == 404


async def test_create_post_validation(setup: Setup) -> None:
    """Unknown edit/connection ids are 404; empty videos, past dates, bad keys 422; bad JSON 400."""
    api = setup.api
    good = setup.body("tiktok")
    target = good["videos"][0]["targets"][0]
    cases: list[tuple[Any, int, str | None]] = [
        ({"videos": [{"editId": "e404", "targets": [target]}]}, 404, "EDIT_NOT_FOUND"),
        (
            {"videos": [{"editId": setup.edit_id, "targets": [{"connectionId": "cn404"}]}]},
            404,
            "CONNECTION_NOT_FOUND",
        ),
        ({"videos": []}, 422, "VALIDATION_ERROR"),
        ({}, 422, "VALIDATION_ERROR"),
        ({"videos": [{"editId": setup.edit_id, "targets": []}]}, 422, "VALIDATION_ERROR"),
        ({**good, "scheduled_at": "2020-01-01T00:00:00Z"}, 422, "VALIDATION_ERROR"),
        ({**good, "scheduled_at": "tomorrow"}, 422, "VALIDATION_ERROR"),
        (
            {
                "videos": [
                    {
                        "editId": setup.edit_id,
                        "targets": [{**target, "metadata": {"myspace": {"title": "x"}}}],
                    }
                ]
            },
            422,
            "VALIDATION_ERROR",
        ),
    ]
    for body, status, code in cases:
        reply = await api.post("/posts", body)
        assert reply.status == status, (body, reply.json)
        assert reply.json["code"] == code, (body, reply.json)
    malformed = await api.post(
        "/posts", data=b'{"videos": [', headers={"Content-Type": "application/json"}
    )
    assert malformed.status == 400
    assert malformed.json["code"] == "INVALID_JSON"
    assert (await api.get("/posts")).json["posts"] == []


async def test_list_posts_newest_first_with_status_filter(setup: Setup) -> None:
    """`GET /posts` lists newest first and filters by status; a bad status is 422."""
    done = await setup.create("tiktok")
    await setup.settle(done["post_id"])
    waiting = await setup.create("tiktok", scheduled_at=iso(datetime.now(UTC) + timedelta(hours=1)))
    listed = await setup.api.get("/posts")
    assert listed.status == 200
    assert [p["post_id"] for p in listed.json["posts"]] == [waiting["post_id"], done["post_id"]]
    assert listed.json["pagination"]["total_count"] == 2
    for status, expected in (
        ("completed", [done["post_id"]]),
        ("pending", [waiting["post_id"]]),
        ("failed", []),
    ):
        reply = await setup.api.get("/posts", params={"status": status})
        assert [p["post_id"] for p in reply.json["posts"]] == expected
    bad = await setup.api.get("/posts", params={"status": "done"})
    assert bad.status == 422


async def test_patch_item_metadata_is_validated_like_create(setup: Setup) -> None:
    """Item metadata changed by PATCH is held to the same platform keys as at creation."""
    created = await setup.create("tiktok", scheduled_at=iso(datetime.now(UTC) + timedelta(hours=1)))
    path = f"/posts/{created['post_id']}"
    item_id = (await setup.api.get(path)).json["items"][0]["id"]
    reply = await setup.api.call(
        "PATCH", path, json={"items": [{"id": item_id, "metadata": {"myspace": {}}}]}
    )
    assert reply.status == 422
