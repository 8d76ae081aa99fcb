"""Injected faults of the simulator: the spec grammar, API faults and storage faults."""

from __future__ import annotations

import time

import aiohttp
import attrs
import pytest
from multidict import CIMultiDict

from cutpro_async.testing import FakeCutPro, Fault, parse_faults
from tests.conftest import RawApi

from .helpers import fetch, render_url, simulator, video_url

pytestmark = pytest.mark.anyio


# -- the spec grammar ---------------------------------------------------------------------


def test_parse_faults_reads_every_part_of_an_item() -> None:
    """`KIND[:PARAM][=RATE][#MAX][@ROUTE]` items parse into the matching Fault values."""
    spec = "5xx=0.1, latency:0.05, drop=0.3@POST /clips, 429:5=0.02, truncate=0.2#3"
    assert parse_faults(spec) == [
        Fault("5xx", rate=0.1),
        Fault("latency", param=0.05),
        Fault("drop", rate=0.3, route="POST /clips"),
        Fault("429", rate=0.02, param=5),
        Fault("truncate", rate=0.2, max_count=3),
    ]
    [full] = parse_faults(" 429-body:2=0.5#4@GET /renders/{renderId} ")
    assert full == Fault(
        "429-body", rate=0.5, param=2, route="GET /renders/{renderId}", max_count=4
    )
    assert parse_faults("") == []
    assert parse_faults(" , ") == []
    assert Fault("latency").value == 0.05
    assert Fault("429", param=3).value == 3


def test_parse_faults_rejects_an_unknown_kind_naming_the_kinds() -> None:
    """An unknown kind is a ValueError whose message lists the valid kinds."""
    with pytest.raises(ValueError) as caught:
        parse_faults("5xx=0.1, teapot=1")
    message = str(caught.value)
    assert "teapot" in message
    for kind in ("5xx", "429-header", "commit502", "truncate", "trickle", "chunked"):
        assert kind in message


@pytest.mark.parametrize("item", ["5xx=1.5", "503=-0.1", "5xx=often", "503=1#lots"])
def test_parse_faults_rejects_bad_rates_and_counts(item: str) -> None:
    """A rate outside 0..1 (or not a number), or a non-integer count, is a ValueError."""
    with pytest.raises(ValueError):
        parse_faults(item)


# -- API faults ---------------------------------------------------------------------------


async def test_one_503_with_retry_after_then_200(fake: FakeCutPro, api: RawApi) -> None:
    """`503=1#1` answers one 503 with `Retry-After`, then the real 200."""
    fake.set_faults("503=1#1")
    first = await api.get("/balance")
    assert first.status == 503
    assert first.headers["Retry-After"] == "1"
    assert first.json["code"] == "SERVER_ERROR"
    second = await api.get("/balance")
    assert second.status == 200
    assert "balance" in second.json
    assert fake.injected == {"503": 1}


async def test_5xx_picks_502_503_or_504(fake: FakeCutPro, api: RawApi) -> None:
    """`5xx=1` answers only 502, 503 or 504; an empty spec turns faults off again."""
    fake.set_faults("5xx=1")
    statuses = [(await api.get("/workspace")).status for _ in range(20)]
    assert set(statuses) <= {502, 503, 504}
    assert len(set(statuses)) > 1
    fake.set_faults("")
    assert (await api.get("/workspace")).status == 200


async def test_reset_before_submit_charges_nothing(fake: FakeCutPro, api: RawApi) -> None:
    """`reset` on `POST /clips` drops the connection before processing: nothing is charged."""
    info = await api.post("/clips/info", {"url": video_url()})
    video_id = info.json["video_id"]
    fake.set_faults("reset=1@POST /clips")
    with pytest.raises(aiohttp.ClientConnectionError):
        await api.post("/clips", {"video_id": video_id})
    fake.set_faults("")
    assert fake.charges_per_video() == {}
    assert fake.credits_spent() == 0
    subs = await api.get(f"/clips/{video_id}/submissions")
    assert subs.json["submissions"] == []
    assert fake.injected["reset"] == 1


async def test_drop_commits_then_closes_the_connection(fake: FakeCutPro, api: RawApi) -> None:
    """`drop=1#1` on `POST /clips`: the client sees a connection error but was charged once."""
    info = await api.post("/clips/info", {"url": video_url()})
    video_id = info.json["video_id"]
    fake.set_faults("drop=1#1")
    with pytest.raises(aiohttp.ClientConnectionError):
        await api.post("/clips", {"video_id": video_id})
    assert fake.charges_per_video() == {video_id: 1}
    assert fake.credits_spent() == info.json["credits_cost"]
    subs = await api.get(f"/clips/{video_id}/submissions")
    assert subs.status == 200
    assert len(subs.json["submissions"]) == 1
    again = await api.post("/clips", {"video_id": video_id})
    assert again.status == 409
    assert again.json["code"] == "VIDEO_ALREADY_PROCESSING"


async def test_default_drop_route_leaves_analyze_alone(fake: FakeCutPro, api: RawApi) -> None:
    """`drop` (default route `POST /clips`) does not touch `POST /clips/info`."""
    fake.set_faults("drop=1")
    try:
        reply = await api.post("/clips/info", {"url": video_url()})
    except aiohttp.ClientConnectionError as exc:
        pytest.fail(f"POST /clips/info was dropped: {exc!r}")
    assert reply.status == 200


async def test_commit502_answers_502_after_charging(fake: FakeCutPro, api: RawApi) -> None:
    """`commit502=1#1@POST /clips` answers 502 although the submission was made and charged."""
    info = await api.post("/clips/info", {"url": video_url()})
    video_id = info.json["video_id"]
    fake.set_faults("commit502=1#1@POST /clips")
    reply = await api.post("/clips", {"video_id": video_id})
    assert reply.status == 502
    assert fake.charges_per_video() == {video_id: 1}
    subs = await api.get(f"/clips/{video_id}/submissions")
    assert len(subs.json["submissions"]) == 1


async def test_commit502_max_count_counts_requests(fake: FakeCutPro, api: RawApi) -> None:
    """`commit502=1#2` answers 502 to exactly two requests, and `injected` says 2."""
    fake.set_faults("commit502=1#2@GET /balance")
    statuses = [(await api.get("/balance")).status for _ in range(3)]
    assert statuses == [502, 502, 200]
    assert fake.injected == {"commit502": 2}


async def test_injected_counts_each_latency_once(fake: FakeCutPro, api: RawApi) -> None:
    """One delayed request counts once in `injected`."""
    fake.set_faults("latency:0.01")
    assert (await api.get("/balance")).status == 200
    assert fake.injected == {"latency": 1}


async def test_429_burst_with_both_hints(fake: FakeCutPro, api: RawApi) -> None:
    """`429:3=1#1` answers exactly 3 consecutive 429s with header and body hints, then 200."""
    fake.set_faults("429:3=1#1")
    replies = [await api.get("/workspace") for _ in range(4)]
    assert [r.status for r in replies] == [429, 429, 429, 200]
    for reply in replies[:3]:
        assert reply.json["code"] == "RATE_LIMIT_EXCEEDED"
        assert int(reply.headers["Retry-After"]) >= 1
        assert reply.json["extra"]["retry_after"] >= 1


async def test_429_header_only_burst(fake: FakeCutPro, api: RawApi) -> None:
    """`429-header:2=1#1` gives 2 429s with `Retry-After` but no `extra.retry_after`."""
    fake.set_faults("429-header:2=1#1")
    replies = [await api.get("/workspace") for _ in range(3)]
    assert [r.status for r in replies] == [429, 429, 200]
    for reply in replies[:2]:
        assert "Retry-After" in reply.headers
        assert "retry_after" not in reply.json["extra"]


async def test_429_body_only_burst(fake: FakeCutPro, api: RawApi) -> None:
    """`429-body:2=1#1` gives 2 429s with `extra.retry_after` but no `Retry-After` header."""
    fake.set_faults("429-body:2=1#1")
    replies = [await api.get("/workspace") for _ in range(3)]
    assert [r.status for r in replies] == [429, 429, 200]
    for reply in replies[:2]:
        assert "Retry-After" not in reply.headers
        assert reply.json["extra"]["retry_after"] >= 1


async def test_latency_delays_the_answer(fake: FakeCutPro, api: RawApi) -> None:
    """`latency:0.2` delays a request by about 0.2 s (lower bound only)."""
    fake.set_faults("latency:0.2")
    started = time.monotonic()
    reply = await api.get("/workspace")
    assert time.monotonic() - started >= 0.15
    assert reply.status == 200


async def test_route_scoping(fake: FakeCutPro, api: RawApi) -> None:
    """`503=1@GET /balance` breaks `/balance` only; `/workspace` still answers 200."""
    fake.set_faults("503=1@GET /balance")
    assert (await api.get("/workspace")).status == 200
    assert (await api.get("/balance")).status == 503
    assert (await api.get("/workspace")).status == 200
    assert (await api.get("/balance")).status == 503


async def test_faults_reproduce_from_the_seed() -> None:
    """Two simulators with the same seed and requests inject the same faults."""
    runs = []
    for _ in range(2):
        async with simulator(time_scale=6000, seed=7, faults="5xx=0.5") as (fake, api):
            runs.append([(await api.get("/balance")).status for _ in range(40)])
            runs.append(sorted(fake.injected.items()))
    assert runs[0] == runs[2]
    assert runs[1] == runs[3]
    assert 200 in runs[0]
    assert set(runs[0]) - {200}


# -- storage faults -----------------------------------------------------------------------


async def test_truncate_cuts_the_first_download_only(fake: FakeCutPro, api: RawApi) -> None:
    """`truncate=1#1` cuts the first download short; the second one is complete."""
    url = await render_url(api)
    _, _, full = await fetch(api.session, url)
    fake.set_faults("truncate=1#1")
    try:
        async with api.session.get(url) as resp:
            promised = int(resp.headers["Content-Length"])
            body = await resp.read()
        assert len(body) < promised
    except aiohttp.ClientPayloadError:
        pass
    status, _, again = await fetch(api.session, url)
    assert status == 200
    assert again == full
    assert fake.injected == {"truncate": 1}


async def test_truncate_at_offset_zero_still_truncates() -> None:
    """A truncation whose random cut lands on byte 0 still delivers less than promised."""
    # Seed 8038 makes the plan's second draw (the cut fraction) < 1 / 16 KiB, i.e. cut == 0.
    async with simulator(time_scale=6000, seed=8038, render_bytes=16 * 1024) as (fake, api):
        url = await render_url(api)
        fake.set_faults("truncate=1#1")
        try:
            async with api.session.get(url) as resp:
                body = await resp.read()
        except aiohttp.ClientPayloadError:
            return
        assert len(body) < 16 * 1024


async def test_head_does_not_use_up_a_truncate_fault(fake: FakeCutPro, api: RawApi) -> None:
    """`truncate=1#1` survives a HEAD and cuts the following GET."""
    url = await render_url(api)
    fake.set_faults("truncate=1#1")
    async with api.session.head(url) as resp:
        assert resp.status == 200
    with pytest.raises(aiohttp.ClientPayloadError):
        async with api.session.get(url) as resp:
            await resp.read()


async def test_expire_refuses_the_link_once(fake: FakeCutPro, api: RawApi) -> None:
    """`expire=1#1` answers 403 (XML, expired) to the first download, then the file."""
    url = await render_url(api)
    fake.set_faults("expire=1#1")
    status, headers, body = await fetch(api.session, url)
    assert status == 403
    assert headers["Content-Type"].startswith("application/xml")
    assert b"expired" in body
    status, _, body = await fetch(api.session, url)
    assert status == 200
    assert len(body) == fake.config.render_bytes


async def test_injected_expire_matches_the_refusals(fake: FakeCutPro, api: RawApi) -> None:
    """With `expire=0.5`, `injected['expire']` equals the number of 403 answers."""
    url = await render_url(api)
    fake.set_faults("expire=0.5", seed=3)
    statuses = [(await fetch(api.session, url))[0] for _ in range(20)]
    assert set(statuses) == {200, 403}
    assert fake.injected["expire"] == statuses.count(403)


async def test_chunked_has_no_length_and_the_full_body(fake: FakeCutPro, api: RawApi) -> None:
    """`chunked=1` sends no Content-Length, yet the body is complete and correct."""
    url = await render_url(api)
    _, _, full = await fetch(api.session, url)
    fake.set_faults("chunked=1")
    status, headers, body = await fetch(api.session, url)
    assert status == 200
    assert "Content-Length" not in headers
    assert headers["Transfer-Encoding"] == "chunked"
    assert body == full


async def test_trickle_still_delivers_the_whole_file() -> None:
    """`trickle:200000=1` slows a small download down but it still completes correctly."""
    async with simulator(time_scale=6000, render_bytes=32 * 1024) as (fake, api):
        url = await render_url(api)
        _, _, full = await fetch(api.session, url)
        fake.set_faults("trickle:200000=1")
        started = time.monotonic()
        status, _, body = await fetch(api.session, url)
        assert time.monotonic() - started >= 0.1
        assert status == 200
        assert body == full
        assert fake.injected == {"trickle": 1}


@attrs.frozen
class Faulted:
    """A render downloaded clean, then once more under a fault, with the same request headers."""

    url: str
    wanted: dict[str, str] | None
    clean: tuple[int, CIMultiDict[str], bytes]
    status: int
    headers: CIMultiDict[str]
    body: bytes

    @property
    def expected(self) -> bytes:
        """The bytes of the clean answer."""
        return self.clean[2]

    async def assert_clean_next(self, api: RawApi) -> None:
        """The next download answers as the clean one did (the fault was used up)."""
        status, _, body = await fetch(api.session, self.url, self.wanted)
        assert (status, body) == (self.clean[0], self.expected)


async def faulted(
    fake: FakeCutPro, api: RawApi, spec: str, wanted: dict[str, str] | None = None
) -> Faulted:
    """A fresh render fetched (with `wanted` headers) without faults, then under `spec`."""
    url = await render_url(api)
    clean = await fetch(api.session, url, wanted)
    fake.set_faults(spec)
    return Faulted(url, wanted, clean, *await fetch(api.session, url, wanted))


def differences(body: bytes, expected: bytes) -> list[int]:
    """Offsets where two equally long bodies differ."""
    return [i for i, (a, b) in enumerate(zip(body, expected, strict=True)) if a != b]


async def test_html_serves_a_login_page_with_200_once(fake: FakeCutPro, api: RawApi) -> None:
    """`html=1#1` answers the first download, even a ranged one, with a 200 HTML page."""
    got = await faulted(fake, api, "html=1#1", {"Range": "bytes=0-99"})
    assert got.status == 200
    assert got.headers["Content-Type"] == "text/html; charset=utf-8"
    assert int(got.headers["Content-Length"]) == len(got.body)
    assert got.body.startswith(b"<!DOCTYPE html>")
    assert 200 < len(got.body) < 1000
    assert "ETag" not in got.headers
    await got.assert_clean_next(api)
    assert fake.injected == {"html": 1}


async def test_shortlen_announces_less_than_it_sends(fake: FakeCutPro, api: RawApi) -> None:
    """`shortlen=1#1`: Content-Length is below the file size; the client reads that many bytes,
    a prefix of the file, with no error, on a connection that is then closed."""
    got = await faulted(fake, api, "shortlen=1#1")
    assert got.status == 200
    announced = int(got.headers["Content-Length"])
    assert announced < len(got.expected)
    assert got.body == got.expected[:announced]
    assert got.headers["Connection"] == "close"
    assert got.headers["ETag"] == got.clean[1]["ETag"]
    await got.assert_clean_next(api)
    assert fake.injected == {"shortlen": 1}


async def test_eof_ends_a_close_delimited_body_early(fake: FakeCutPro, api: RawApi) -> None:
    """`eof=1#1`: no Content-Length and no chunking; the connection closes before the end,
    which the client cannot tell from a complete body."""
    got = await faulted(fake, api, "eof=1#1")
    assert got.status == 200
    assert "Content-Length" not in got.headers
    assert "Transfer-Encoding" not in got.headers
    assert got.headers["Connection"] == "close"
    assert len(got.body) < len(got.expected)
    assert got.body == got.expected[: len(got.body)]
    await got.assert_clean_next(api)


@pytest.mark.parametrize("wanted", [None, {"Range": "bytes=1000-"}])
async def test_corrupt_flips_one_byte_and_keeps_the_headers(
    fake: FakeCutPro, api: RawApi, wanted: dict[str, str] | None
) -> None:
    """`corrupt=1#1`: same status and headers, exactly one byte of the answer differs."""
    got = await faulted(fake, api, "corrupt=1#1", wanted)
    assert got.status == got.clean[0] == (206 if wanted else 200)
    for name in ("ETag", "Content-Length", "Content-Range", "Last-Modified"):
        assert got.headers.get(name) == got.clean[1].get(name), name
    assert len(differences(got.body, got.expected)) == 1
    await got.assert_clean_next(api)
    assert fake.injected == {"corrupt": 1}


async def test_corrupt_flips_the_same_byte_for_the_same_seed() -> None:
    """The flipped position comes from the plan's seed: two runs flip the same byte."""
    found = []
    for _ in range(2):
        async with simulator(time_scale=6000, seed=5) as (fake, api):
            got = await faulted(fake, api, "corrupt=1#1")
            found.append(differences(got.body, got.expected))
    assert found[0] == found[1] and len(found[0]) == 1


def test_new_download_faults_parse_with_rate_max_and_route() -> None:
    """html, shortlen, eof and corrupt take RATE, #MAX and @ROUTE like the other kinds."""
    spec = "html=0.5#2, shortlen, eof@GET /files, corrupt=0.1#1"
    assert parse_faults(spec) == [
        Fault("html", rate=0.5, max_count=2),
        Fault("shortlen"),
        Fault("eof", route="GET /files"),
        Fault("corrupt", rate=0.1, max_count=1),
    ]
    assert Fault("html").applies_to("GET /files")
    assert not Fault("corrupt").applies_to("GET /balance")
