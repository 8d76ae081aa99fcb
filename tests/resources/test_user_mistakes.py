"""What a careless library user can do: each mistake is a typed error saying what to do, sent
nothing it should not have, and never a traceback from deep inside (issue 12's list)."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from cutpro_async import CutPro, LocalFileError, TransferError, UsageError
from cutpro_async.testing import FakeCutPro

from .conftest import completed_render, completed_submission, video_url

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    ("timeframe", "says"),
    [(("a", "b"), "two finite numbers"), ((0,), "(start, end)"), ((30, 10), "start")],
)
async def test_a_bad_timeframe_is_a_usage_error(
    client: CutPro, fake: FakeCutPro, timeframe: Any, says: str
) -> None:
    """`timeframe=("a","b")` or `(0,)` is a `UsageError` (a `ValueError`), nothing is paid."""
    info = await client.videos.analyze(video_url())
    with pytest.raises(UsageError, match=re.escape(says)):
        await client.submissions.create(info.video_id, timeframe=timeframe)
    assert fake.credits_spent() == 0


async def test_a_naive_attempt_started_is_refused(client: CutPro, fake: FakeCutPro) -> None:
    """A timestamp without a zone cannot be compared with the server's: refused, not guessed."""
    info = await client.videos.analyze(video_url())
    with pytest.raises(UsageError, match="timezone-aware"):
        await client.submissions.create(info.video_id, attempt_started=datetime.now())
    assert fake.credits_spent() == 0


def test_a_non_string_key_is_a_configuration_error() -> None:
    """`api_key=123` says what to pass instead of failing inside a header."""
    with pytest.raises(UsageError, match="api_key"):
        CutPro(123)  # type: ignore[arg-type]


@pytest.mark.parametrize("url", ["ftp://example.com/talk.mp4", "s3://bucket/talk.mp4", "talk"])
async def test_analyzing_what_is_not_an_http_url_sends_nothing(
    client: CutPro, fake: FakeCutPro, url: str
) -> None:
    """An `ftp://` or `s3://` link is refused before it reaches the API, pointing at upload."""
    with pytest.raises(UsageError, match=r"videos\.upload"):
        await client.videos.analyze(url)
    assert fake.requests["POST /clips/info"] == 0


async def test_downloading_an_ftp_link_is_a_transfer_error(client: CutPro, tmp_path: Path) -> None:
    """A non-https storage link is refused with the reason, not an aiohttp error."""
    with pytest.raises(TransferError, match="only https"):
        await client.download("ftp://example.com/clip.mp4", tmp_path / "clip.mp4")
    assert not listing(tmp_path)


async def test_downloading_to_an_existing_folder_is_refused(client: CutPro, tmp_path: Path) -> None:
    """`cp.download(url, <a folder>)` says to name the file; it used to report success."""
    done = await completed_submission(client)
    render = await completed_render(client, done)
    link = await client.renders.download_link(render.render_id)
    with pytest.raises(UsageError, match="is a folder"):
        await client.download(link.url, tmp_path)
    assert not listing(tmp_path)
    saved = await client.download(link.url, tmp_path / "clip.mp4")  # the advice works
    assert saved.path.read_bytes()[4:8] == b"ftyp"


async def test_uploading_a_missing_file_says_to_check_the_path(
    client: CutPro, tmp_path: Path
) -> None:
    """A missing local file is a `LocalFileError` naming it, without download wording."""
    with pytest.raises(LocalFileError, match="check the path") as caught:
        await client.videos.upload(tmp_path / "missing.mp4")
    assert "partial download" not in str(caught.value)


def listing(folder: Path) -> list[Path]:
    """What is in a folder."""
    return list(folder.iterdir())
