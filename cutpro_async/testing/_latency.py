"""A latency model: how long each API route and the storage host take to answer, seeded.

Off by default. `FakeCutPro(latency="realistic")` (or `SimConfig(latency=...)`, `cutpro
simulate --latency realistic`) delays every answer by a draw from a lognormal spread around
the route's median, 50 to 300 ms in the `realistic` preset; `latency=0.1` puts every route
around 100 ms. Latencies are real seconds, never scaled by `time_scale` (which scales the
jobs' durations only): they are the network and the server's own work.

An API request spends half its draw before its handler runs (the request travelling and
queueing: a job starts, a rate-limit window counts it, then) and half after (the answer
travelling). A storage request spends its whole draw before the first byte of the answer.
Draws come from one random stream per route, seeded from the simulator's `seed`, so the n-th
request of a route gets the same delay in every run, whatever the other routes do.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from types import MappingProxyType

import attrs

#: Draws are cut at this many standard deviations (of the log) from the median.
CUT = 3.0
#: The fraction of an API request's delay spent before its handler runs.
BEFORE = 0.5
#: Storage routes, keyed as the request counters name them.
STORAGE_GET = "storage GET /files"
STORAGE_PUT = "storage PUT /uploads"


def _positive(_: object, attribute: attrs.Attribute[float], value: float) -> None:
    """attrs validator: a median above zero."""
    if not value > 0:
        raise ValueError(f"{attribute.name} must be > 0 seconds, got {value!r}")


@attrs.frozen
class Spread:
    """A lognormal delay: `median` seconds, the log's deviation `sigma` (the jitter)."""

    median: float = attrs.field(validator=_positive)
    sigma: float = attrs.field(default=0.3, validator=attrs.validators.ge(0))

    @property
    def lowest(self) -> float:
        """The shortest delay ever drawn (draws are cut at `CUT` deviations)."""
        return self.median * math.exp(-CUT * self.sigma)

    @property
    def highest(self) -> float:
        """The longest delay ever drawn."""
        return self.median * math.exp(CUT * self.sigma)

    def draw(self, rng: random.Random) -> float:
        """One delay, in seconds."""
        z = max(-CUT, min(CUT, rng.gauss(0.0, 1.0)))
        return self.median * math.exp(self.sigma * z)

    def scaled(self, factor: float) -> Spread:
        """The same jitter around `factor` times the median."""
        return Spread(self.median * factor, self.sigma)


def _routes(value: Mapping[str, Spread]) -> Mapping[str, Spread]:
    """A read-only copy of a route table."""
    return MappingProxyType(dict(value))


#: Medians of the `realistic` preset (seconds), by route key `METHOD /path/{param}`.
REALISTIC: Mapping[str, float] = MappingProxyType(
    {
        "POST /clips/info": 0.30,  # the server fetches the video's metadata
        "POST /clips": 0.25,  # the paid request, committed before it answers
        "GET /clips/{videoId}/submissions": 0.12,
        "GET /clips/{videoId}/submissions/{submissionId}": 0.06,
        "GET /clips/{videoId}/submissions/{submissionId}/clips": 0.15,
        "POST /clips/{videoId}/submissions/{submissionId}/clips/{clipId}/render": 0.15,
        "GET /renders/{renderId}": 0.06,
        "GET /renders/{renderId}/download": 0.08,  # signs a link
        "GET /balance": 0.05,
        STORAGE_GET: 0.05,  # to the first byte; the body then flows at the link's speed
        STORAGE_PUT: 0.10,
    }
)
REALISTIC_DEFAULT = 0.10


@attrs.frozen
class LatencyModel:
    """Delays per route (`routes`, keyed `METHOD /path/{param}` or `storage GET /files`),
    `default` for any other; `LatencyModel.realistic()` or `LatencyModel.parse(spec)`."""

    routes: Mapping[str, Spread] = attrs.field(factory=dict, converter=_routes, hash=False)
    default: Spread = Spread(REALISTIC_DEFAULT)
    name: str = "custom"

    @classmethod
    def realistic(cls, sigma: float = 0.3) -> LatencyModel:
        """Per route, lognormal around 50 to 300 ms (see `REALISTIC`)."""
        routes = {key: Spread(median, sigma) for key, median in REALISTIC.items()}
        return cls(routes, Spread(REALISTIC_DEFAULT, sigma), "realistic")

    @classmethod
    def uniform(cls, median: float, sigma: float = 0.3) -> LatencyModel:
        """Every route around the same median."""
        return cls({}, Spread(median, sigma), f"{median:g}")

    @classmethod
    def parse(cls, spec: str) -> LatencyModel | None:
        """`off` (or empty): None; `realistic`, `realistic*2` (every median doubled);
        `SECONDS` (every route around it). ValueError for anything else."""
        text = spec.strip().lower()
        if text in ("", "off", "none", "0"):
            return None
        name, _, factor = text.partition("*")
        try:
            scale = float(factor) if factor else 1.0
            model = cls.realistic() if name == "realistic" else cls.uniform(float(name))
            if scale != 1.0:
                model = model.scaled(scale)
        except ValueError:
            raise ValueError(
                f"bad latency {spec!r}: use off, realistic, realistic*FACTOR or SECONDS (e.g. 0.1)"
            ) from None
        return model

    def of(self, route: str) -> Spread:
        """The spread of a route (its own, else the default)."""
        return self.routes.get(route, self.default)

    def scaled(self, factor: float) -> LatencyModel:
        """Every median times `factor`."""
        if not factor > 0:
            raise ValueError(f"a latency factor must be > 0, got {factor!r}")
        routes = {key: spread.scaled(factor) for key, spread in self.routes.items()}
        return LatencyModel(routes, self.default.scaled(factor), f"{self.name}*{factor:g}")


def as_latency(value: LatencyModel | str | float | None) -> LatencyModel | None:
    """A `SimConfig.latency` from a model, a spec string (`LatencyModel.parse`) or seconds."""
    if value is None or isinstance(value, LatencyModel):
        return value
    if isinstance(value, str):
        return LatencyModel.parse(value)
    return LatencyModel.uniform(float(value)) if value else None
