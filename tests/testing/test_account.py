"""Simulator: workspace, balance, ledger, authentication, workspace selection and pagination."""

from __future__ import annotations

import math

import pytest

from cutpro_async.testing import FakeCutPro
from tests.conftest import RawApi

pytestmark = pytest.mark.anyio

WORKSPACE_FIELDS = {
    "id",
    "name",
    "is_personal",
    "status",
    "role",
    "plan_id",
    "plan_name",
    "plan_is_free",
    "credits",
    "seat_count",
    "max_total_seats",
    "member_count",
    "created_at",
}
PAGINATION_FIELDS = {
    "current_page",
    "total_pages",
    "total_count",
    "has_next_page",
    "has_previous_page",
    "limit",
}
URL = "https://www.youtube.com/watch?v=account&duration=600"


async def analyze(api: RawApi, url: str = URL, **kwargs: object) -> str:
    """Analyze a URL and return its video id."""
    reply = await api.post("/clips/info", {"url": url}, **kwargs)
    assert reply.status == 200, reply.json
    return str(reply.json["video_id"])


async def submit(api: RawApi, video_id: str, **kwargs: object) -> str:
    """Submit a video and return the submission id."""
    reply = await api.post("/clips", {"video_id": video_id}, **kwargs)
    assert reply.status == 201, reply.json
    return str(reply.json["submission_id"])


async def test_workspace_has_all_reference_fields(api: RawApi, fake: FakeCutPro) -> None:
    """GET /workspace returns the 13 documented fields with the documented types."""
    reply = await api.get("/workspace")
    assert reply.status == 200
    body = reply.json
    assert set(body) >= WORKSPACE_FIELDS
    assert body["id"] == fake.workspace_id
    assert body["id"].startswith("pw")
    for name in ("id", "name", "status", "plan_id", "created_at"):
        assert isinstance(body[name], str)
    for name in ("is_personal", "plan_is_free"):
        assert isinstance(body[name], bool)
    for name in ("credits", "seat_count", "max_total_seats", "member_count"):
        assert isinstance(body[name], int | float) and not isinstance(body[name], bool)
    assert body["role"] in ("admin", "member")
    assert body["plan_name"] is None or isinstance(body["plan_name"], str)
    assert body["credits"] == fake.balance()


async def test_workspace_credits_follow_the_balance(api: RawApi, fake: FakeCutPro) -> None:
    """After a paid submission, GET /workspace `credits` equals the lowered balance."""
    before = (await api.get("/workspace")).json["credits"]
    await submit(api, await analyze(api))
    after = (await api.get("/workspace")).json["credits"]
    assert after == before - 10
    assert after == fake.balance()


async def test_balance(api: RawApi, fake: FakeCutPro) -> None:
    """GET /balance returns `{balance}` matching the simulator's balance, also after a charge."""
    reply = await api.get("/balance")
    assert reply.status == 200
    assert reply.json == {"balance": fake.balance()}
    await submit(api, await analyze(api))
    assert (await api.get("/balance")).json["balance"] == fake.balance() == 10_000 - 10


async def test_history_newest_first_with_rows(api: RawApi, fake: FakeCutPro) -> None:
    """The ledger lists the debit before the opening grant, with signed amounts and references."""
    sub_id = await submit(api, await analyze(api))
    reply = await api.get("/balance/history")
    assert reply.status == 200
    rows = reply.json["transactions"]
    assert [r["type"] for r in rows] == ["debit", "bonus"]
    debit, grant = rows
    assert debit["amount"] == -10
    assert debit["reference_type"] == "usage"
    assert debit["reference_id"] == sub_id
    assert debit["balance_after"] == fake.balance()
    assert grant["amount"] == 10_000 and grant["balance_after"] == 10_000
    for row in rows:
        assert {"id", "created_at", "description"} <= set(row)
    assert [r["id"] for r in rows] == [r.id for r in reversed(fake.ledger())]


async def test_history_default_limit_is_50(api: RawApi, fake: FakeCutPro) -> None:
    """With 51 ledger rows the history's first page holds 50 (its default limit) and page 2 one."""
    video_id = await analyze(api, "https://youtu.be/many?duration=60")
    for _ in range(50):
        await submit(api, video_id)
        fake.advance(1000)  # the job completes, so the video may be submitted again
    assert len(fake.ledger()) == 51
    first = await api.get("/balance/history")
    assert len(first.json["transactions"]) == 50
    assert first.json["pagination"]["limit"] == 50
    assert first.json["pagination"]["total_count"] == 51
    assert first.json["pagination"]["has_next_page"] is True
    second = await api.get("/balance/history?page=2")
    assert [r["type"] for r in second.json["transactions"]] == ["bonus"]


async def test_history_filters(api: RawApi, fake: FakeCutPro) -> None:
    """`type` and `reference_type` each keep only the matching rows."""
    await submit(api, await analyze(api))
    debits = (await api.get("/balance/history?type=debit")).json["transactions"]
    assert [r["type"] for r in debits] == ["debit"]
    bonus = (await api.get("/balance/history?type=bonus")).json["transactions"]
    assert [r["type"] for r in bonus] == ["bonus"]
    usage = (await api.get("/balance/history?reference_type=usage")).json["transactions"]
    assert [r["reference_type"] for r in usage] == ["usage"]
    none = await api.get("/balance/history?type=debit&reference_type=bonus")
    assert none.json["transactions"] == []
    assert none.json["pagination"]["total_count"] == 0
    refunds = (await api.get("/balance/history?type=refund")).json["transactions"]
    assert refunds == []


@pytest.mark.parametrize(
    "query", ["type=spend", "reference_type=purchase", "type=DEBIT", "reference_type=1"]
)
async def test_history_bad_filter_is_422(api: RawApi, query: str) -> None:
    """An unknown `type` or `reference_type` value is a 422 VALIDATION_ERROR."""
    reply = await api.get(f"/balance/history?{query}")
    assert reply.status == 422
    assert reply.json["code"] == "VALIDATION_ERROR"


@pytest.mark.parametrize(
    "sent",
    [{}, {"X-Api-Key": "cp_sim_wrong"}, {"X-Api-Key": ""}, {"Authorization": "Basic abc"}],
    ids=["none", "wrong", "empty", "basic"],
)
async def test_missing_or_wrong_key_is_401(
    api: RawApi, fake: FakeCutPro, sent: dict[str, str]
) -> None:
    """No key, an unknown key, an empty key or a non-Bearer scheme get 401 UNAUTHORIZED."""
    for path in ("/workspace", "/balance", "/balance/history", "/clips", "/templates"):
        reply = await api.get(path, key=None, headers=sent)
        assert reply.status == 401
        assert reply.json["code"] == "UNAUTHORIZED"
    posted = await api.post("/clips", {"video_id": "v1"}, key=None, headers=sent)
    assert posted.status == 401
    assert posted.json["code"] == "UNAUTHORIZED"
    assert len(fake.ledger()) == 1


async def test_bearer_key_is_accepted(api: RawApi, fake: FakeCutPro) -> None:
    """`Authorization: Bearer <key>` without X-Api-Key resolves the key's workspace."""
    reply = await api.get(
        "/workspace", key=None, headers={"Authorization": f"Bearer {fake.api_key}"}
    )
    assert reply.status == 200
    assert reply.json["id"] == fake.workspace_id
    wrong = await api.get("/workspace", key=None, headers={"Authorization": "Bearer nope"})
    assert wrong.status == 401
    assert wrong.json["code"] == "UNAUTHORIZED"


async def test_multi_workspace_key_needs_workspace_header(api: RawApi, fake: FakeCutPro) -> None:
    """A key of two workspaces without X-Workspace-Id gets 400 WORKSPACE_REQUIRED."""
    other = fake.add_workspace()
    key = fake.add_key(fake.workspace_id, other)
    reply = await api.get("/workspace", key=key)
    assert reply.status == 400
    assert reply.json["code"] == "WORKSPACE_REQUIRED"


async def test_foreign_workspace_header_is_403(api: RawApi, fake: FakeCutPro) -> None:
    """X-Workspace-Id naming a workspace the key cannot use gets 403 WORKSPACE_FORBIDDEN."""
    second = fake.add_workspace()
    third = fake.add_workspace(name="Not yours")
    key = fake.add_key(fake.workspace_id, second)
    for key_used, target in ((key, third), (fake.api_key, second)):
        reply = await api.get("/workspace", key=key_used, headers={"X-Workspace-Id": target})
        assert reply.status == 403
        assert reply.json["code"] == "WORKSPACE_FORBIDDEN"


async def test_workspace_header_resolves_and_charges_that_workspace(
    api: RawApi, fake: FakeCutPro
) -> None:
    """With X-Workspace-Id the request resolves that workspace and only its credits are spent."""
    other = fake.add_workspace(credits=1000, name="Team")
    key = fake.add_key(fake.workspace_id, other)
    chosen = {"X-Workspace-Id": other}
    info = await api.get("/workspace", key=key, headers=chosen)
    assert info.status == 200
    assert info.json["id"] == other
    assert info.json["name"] == "Team"
    assert info.json["credits"] == 1000
    home = await api.get("/workspace", key=key, headers={"X-Workspace-Id": fake.workspace_id})
    assert home.json["id"] == fake.workspace_id
    video_id = await analyze(api, key=key, headers=chosen)
    reply = await api.post("/clips", {"video_id": video_id}, key=key, headers=chosen)
    assert reply.status == 201
    assert fake.balance(other) == 1000 - 10
    assert fake.balance() == 10_000
    assert fake.charges_per_video(other) == {video_id: 1}
    assert not fake.charges_per_video()
    balance = await api.get("/balance", key=key, headers=chosen)
    assert balance.json["balance"] == 990


async def test_ids_of_another_workspace_are_404(api: RawApi, fake: FakeCutPro) -> None:
    """Videos and submissions of one workspace look unknown (404) from another one."""
    video_id = await analyze(api)
    sub_id = await submit(api, video_id)
    other = fake.add_workspace()
    key = fake.add_key(other)
    paths = [f"/clips/{video_id}/submissions", f"/clips/{video_id}/submissions/{sub_id}"]
    for path in paths:
        reply = await api.get(path, key=key)
        assert reply.status == 404
        assert reply.json["code"] == "VIDEO_NOT_FOUND"
    posted = await api.post("/clips", {"video_id": video_id}, key=key)
    assert posted.status == 404
    assert posted.json["code"] == "VIDEO_NOT_FOUND"
    deleted = await api.call("DELETE", f"/clips/{video_id}", key=key)
    assert deleted.status == 404
    listed = await api.get("/clips", key=key)
    assert listed.json["videos"] == []
    assert fake.balance(other) == 1000
    still = await api.get(f"/clips/{video_id}/submissions/{sub_id}")
    assert still.status == 200


# -- pagination -------------------------------------------------------------------------


async def test_pagination_slices_pages(api: RawApi, fake: FakeCutPro) -> None:
    """page/limit slice the video list and the pagination object describes the slice."""
    ids = [await analyze(api, f"https://vimeo.com/{n}?duration=120") for n in range(5)]
    newest_first = list(reversed(ids))
    seen: list[str] = []
    for page in (1, 2, 3):
        reply = await api.get(f"/clips?page={page}&limit=2")
        assert reply.status == 200
        info = reply.json["pagination"]
        assert set(info) == PAGINATION_FIELDS
        assert info == {
            "current_page": page,
            "total_pages": 3,
            "total_count": 5,
            "has_next_page": page < 3,
            "has_previous_page": page > 1,
            "limit": 2,
        }
        seen += [v["video_id"] for v in reply.json["videos"]]
    assert seen == newest_first
    beyond = await api.get("/clips?page=9&limit=2")
    assert beyond.status == 200
    assert beyond.json["videos"] == []
    assert beyond.json["pagination"]["has_next_page"] is False
    assert beyond.json["pagination"]["has_previous_page"] is True


async def test_pagination_defaults(api: RawApi) -> None:
    """Without page/limit a list is page 1 of 20 items; an empty list still has one page."""
    reply = await api.get("/clips")
    assert reply.json["videos"] == []
    assert reply.json["pagination"] == {
        "current_page": 1,
        "total_pages": 1,
        "total_count": 0,
        "has_next_page": False,
        "has_previous_page": False,
        "limit": 20,
    }


async def test_ledger_pagination(api: RawApi, fake: FakeCutPro) -> None:
    """The ledger paginates newest first: limit=1 walks every row in reverse order."""
    video_id = await analyze(api)
    await submit(api, video_id)
    fake.advance(10_000)
    await submit(api, video_id)
    expected = [row.id for row in reversed(fake.ledger())]
    got = []
    for page in range(1, 4):
        reply = await api.get(f"/balance/history?limit=1&page={page}")
        assert reply.json["pagination"]["total_pages"] == 3
        got += [r["id"] for r in reply.json["transactions"]]
    assert got == expected


@pytest.mark.parametrize(
    "query", ["limit=0", "limit=101", "limit=x", "page=0", "page=-1", "page=x", "limit=2.5"]
)
@pytest.mark.parametrize("path", ["/clips", "/balance/history"])
async def test_bad_pagination_is_422(api: RawApi, path: str, query: str) -> None:
    """Out-of-range or non-integer page/limit values are a 422 VALIDATION_ERROR naming the field."""
    reply = await api.get(f"{path}?{query}")
    assert reply.status == 422
    assert reply.json["code"] == "VALIDATION_ERROR"
    assert reply.json["extra"]["field"] == query.split("=")[0]


async def test_limit_bounds_accepted(api: RawApi) -> None:
    """limit=1 and limit=100 are the accepted bounds."""
    for limit in (1, 100):
        reply = await api.get(f"/balance/history?limit={limit}")
        assert reply.status == 200
        assert reply.json["pagination"]["limit"] == limit
        assert math.isfinite(reply.json["pagination"]["total_count"])
