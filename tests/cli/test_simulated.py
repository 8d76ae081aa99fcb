"""`simulated_client`: the world of `--simulate` kept in a folder, continued by the next run."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from cutpro_async import RetryPolicy
from cutpro_async.cli._simulated import (
    IDENTITY_PREFIX,
    STATE_DIR_NAME,
    STATE_FILE_NAME,
    simulated_client,
    state_dir_for,
)
from cutpro_async.errors import StoreError, StoreLocked
from cutpro_async.models import SubmissionStatus

pytestmark = pytest.mark.anyio

URL = "https://www.youtube.com/watch?v=simulated&duration=600"


def console() -> tuple[Console, io.StringIO]:
    """A console writing into a string."""
    text = io.StringIO()
    return Console(file=text, width=300), text


async def test_a_second_run_continues_the_same_world(tmp_path: Path) -> None:
    """Same folder, same world: the identity is the same (the base URL is not), and the
    submission paid in the first run is there, charged once, and completes."""
    folder = state_dir_for(tmp_path / "out")
    assert folder == tmp_path / "out" / STATE_DIR_NAME
    screen, text = console()
    async with simulated_client(folder, screen, RetryPolicy()) as first:
        assert first.identity.startswith(IDENTITY_PREFIX)
        assert first.restored is False
        assert first.state_file == folder / STATE_FILE_NAME
        info = await first.client.videos.analyze(URL)
        created = await first.client.submissions.create(info.video_id)
        url = first.client.settings.base_url
        balance = (await first.client.balance.get()).balance
    assert "world kept in" in text.getvalue()
    assert (folder / STATE_FILE_NAME).is_file()

    screen, text = console()
    async with simulated_client(folder, screen, RetryPolicy()) as second:
        assert second.identity == first.identity
        assert second.restored is True
        assert second.client.settings.base_url != url  # a new port: bind to the identity
        assert (await second.client.balance.get()).balance == balance
        again = await second.client.videos.analyze(URL)
        assert again.video_id == info.video_id
        done = await second.client.submissions.wait(info.video_id, created.submission_id)
        assert done.status is SubmissionStatus.COMPLETED
    assert "continuing the world saved in" in text.getvalue()
    assert second.client.settings.api_key not in text.getvalue()


async def test_another_folder_is_another_world(tmp_path: Path) -> None:
    """Two folders, two worlds, two identities."""
    identities = set()
    for name in ("a", "b"):
        async with simulated_client(tmp_path / name, console()[0], RetryPolicy()) as sim:
            identities.add(sim.identity)
    assert len(identities) == 2


async def test_an_unusable_state_is_a_store_error(tmp_path: Path) -> None:
    """A damaged world is a `StoreError` saying how to start afresh; a world in use by another
    run is `StoreLocked`."""
    folder = tmp_path / "sim"
    folder.mkdir()
    (folder / STATE_FILE_NAME).write_bytes(b"garbage" * 200)
    with pytest.raises(StoreError, match="delete it"):
        async with simulated_client(folder, console()[0], RetryPolicy()):
            pass
    (folder / STATE_FILE_NAME).unlink()
    async with simulated_client(folder, console()[0], RetryPolicy()):
        with pytest.raises(StoreLocked, match="another simulated run"):
            async with simulated_client(folder, console()[0], RetryPolicy()):
                pass


def test_importing_the_helper_does_not_load_the_simulator() -> None:
    """The simulator is imported only when a simulated client is made."""
    code = (
        "import sys, cutpro_async.cli._simulated\n"
        "print('cutpro_async.testing' in sys.modules, 'aiohttp.web' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.split() == ["False", "False"]
