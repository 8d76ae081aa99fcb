"""What a batch run should do, as one frozen value object."""

from __future__ import annotations

from pathlib import Path

import attrs
from attrs import validators as v

from ..models import Timeframe
from .events import Stage


@attrs.frozen
class Concurrency:
    """How many videos may be in each stage at once; one field per `Stage`, named by its value.

    Analysis of URLs is also paced by the client (10 per minute), so a larger pool there only
    queues them; the same pool also bounds uploads of local files, which are not paced.
    Waiting costs a poll now and then, hence the wide waiting pools.
    """

    analyze: int = attrs.field(default=4, validator=v.gt(0))
    submit: int = attrs.field(default=4, validator=v.gt(0))
    wait_clips: int = attrs.field(default=1000, validator=v.gt(0))
    render: int = attrs.field(default=8, validator=v.gt(0))
    wait_render: int = attrs.field(default=1000, validator=v.gt(0))
    download: int = attrs.field(default=4, validator=v.gt(0))

    def of(self, stage: Stage) -> int:
        """The pool size of a stage."""
        value: int = getattr(self, Stage(stage).value)
        return value


def _timeframe(value: Timeframe | tuple[float, float] | None) -> Timeframe | None:
    """A checked timeframe from a `Timeframe` or a `(start, end)` pair."""
    return Timeframe.of(value)


@attrs.frozen
class RunOptions:
    """The choices of a batch run.

    `naming` is a template with `{video_id}`, `{clip_id}`, `{render_id}`, `{rank}` (1 = best).
    `budget` caps the credits this record may spend (None: only the balance limits it);
    `dry_run` prices every video and spends nothing; `resubmit` pays again on purpose instead
    of adopting a usable submission found on the server or in the machine's index.
    `timeframe` takes a `Timeframe` or a `(start, end)` pair of seconds.
    """

    out: Path = attrs.field(converter=Path)
    top_k: int = attrs.field(default=3, validator=v.gt(0))
    min_rating: float | None = attrs.field(default=None, validator=v.optional([v.ge(0), v.le(10)]))
    strategy_id: str | None = None
    template_id: str | None = None
    timeframe: Timeframe | None = attrs.field(default=None, converter=_timeframe)
    source_language: str = "auto"
    render: bool = True
    naming: str = "{video_id}_{clip_id}.mp4"
    budget: float | None = attrs.field(default=None, validator=v.optional(v.ge(0)))
    dry_run: bool = False
    retry_failed: bool = False
    resubmit: bool = False  # pay again on purpose, even where a usable submission exists
    concurrency: Concurrency = Concurrency()
    max_in_flight: int = attrs.field(default=2000, validator=v.gt(0))
