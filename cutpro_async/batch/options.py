"""What a batch run should do, as one frozen value object."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import attrs

from ..errors import UsageError
from ..models import Timeframe
from .events import Stage
from .naming import DEFAULT_NAMING, check_naming
from .post_meta import DEFAULT_META, PostMeta, check_post_meta

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
    publish: int = attrs.field(default=4, validator=_POSITIVE)

    def of(self, stage: Stage) -> int:
        """The pool size of a stage."""
        value: int = getattr(self, Stage(stage).value)
        return value


def _timeframe(value: Timeframe | tuple[float, float] | None) -> Timeframe | None:
    """A checked timeframe from a `Timeframe` or a `(start, end)` pair."""
    return Timeframe.of(value)


def _aware(value: datetime | None) -> datetime | None:
    """A schedule start must say its offset (the CLI adds the local one)."""
    if value is not None and value.tzinfo is None:
        raise UsageError("publish schedule needs a time zone offset, e.g. 2026-12-01T09:00+01:00")
    return value


def _positive_spacing(_instance: object, _attribute: object, value: timedelta) -> None:
    """Posts to one account must be spaced apart."""
    if not isinstance(value, timedelta) or value <= timedelta(0):
        raise UsageError(f"publish spacing should be a positive duration, got {value!r}")


def _targets(value: Sequence[str]) -> tuple[str, ...]:
    """Connection ids or `platform:name`, at least one."""
    targets = tuple(t.strip() for t in ([value] if isinstance(value, str) else value))
    if not targets or not all(targets):
        raise UsageError(
            "publish needs connection ids or platform:name accounts (see GET /connections)"
        )
    return targets


def _count(_instance: object, attribute: attrs.Attribute[Any], value: int) -> None:
    """A whole number above 0 (`retries`: 0 or more)."""
    least = 0 if attribute.name == "retries" else 1
    if not isinstance(value, int) or value < least:
        raise UsageError(f"publish {attribute.name} should be a whole number >= {least}")


@attrs.frozen
class PublishOptions:
    """Where and when a batch posts its clips.

    `targets` are connection ids or `platform:name` (the account's name or username, as
    `GET /connections` lists it); every one must be an active account, checked before any
    paid request. `meta` holds the per-platform templates (see `post_meta`). With `schedule`
    (timezone-aware) each account gets one post per `spacing` from that time on (never in the
    past: a rerun places what is left from now on); without it, posts publish at once. `top_k`
    is how many of each video's best clips are posted; `retries` bounds the retries of a
    failed item.
    """

    targets: tuple[str, ...] = attrs.field(converter=_targets)
    meta: PostMeta = attrs.field(
        factory=lambda: dict(DEFAULT_META), validator=lambda _s, _a, v: check_post_meta(v)
    )
    schedule: datetime | None = attrs.field(default=None, converter=_aware)
    spacing: timedelta = attrs.field(default=timedelta(hours=1), validator=_positive_spacing)
    top_k: int = attrs.field(default=1, validator=_count)
    retries: int = attrs.field(default=2, validator=_count)


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
    #: Post the best clips to connected accounts after download (None: no posts).
    publish: PublishOptions | None = None

    def __attrs_post_init__(self) -> None:
        """Options that contradict each other."""
        if self.publish is not None and not self.render:
            raise UsageError("publishing needs rendered clips: drop render=False (--no-render)")
        if self.publish is not None and self.publish.top_k > self.top_k:
            raise UsageError(
                f"publish top_k ({self.publish.top_k}) is more than the clips kept (top_k "
                f"{self.top_k}): raise top_k or lower publish top_k"
            )
