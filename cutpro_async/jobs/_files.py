"""Small helpers for local files: safe names, redacted URLs, off-loop file operations."""

from __future__ import annotations

import errno
import re
import unicodedata
from pathlib import Path
from urllib.parse import urlsplit

from ..errors import LocalFileError

_UNSAFE = re.compile(r'[\x00-\x1f\x7f<>:"/\\|?*]+')
MAX_NAME_BYTES = 200


def sanitize_filename(name: str, fallback: str = "download") -> str:
    """A file name safe on every OS: no separators, control characters or leading dots."""
    cleaned = _UNSAFE.sub("_", unicodedata.normalize("NFC", name)).strip(" .")
    stem, dot, ext = cleaned.rpartition(".")
    if not dot:
        stem, ext = cleaned, ""
    while len(cleaned.encode()) > MAX_NAME_BYTES and stem:
        stem = stem[:-1]
        cleaned = f"{stem}.{ext}" if ext else stem
    return cleaned or fallback


def redact_url(url: str) -> str:
    """A URL without its query and credentials (signed links keep their secret there)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


def local_error(action: str, path: Path, exc: OSError) -> LocalFileError:
    """A clear error for a failed local file operation, saying what to do."""
    advice = {
        errno.ENOSPC: "free some disk space",
        errno.EACCES: "fix the folder's permissions",
        errno.EROFS: "choose a writable folder",
    }.get(exc.errno or 0, "check the path")
    reason = exc.strerror or str(exc)
    return LocalFileError(
        exc.errno or 0,
        f"cannot {action} {path}: {reason}; {advice}, "
        "then call again (a partial download is kept and resumed)",
    )
