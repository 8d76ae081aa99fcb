"""Storage profiles: each answers a signed GET, ranged GET and HEAD as its real service does."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import AsyncIterator
from email.utils import parsedate_to_datetime

import google_crc32c
import pytest
from multidict import CIMultiDict

from cutpro_async.testing import FakeCutPro, SimConfig
from tests.conftest import RawApi

from .helpers import completed_submission, fetch, render_url, simulator

pytestmark = pytest.mark.anyio

PROFILES = ("s3", "s3-kms", "gcs", "azure", "plain")
HEX_MD5 = re.compile(r'^"[0-9a-f]{32}"$')
RANGE = {"Range": "bytes=100-1099"}


class Served:
    """One render on a simulator with a given profile: its URL and full GET answer."""

    def __init__(self, fake: FakeCutPro, api: RawApi, url: str) -> None:
        self.fake, self.api, self.url = fake, api, url
        self.headers: CIMultiDict[str] = CIMultiDict()
        self.body = b""

    async def get(
        self, headers: dict[str, str] | None = None, method: str = "GET"
    ) -> tuple[int, CIMultiDict[str], bytes]:
        """One request for the render."""
        return await fetch(self.api.session, self.url, headers, method)

    @property
    def md5(self) -> bytes:
        """The MD5 of the bytes served."""
        return hashlib.md5(self.body, usedforsecurity=False).digest()


@pytest.fixture
async def served(request: pytest.FixtureRequest) -> AsyncIterator[Served]:
    """A completed render under the profile named by the test's parameter."""
    async with simulator(time_scale=6000, storage_profile=request.param) as (fake, api):
        one = Served(fake, api, await render_url(api))
        status, one.headers, one.body = await one.get()
        assert status == 200
        yield one


def b64(raw: bytes) -> str:
    """Base64 text, as checksum headers carry it."""
    return base64.b64encode(raw).decode()


def goog_hashes(headers: CIMultiDict[str]) -> dict[str, str]:
    """The `x-goog-hash` lines, as {algorithm: base64 value}."""
    lines = headers.getall("x-goog-hash")
    return dict(line.split("=", 1) for line in lines)


def test_profile_is_a_checked_setting() -> None:
    """`storage_profile` defaults to s3 and refuses an unknown name."""
    assert SimConfig().storage_profile == "s3"
    with pytest.raises(ValueError):
        SimConfig(storage_profile="ftp")


@pytest.mark.parametrize("served", PROFILES, indirect=True)
async def test_every_profile_serves_the_same_kind_of_file(served: Served) -> None:
    """Whatever the profile, the body is the full render and HEAD states the GET's headers."""
    assert len(served.body) == served.fake.config.render_bytes
    assert served.body[4:8] == b"ftyp"
    status, headers, body = await served.get(method="HEAD")
    assert status == 200
    assert body == b""
    for name in ("ETag", "Last-Modified", "Content-MD5", "Content-Length", "Accept-Ranges"):
        assert headers.get(name) == served.headers.get(name), name
    assert headers.getall("x-goog-hash", []) == served.headers.getall("x-goog-hash", [])


@pytest.mark.parametrize("served", ["s3"], indirect=True)
async def test_s3_etag_is_the_md5_and_ranges_work(served: Served) -> None:
    """s3: ETag is the quoted MD5 of the bytes, with Last-Modified, Accept-Ranges and SSE-S3."""
    headers = served.headers
    assert headers["ETag"] == f'"{served.md5.hex()}"'
    assert headers["Accept-Ranges"] == "bytes"
    assert headers["x-amz-server-side-encryption"] == "AES256"
    parsedate_to_datetime(headers["Last-Modified"])
    status, ranged, body = await served.get(RANGE)
    assert status == 206
    assert body == served.body[100:1100]
    assert ranged["ETag"] == headers["ETag"]
    assert ranged["Content-Range"] == f"bytes 100-1099/{len(served.body)}"


@pytest.mark.parametrize("served", ["s3", "s3-kms", "gcs", "azure"], indirect=True)
async def test_if_range_takes_the_etag_or_the_date(served: Served) -> None:
    """`If-Range` with the ETag or the Last-Modified date gives 206; another validator 200."""
    for validator in (served.headers["ETag"], served.headers["Last-Modified"]):
        status, _, body = await served.get({**RANGE, "If-Range": validator})
        assert (status, body) == (206, served.body[100:1100])
    for stale in ('"0123456789abcdef0123456789abcdef"', "Mon, 01 Jan 2024 00:00:00 GMT"):
        status, headers, body = await served.get({**RANGE, "If-Range": stale})
        assert (status, body) == (200, served.body)
        assert "Content-Range" not in headers


async def test_s3_above_the_multipart_threshold_has_an_opaque_etag() -> None:
    """An object larger than `multipart_threshold` gets `"<32 hex>-N"`, not its MD5."""
    settings = {"render_bytes": 256 * 1024, "multipart_threshold": 64 * 1024}
    async with simulator(time_scale=6000, **settings) as (_, api):
        url = await render_url(api)
        _, headers, body = await fetch(api.session, url)
    etag = headers["ETag"]
    assert re.fullmatch(r'"[0-9a-f]{32}-4"', etag)
    assert hashlib.md5(body, usedforsecurity=False).hexdigest() not in etag


@pytest.mark.parametrize("served", ["s3-kms"], indirect=True)
async def test_s3_kms_etag_looks_like_an_md5_but_is_not(served: Served) -> None:
    """s3-kms: a 32-hex ETag that is not the MD5 of the bytes, stable, with `aws:kms`."""
    etag = served.headers["ETag"]
    assert HEX_MD5.match(etag)
    assert etag != f'"{served.md5.hex()}"'
    assert served.headers["x-amz-server-side-encryption"] == "aws:kms"
    assert "Content-MD5" not in served.headers
    _, again, _ = await served.get()
    assert again["ETag"] == etag
    other = await render_url(served.api)
    _, headers, _ = await fetch(served.api.session, other)
    assert HEX_MD5.match(headers["ETag"]) and headers["ETag"] != etag


@pytest.mark.parametrize("served", ["gcs"], indirect=True)
async def test_gcs_states_whole_object_crc32c_and_md5_even_on_a_range(served: Served) -> None:
    """gcs: opaque ETag; two `x-goog-hash` lines of the WHOLE object, on 200, 206 and HEAD."""
    crc = google_crc32c.value(served.body).to_bytes(4, "big")
    expected = {"crc32c": b64(crc), "md5": b64(served.md5)}
    assert not HEX_MD5.match(served.headers["ETag"])
    assert goog_hashes(served.headers) == expected
    assert len(served.headers.getall("x-goog-hash")) == 2
    assert served.headers["x-goog-stored-content-length"] == str(len(served.body))
    assert served.headers["x-goog-generation"].isdigit()
    status, ranged, body = await served.get(RANGE)
    assert (status, body) == (206, served.body[100:1100])
    assert goog_hashes(ranged) == expected
    assert ranged["x-goog-generation"] == served.headers["x-goog-generation"]


@pytest.mark.parametrize("served", ["azure"], indirect=True)
async def test_azure_content_md5_on_full_answers_blob_md5_on_ranges(served: Served) -> None:
    """azure: `"0x8D…"` ETag; Content-MD5 of the blob on 200; on 206 only x-ms-blob-content-md5."""
    assert re.fullmatch(r'"0x8D[0-9A-F]{13}"', served.headers["ETag"])
    assert served.headers["Content-MD5"] == b64(served.md5)
    assert served.headers["Accept-Ranges"] == "bytes"
    assert "x-ms-blob-content-md5" not in served.headers
    status, ranged, body = await served.get(RANGE)
    assert (status, body) == (206, served.body[100:1100])
    assert "Content-MD5" not in ranged
    assert ranged["x-ms-blob-content-md5"] == b64(served.md5)


@pytest.mark.parametrize("served", ["plain"], indirect=True)
async def test_plain_ignores_range_and_offers_no_strong_validator(served: Served) -> None:
    """plain: no Accept-Ranges; a Range (with or without If-Range) gets the whole file, 200."""
    assert "Accept-Ranges" not in served.headers
    assert served.headers.get("ETag", 'W/"').startswith('W/"')
    for headers in (RANGE, {**RANGE, "If-Range": served.headers.get("ETag", '"x"')}):
        status, got, body = await served.get(headers)
        assert (status, body) == (200, served.body)
        assert "Content-Range" not in got


async def test_plain_gives_a_weak_etag_to_some_objects_and_none_to_others() -> None:
    """plain: per object, either a weak ETag with Last-Modified or no validator at all."""
    async with simulator(time_scale=6000, storage_profile="plain") as (_, api):
        shapes = set()
        for _ in range(2):
            for clip in (await completed_submission(api)).clips:
                _, headers, _ = await fetch(api.session, clip["download_url"])
                etag = headers.get("ETag")
                assert (etag is None) == ("Last-Modified" not in headers)
                shapes.add("weak" if etag and etag.startswith('W/"') else str(etag))
    assert shapes == {"weak", "None"}
