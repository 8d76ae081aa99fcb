"""Resolving the client's settings from arguments and the environment."""

from __future__ import annotations

import ipaddress
import os
from urllib.parse import urlsplit

import attrs

from ._version import __version__
from .config import Limits, Pacing, Polling, RetryPolicy, Timeouts
from .errors import ConfigurationError, TransferError

DEFAULT_BASE_URL = "https://api.cut.pro/api/v1"
USER_AGENT = f"cutpro-async/{__version__}"


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


def resolve_api_key(api_key: str | None) -> str:
    """The argument, else `CUTPRO_API_KEY`; a clear error when neither is set."""
    if api_key is not None and not isinstance(api_key, str):
        raise ConfigurationError(
            f"api_key must be a string (the key from https://cut.pro/studio/me/api-keys), "
            f"not {type(api_key).__name__}"
        )
    key = api_key or os.environ.get("CUTPRO_API_KEY")
    if not key or not key.strip():
        raise ConfigurationError(
            "no CutPro API key: pass CutPro(api_key=...) or set CUTPRO_API_KEY "
            "(create one at https://cut.pro/studio/me/api-keys)"
        )
    if any(ch in key for ch in "\r\n"):
        raise ConfigurationError("the API key contains a line break: check how it was read")
    return key.strip()
