"""Faults on demand: what to break, how often, on which route, reproducibly from a seed.

A spec is a comma-separated list of `KIND[:PARAM][=RATE][#MAX][@ROUTE]`, for example
`5xx=0.1, latency:0.05, drop=0.3@POST /clips, 429:5=0.02, truncate=0.2#3`.

API kinds (default: every API route): `latency:SECONDS`, `5xx` (502/503/504 at random) or one
of `500 502 503 504`, `reset` (connection closed before the request is processed), `429:BURST`
(a burst of BURST 429s with both hints), `429-header:BURST`, `429-body:BURST` (only one hint),
`drop` (the request is processed and committed, then the connection closes with no response;
default route `POST /clips`), `commit502` (processed, then answered 502), `slowcommit:SECONDS`
(`POST /clips` only, its default route: validated and checked for credits and a running job at
once, then committed SECONDS real seconds later, whether or not the client is still there).
Storage kinds (default: file downloads): `truncate` (body cut short), `expire` (signed link
refused as expired), `trickle:BYTES_PER_SECOND`, `stall:SECONDS` (pause mid-body), `chunked`
(no Content-Length), `html` (a 200 `text/html` login page instead of the file), `shortlen`
(a `Content-Length` below the body, the rest sent after it on a `Connection: close` answer),
`eof` (a close-delimited body: no length, no chunking, closed early), `corrupt` (one byte
flipped, headers unchanged: only a stated checksum catches it). Cut points and the flipped
byte are drawn from the seed.

A ROUTE is `METHOD /path/{param}` exactly as the route table names it (e.g.
`GET /renders/{renderId}`), a bare path prefix (any method, any longer path), or
`PUT /uploads` for upload PUTs.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterable, Sequence

import attrs

API_KINDS = frozenset(
    {
        "latency",
        "5xx",
        "500",
        "502",
        "503",
        "504",
        "reset",
        "429",
        "429-header",
        "429-body",
        "drop",
        "commit502",
        "slowcommit",
    }
)
STORAGE_KINDS = frozenset(
    {"truncate", "expire", "trickle", "stall", "chunked", "html", "shortlen", "eof", "corrupt"}
)
DEFAULT_PARAMS = {
    "latency": 0.05,
    "429": 5,
    "429-header": 5,
    "429-body": 5,
    "trickle": 65536,
    "stall": 2.0,
    "slowcommit": 10.0,
}
DEFAULT_ROUTES = {"drop": "POST /clips", "slowcommit": "POST /clips"}
STORAGE_DOWNLOAD = "GET /files"


@attrs.frozen
class Fault:
    """One kind of failure, injected with probability `rate`, at most `max_count` times."""

    kind: str = attrs.field(validator=attrs.validators.in_(API_KINDS | STORAGE_KINDS))
    rate: float = attrs.field(
        default=1.0, validator=[attrs.validators.ge(0), attrs.validators.le(1)]
    )
    param: float | None = None
    route: str | None = None
    max_count: int | None = None

    @property
    def value(self) -> float:
        """The parameter, or the kind's default."""
        return self.param if self.param is not None else DEFAULT_PARAMS.get(self.kind, 0.0)

    def applies_to(self, route_key: str) -> bool:
        """Whether this fault targets the route `METHOD /path`."""
        target = self.route or DEFAULT_ROUTES.get(self.kind)
        if target is None:
            storage = route_key.startswith(("GET /files", "PUT /uploads", "HEAD /files"))
            return storage == (self.kind in STORAGE_KINDS)
        if " " in target:  # `METHOD /path/{param}`: that route only
            return route_key == target
        return route_key.split(" ", 1)[1].startswith(target)


def parse_fault(item: str) -> Fault:
    """One `KIND[:PARAM][=RATE][#MAX][@ROUTE]` item; ValueError says what is wrong."""
    text, _, route = item.strip().partition("@")
    text, _, max_count = text.partition("#")
    text, _, rate = text.partition("=")
    kind, _, param = (part.strip() for part in text.partition(":"))
    if kind not in API_KINDS | STORAGE_KINDS:
        kinds = ", ".join(sorted(API_KINDS | STORAGE_KINDS))
        raise ValueError(f"unknown fault kind {kind!r} in {item.strip()!r}; kinds are {kinds}")
    try:
        numbers = (
            float(rate) if rate.strip() else 1.0,
            float(param) if param else None,
            int(max_count) if max_count.strip() else None,
        )
    except ValueError:
        raise ValueError(
            f"bad number in fault {item.strip()!r}: use KIND[:PARAM][=RATE][#MAX][@ROUTE]"
        ) from None
    if not 0 <= numbers[0] <= 1:
        raise ValueError(f"fault rate must be within 0..1 in {item.strip()!r}")
    return Fault(kind, numbers[0], numbers[1], route.strip() or None, numbers[2])


def parse_faults(spec: str) -> list[Fault]:
    """A whole spec (empty means no faults)."""
    return [parse_fault(item) for item in spec.split(",") if item.strip()]


class FaultPlan:
    """The faults in force; decisions come from one seeded generator."""

    def __init__(self, faults: Iterable[Fault] = (), seed: int = 0) -> None:
        self.faults: tuple[Fault, ...] = tuple(faults)
        self._rng = random.Random(seed)
        self._used: dict[int, int] = {}
        self._bursts: dict[str, tuple[Fault, int]] = {}
        self._lock = threading.Lock()
        self.injected: dict[str, int] = {}

    def replace(self, faults: Iterable[Fault], seed: int | None = None) -> None:
        """Put other faults in force (and optionally reseed), keeping the plan object."""
        with self._lock:
            self.faults = tuple(faults)
            self._used.clear()
            self._bursts.clear()
            if seed is not None:
                self._rng.seed(seed)

    def pick(self, route_key: str, kinds: Sequence[str] | frozenset[str]) -> list[Fault]:
        """The faults that fire for this request, among `kinds`."""
        fired = []
        with self._lock:
            for index, fault in enumerate(self.faults):
                if fault.kind not in kinds or not fault.applies_to(route_key):
                    continue
                if fault.max_count is not None and self._used.get(index, 0) >= fault.max_count:
                    continue
                if self._rng.random() < fault.rate:
                    self._used[index] = self._used.get(index, 0) + 1
                    self.injected[fault.kind] = self.injected.get(fault.kind, 0) + 1
                    fired.append(fault)
        return fired

    def burst(self, key: str, fault: Fault | None) -> Fault | None:
        """A 429 burst: once started, the next BURST-1 requests of `key` also get 429."""
        with self._lock:
            if fault is not None:
                self._bursts[key] = (fault, int(fault.value) - 1)
                return fault
            running, left = self._bursts.get(key, (None, 0))
            if running is None or left <= 0:
                return None
            self._bursts[key] = (running, left - 1)
            return running

    def random(self) -> float:
        """A draw from the plan's generator (where to truncate, which 5xx)."""
        with self._lock:
            return self._rng.random()


def error_status(fired: dict[str, Fault], plan: FaultPlan) -> int | None:
    """The 5xx status a set of fired faults asks for (None: no 5xx fault fired)."""
    if "5xx" in fired:
        return (502, 503, 504)[int(plan.random() * 3)]
    return next((int(k) for k in ("500", "502", "503", "504") if k in fired), None)


def retry_headers(status: int) -> dict[str, str]:
    """A 503 says when to come back; other simulated 5xx do not."""
    return {"Retry-After": "1"} if status == 503 else {}
