"""Download answers that break the rules: an HTML page, lying framing, a flipped byte.

The `html`, `shortlen`, `eof` and `corrupt` faults are made here; aiohttp keeps a response's
framing honest, so the two framing faults write their answer straight to the socket.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Iterator
from email.utils import formatdate
from http import HTTPStatus

from aiohttp import web
from multidict import CIMultiDict

# What a captive portal or an expired SSO session serves, with 200, in place of the file.
LOGIN_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in - Network Access</title>
</head>
<body>
<h1>Sign in to continue</h1>
<p>Your session has expired, or this network requires you to sign in before downloading.</p>
<form method="post" action="/login">
<label>User name <input name="username" autocomplete="username"></label>
<label>Password <input name="password" type="password"></label>
<button type="submit">Sign in</button>
</form>
</body>
</html>
"""
# Time for the client to consume the announced bytes before the excess follows: llhttp rejects
# data that arrives in the same read as the end of a `Connection: close` body.
EXCESS_DELAY = 0.05


def html_page() -> web.Response:
    """A 200 `text/html` login page instead of the file."""
    return web.Response(
        text=LOGIN_PAGE,
        content_type="text/html",
        charset="utf-8",
        headers={"Cache-Control": "no-store"},
    )


def flip_byte(chunks: Iterable[bytes], at: int) -> Iterator[bytes]:
    """The chunks with the byte at offset `at` (counted from the first chunk) inverted."""
    seen = 0
    for chunk in chunks:
        if seen <= at < seen + len(chunk):
            spot = at - seen
            chunk = chunk[:spot] + bytes([chunk[spot] ^ 0xFF]) + chunk[spot + 1 :]
        seen += len(chunk)
        yield chunk


class RawAnswer:
    """An HTTP/1.1 answer written to the socket as is: `length` may be wrong or absent.

    It always says `Connection: close`, so that bytes past a short `Content-Length` cannot be
    read as the next answer on a reused connection.
    """

    def __init__(self, request: web.Request, length: int | None) -> None:
        assert request.transport is not None
        self._request, self._transport = request, request.transport
        self._length, self._sent = length, 0

    def start(self, status: int, headers: CIMultiDict[str]) -> None:
        """Write the status line and headers (plus Date, Server, framing)."""
        lines = [f"HTTP/1.1 {status} {HTTPStatus(status).phrase}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        lines += [f"Date: {formatdate(usegmt=True)}", "Server: cutpro-sim-storage"]
        if self._length is not None:
            lines.append(f"Content-Length: {self._length}")
        lines.append("Connection: close")
        self._transport.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))

    async def write(self, chunk: bytes) -> None:
        """Send body bytes; the first byte past the announced length waits a moment."""
        if self._length is not None and self._sent <= self._length < self._sent + len(chunk):
            announced = self._length - self._sent
            await self._send(chunk[:announced])
            await asyncio.sleep(EXCESS_DELAY)
            chunk = chunk[announced:]
        await self._send(chunk)

    async def _send(self, data: bytes) -> None:
        """Write and wait for the socket to drain (large bodies stay out of memory)."""
        if data and not self._transport.is_closing():
            self._transport.write(data)
            self._sent += len(data)
            await self._request.writer.drain()

    def close(self) -> web.StreamResponse:
        """Close the connection (the end of a close-delimited body); aiohttp has nothing to send."""
        self._transport.close()
        return web.StreamResponse()
