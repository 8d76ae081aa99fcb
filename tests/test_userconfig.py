"""The login saved by `cutpro login`: its file, its permissions, and where it stands among the
arguments and the environment."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from cutpro_async import ConfigurationError, CutPro
from cutpro_async._settings import DEFAULT_BASE_URL, resolve_connection
from cutpro_async._userconfig import (
    SavedLogin,
    config_folder,
    config_path,
    forget_login,
    load_login,
    save_login,
)
from cutpro_async.testing import FakeCutPro

KEY = "cp_live_saved_0123456789abcdef"
ENV = ("CUTPRO_API_KEY", "CUTPRO_WORKSPACE_ID", "CUTPRO_API_URL", "XDG_CONFIG_HOME")


@pytest.fixture(autouse=True)
def folder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A config folder of the test's own, and no CutPro variables from outside."""
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CUTPRO_CONFIG_DIR", str(tmp_path / "config"))
    return tmp_path / "config"


def mode(path: Path) -> int:
    """The permission bits of a file."""
    return stat.S_IMODE(path.stat().st_mode)


def test_the_folder_follows_cutpro_config_dir_then_xdg_then_home(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """`CUTPRO_CONFIG_DIR`, else `$XDG_CONFIG_HOME/cutpro`, else `~/.config/cutpro`."""
    assert config_path() == tmp_path / "config" / "config.toml"
    monkeypatch.delenv("CUTPRO_CONFIG_DIR")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert config_folder() == tmp_path / "xdg" / "cutpro"
    monkeypatch.delenv("XDG_CONFIG_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert config_folder() == tmp_path / "home" / ".config" / "cutpro"


def test_a_saved_login_is_private_toml_and_loads_back(folder: Path) -> None:
    """The file is 0600 (even under umask 0), its new folder 0700; the TOML reads back equal,
    quotes and backslashes included, and no temporary file is left."""
    login = SavedLogin(KEY, 'pw "quoted" \\ ws', "https://staging.cut.pro/api/v1")
    old = os.umask(0)
    try:
        path = save_login(login)
    finally:
        os.umask(old)
    assert path == folder / "config.toml"
    assert (mode(path), mode(folder)) == (0o600, 0o700)
    assert load_login() == login
    assert path.read_text().startswith("# Written by `cutpro login`")
    assert sorted(p.name for p in folder.iterdir()) == ["config.toml"]
    assert KEY not in repr(login)


def test_saving_again_replaces_the_file_and_logout_removes_it(folder: Path) -> None:
    """A second login replaces the first whole; `forget_login` removes it (once)."""
    save_login(SavedLogin("cp_first", "pw1", None))
    save_login(SavedLogin(KEY))
    assert load_login() == SavedLogin(KEY)
    assert "pw1" not in (folder / "config.toml").read_text()
    assert forget_login() is True
    assert forget_login() is False
    assert load_login() is None


def test_a_link_left_at_the_temporary_name_is_not_followed(folder: Path, tmp_path: Path) -> None:
    """A symlink planted where the temporary file goes is removed, never written through."""
    folder.mkdir(mode=0o700)
    victim = tmp_path / "victim"
    victim.write_text("precious")
    (folder / f".config.toml.{os.getpid()}.tmp").symlink_to(victim)
    save_login(SavedLogin(KEY))
    assert victim.read_text() == "precious"
    assert load_login() == SavedLogin(KEY)


@pytest.mark.parametrize("bits", [0o644, 0o640, 0o604, 0o660, 0o622])
def test_a_file_others_may_read_or_change_is_refused(folder: Path, bits: int) -> None:
    """Like ssh with a private key: wider than 0600 is refused, saying which file and the
    chmod that fixes it, without the key."""
    path = save_login(SavedLogin(KEY, "pw1"))
    path.chmod(bits)
    with pytest.raises(ConfigurationError) as caught:
        load_login()
    text = str(caught.value)
    assert str(path) in text
    assert f"chmod 600 {path}" in text
    assert f"{bits:04o}" in text
    assert KEY not in text


def test_a_read_only_file_of_the_owner_is_accepted() -> None:
    """0400 is narrower than 0600: fine."""
    path = save_login(SavedLogin(KEY))
    path.chmod(0o400)
    assert load_login() == SavedLogin(KEY)


@pytest.mark.parametrize(
    ("text", "why"),
    [
        (f"api_key = {KEY}\n", "not valid TOML"),
        (f"{KEY}\n", "not valid TOML"),
        (f'api_key = "{KEY}"\napi_kee = "x"\n', "settings other than"),
        (f'{KEY} = "x"\n', "settings other than"),
        ("api_key = 12345\n", "must be a string"),
        ('workspace_id = "pw1"\n', "has no api_key"),
        ('api_key = "   "\n', "has no api_key"),
        (b"api_key = '\xff'\n", "not UTF-8"),
    ],
)
def test_a_malformed_file_says_which_file_and_what_to_do(
    folder: Path, text: str | bytes, why: str
) -> None:
    """Bad TOML, unknown settings, wrong types or no key: a `ConfigurationError` naming the
    file, the problem and the way out, never quoting the key."""
    folder.mkdir(mode=0o700)
    path = folder / "config.toml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    path.chmod(0o600)
    with pytest.raises(ConfigurationError) as caught:
        load_login()
    message = str(caught.value)
    assert str(path) in message
    assert why in message
    assert "cutpro login" in message
    assert KEY not in message


def test_a_folder_where_the_file_should_be_is_refused(folder: Path) -> None:
    """`config.toml` being a folder is said plainly."""
    (folder / "config.toml").mkdir(parents=True)
    with pytest.raises(ConfigurationError, match="not a regular file"):
        load_login()


def test_the_saved_login_fills_in_everything_when_nothing_else_is_given() -> None:
    """No argument, no environment: the saved key, workspace and URL, and the file named."""
    save_login(SavedLogin(KEY, "pw_saved", "https://staging.cut.pro/api/v1/"))
    found = resolve_connection()
    assert (found.api_key, found.workspace_id, found.base_url) == (
        KEY,
        "pw_saved",
        "https://staging.cut.pro/api/v1",
    )
    assert found.saved == config_path()
    assert KEY not in repr(found)


def test_environment_beats_the_saved_workspace_and_url(monkeypatch: pytest.MonkeyPatch) -> None:
    """With the saved key, `CUTPRO_WORKSPACE_ID` and `CUTPRO_API_URL` still win; arguments
    win over both."""
    save_login(SavedLogin(KEY, "pw_saved", "https://staging.cut.pro/api/v1"))
    monkeypatch.setenv("CUTPRO_WORKSPACE_ID", "pw_env")
    monkeypatch.setenv("CUTPRO_API_URL", "https://env.cut.pro/api/v1")
    found = resolve_connection()
    assert (found.api_key, found.workspace_id, found.base_url) == (
        KEY,
        "pw_env",
        "https://env.cut.pro/api/v1",
    )
    found = resolve_connection(workspace_id="pw_arg", base_url="https://arg.cut.pro/api/v1")
    assert (found.workspace_id, found.base_url) == ("pw_arg", "https://arg.cut.pro/api/v1")


@pytest.mark.parametrize("how", ["argument", "environment"])
def test_a_key_given_otherwise_never_takes_the_saved_workspace_or_url(
    monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    """The saved workspace and URL belong to the saved key: a key given by argument or
    `CUTPRO_API_KEY` goes to the default URL with no workspace, and a broken saved file
    is not even read."""
    path = save_login(SavedLogin(KEY, "pw_saved", "https://staging.cut.pro/api/v1"))
    path.write_text("not toml at all")
    if how == "environment":
        monkeypatch.setenv("CUTPRO_API_KEY", "cp_env")
    found = resolve_connection("cp_arg" if how == "argument" else None)
    assert found.api_key == ("cp_arg" if how == "argument" else "cp_env")
    assert (found.workspace_id, found.base_url, found.saved) == (None, DEFAULT_BASE_URL, None)
    assert CutPro("cp_arg").settings.api_key == "cp_arg"


def test_the_client_uses_the_saved_key() -> None:
    """`CutPro()` with no key anywhere else takes the saved one."""
    save_login(SavedLogin(KEY))
    assert CutPro().settings.api_key == KEY


def test_a_broken_saved_login_is_reported_by_the_client(folder: Path) -> None:
    """`CutPro()` with nothing but a malformed saved login says which file is wrong."""
    path = save_login(SavedLogin(KEY))
    path.write_text("api_key = \n")
    with pytest.raises(ConfigurationError, match=str(path)):
        CutPro()


def test_a_saved_key_with_a_line_break_is_refused(folder: Path) -> None:
    """A line break in the saved key (a header injection) is refused, naming the file."""
    save_login(SavedLogin("cp_live\nX-Evil: 1"))
    with pytest.raises(ConfigurationError, match="line break") as caught:
        resolve_connection()
    assert str(folder / "config.toml") in str(caught.value)


@pytest.mark.anyio
async def test_a_client_from_the_saved_login_reaches_its_workspace(
    fake: FakeCutPro, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a login saved with a simulator's key, URL and workspace, `CutPro()` with nothing
    else given reaches that workspace at that URL."""
    save_login(SavedLogin(fake.api_key, fake.workspace_id, fake.base_url))
    async with CutPro() as cp:
        assert cp.settings.base_url == fake.base_url
        assert cp.settings.workspace_id == fake.workspace_id
        assert (await cp.workspace.get()).id == fake.workspace_id
        assert (await cp.balance.get()).balance > 0
