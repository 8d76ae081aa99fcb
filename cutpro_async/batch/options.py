"""What a batch run should do, as one frozen value object."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs

from ..errors import UsageError
from ..models import Timeframe
from .events import Stage
from .naming import DEFAULT_NAMING, check_naming

Validator = Callable[[Any, "attrs.Attribute[Any]", Any], None]


def _checked(test: Callable[[Any], bool], should: str, optional: bool = False) -> Validator:
    """An attrs validator that raises `UsageError` naming the field and what it should be."""

    def validate(_instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if optional and value is None:
            return
        try:
            ok = test(value)
        except TypeError:
            ok = False
        if not ok:
            raise UsageError(f"{attribute.name} should be {should}, got {value!r}")

    return validate


_POSITIVE = _checked(lambda n: isinstance(n, int) and n > 0, "a whole number above 0")


@attrs.frozen
class Concurrency:
    """How many videos may be in each stage at once; one field per `Stage`, named by its value.

    Analysis of URLs is also paced by the client (10 per minute), so a larger pool there only
    queues them; the same pool also bounds uploads of local files, which are not paced.
    Waiting costs a poll now and then, hence the wide waiting pools.
    """

    analyze: int = attrs.field(default=4, validator=_POSITIVE)
    submit: int = attrs.field(default=4, validator=_POSITIVE)
    wait_clips: int = attrs.field(default=1000, validator=_POSITIVE)
    render: int = attrs.field(default=8, validator=_POSITIVE)
    wait_render: int = attrs.field(default=1000, validator=_POSITIVE)
    download: int = attrs.field(default=4, validator=_POSITIVE)

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

    `naming` is a file-name template with `{video_id}`, `{clip_id}`, `{render_id}`, `{rank}`
    (1 = best), `{title}`, `{filename}` (the server's), `{stem}`, `{ext}`; the default is the
    server's name, as the library's; a name another clip has gets `-<clip id>` appended.
    `budget` caps the credits this record may spend (None: only the balance limits it);
    `dry_run` prices every video and spends nothing; `resubmit` pays again on purpose instead
    of adopting a usable submission found on the server or in the machine's index. A rerun
    checks every recorded file is still there with its size (`verify`: and its SHA-256) and
    fetches again what is missing or changed, without paying again.
    `timeframe` takes a `Timeframe` or a `(start, end)` pair of seconds.
    """

    out: Path = attrs.field(converter=Path)
    top_k: int = attrs.field(default=3, validator=_POSITIVE)
    min_rating: float | None = attrs.field(
        default=None, validator=_checked(lambda r: 0 <= r <= 10, "between 0 and 10", True)
    )
    strategy_id: str | None = None
    template_id: str | None = None
    timeframe: Timeframe | None = attrs.field(default=None, converter=_timeframe)
    source_language: str = "auto"
    render: bool = True
    naming: str = attrs.field(default=DEFAULT_NAMING, validator=lambda _s, _a, v: check_naming(v))
    budget: float | None = attrs.field(
        default=None, validator=_checked(lambda b: b >= 0, "0 or more credits", True)
    )
    dry_run: bool = False
    retry_failed: bool = False
    resubmit: bool = False  # pay again on purpose, even where a usable submission exists
    verify: bool = False  # a rerun also checks the SHA-256 of every recorded file
    concurrency: Concurrency = Concurrency()
    max_in_flight: int = attrs.field(default=2000, validator=_POSITIVE)
