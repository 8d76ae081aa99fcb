"""Resolving the client's settings: arguments, then the environment, then the saved login.

`resolve_connection` is the one place that decides the key, workspace and URL. An argument
beats its environment variable (`CUTPRO_API_KEY`, `CUTPRO_WORKSPACE_ID`, `CUTPRO_API_URL`),
which beats the login saved by `cutpro login` (`_userconfig`). The saved login is one
profile: it is read only when no key is given by argument or environment, and then fills in
the workspace and URL not given either, since those belong to its key. A key given any other
way is never mixed with the saved workspace or URL, and a broken saved login never gets in the
way of a key given explicitly.
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from urllib.parse import urlsplit

import attrs

from ._userconfig import SavedLogin, config_path, load_login
from ._version import __version__
from .config import Limits, Pacing, Polling, RetryPolicy, Timeouts
from .errors import ConfigurationError, TransferError

DEFAULT_BASE_URL = "https://api.cut.pro/api/v1"
USER_AGENT = f"cutpro-async/{__version__}"
KEYS_PAGE = "https://cut.pro/studio/me/api-keys"
#: What a library user without a key is told (the command line says it its own way).
NO_KEY = (
    "no CutPro API key: pass CutPro(api_key=...), set CUTPRO_API_KEY or run `cutpro login` "
    f"(keys are made at {KEYS_PAGE}); to try the library without a key, run it against the "
    "simulator, cutpro_async.testing.FakeCutPro"
)


@attrs.frozen
class Settings:
    """Everything the transport needs; the key never shows in a repr."""

    base_url: str
    api_key: str = attrs.field(repr=False)
    workspace_id: str | None
    timeouts: Timeouts
    retry: RetryPolicy
    pacing: Pacing
    limits: Limits
    polling: Polling
    allow_insecure_http: bool = False


def _is_loopback(host: str) -> bool:
    """Whether `host` is this machine (plain http is allowed only there)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def resolve_base_url(base_url: str | None, allow_insecure_http: bool) -> str:
    """The argument, else `CUTPRO_API_URL`, else the public API; https unless loopback."""
    url = (base_url or os.environ.get("CUTPRO_API_URL") or DEFAULT_BASE_URL).rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(f"base_url must be an http(s) URL such as {DEFAULT_BASE_URL}")
    if parts.query or parts.fragment or parts.username:
        raise ConfigurationError("base_url must not carry credentials, a query or a fragment")
    if parts.scheme == "http" and not (_is_loopback(parts.hostname) or allow_insecure_http):
        raise ConfigurationError(
            f"refusing plain http to {parts.hostname}: the API key would travel unencrypted; "
            "use https, or pass allow_insecure_http=True if you really mean it"
        )
    return url


def check_storage_link(url: str, allow_insecure_http: bool) -> None:
    """Refuse a storage link that is not https (plain http only to loopback, or when allowed).

    A signed link is a bearer secret for its object: over plain http anyone on the path can
    read it, and the file it fetches can be swapped.
    """
    parts = urlsplit(url)
    if parts.scheme == "https" or (
        parts.scheme == "http" and (_is_loopback(parts.hostname or "") or allow_insecure_http)
    ):
        return
    raise TransferError(
        f"refusing a {parts.scheme or 'schemeless'} storage link to {parts.hostname or '?'}: "
        "only https is used (plain http only to loopback, or with allow_insecure_http=True)"
    )


@attrs.frozen
class Connection:
    """Where and as whom the client talks; `saved` names the saved login used, if one was."""

    base_url: str
    api_key: str = attrs.field(repr=False)
    workspace_id: str | None
    saved: Path | None = None


def resolve_connection(
    api_key: str | None = None,
    *,
    workspace_id: str | None = None,
    base_url: str | None = None,
    allow_insecure_http: bool = False,
    no_key: str = NO_KEY,
) -> Connection:
    """Key, workspace and URL: arguments > environment > the login saved by `cutpro login`.

    `no_key` is the message of the `ConfigurationError` raised when no key is found.
    """
    key = _given_key(api_key)
    saved: SavedLogin | None = None
    if key is None:
        saved = load_login()
        if saved is None:
            raise ConfigurationError(no_key)
        key = _checked_key(saved.api_key, f"the key saved in {config_path()}")
    url = base_url or os.environ.get("CUTPRO_API_URL") or (saved.api_url if saved else None)
    workspace = workspace_id or os.environ.get("CUTPRO_WORKSPACE_ID") or None
    if workspace is None and saved is not None:
        workspace = saved.workspace_id
    return Connection(
        resolve_base_url(url, allow_insecure_http),
        key,
        workspace,
        config_path() if saved else None,
    )


def _given_key(api_key: str | None) -> str | None:
    """The key given by argument, else by `CUTPRO_API_KEY`, checked; None if neither."""
    if api_key is not None and not isinstance(api_key, str):
        raise ConfigurationError(
            f"api_key must be a string (the key from {KEYS_PAGE}), not {type(api_key).__name__}"
        )
    if api_key and api_key.strip():
        return _checked_key(api_key, "the API key")
    env = os.environ.get("CUTPRO_API_KEY")
    if env and env.strip():
        return _checked_key(env, "CUTPRO_API_KEY")
    return None


def _checked_key(key: str, what: str) -> str:
    """The key without surrounding whitespace; refused if it holds a line break."""
    if any(ch in key for ch in "\r\n"):
        raise ConfigurationError(f"{what} contains a line break: check how it was read")
    return key.strip()
