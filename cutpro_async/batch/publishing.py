"""The publish stage: each chosen clip posted to each account exactly once, on a calendar.

A post is public and no refund undoes it, so it gets the discipline of a paid submission:
the record keeps the intent (server time) before `POST /posts` and the post id after; before
every post the server's list of posts is read (`GET /posts`, every page) and a post of the
same render (`editId`) to the same account is adopted instead; after a failure the server may
have acted on, nothing is sent again while that attempt could still commit (the client's
commit window), and what shows is adopted. Reruns, and other records on the same workspace,
never post again what was posted.

One post per (clip, account): each has its own slot on the calendar and its own retries. A
post published at once is followed until its item finishes; a failed item is retried
(`POST /posts/{id}/items/{item}/retry`, bounded, with backoff) and the others are untouched.
A scheduled one is left to publish at its time (`cutpro posts` follows it later).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime, timedelta
from typing import Any

import anyio
import attrs

from ..client import CutPro
from ..errors import (
    APIError,
    Conflict,
    CutProError,
    NotFound,
    PostFailed,
    StoreError,
    TransportError,
    UsageError,
)
from ..models import Connection, Post, PostItem, PostTarget, PostVideo
from ..resources.submissions import commit_window
from .events import Event, PostFinished, PostPlaced
from .options import PublishOptions
from .post_meta import clip_fields, render_meta
from .record import ChosenClip, Phase, PostEntry, Record, post_key

log = logging.getLogger("cutpro_async")

#: A scheduled post is placed at least this far ahead of the server's clock, so that it is
#: still in the future when the API reads it.
LEAD = timedelta(minutes=2)
#: How many times one (clip, account) may be sent in a run when answers are lost and nothing
#: shows in the commit window.
SENDS = 3
#: Posts read afresh (and retried) at once by `review`.
REVIEW_WIDTH = 8
#: Item statuses that will not change without a retry.
FINISHED = frozenset({"completed", "failed"})


@attrs.frozen
class Account:
    """A connected account a batch posts to."""

    id: str
    platform: str
    name: str

    def __str__(self) -> str:
        return f"{self.platform}:{self.name}"


async def resolve_accounts(client: CutPro, targets: Sequence[str]) -> list[Account]:
    """The accounts `targets` name, each active; `UsageError` (before anything is paid) for
    one unknown, ambiguous or not active, listing the accounts there are."""
    connections = [c async for c in client.connections.iter()]
    accounts: list[Account] = []
    for target in targets:
        found = _match(connections, target)
        if len(found) != 1:
            known = ", ".join(f"{c.id} ({c.platform}:{c.name}, {c.status})" for c in connections)
            why = "matches several accounts" if found else "is not a connected account"
            raise UsageError(
                f"publish target {target!r} {why}; give a connection id or platform:name. "
                f"Connected: {known or 'none (connect accounts in cut.pro)'}"
            )
        conn = found[0]
        if conn.status != "active":
            raise UsageError(
                f"the {conn.platform} account {conn.name!r} ({conn.id}) is {conn.status}: "
                "reconnect it in cut.pro, or leave it out of --publish"
            )
        account = Account(conn.id, conn.platform, conn.name)
        if account not in accounts:
            accounts.append(account)
    return accounts


def _match(connections: Sequence[Connection], target: str) -> list[Connection]:
    """The connections a target names: by id, else by `platform:name|username`."""
    by_id = [c for c in connections if c.id == target]
    if by_id:
        return by_id
    platform, _, name = target.partition(":")
    return [
        c
        for c in connections
        if c.platform == platform.lower() and name in (c.name, c.username, "@" + c.username)
    ]


class Calendar:
    """When each post goes out: per account, one slot per `spacing` from the start, never
    earlier than `LEAD` after the server's clock (None everywhere: publish at once)."""

    def __init__(self, start: datetime | None, spacing: timedelta) -> None:
        self.start, self.spacing = start, spacing
        self._last: dict[str, datetime] = {}

    def taken(self, connection_id: str, when: datetime | None) -> None:
        """A slot a post already holds (from the record): later posts come after it."""
        if when is not None and when > self._last.get(connection_id, when - self.spacing):
            self._last[connection_id] = when

    def place(self, connection_id: str, now: datetime) -> datetime | None:
        """The next free slot of an account."""
        if self.start is None:
            return None
        last = self._last.get(connection_id)
        slot = max(self.start if last is None else last + self.spacing, _whole(now + LEAD))
        self._last[connection_id] = slot
        return slot


def _whole(when: datetime) -> datetime:
    """A time rounded up to a whole second (what any API keeps of an ISO time)."""
    return when.replace(microsecond=0) + timedelta(seconds=when.microsecond > 0)


@attrs.frozen
class PlannedPost:
    """What a dry run would post: a video's clip of this rank to an account, at a time."""

    source: str
    rank: int
    account: str
    at: datetime | None  # None: at once


class PostLookup:
    """What `GET /posts` shows, read afresh for every look: a look waits for a walk of the
    list that started after it was asked for; looks asked for meanwhile share that walk."""

    def __init__(self, client: CutPro) -> None:
        self._client = client
        self._lock = asyncio.Lock()
        self._walks = 0  # walks started
        self._seen: dict[tuple[str, str], tuple[str, PostItem]] = {}
        self._pairs: dict[str, list[tuple[str, PostItem]]] = {}  # post id -> its items

    async def find(self, edit_id: str, connection_id: str) -> tuple[str, PostItem] | None:
        """The (post id, item) that posts this render to this account, if the server has one."""
        wanted = self._walks + 1
        async with self._lock:
            if self._walks < wanted:
                self._walks += 1
                self._seen = await self._walk()
        return self._seen.get((edit_id, connection_id))

    async def _walk(self) -> dict[tuple[str, str], tuple[str, PostItem]]:
        """Every post's items by (edit id, connection id); a post listed without its items is
        read on its own, once (its items' render and account never change)."""
        seen: dict[tuple[str, str], tuple[str, PostItem]] = {}
        async for post in self._client.posts.iter():
            if post.items:
                self._pairs[post.post_id] = [(post.post_id, item) for item in post.items]
            elif post.post_id not in self._pairs:  # listed without its items
                full = await self._client.posts.get(post.post_id)
                self._pairs[post.post_id] = [(full.post_id, item) for item in full.items]
            for pair in self._pairs[post.post_id]:
                seen.setdefault((pair[1].edit_id, pair[1].connection_id), pair)
        return seen


def _no_pool(_record: Record) -> AbstractAsyncContextManager[None]:
    """No bound on how many posts are sent at once."""
    return contextlib.nullcontext()


class Publisher:
    """Posts a video's chosen clips to the accounts, recording every step in its record."""

    def __init__(
        self,
        client: CutPro,
        options: PublishOptions,
        accounts: Sequence[Account],
        *,
        save: Callable[[Record], Awaitable[None]],
        emit: Callable[[Event], None],
        pool: Callable[[Record], AbstractAsyncContextManager[Any]] = _no_pool,
        records: Sequence[Record] = (),
    ) -> None:
        self.client, self.options, self.accounts = client, options, list(accounts)
        self._save, self._emit, self._pool = save, emit, pool
        self.calendar = Calendar(options.schedule, options.spacing)
        for record in records:
            for entry in record.posts.values():
                self.calendar.taken(entry.connection_id, entry.scheduled_at)
        self.lookup = PostLookup(client)

    def plan(self, records: Sequence[Record], now: datetime) -> list[PlannedPost]:
        """What posting these (priced) videos would do, on a copy of the calendar."""
        calendar = copy.deepcopy(self.calendar)
        return [
            PlannedPost(record.source, rank, str(account), calendar.place(account.id, now))
            for record in sorted(records, key=lambda r: r.position)
            if record.phase == Phase.PRICED
            for rank in range(1, self.options.top_k + 1)
            for account in self.accounts
        ]

    def clips(self, record: Record) -> list[ChosenClip]:
        """The clips of a video that are posted: its best `top_k` with a render."""
        return [c for c in (record.clips or [])[: self.options.top_k] if c.id in record.renders]

    def pending(self, record: Record) -> bool:
        """Whether a video has a (clip, account) not posted yet."""
        for clip in self.clips(record):
            for account in self.accounts:
                entry = record.posts.get(post_key(clip.id, account.id))
                if entry is None or entry.post_id is None:
                    return True
        return False

    async def publish(self, record: Record) -> None:
        """Post every (clip, account) of a video not posted yet; each fails alone."""
        jobs = [
            (rank, clip, account)
            for rank, clip in enumerate(self.clips(record), 1)
            for account in self.accounts
        ]
        async with anyio.create_task_group() as group:
            for rank, clip, account in jobs:
                group.start_soon(self._one, record, clip, rank, account)

    async def _one(self, record: Record, clip: ChosenClip, rank: int, account: Account) -> None:
        """One clip to one account: placed once, then followed when published at once."""
        key = post_key(clip.id, account.id)
        entry = record.posts.setdefault(key, PostEntry(clip.id, account.id, str(account)))
        try:
            placed = entry.post_id is None
            if placed:
                async with self._pool(record):
                    await self._place(record, entry, clip, rank, account)
            if entry.scheduled_at is None and entry.status not in FINISHED:
                await self.follow(record, entry)
            elif entry.scheduled_at is None and placed:  # adopted, already finished
                self._finished(record, entry)
        except StoreError:
            raise
        except CutProError as exc:
            entry.error = f"{type(exc).__name__}: {exc}"
            entry.status = entry.status if entry.post_id else "failed"
            log.warning("posting clip %s to %s failed: %s", clip.id, account, entry.error)
            await self._save(record)
            self._emit(
                PostFinished(record.source, clip.id, str(account), "failed", None, entry.error)
            )

    def _label(self, connection_id: str) -> str:
        """How an account is named in events: `platform:name`."""
        for account in self.accounts:
            if account.id == connection_id:
                return str(account)
        return connection_id

    async def _place(
        self, record: Record, entry: PostEntry, clip: ChosenClip, rank: int, account: Account
    ) -> None:
        """Adopt the post the server has of this render to this account, else send it; after
        a failure the server may have acted on, look (through the commit window) and adopt,
        or send again once nothing can still commit (at most `SENDS` times)."""
        if entry.edit_id is None:
            render = await self.client.renders.get(record.renders[clip.id])
            entry.edit_id = render.edit_setting_id
        for sends in range(1, SENDS + 1):
            found = await self.lookup.find(entry.edit_id, account.id)
            if found is None and entry.intent is not None:  # an attempt may be committing
                found = await self._await_commit(entry, self._since(entry.intent))
            if found is not None:
                await self._adopt(record, entry, found, account)
                return
            now = self.client.server_time()
            if entry.scheduled_at is None or entry.scheduled_at < now + LEAD:
                entry.scheduled_at = self.calendar.place(account.id, now)
            entry.intent, entry.error = now, None
            await self._save(record)  # the intent: a rerun looks before it sends
            try:
                created = await self.client.posts.create(
                    [PostVideo(entry.edit_id, [self._target(record, clip, rank, account)])],
                    scheduled_at=entry.scheduled_at,
                )
            except (APIError, TransportError) as exc:
                if not exc.maybe_processed:  # provably not posted
                    entry.intent = None
                    raise
                if sends == SENDS:
                    raise
                log.info(
                    "posting clip %s to %s may have failed (%s): looking", clip.id, account, exc
                )
                continue
            entry.post_id, entry.status = created.post_id, "pending"
            await self._save(record)
            self._emit(
                PostPlaced(
                    record.source, clip.id, str(account), created.post_id, entry.scheduled_at, False
                )
            )
            return

    def _target(self, record: Record, clip: ChosenClip, rank: int, account: Account) -> PostTarget:
        """One account and the metadata its platform gets for this clip."""
        fields = clip_fields(
            title=clip.title,
            description=clip.description,
            keywords=clip.keywords,
            rating=clip.rating,
            rank=rank,
            source=record.source,
            video_id=record.video_id,
            clip_id=clip.id,
        )
        return PostTarget(account.id, render_meta(self.options.meta, account.platform, fields))

    def _since(self, intent: datetime) -> float:
        """The monotonic time an intent (server time) was taken at."""
        elapsed = (self.client.server_time() - intent).total_seconds()
        return time.monotonic() - max(0.0, elapsed)

    async def _await_commit(self, entry: PostEntry, sent: float) -> tuple[str, PostItem] | None:
        """The post an ambiguous attempt sent at `sent` (monotonic) made, looked for with
        backoff until the client's commit window has passed; None if it never showed."""
        assert entry.edit_id is not None
        settings = self.client.settings
        window = commit_window(settings.retry, settings.timeouts)
        polling = settings.polling
        wait = polling.first
        while True:
            found = await self.lookup.find(entry.edit_id, entry.connection_id)
            left = sent + window - time.monotonic()
            if found is not None or left <= 0:
                return found
            await anyio.sleep(min(left, wait))
            wait = min(polling.max_interval, wait * polling.factor)

    async def _adopt(
        self, record: Record, entry: PostEntry, found: tuple[str, PostItem], account: Account
    ) -> None:
        """Take the server's post as this entry's: never post it again."""
        post_id, item = found
        log.info(
            "clip %s is already posted to %s (post %s): adopting it",
            entry.clip_id,
            account,
            post_id,
        )
        entry.post_id = post_id
        _take(entry, item)
        await self._save(record)
        self._emit(
            PostPlaced(
                record.source, entry.clip_id, str(account), post_id, entry.scheduled_at, True
            )
        )

    async def follow(self, record: Record, entry: PostEntry, *, limit: int | None = None) -> None:
        """Wait for a post's item to finish, retrying it (with backoff) while it fails and it
        has had fewer than `limit` retries (default: the options' `retries`); the outcome is
        saved and reported."""
        assert entry.post_id is not None
        limit = self.options.retries if limit is None else limit
        while True:
            item = await self._finished_item(entry)
            _take(entry, item)
            if item.status.value != "failed" or entry.retries >= limit:
                break
            entry.retries += 1
            await self._save(record)
            await anyio.sleep(self.client.settings.polling.first * 2**entry.retries)
            await self.retry(entry)
        await self._save(record)
        self._finished(record, entry)

    def _finished(self, record: Record, entry: PostEntry) -> None:
        """Report how a post published at once ended."""
        self._emit(
            PostFinished(
                record.source,
                entry.clip_id,
                self._label(entry.connection_id),
                entry.status or "unknown",
                entry.published_url,
                entry.error,
            )
        )

    async def retry(self, entry: PostEntry) -> None:
        """Ask for a failed item to be published again (a repeat is harmless: a second retry
        of an item no longer failed is refused with 409)."""
        assert entry.post_id is not None and entry.item_id is not None
        try:
            await self.client.posts.retry_item(entry.post_id, entry.item_id)
        except Conflict:
            pass  # not failed any more: an earlier retry went through
        except (APIError, TransportError) as exc:
            if not exc.maybe_processed:
                raise

    async def _finished_item(self, entry: PostEntry) -> PostItem:
        """This entry's item once it has finished (completed or failed)."""
        assert entry.post_id is not None
        try:
            post = await self.client.posts.wait(entry.post_id)
        except PostFailed:
            post = await self.client.posts.get(entry.post_id)
        return _item_of(post, entry)

    async def review(self, records: Sequence[Record], *, retry_failed: bool = False) -> None:
        """Read every placed post's item afresh; with `retry_failed`, retry each failed item
        once and follow it until it finishes; save every record."""
        placed = [(r, e) for r in records for e in r.posts.values() if e.post_id is not None]
        width = anyio.Semaphore(REVIEW_WIDTH)

        async def again(record: Record, entry: PostEntry) -> None:
            async with width:
                await self.refresh(entry)
                if retry_failed and entry.status == "failed" and entry.item_id is not None:
                    await self.retry(entry)
                    entry.retries += 1
                    await self.follow(record, entry, limit=entry.retries)

        async with anyio.create_task_group() as group:
            for record, entry in placed:
                group.start_soon(again, record, entry)
        for record in records:
            await self._save(record)

    async def refresh(self, entry: PostEntry) -> None:
        """Update a placed post's entry with what the API shows of its item now (`deleted`
        when the post is gone: it is kept as posted, never posted again by a rerun)."""
        assert entry.post_id is not None
        try:
            post = await self.client.posts.get(entry.post_id)
        except NotFound:
            entry.status, entry.error = "deleted", "the post is gone from the API (deleted)"
            return
        _take(entry, _item_of(post, entry))


def reviewer(
    client: CutPro, records: Sequence[Record], save: Callable[[Record], Awaitable[None]]
) -> Publisher:
    """A publisher that only reviews the posts these records placed (`cutpro posts`): their
    accounts as the records name them."""
    labels = {e.connection_id: e.account for r in records for e in r.posts.values()}
    accounts = []
    for connection_id, label in labels.items():
        platform, _, name = label.partition(":")
        accounts.append(Account(connection_id, platform or "?", name or connection_id))
    options = PublishOptions(tuple(labels) or ("none",))
    return Publisher(client, options, accounts, save=save, emit=lambda _e: None, records=records)


def _take(entry: PostEntry, item: PostItem) -> None:
    """Copy what the API shows of an entry's item into the entry."""
    entry.item_id, entry.status = item.id, item.status.value
    entry.published_url, entry.error = item.published_url, item.error


def _item_of(post: Post, entry: PostEntry) -> PostItem:
    """The item of a post that is this entry's (its account and render)."""
    for item in post.items:
        if item.id == entry.item_id or (
            item.connection_id == entry.connection_id and item.edit_id == entry.edit_id
        ):
            return item
    raise CutProError(f"post {post.post_id} has no item for {entry.connection_id}")
