"""The login saved by `cutpro login`: a small TOML file in the user's config folder.

The file is `config.toml` in `$CUTPRO_CONFIG_DIR`, else `$XDG_CONFIG_HOME/cutpro`, else
`~/.config/cutpro`. It holds `api_key` and, when given at login, `workspace_id` and
`api_url`:

    # Written by `cutpro login`; keep it private (mode 0600). `cutpro logout` removes it.
    api_key = "cp_live_..."
    workspace_id = "pw_..."

It is created with mode 0600 from its first byte (the folder 0700) and replaced atomically.
A file that other users may read or change is refused, as ssh refuses such a private key:
its key may be known to others, and its `api_url` may have been changed to collect the key.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tomllib
from pathlib import Path

import attrs

from .errors import ConfigurationError

CONFIG_FILE = "config.toml"
_FIELDS = ("api_key", "workspace_id", "api_url")
_MAX_BYTES = 64 * 1024  # far more than three settings need
_HEADER = "# Written by `cutpro login`; keep it private (mode 0600). `cutpro logout` removes it."


@attrs.frozen
class SavedLogin:
    """What `cutpro login` saved; the key never shows in a repr."""

    api_key: str = attrs.field(repr=False)
    workspace_id: str | None = None
    api_url: str | None = None


def config_folder() -> Path:
    """This user's cutpro config folder."""
    explicit = os.environ.get("CUTPRO_CONFIG_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "cutpro"


def config_path() -> Path:
    """Where `cutpro login` saves the login."""
    return config_folder() / CONFIG_FILE


def load_login(path: Path | None = None) -> SavedLogin | None:
    """The saved login (None when there is none); `ConfigurationError` when it is unusable."""
    path = path or config_path()
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)  # a FIFO would block
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise _unusable(path, f"it cannot be read ({exc.strerror or exc})") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise _unusable(path, "it is not a regular file")
    with os.fdopen(fd, "rb") as handle:
        if info.st_mode & 0o077:
            raise ConfigurationError(
                f"the saved login {path} may be read or changed by other users (mode "
                f"{stat.S_IMODE(info.st_mode):04o}), so it is not used: run `chmod 600 {path}`; "
                "if others could read it, also make a new key at "
                "https://cut.pro/studio/me/api-keys and run `cutpro login` again"
            )
        data = handle.read(_MAX_BYTES + 1)
    if len(data) > _MAX_BYTES:
        raise _unusable(path, "it is far too large to be a saved login")
    try:
        fields = tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise _unusable(path, "it is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:  # names a line and column, never a value
        raise _unusable(path, f"it is not valid TOML ({exc})") from None
    return _login_of(path, fields)


def _login_of(path: Path, fields: dict[str, object]) -> SavedLogin:
    """The login in a parsed file, checked setting by setting."""
    if set(fields) - set(_FIELDS):  # their names are not repeated: one might be a pasted key
        raise _unusable(path, "it has settings other than api_key, workspace_id and api_url")
    for name, value in fields.items():
        if not isinstance(value, str):
            raise _unusable(path, f"{name} must be a string in double quotes")
    key = fields.get("api_key")
    if not isinstance(key, str) or not key.strip():
        raise _unusable(path, "it has no api_key")
    workspace, url = fields.get("workspace_id"), fields.get("api_url")
    return SavedLogin(
        key.strip(),
        workspace if isinstance(workspace, str) and workspace else None,
        url if isinstance(url, str) and url else None,
    )


def _unusable(path: Path, why: str) -> ConfigurationError:
    """The error for a saved login that cannot be used: which file, why, what to do."""
    return ConfigurationError(
        f"cannot use the saved login {path}: {why}; fix the file, or remove it (`cutpro logout`) "
        "and run `cutpro login` again"
    )


def save_login(login: SavedLogin, path: Path | None = None) -> Path:
    """Write the login atomically, private from its first byte (0600; a new folder 0700)."""
    path = path or config_path()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()  # a leftover of a crashed login; O_EXCL below needs the name free
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(tmp, flags, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(render_login(login).encode())
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _sync_folder(path.parent)
    return path


def forget_login(path: Path | None = None) -> bool:
    """Remove the saved login; whether there was one."""
    path = path or config_path()
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    _sync_folder(path.parent)
    return True


def render_login(login: SavedLogin) -> str:
    """The TOML text of a login."""
    lines = [_HEADER]
    for name in _FIELDS:
        value = getattr(login, name)
        if value is not None:
            lines.append(f"{name} = {_toml_string(value)}")
    return "\n".join(lines) + "\n"


def _toml_string(value: str) -> str:
    """A TOML basic string: quotes, backslashes and control characters escaped."""
    out = []
    for char in value:
        if char in '"\\':
            out.append("\\" + char)
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def _sync_folder(folder: Path) -> None:
    """Make a rename or removal in `folder` durable."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
