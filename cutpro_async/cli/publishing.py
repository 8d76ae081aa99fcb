"""The publishing options of `cutpro run` (`--publish` and its companions), parsed into a
`PublishOptions`, and what a dry run prints of the calendar."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import attrs
import click
from rich.console import Console

from ..batch.options import PublishOptions
from ..batch.post_meta import DEFAULT_META, load_post_meta
from ..batch.publishing import Account, PlannedPost, resolve_accounts
from ..client import CutPro
from ..errors import UsageError
from ._common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, fail
from .progress import posts_line

T = TypeVar("T")

_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
_ISO_DURATION = re.compile(r"^p(?:(\d+)d)?(?:t(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?)?$")


def parse_spacing(value: str) -> timedelta:
    """`1h`, `30m`, `1h30m`, `90s`, `1d`, or ISO 8601's `PT1H30M`, `P1D`: a positive duration."""
    text = value.strip().lower()
    match = _ISO_DURATION.match(text) or _DURATION.match(text)
    if not text or match is None:
        raise UsageError(
            f"--spacing takes a duration such as 1h, 30m, 1h30m, 1d or PT1H, got {value!r}"
        )
    days, hours, minutes, seconds = (int(part or 0) for part in match.groups())
    spacing = timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
    if spacing <= timedelta(0):
        raise UsageError("--spacing must be longer than 0")
    return spacing


def parse_schedule(value: str) -> datetime:
    """An ISO 8601 date-time; without an offset, in this machine's time zone."""
    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError:
        raise UsageError(
            f"--schedule takes an ISO 8601 date-time such as 2026-12-01T09:00 or "
            f"2026-12-01T09:00+01:00, got {value!r}"
        ) from None
    return when if when.tzinfo is not None else when.astimezone()  # local time zone


@attrs.frozen
class PublishChoice:
    """The publishing options as given on the command line."""

    publish: str | None
    post_meta: Path | None
    schedule: str | None
    spacing: str
    publish_top_k: int

    def options(self) -> PublishOptions | None:
        """The checked `PublishOptions` (None without `--publish`); a bad one exits 2."""
        if self.publish is None:
            given = [o for o, v in self._companions() if v]
            if given:
                fail(f"{', '.join(given)}: only with --publish CONNECTION[,…]", EXIT_USAGE)
            return None
        try:
            meta = load_post_meta(self.post_meta) if self.post_meta else dict(DEFAULT_META)
            return PublishOptions(
                tuple(t for t in self.publish.split(",") if t.strip()) or ("",),
                meta=meta,
                schedule=parse_schedule(self.schedule) if self.schedule else None,
                spacing=parse_spacing(self.spacing),
                top_k=self.publish_top_k,
            )
        except UsageError as exc:
            fail(f"{exc} (check the --publish options)", EXIT_USAGE)

    def _companions(self) -> list[tuple[str, object]]:
        """The options that mean nothing without `--publish`, with whether each was given."""
        return [
            ("--post-meta", self.post_meta),
            ("--schedule", self.schedule),
            ("--spacing", self.spacing != DEFAULT_SPACING),
            ("--publish-top-k", self.publish_top_k != 1),
        ]


DEFAULT_SPACING = "1h"


def publish_options(command: Callable[..., T]) -> Callable[..., T]:
    """Add the publishing options to a command; it receives them as `publish: PublishChoice`."""

    @functools.wraps(command)
    def with_publish(
        *args: Any,
        publish: str | None,
        post_meta: Path | None,
        schedule: str | None,
        spacing: str,
        publish_top_k: int,
        **kwargs: Any,
    ) -> T:
        choice = PublishChoice(publish, post_meta, schedule, spacing, publish_top_k)
        return command(*args, publish=choice, **kwargs)

    decorators = [
        click.option(
            "--publish",
            metavar="CONNECTION[,…]",
            help="After download, post the best clips to these accounts: connection ids or "
            "platform:name (see GET /connections); each clip once per account, whatever "
            "happens.",
        ),
        click.option(
            "--post-meta",
            type=click.Path(dir_okay=False, path_type=Path),
            help='TOML of per-platform post fields, e.g. [youtube] title = "{title}"; fields: '
            "{title} {description} {keywords} {hashtags} {rating} {rank} {source} {video_id} "
            "{clip_id}.",
        ),
        click.option(
            "--schedule",
            metavar="START",
            help="Schedule the posts from this ISO 8601 time (no offset: local time) instead "
            "of publishing at once; never in the past.",
        ),
        click.option(
            "--spacing",
            default=DEFAULT_SPACING,
            show_default=True,
            help="With --schedule: time between two posts to one account (30m, 1h, 1d).",
        ),
        click.option(
            "--publish-top-k",
            default=1,
            show_default=True,
            type=click.IntRange(1, 100),
            help="How many of each video's best clips to post.",
        ),
    ]
    wrapped: Callable[..., T] = with_publish
    for decorate in reversed(decorators):
        wrapped = decorate(wrapped)
    return wrapped


def schedule_note(options: PublishOptions) -> str:
    """One line saying where and when posts go."""
    where = ", ".join(options.targets)
    if options.schedule is None:
        return f"posting the best {options.top_k} clip(s) of each video to {where} at once"
    start = options.schedule.isoformat(sep=" ", timespec="minutes")
    return (
        f"scheduling the best {options.top_k} clip(s) of each video to {where}: from {start}, "
        f"one per {options.spacing} per account"
    )


def plan_lines(plan: Sequence[PlannedPost]) -> list[str]:
    """What a dry run would post, where and when: one line each."""
    lines = []
    for post in plan:
        when = "at once" if post.at is None else post.at.isoformat(sep=" ", timespec="minutes")
        lines.append(f"{post.source}: clip #{post.rank} -> {post.account} {when}")
    return lines


async def publish_accounts(
    factory: Callable[[], CutPro], publish: PublishOptions | None
) -> list[Account]:
    """The accounts to post to, each checked active (before anything is paid)."""
    if publish is None:
        return []
    async with factory() as client:
        return await resolve_accounts(client, publish.targets)


async def post_batch(
    db: str,
    batch_id: str,
    factory: Callable[[], CutPro],
    publish: PublishOptions,
    accounts: Sequence[Account],
    console: Console,
) -> int:
    """`cutpro run --db … --publish`: post the done batch's clips, say what it did; the exit
    code (1 when a post failed)."""
    from ..distributed.posting import publish_batch

    console.print(schedule_note(publish), highlight=False, markup=False)
    async with factory() as client:
        summary = await publish_batch(client, db, batch_id, publish, accounts)
    lines = posts_line(summary) or ["posts: nothing left to post"]
    for line in lines:
        console.print(line, highlight=False, markup=False, soft_wrap=True)
    return EXIT_FAILED if summary.posts_failed else EXIT_OK
