"""Simulator: URL analysis, its rate limit, the video library and the three-step upload."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import aiohttp
import pytest

import cutpro_async.testing
from cutpro_async.testing import FakeCutPro
from tests.conftest import RawApi

from .helpers import simulator

pytestmark = pytest.mark.anyio

SAMPLE = Path(cutpro_async.testing.__file__).parent / "data" / "sample.mp4"
SAMPLE_SECONDS = 62
INFO_FIELDS = {
    "video_id": str,
    "title": str,
    "description": str,
    "author": str,
    "platform": str,
    "duration": (int, float),
    "thumbnail_url": str,
    "credits_cost": (int, float),
    "credits_original": (int, float),
    "discount_percent": (int, float),
    "force_watermark": bool,
    "current_balance": (int, float),
}
URL = "https://www.youtube.com/watch?v=videos&duration=600"


async def analyze(api: RawApi, url: str = URL) -> dict[str, Any]:
    """The 200 body of POST /clips/info for a URL."""
    reply = await api.post("/clips/info", {"url": url})
    assert reply.status == 200, reply.json
    body: dict[str, Any] = reply.json
    return body


def assert_info_shape(body: dict[str, Any]) -> None:
    """Every analyze/complete field of the reference is there with its JSON type."""
    for name, kind in INFO_FIELDS.items():
        assert name in body, name
        assert isinstance(body[name], kind), name
        if kind is not bool:
            assert not isinstance(body[name], bool), name
    assert 0 <= body["discount_percent"] <= 100


async def start_upload(api: RawApi, **overrides: Any) -> dict[str, Any]:
    """Start an upload of the sample file; returns the 200 body."""
    body = {"file_name": "talk.mp4", "file_size": SAMPLE.stat().st_size, **overrides}
    reply = await api.post("/videos/upload", body)
    assert reply.status == 200, reply.json
    ticket: dict[str, Any] = reply.json
    return ticket


async def put(api: RawApi, url: str, data: bytes, content_type: str = "video/mp4") -> int:
    """PUT bytes to a presigned URL with no API key; returns the status."""
    headers = {"Content-Type": content_type}
    async with api.session.put(url, data=data, headers=headers) as resp:
        await resp.read()
        return resp.status


async def complete(api: RawApi, video_id: str, duration: float = SAMPLE_SECONDS) -> Any:
    """POST /videos/upload/complete for a 1280x720 file."""
    body = {
        "video_id": video_id,
        "file_name": "talk.mp4",
        "duration": duration,
        "width": 1280,
        "height": 720,
    }
    return await api.post("/videos/upload/complete", body)


# -- analyze -----------------------------------------------------------------------------


async def test_analyze_shape(api: RawApi, fake: FakeCutPro) -> None:
    """POST /clips/info returns every reference field, the exact cost and the live balance."""
    body = await analyze(api)
    assert_info_shape(body)
    assert body["duration"] == 600
    assert body["credits_cost"] == 10
    assert body["credits_original"] == 10
    assert body["discount_percent"] == 0
    assert body["current_balance"] == fake.balance()
    assert fake.ledger()[-1].type == "bonus"  # analysis is free


@pytest.mark.parametrize(
    ("url", "platform"),
    [
        ("https://www.youtube.com/watch?v=a", "youtube"),
        ("https://youtu.be/a", "youtube"),
        ("https://m.youtube.com/watch?v=a", "youtube"),
        ("https://www.twitch.tv/videos/1", "twitch"),
        ("https://kick.com/a/videos/1", "kick"),
        ("https://www.tiktok.com/@a/video/1", "tiktok"),
        ("https://vimeo.com/1", "vimeo"),
        ("http://example.org/talk.mp4", "other"),
    ],
)
async def test_platform_detection(api: RawApi, url: str, platform: str) -> None:
    """The platform is read from the URL's host."""
    assert (await analyze(api, url))["platform"] == platform


async def test_same_url_same_video(api: RawApi) -> None:
    """By default, analyzing one URL twice gives the same video_id and metadata; another URL a
    new one."""
    first, second = await analyze(api), await analyze(api)
    assert first["video_id"] == second["video_id"]
    assert first["title"] == second["title"]
    other = await analyze(api, "https://vimeo.com/42?duration=600")
    assert other["video_id"] != first["video_id"]
    listed = (await api.get("/clips")).json["videos"]
    assert len(listed) == 2


async def test_new_video_per_analysis_when_so_set() -> None:
    """With `same_video_for_same_url=False` each analysis of a URL is a new video with its own
    submissions: the second can be submitted (and charged) while the first is clipping."""
    async with simulator(same_video_for_same_url=False) as (fake, api):
        first, second = await analyze(api), await analyze(api)
        assert first["video_id"] != second["video_id"]
        assert first["title"] == second["title"]
        assert len((await api.get("/clips")).json["videos"]) == 2
        for info in (first, second):
            assert (await api.post("/clips", {"video_id": info["video_id"]})).status == 201
        assert fake.charges_per_video() == {first["video_id"]: 1, second["video_id"]: 1}
        listed = await api.get(f"/clips/{second['video_id']}/submissions")
        assert len(listed.json["submissions"]) == 1


async def test_analyze_credits_round_up(api: RawApi) -> None:
    """credits_cost is the duration in minutes rounded up (61 s costs 2)."""
    assert (await analyze(api, "https://vimeo.com/1?duration=61"))["credits_cost"] == 2
    assert (await analyze(api, "https://vimeo.com/2?duration=60"))["credits_cost"] == 1


async def test_analyze_too_short(api: RawApi) -> None:
    """A video under a minute is a 422 VIDEO_TOO_SHORT and creates no video."""
    reply = await api.post("/clips/info", {"url": "https://youtu.be/short?duration=30"})
    assert reply.status == 422
    assert reply.json["code"] == "VIDEO_TOO_SHORT"
    assert (await api.get("/clips")).json["videos"] == []


@pytest.mark.parametrize("url", ["ftp://example.org/a.mp4", "youtube.com/watch?v=a", "", "http://"])
async def test_analyze_non_http_url(api: RawApi, url: str) -> None:
    """A URL that is not http(s) with a host is a 422 naming the `url` field."""
    reply = await api.post("/clips/info", {"url": url})
    assert reply.status == 422
    assert reply.json["code"]
    assert reply.json["extra"]["field"] == "url"


@pytest.mark.parametrize(
    ("kwargs", "status"),
    [
        ({"json": {}}, 422),
        ({"json": {"url": None}}, 422),
        ({"json": {"url": 12}}, 422),
        ({"json": {"url": ["https://youtu.be/a"]}}, 422),
        ({"data": b"{not json", "headers": {"Content-Type": "application/json"}}, 400),
        ({"json": ["https://youtu.be/a"]}, 400),
        ({"json": "https://youtu.be/a"}, 400),
        ({}, 400),
        ({"data": b"\xff\xfe", "headers": {"Content-Type": "application/json"}}, 400),
    ],
    ids=["missing", "null", "number", "list", "malformed", "array", "string", "empty", "binary"],
)
async def test_analyze_bad_bodies(api: RawApi, kwargs: dict[str, Any], status: int) -> None:
    """Bad analyze bodies get a 400/422 with an error code, never a 500."""
    reply = await api.call("POST", "/clips/info", **kwargs)
    assert reply.status == status
    assert isinstance(reply.json["code"], str) and reply.json["code"]
    assert reply.json["code"] in ("VALIDATION_ERROR", "INVALID_JSON")


# -- rate limit --------------------------------------------------------------------------


async def test_analyze_rate_limit(api: RawApi, fake: FakeCutPro) -> None:
    """The 11th analysis in a minute is a 429 RATE_LIMIT_EXCEEDED with retry_after and header."""
    for n in range(10):
        await analyze(api, f"https://youtu.be/{n}?duration=600")
    reply = await api.post("/clips/info", {"url": "https://youtu.be/x?duration=600"})
    assert reply.status == 429
    assert reply.json["code"] == "RATE_LIMIT_EXCEEDED"
    retry_after = reply.json["extra"]["retry_after"]
    assert 0 < retry_after <= 60
    header = reply.headers["Retry-After"]
    assert header.isdigit()
    assert int(header) == max(1, math.ceil(retry_after))
    assert fake.requests["POST /clips/info"] == 11
    assert len((await api.get("/clips")).json["videos"]) == 10
    # Other endpoints are not limited.
    assert (await api.get("/workspace")).status == 200


async def test_rate_limit_is_per_key(api: RawApi, fake: FakeCutPro) -> None:
    """Another key of the same workspace has its own analysis budget."""
    for n in range(10):
        await analyze(api, f"https://youtu.be/{n}?duration=600")
    other = fake.add_key(fake.workspace_id)
    reply = await api.post("/clips/info", {"url": "https://youtu.be/z?duration=600"}, key=other)
    assert reply.status == 200


async def test_rate_window_moves_with_advance_in_real_seconds(
    api: RawApi, fake: FakeCutPro
) -> None:
    """advance() moves the rate window by api_seconds / time_scale: 60 API-seconds are too few."""
    for n in range(10):
        await analyze(api, f"https://youtu.be/{n}?duration=600")
    fake.advance(60)  # 0.01 real seconds at time_scale 6000: the window is real seconds
    still = await api.post("/clips/info", {"url": "https://youtu.be/a?duration=600"})
    assert still.status == 429
    fake.advance(61 * fake.config.time_scale)  # 61 real seconds
    again = await api.post("/clips/info", {"url": "https://youtu.be/a?duration=600"})
    assert again.status == 200, again.json


# -- library -----------------------------------------------------------------------------


async def test_list_videos_fields_and_sort(api: RawApi) -> None:
    """GET /clips lists analyzed videos with their fields, newest first by default."""
    urls = ["https://vimeo.com/b?duration=120", "https://vimeo.com/a?duration=180"]
    ids = [(await analyze(api, url))["video_id"] for url in urls]
    recent = (await api.get("/clips")).json["videos"]
    assert [v["video_id"] for v in recent] == ids[::-1]
    assert set(recent[0]) >= {
        "video_id",
        "title",
        "platform",
        "duration",
        "thumbnail_url",
        "created_at",
    }
    assert recent[0]["duration"] == 180
    explicit = (await api.get("/clips?sort=recent")).json["videos"]
    assert [v["video_id"] for v in explicit] == ids[::-1]
    oldest = (await api.get("/clips?sort=oldest")).json["videos"]
    assert [v["video_id"] for v in oldest] == ids
    titled = (await api.get("/clips?sort=title")).json["videos"]
    assert [v["title"] for v in titled] == sorted(v["title"] for v in recent)
    bad = await api.get("/clips?sort=random")
    assert bad.status == 422
    assert bad.json["code"] == "VALIDATION_ERROR"


async def test_delete_video(api: RawApi, fake: FakeCutPro) -> None:
    """DELETE /clips/{id} answers 204, then 404, and takes the video's submissions with it."""
    video_id = (await analyze(api))["video_id"]
    created = await api.post("/clips", {"video_id": video_id})
    sub_id = created.json["submission_id"]
    reply = await api.call("DELETE", f"/clips/{video_id}")
    assert reply.status == 204
    assert reply.body == b""
    again = await api.call("DELETE", f"/clips/{video_id}")
    assert again.status == 404
    assert again.json["code"] == "VIDEO_NOT_FOUND"
    assert (await api.get("/clips")).json["videos"] == []
    subs = await api.get(f"/clips/{video_id}/submissions")
    assert subs.status == 404
    sub = await api.get(f"/clips/{video_id}/submissions/{sub_id}")
    assert sub.status == 404
    assert not fake.world.workspaces[fake.workspace_id].submissions
    fresh = await analyze(api)  # the URL analyzes again into a new video
    assert fresh["video_id"] != video_id


async def test_delete_video_200_mode() -> None:
    """With delete_status=200 deleting a video answers 200 `{}`."""
    async with (
        FakeCutPro(time_scale=6000, delete_status=200) as sim,
        aiohttp.ClientSession() as session,
    ):
        api = RawApi(session, sim.base_url, sim.api_key)
        video_id = (await analyze(api))["video_id"]
        reply = await api.call("DELETE", f"/clips/{video_id}")
        assert (reply.status, reply.json) == (200, {})


# -- upload ------------------------------------------------------------------------------


async def test_start_upload(api: RawApi, fake: FakeCutPro) -> None:
    """POST /videos/upload returns a video id and a 1-hour upload URL on the storage port."""
    ticket = await start_upload(api)
    assert set(ticket) >= {"video_id", "upload_url", "expires_in"}
    assert ticket["expires_in"] == 3600
    upload, api_url = urlsplit(ticket["upload_url"]), urlsplit(fake.base_url)
    assert upload.port != api_url.port
    assert ticket["upload_url"].startswith(fake.storage_url)
    assert {"expires", "signature"} <= set(parse_qs(upload.query))
    # Not in the library until completed.
    assert (await api.get("/clips")).json["videos"] == []


@pytest.mark.parametrize("name", ["a.mp4", "a.MOV", "b.webm", "c.mkv", "dir/x.y.mp4"])
async def test_upload_extensions_accepted(api: RawApi, name: str) -> None:
    """The four documented extensions are accepted, case-insensitively."""
    await start_upload(api, file_name=name)


@pytest.mark.parametrize("name", ["a.avi", "a.mp4.txt", "noext", "a.gif"])
async def test_upload_bad_extension(api: RawApi, name: str) -> None:
    """Any other extension is a 422 UNSUPPORTED_FILE_TYPE."""
    reply = await api.post("/videos/upload", {"file_name": name, "file_size": 1000})
    assert reply.status == 422
    assert reply.json["code"] == "UNSUPPORTED_FILE_TYPE"


async def test_upload_size_limit(api: RawApi) -> None:
    """Exactly 2 GiB is accepted; one byte more is a 413 FILE_TOO_LARGE."""
    await start_upload(api, file_size=2 * 1024**3)
    reply = await api.post("/videos/upload", {"file_name": "a.mp4", "file_size": 2 * 1024**3 + 1})
    assert reply.status == 413
    assert reply.json["code"] == "FILE_TOO_LARGE"


@pytest.mark.parametrize("size", [0, -5])
async def test_upload_nonpositive_size_is_validation_error(api: RawApi, size: int) -> None:
    """A file_size of zero or less is a 422 VALIDATION_ERROR, not a 413 'too large'."""
    reply = await api.post("/videos/upload", {"file_name": "a.mp4", "file_size": size})
    assert reply.status == 422
    assert reply.json["code"] == "VALIDATION_ERROR"


@pytest.mark.parametrize(
    "body",
    [
        {"file_name": "a.mp4"},
        {"file_size": 1000},
        {"file_name": "a.mp4", "file_size": "1000"},
        {"file_name": "a.mp4", "file_size": 1000, "content_type": "text/plain"},
    ],
    ids=["no-size", "no-name", "size-string", "not-video"],
)
async def test_upload_bad_body(api: RawApi, body: dict[str, Any]) -> None:
    """A missing or mistyped upload field is a 422 VALIDATION_ERROR."""
    reply = await api.post("/videos/upload", body)
    assert reply.status == 422
    assert reply.json["code"] == "VALIDATION_ERROR"


async def test_full_upload_flow(api: RawApi, fake: FakeCutPro) -> None:
    """PUT (no key) then complete gives an analyze-shaped body priced at ceil(duration / 60)."""
    data = SAMPLE.read_bytes()
    ticket = await start_upload(api)
    assert await put(api, ticket["upload_url"], data) == 200
    assert fake.key_leaks == []
    assert fake.requests["storage PUT /uploads"] == 1
    reply = await complete(api, ticket["video_id"])
    assert reply.status == 200
    assert_info_shape(reply.json)
    assert reply.json["video_id"] == ticket["video_id"]
    assert reply.json["duration"] == SAMPLE_SECONDS
    assert reply.json["credits_cost"] == math.ceil(SAMPLE_SECONDS / 60) == 2
    assert reply.json["title"] == "talk.mp4"
    assert reply.json["current_balance"] == fake.balance()
    listed = (await api.get("/clips")).json["videos"]
    assert [v["video_id"] for v in listed] == [ticket["video_id"]]
    submitted = await api.post("/clips", {"video_id": ticket["video_id"]})
    assert submitted.status == 201
    assert submitted.json["credits_charged"] == 2


async def test_put_custom_content_type(api: RawApi) -> None:
    """The PUT must carry the content type declared at upload start."""
    ticket = await start_upload(api, file_name="a.mov", content_type="video/quicktime")
    data = SAMPLE.read_bytes()
    assert await put(api, ticket["upload_url"], data, "video/mp4") == 403
    assert await put(api, ticket["upload_url"], data, "video/quicktime") == 200


async def test_put_wrong_content_type(api: RawApi) -> None:
    """A PUT with another Content-Type than declared is refused with 403 and stores nothing."""
    ticket = await start_upload(api)
    assert (
        await put(api, ticket["upload_url"], SAMPLE.read_bytes(), "application/octet-stream") == 403
    )
    reply = await complete(api, ticket["video_id"])
    assert reply.status == 404
    assert reply.json["code"] == "FILE_NOT_FOUND"


@pytest.mark.parametrize("delta", [-1, 1, -3000])
async def test_put_wrong_size(api: RawApi, delta: int) -> None:
    """A PUT with fewer or more bytes than declared is a 400 and stores nothing."""
    data = SAMPLE.read_bytes()
    ticket = await start_upload(api, file_size=len(data) + delta)
    assert await put(api, ticket["upload_url"], data) == 400
    assert (await complete(api, ticket["video_id"])).json["code"] == "FILE_NOT_FOUND"


def _with_query(url: str, **changes: str) -> str:
    """The URL with some query parameters replaced."""
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()} | changes
    return urlunsplit(parts._replace(query=urlencode(query)))


async def test_put_forged_signature(api: RawApi) -> None:
    """A tampered signature, a moved expiry or no signature at all is a 403."""
    ticket = await start_upload(api)
    url, data = ticket["upload_url"], SAMPLE.read_bytes()
    expires = parse_qs(urlsplit(url).query)["expires"][0]
    forged = [
        _with_query(url, signature="0" * 64),
        _with_query(url, expires=str(int(expires) + 3600)),
        url.split("?")[0],
        url.replace(ticket["video_id"], "v999999"),
    ]
    for bad in forged:
        assert await put(api, bad, data) == 403, bad
    assert await put(api, url, data) == 200


async def test_put_expired_link(api: RawApi, fake: FakeCutPro) -> None:
    """Once its hour has passed, the upload URL is refused with 403."""
    ticket = await start_upload(api)
    fake.advance(3601 * fake.config.time_scale)
    assert await put(api, ticket["upload_url"], SAMPLE.read_bytes()) == 403


async def test_complete_before_put(api: RawApi) -> None:
    """Completing an upload whose bytes never arrived is a 404 FILE_NOT_FOUND."""
    ticket = await start_upload(api)
    reply = await complete(api, ticket["video_id"])
    assert reply.status == 404
    assert reply.json["code"] == "FILE_NOT_FOUND"


async def test_complete_unknown_or_analyzed_video(api: RawApi) -> None:
    """Completing an unknown id or a URL video (not an upload) is a 404."""
    assert (await complete(api, "v_nope")).status == 404
    video_id = (await analyze(api))["video_id"]
    reply = await complete(api, video_id)
    assert reply.status == 404
    assert reply.json["code"] == "VIDEO_NOT_FOUND"


async def test_complete_too_short(api: RawApi) -> None:
    """Completing with a duration under a minute is a 422 VIDEO_TOO_SHORT."""
    ticket = await start_upload(api)
    assert await put(api, ticket["upload_url"], SAMPLE.read_bytes()) == 200
    reply = await complete(api, ticket["video_id"], duration=30)
    assert reply.status == 422
    assert reply.json["code"] == "VIDEO_TOO_SHORT"
    assert (await api.get("/clips")).json["videos"] == []


@pytest.mark.parametrize(
    "changes",
    [{"duration": "62"}, {"width": 0}, {"height": None}, {"file_name": 3}, {"video_id": None}],
)
async def test_complete_bad_body(api: RawApi, changes: dict[str, Any]) -> None:
    """Missing or mistyped complete fields are a 422 with a code, never a 500."""
    ticket = await start_upload(api)
    assert await put(api, ticket["upload_url"], SAMPLE.read_bytes()) == 200
    body = {"video_id": ticket["video_id"], "file_name": "t.mp4", "duration": 62, "width": 1}
    body |= {"height": 1} | changes
    reply = await api.post("/videos/upload/complete", body)
    assert reply.status == 422
    assert reply.json["code"] == "VALIDATION_ERROR"


async def test_submit_upload_not_completed(api: RawApi, fake: FakeCutPro) -> None:
    """Submitting an uploaded but not completed video is a 409 and charges nothing."""
    ticket = await start_upload(api)
    before = await api.post("/clips", {"video_id": ticket["video_id"]})
    assert before.status == 409
    assert await put(api, ticket["upload_url"], SAMPLE.read_bytes()) == 200
    after_put = await api.post("/clips", {"video_id": ticket["video_id"]})
    assert after_put.status == 409
    assert after_put.json["code"] == "UPLOAD_NOT_COMPLETED"
    assert len(fake.ledger()) == 1
