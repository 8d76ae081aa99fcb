"""Client settings as small frozen value objects, each with a `DEFAULT_*` instance.

`None` means "disabled" wherever a limit can be turned off (e.g. `Timeouts(total=None)`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import attrs
from attrs import validators as v


def _positive(_: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    """Optional limits must be positive when given (None disables them)."""
    if value is not None and value <= 0:
        raise ValueError(f"{attribute.name} must be > 0, or None to disable it (got {value})")


def _budgets(value: Mapping[str, Budget]) -> Mapping[str, Budget]:
    """A private copy of the endpoint budgets."""
    return dict(value)


@attrs.frozen
class Timeouts:
    """Timeouts in seconds for API calls, and the stall timeout of downloads.

    API calls are bounded as a whole (`total`); file transfers (downloads and upload PUTs) have
    no total timeout, only `stall` (no byte moved for that long), so a large MP4 is never killed
    half-way.
    """

    connect: float | None = attrs.field(default=10.0, validator=_positive)
    read: float | None = attrs.field(default=60.0, validator=_positive)
    total: float | None = attrs.field(default=120.0, validator=_positive)
    stall: float | None = attrs.field(default=60.0, validator=_positive)


@attrs.frozen
class RetryEvent:
    """One retry about to happen: what failed, which attempt it was, and the wait before the next.

    `what` names the request without secrets (`GET /renders/r_1`, `download of
    https://host/path`: links lose their query).
    """

    what: str
    attempt: int  # 1 for the first attempt that failed
    wait: float
    error: BaseException


@attrs.frozen
class RetryPolicy:
    """When and how long to wait before repeating a request that is safe to repeat.

    Backoff is exponential with full jitter, capped at `backoff_max`. A server-given wait
    (`extra.retry_after` or `Retry-After`) is honoured up to `max_retry_after`; past it the
    error is raised instead. The retry budget lets retries be at most about `budget_ratio` of
    successful requests after the first `budget_initial`, so a dead API fails fast; each host
    (the API, each storage host) has its own budget. `deadline` bounds the time one call may
    spend retrying (None: only the attempt limit bounds it). `on_retry` is called with a
    `RetryEvent` before each retry, for logs and metrics.
    """

    max_retries: int = attrs.field(default=4, validator=v.ge(0))
    backoff_initial: float = attrs.field(default=0.5, validator=v.gt(0))
    backoff_max: float = attrs.field(default=30.0, validator=v.gt(0))
    max_retry_after: float = attrs.field(default=120.0, validator=v.ge(0))
    budget_initial: float = attrs.field(default=20.0, validator=v.ge(0))
    budget_ratio: float = attrs.field(default=0.2, validator=v.ge(0))
    deadline: float | None = attrs.field(default=None, validator=_positive)
    #: How long after a paid request failed ambiguously it may still commit on the server:
    #: nothing is sent again before. None: the larger of 120 s and three read timeouts.
    commit_window: float | None = attrs.field(default=None, validator=_positive)
    on_retry: Callable[[RetryEvent], object] | None = attrs.field(default=None, eq=False)


@attrs.frozen
class Budget:
    """At most `requests` requests in any window of `seconds`."""

    requests: int = attrs.field(validator=v.gt(0))
    seconds: float = attrs.field(validator=v.gt(0))


#: `/clips/info` is documented at 10 requests per minute per user.
DEFAULT_ENDPOINT_BUDGETS: Mapping[str, Budget] = {"POST /clips/info": Budget(10, 60.0)}


@attrs.frozen
class Pacing:
    """Client-side pacing shared by every request of one client.

    `requests_per_second` caps the whole client (None: no cap) with bursts of `burst`;
    `endpoints` holds per-route budgets keyed `METHOD /path/{param}`. A 429 on a route with its
    own budget pauses only that budget for the server's wait; a 429 elsewhere pauses the whole
    client for that wait and halves the global rate, which then climbs back on successes
    (with no global rate, such a 429 is only retried after its wait).
    """

    requests_per_second: float | None = attrs.field(default=20.0, validator=_positive)
    burst: int = attrs.field(default=10, validator=v.gt(0))
    endpoints: Mapping[str, Budget] = attrs.field(
        default=DEFAULT_ENDPOINT_BUDGETS, converter=_budgets, hash=False
    )
    #: Added to every window so that the server's clock never sees one request too many.
    margin: float = attrs.field(default=0.05, validator=v.ge(0))


@attrs.frozen
class Limits:
    """Connection pool size, the largest JSON body and download accepted, file threads.

    Downloads write ~1 MiB blocks off the event loop through at most `file_threads` threads,
    so a thousand downloads never starve other users of `anyio.to_thread`. A download body
    larger than `max_download_bytes` (or than the size its headers or the API state) is cut
    off with an error, so an endless body cannot fill the disk.
    """

    max_connections: int = attrs.field(default=16, validator=v.gt(0))
    max_json_bytes: int = attrs.field(default=8 * 1024 * 1024, validator=v.gt(0))
    file_threads: int = attrs.field(default=4, validator=v.gt(0))
    max_download_bytes: int = attrs.field(default=4 * 1024**3, validator=v.gt(0))


@attrs.frozen
class Polling:
    """How waiters poll a remote job: soon at first, then backing off towards `max_interval`.

    When the server estimates the time left (`estimated_time`), the next poll is aimed at it,
    within [`first`, `max_interval`]. Each interval is jittered by +/- `jitter` (a fraction).
    """

    first: float = attrs.field(default=1.5, validator=v.gt(0))
    max_interval: float = attrs.field(default=10.0, validator=v.gt(0))
    factor: float = attrs.field(default=1.6, validator=v.ge(1))
    jitter: float = attrs.field(default=0.1, validator=[v.ge(0), v.lt(1)])


DEFAULT_TIMEOUTS = Timeouts()
DEFAULT_RETRY = RetryPolicy()
DEFAULT_PACING = Pacing()
DEFAULT_LIMITS = Limits()
DEFAULT_POLLING = Polling()
