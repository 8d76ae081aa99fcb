"""Signed, expiring links to the simulated storage host (uploads and downloads)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from urllib.parse import quote, unquote, urlencode

from ._clock import Clock


class Signer:
    """Signs `path + expiry` with a per-simulator secret, as S3-style presigned URLs do."""

    def __init__(self, clock: Clock, base_url: str = "") -> None:
        self._clock = clock
        self._secret = secrets.token_bytes(32)
        self.base_url = base_url

    def _signature(self, path: str, expires: int) -> str:
        """HMAC of the path and expiry."""
        message = f"{path}\n{expires}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    def sign(self, path: str, ttl: float) -> str:
        """A full URL to `path` (already quoted) valid for `ttl` real seconds."""
        expires = int(self._clock.wall().timestamp() + ttl)
        # Signed over the decoded path: clients may re-quote characters such as ':'.
        query = urlencode(
            {"expires": expires, "signature": self._signature(unquote(path), expires)}
        )
        return f"{self.base_url}{path}?{query}"

    def check(self, path: str, expires: str | None, signature: str | None) -> str | None:
        """None if the link to the decoded `path` is valid, else why it is refused."""
        if not expires or not signature or not expires.isdigit():
            return "missing or malformed signature"
        if not hmac.compare_digest(self._signature(path, int(expires)), signature):
            return "signature does not match"
        if int(expires) < self._clock.wall().timestamp():
            return "request has expired"
        return None


def file_path(kind: str, ident: str, filename: str) -> str:
    """The storage path of a served file."""
    return f"/files/{kind}/{quote(ident, safe='')}/{quote(filename, safe='')}"
