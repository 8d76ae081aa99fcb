"""`cutpro login` / `logout`, and how the saved login, the environment and `--api-url` /
`--workspace` meet in the commands that call the API."""

from __future__ import annotations

import os
import pty
import stat
import subprocess
from pathlib import Path

import anyio
import pytest

from cutpro_async.testing import FakeCutPro

from .conftest import COMMAND, ROOT, base_env, cutpro, env_for, error_lines

pytestmark = pytest.mark.anyio

#: A port nothing listens on: a command that reaches for it has used the wrong URL.
DEAD_URL = "http://127.0.0.1:9/api/v1"


def login_env(folder: Path, **extra: str) -> dict[str, str]:
    """`base_env()` with a config folder of this test's own."""
    return {**base_env(), "CUTPRO_CONFIG_DIR": str(folder), **extra}


async def login(
    *args: str | Path, env: dict[str, str], key: str | None = None
) -> subprocess.CompletedProcess[bytes]:
    """`cutpro login ARGS`, with `key` on stdin through a pipe."""
    return await anyio.run_process(
        [*COMMAND, "login", *map(str, args)],
        env=env,
        cwd=ROOT,
        input=(key + "\n").encode() if key is not None else b"",
        check=False,
    )


def output(done: subprocess.CompletedProcess[bytes]) -> str:
    """stdout and stderr together."""
    return (done.stdout + done.stderr).decode()


async def test_login_checks_the_key_saves_it_privately_and_commands_use_it(
    fake: FakeCutPro, tmp_path: Path
) -> None:
    """A key piped in is checked (the balance is shown), saved 0600 in a 0700 folder with the
    URL and workspace, and then `cutpro balance` works with no CUTPRO_* variable; the key is
    printed nowhere, `--show` included."""
    folder = tmp_path / "config"
    env = login_env(folder)
    done = await login(
        "--api-url", fake.base_url, "--workspace", fake.workspace_id, env=env, key=fake.api_key
    )
    assert done.returncode == 0, output(done)
    assert "key accepted: 10000 credits" in output(done)
    path = folder / "config.toml"
    assert f"saved to {path}" in output(done)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    text = path.read_text()
    assert f'api_key = "{fake.api_key}"' in text
    assert f'api_url = "{fake.base_url}"' in text
    assert f'workspace_id = "{fake.workspace_id}"' in text

    balance = await cutpro("balance", env=env)
    assert balance.returncode == 0, output(balance)
    assert balance.stdout.decode().strip() == "10000 credits"

    shown = await login("--show", env=env)
    assert shown.returncode == 0, output(shown)
    assert f"…{fake.api_key[-4:]}" in output(shown)
    assert fake.workspace_id in output(shown)
    for result in (done, balance, shown):
        assert fake.api_key not in output(result)


async def test_a_refused_key_is_not_saved(fake: FakeCutPro, tmp_path: Path) -> None:
    """A key the API refuses (401): a clear message, exit 1, nothing saved, the key unsaid."""
    folder = tmp_path / "config"
    wrong = "cp_live_wrong_0123456789abcdef"
    done = await login("--api-url", fake.base_url, env=login_env(folder), key=wrong)
    assert done.returncode == 1
    [line] = error_lines(done.stderr)
    assert "refused this key (401): nothing was saved" in line
    assert "https://cut.pro/studio/me/api-keys" in line
    assert wrong not in output(done)
    assert not (folder / "config.toml").exists()


async def test_a_workspace_the_key_cannot_use_is_not_saved(
    fake: FakeCutPro, tmp_path: Path
) -> None:
    """A 403 on the workspace names the workspace option and saves nothing."""
    folder = tmp_path / "config"
    done = await login(
        "--api-url",
        fake.base_url,
        "--workspace",
        "pw_other",
        env=login_env(folder),
        key=fake.api_key,
    )
    assert done.returncode == 1
    assert "may not use workspace pw_other (403)" in output(done)
    assert not (folder / "config.toml").exists()


async def test_an_unreachable_api_saves_nothing_unless_told_not_to_check(tmp_path: Path) -> None:
    """When the key cannot be checked nothing is saved and --no-check is offered; with it the
    key is saved without any request."""
    folder = tmp_path / "config"
    env = login_env(folder)
    done = await login("--api-url", DEAD_URL, env=env, key="cp_live_unchecked")
    assert done.returncode == 1
    assert "could not check the key" in output(done)
    assert "--no-check" in output(done)
    assert not (folder / "config.toml").exists()
    done = await login("--api-url", DEAD_URL, "--no-check", env=env, key="cp_live_unchecked")
    assert done.returncode == 0, output(done)
    assert (folder / "config.toml").exists()
    assert "cp_live_unchecked" not in output(done)


@pytest.mark.parametrize(
    ("key", "message"),
    [("", "no API key given"), ("cp_a\ncp_b", "more than one line")],
)
async def test_an_empty_or_multiline_stdin_is_a_usage_error(
    tmp_path: Path, key: str, message: str
) -> None:
    """Nothing, or more than one line, on stdin: exit 2 and nothing saved."""
    folder = tmp_path / "config"
    done = await login("--no-check", env=login_env(folder), key=key)
    assert done.returncode == 2
    assert message in output(done)
    assert not (folder / "config.toml").exists()


async def test_the_prompt_on_a_terminal_hides_the_key(tmp_path: Path) -> None:
    """On a terminal the key is asked for with echo off: it never shows on the screen."""
    folder = tmp_path / "config"
    key = "cp_live_typed_0123456789abcdef"
    master, slave = pty.openpty()
    try:
        process = await anyio.open_process(
            [*COMMAND, "login", "--no-check", "--api-url", DEAD_URL],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=login_env(folder),
            cwd=ROOT,
            start_new_session=True,
        )
        os.close(slave)
        slave = -1
        screen = b""
        with anyio.fail_after(30):
            while b"input hidden" not in screen:
                screen += await anyio.to_thread.run_sync(os.read, master, 4096)
            await anyio.sleep(0.2)  # let getpass switch echo off after printing the prompt
            os.write(master, key.encode() + b"\n")
            while True:
                try:
                    chunk = await anyio.to_thread.run_sync(os.read, master, 4096)
                except OSError:  # EIO: the command ended and closed the terminal
                    break
                if not chunk:
                    break
                screen += chunk
            assert await process.wait() == 0, screen.decode(errors="replace")
    finally:
        os.close(master)
        if slave >= 0:
            os.close(slave)
    assert b"saved to" in screen
    assert key.encode() not in screen
    assert f'api_key = "{key}"' in (folder / "config.toml").read_text()


async def test_logout_removes_the_saved_login(tmp_path: Path) -> None:
    """`cutpro logout` removes the file; then commands have no key, and `--show` says so."""
    folder = tmp_path / "config"
    env = login_env(folder)
    assert (await login("--no-check", env=env, key="cp_live_x")).returncode == 0
    done = await cutpro("logout", env=env)
    assert done.returncode == 0
    assert f"removed {folder / 'config.toml'}" in output(done)
    assert not (folder / "config.toml").exists()
    again = await cutpro("logout", env=env)
    assert "no saved login" in output(again)
    shown = await login("--show", env=env)
    assert shown.returncode == 1
    assert "run `cutpro login`" in output(shown)


async def test_no_key_anywhere_says_every_way_out(tmp_path: Path) -> None:
    """No variable and no saved login: exit 2 and one line naming CUTPRO_API_KEY, `cutpro
    login`, where keys are made and --simulate."""
    for command in ("balance", "renders"):
        done = await cutpro(command, env=login_env(tmp_path / "none"))
        assert done.returncode == 2
        [line] = error_lines(done.stderr)
        for advice in (
            "CUTPRO_API_KEY",
            "cutpro login",
            "https://cut.pro/studio/me/api-keys",
            "--simulate",
        ):
            assert advice in line


async def test_environment_beats_the_saved_login(fake: FakeCutPro, tmp_path: Path) -> None:
    """A saved login pointing at a dead API with a wrong key loses to CUTPRO_API_KEY and
    CUTPRO_API_URL; its workspace is not mixed with the other key."""
    folder = tmp_path / "config"
    env = login_env(folder)
    assert (
        await login("--no-check", "--api-url", DEAD_URL, "--workspace", "pw_x", env=env, key="cp_x")
    ).returncode == 0
    done = await cutpro("balance", env={**env_for(fake), "CUTPRO_CONFIG_DIR": str(folder)})
    assert done.returncode == 0, output(done)
    assert "10000 credits" in output(done)
    shown = await login("--show", env={**env_for(fake), "CUTPRO_CONFIG_DIR": str(folder)})
    assert "CUTPRO_API_KEY is set: the saved login is not used" in output(shown)


async def test_options_beat_the_environment_and_the_saved_login(
    fake: FakeCutPro, tmp_path: Path
) -> None:
    """`--api-url` wins over CUTPRO_API_URL and the saved URL; `--workspace` is sent (a
    workspace the key may not use is refused by the API)."""
    folder = tmp_path / "config"
    env = login_env(folder)
    assert (
        await login("--no-check", "--api-url", DEAD_URL, env=env, key=fake.api_key)
    ).returncode == 0
    done = await cutpro("balance", "--api-url", fake.base_url, env=env)
    assert done.returncode == 0, output(done)
    env_url = {**env, "CUTPRO_API_URL": DEAD_URL}
    done = await cutpro("balance", "--api-url", fake.base_url, env=env_url)
    assert done.returncode == 0, output(done)
    done = await cutpro(
        "balance", "--api-url", fake.base_url, "--workspace", fake.workspace_id, env=env_url
    )
    assert done.returncode == 0, output(done)
    refused = await cutpro("balance", "--api-url", fake.base_url, "--workspace", "pw_no", env=env)
    assert refused.returncode == 1
    assert "403" in output(refused)


async def test_api_options_reach_every_api_command(fake: FakeCutPro, tmp_path: Path) -> None:
    """`info`, `renders` and `download` take --api-url and --workspace too."""
    env = {**base_env(), "CUTPRO_API_KEY": fake.api_key}
    api = ["--api-url", fake.base_url, "--workspace", fake.workspace_id]
    url = "https://www.youtube.com/watch?v=opts&duration=600"
    done = await cutpro("info", url, *api, env=env)
    assert done.returncode == 0, output(done)
    assert "costs 10 credits" in output(done)
    done = await cutpro("renders", *api, env=env)
    assert done.returncode == 0, output(done)
    done = await cutpro("download", "rn_missing", "--out", tmp_path, *api, env=env)
    assert done.returncode == 1
    assert "404" in output(done)


async def test_a_saved_login_others_may_read_is_refused(tmp_path: Path) -> None:
    """A saved login with mode 0644: exit 2, the file and the chmod that fixes it."""
    folder = tmp_path / "config"
    env = login_env(folder)
    assert (await login("--no-check", env=env, key="cp_live_x")).returncode == 0
    (folder / "config.toml").chmod(0o644)
    done = await cutpro("balance", env=env)
    assert done.returncode == 2
    assert f"chmod 600 {folder / 'config.toml'}" in output(done)
