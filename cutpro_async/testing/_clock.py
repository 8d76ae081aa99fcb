"""The simulator's clock: real time plus manual jumps, and job timing scaled by `time_scale`."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

from ._wire import iso


class Clock:
    """Positions are real seconds since start (plus jumps); job durations are API-seconds.

    Timestamps the API shows are the server's wall clock: real time plus `skew` seconds (a
    server whose clock is off), so a client can compare them with the `Date` header, while a
    job that takes 10 API-minutes finishes in `600 / time_scale` real seconds.
    """

    def __init__(self, time_scale: float = 1.0, skew: float = 0.0) -> None:
        if time_scale <= 0:
            raise ValueError("time_scale must be > 0 (API-seconds per real second)")
        self.time_scale = time_scale
        self.skew = skew
        self._start = time.monotonic()
        self._wall_start = datetime.now(UTC) + timedelta(seconds=skew)
        self._jumps = 0.0

    @property
    def wall_start(self) -> datetime:
        """The server's wall-clock time at position 0 (skew included)."""
        return self._wall_start

    def resume(self, position: float, wall_start: datetime) -> None:
        """Continue a saved clock: it reads `position` now and counts on from there.

        Time the simulator spent stopped does not pass for it, so jobs continue where they
        were; the wall clock it shows continues from the saved one too.
        """
        self._start = time.monotonic()
        self._jumps = position
        self._wall_start = wall_start

    def now(self) -> float:
        """The current position, in real seconds since the simulator started."""
        return time.monotonic() - self._start + self._jumps

    def after(self, api_seconds: float, start: float | None = None) -> float:
        """The position `api_seconds` of simulated work after `start` (default: now)."""
        return (self.now() if start is None else start) + api_seconds / self.time_scale

    def to_api_seconds(self, real_seconds: float) -> float:
        """Convert a real-time span into API-seconds."""
        return real_seconds * self.time_scale

    def wall(self, position: float | None = None) -> datetime:
        """The server's wall-clock time (skew included) of a position (default: now)."""
        pos = self.now() if position is None else position
        return self._wall_start + timedelta(seconds=pos)

    def iso(self, position: float | None = None) -> str:
        """`wall(position)` as the API writes timestamps (see `_wire.iso`)."""
        return iso(self.wall(position))

    def http_date(self) -> str:
        """The server's time now as an HTTP `Date` (RFC 9110 IMF-fixdate)."""
        return format_datetime(self.wall().replace(microsecond=0), usegmt=True)

    def position_of(self, wall: datetime) -> float:
        """The position of a wall-clock time."""
        return (wall - self._wall_start).total_seconds()

    def advance(self, api_seconds: float) -> None:
        """Jump forward by `api_seconds` of simulated work (tests use it to reach expiry)."""
        self._jumps += api_seconds / self.time_scale
