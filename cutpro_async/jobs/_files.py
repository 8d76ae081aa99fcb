"""Small helpers for local files: safe names, redacted URLs, clear errors for failed I/O."""

from __future__ import annotations

import errno
import re
import unicodedata
from pathlib import Path
from urllib.parse import urlsplit

from ..errors import LocalFileError

_UNSAFE = re.compile(r'[<>:"/\\|?*]+')
#: Query parameters (and their echo in storage error pages) that carry a link's secret.
_SECRET = re.compile(
    r"(?i)((?:x-amz-|x-goog-)?(?:signature|credential|security-token|sig|token))=[^&\s\"'<>]*"
)
_RESERVED = frozenset(
    ["CON", "PRN", "AUX", "NUL"] + [f"{p}{n}" for p in ("COM", "LPT") for n in range(1, 10)]
)
MAX_NAME_BYTES = 200


def _visible(char: str) -> str:
    """Control and line/paragraph separator characters become `_`."""
    return "_" if unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp") else char


def _cap(name: str, limit: int = MAX_NAME_BYTES) -> str:
    """At most `limit` UTF-8 bytes, shortening the stem first and keeping a short extension."""
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem or len(ext.encode()) > limit // 2:
        stem, ext = name, ""
    room = limit - (len(ext.encode()) + 1 if ext else 0)
    stem = stem.encode()[:room].decode(errors="ignore")
    return f"{stem}.{ext}" if ext else stem


def sanitize_filename(name: str, fallback: str = "download") -> str:
    """A file name safe on every OS: no separators, control characters, leading dots,
    reserved device names (CON, NUL, ...), and at most 200 bytes."""
    if name.isascii() and name.isprintable():  # already NFC, no control characters
        cleaned = name
    else:
        cleaned = "".join(_visible(c) for c in unicodedata.normalize("NFC", name))
    cleaned = _UNSAFE.sub("_", cleaned).strip(" .")
    if cleaned.split(".", 1)[0].upper() in _RESERVED:
        cleaned = f"_{cleaned}"
    if len(cleaned) * 4 > MAX_NAME_BYTES and len(cleaned.encode()) > MAX_NAME_BYTES:
        cleaned = _cap(cleaned).strip(" .")  # (a name that fits is left as it is)
    return cleaned or fallback


def redact_url(url: str) -> str:
    """A URL without its query and credentials (signed links keep their secret there)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


def local_error(action: str, path: Path, exc: OSError) -> LocalFileError:
    """A clear error for a failed local file operation, saying what to do.

    `action` is a verb phrase (`write`, `read`); reading never leaves anything behind, writing
    keeps the partial download for the next call to resume.
    """
    advice = {
        errno.ENOSPC: "free some disk space",
        errno.EACCES: "fix the folder's permissions",
        errno.EROFS: "choose a writable folder",
    }.get(exc.errno or 0, "check the path")
    reason = exc.strerror or str(exc)
    return LocalFileError(
        exc.errno or 0,
        f"cannot {action} {path}: {reason}; {advice}, then call again"
        + ("" if action == "read" else " (a partial download is kept and resumed)"),
    )


def redact_text(text: str) -> str:
    """`text` with the values of signature-like parameters (`X-Amz-Signature=…`, `sig=…`) hidden."""
    return _SECRET.sub(r"\1=REDACTED", text)


def printable(data: bytes, limit: int = 64) -> str:
    """The first bytes of a body as readable text (secrets hidden), for an error message."""
    text = "".join(chr(b) if 32 <= b < 127 else "." for b in data[:limit])
    return redact_text(text)
