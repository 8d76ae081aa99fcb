"""The API server's clock, learned from the `Date` header of its answers.

Submissions carry the server's timestamps; comparing them with the local clock is wrong by
however far the two clocks disagree (minutes, on a badly kept machine). Every answer's `Date`
tells the server's time to the second, so the client keeps the offset and compares server
timestamps with server time.
"""

from __future__ import annotations

import email.utils
import time
from datetime import UTC, datetime, timedelta


class ServerClock:
    """The server's time as best known: the local clock plus the offset the last `Date` gave."""

    def __init__(self) -> None:
        self._offset: float | None = None

    @property
    def offset(self) -> float | None:
        """Seconds the server's clock is ahead of ours (None until an answer had a `Date`)."""
        return self._offset

    def observe(self, date: str | None) -> None:
        """Learn from one answer's `Date` header (ignored when missing or unreadable)."""
        if not date:
            return
        try:
            server = email.utils.parsedate_to_datetime(date)
        except (TypeError, ValueError):
            return
        if server.tzinfo is None:
            return
        # `Date` is cut to the whole second: the server's time was within the next second.
        self._offset = server.timestamp() + 0.5 - time.time()

    def now(self) -> datetime:
        """The server's current time (the local time until an answer had a `Date`)."""
        return datetime.now(UTC) + timedelta(seconds=self._offset or 0.0)
