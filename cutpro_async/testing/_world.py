"""The simulator's state: workspaces, keys, every job record, and the credit ledger."""

from __future__ import annotations

import asyncio
import math
import random
import secrets
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import attrs

from ._catalogue import DEFAULT_CONNECTIONS, connection, default_templates, workspace_info
from ._clock import Clock
from ._config import SimConfig
from ._content import ClipSpec
from ._digests import Digests, digests_of
from ._enums import SourceLanguage, TransactionType
from ._failure import ApiFailure, not_found
from ._jobs import SlotScheduler, Timeline
from ._ledger import LedgerRow
from ._media import Body
from ._signing import Signer, file_path
from ._wire import Timeframe

T = TypeVar("T")


def _written_now() -> datetime:
    """A write time in whole seconds, one second ago: Last-Modified is then a strong validator."""
    return datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1)


@attrs.define
class ServedFile:
    """A file the storage host serves; body and checksums are built on first use and kept."""

    make: Callable[[], Body]
    content_type: str
    filename: str
    modified: datetime = attrs.field(factory=_written_now)
    _body: Body | None = None
    _digests: Digests | None = None
    # Concurrent first downloads of one file wait for one build instead of each starting one.
    _lock: asyncio.Lock = attrs.field(factory=asyncio.Lock, init=False, repr=False, eq=False)

    async def body(self) -> Body:
        """The file's bytes, as a random-access body (built in a thread: a ZIP reads its parts)."""
        async with self._lock:
            if self._body is None:
                self._body = await asyncio.to_thread(self.make)
            return self._body

    async def digests(self) -> Digests:
        """MD5 and CRC32C of the whole file, hashed once in a thread, off the event loop."""
        body = await self.body()
        async with self._lock:
            if self._digests is None:
                self._digests = await asyncio.to_thread(digests_of, body)
            return self._digests


@attrs.define
class Upload:
    """A reserved upload: what the client declared and what storage received."""

    file_name: str
    file_size: int
    content_type: str
    expires: float
    received: int | None = None


@attrs.define
class VideoRec:
    """A source video (analyzed URL or uploaded file)."""

    video_id: str
    title: str
    description: str
    author: str
    platform: str
    duration: float
    created: float
    unavailable: bool = False
    upload: Upload | None = None
    in_library: bool = False
    url: str | None = None  # the analyzed URL (None for an upload)


@attrs.define
class ClipRec:
    """A generated clip."""

    id: str
    video_id: str
    submission_id: str
    spec: ClipSpec
    created: float
    language: str
    template_id: str | None = None


@attrs.define
class SubmissionRec:
    """A clipping job and, once completed, its clips."""

    submission_id: str
    video_id: str
    created: float
    timeline: Timeline
    timeframe: Timeframe
    credit_cost: float
    source_language: SourceLanguage
    strategy_id: str | None
    template_id: str | None
    clips: dict[str, ClipRec] = attrs.field(factory=dict)
    expires: float = math.inf


@attrs.define
class RenderRec:
    """A render of one clip with one template state."""

    render_id: str
    edit_setting_id: str
    clip: ClipRec
    created: float
    timeline: Timeline
    expires: float
    cancelled_at: float | None = None


@attrs.define
class BulkRec:
    """A bulk ZIP job."""

    job_id: str
    render_ids: list[str]
    created: float
    timeline: Timeline
    expires: float


@attrs.define
class PostItemRec:
    """One clip to one account; each attempt is (start, end, fails)."""

    id: str
    connection_id: str
    platform: str
    edit_id: str
    metadata: dict[str, object]
    attempts: list[tuple[float, float, bool]] = attrs.field(factory=list)


@attrs.define
class PostRec:
    """A post: items published from `starts` (None while it waits for a schedule)."""

    post_id: str
    created: float
    scheduled: float | None
    items: dict[str, PostItemRec]


@attrs.define
class WorkspaceState:
    """Everything that belongs to one workspace."""

    info: dict[str, Any]  # the `GET /workspace` object, but for its live `credits`
    balance: float
    renders_scheduler: SlotScheduler
    videos: dict[str, VideoRec] = attrs.field(factory=dict)
    video_by_url: dict[str, str] = attrs.field(factory=dict)
    submissions: dict[str, SubmissionRec] = attrs.field(factory=dict)
    renders: dict[str, RenderRec] = attrs.field(factory=dict)
    bulk: dict[str, BulkRec] = attrs.field(factory=dict)
    posts: dict[str, PostRec] = attrs.field(factory=dict)
    connections: dict[str, dict[str, Any]] = attrs.field(factory=dict)  # as served
    ledger: list[LedgerRow] = attrs.field(factory=list)
    ledger_videos: dict[str, str] = attrs.field(factory=dict)  # transaction id -> video id
    template_batch_until: float = -math.inf
    # Paid requests checked but not yet committed (`slowcommit`): video id -> credits held.
    committing: dict[str, float] = attrs.field(factory=dict)

    @property
    def id(self) -> str:
        """The workspace id."""
        return str(self.info["id"])


def lookup(table: dict[str, T], kind: str, ident: str) -> T:
    """A record of the caller's workspace, or 404 (ids of other workspaces look unknown)."""
    try:
        return table[ident]
    except KeyError:
        raise not_found(kind, ident) from None


class World:
    """All simulated state, shared by the API and the storage apps.

    Kept on disk (`FakeCutPro(state_path=...)`), it is saved in objects: whoever changes one
    calls `changed(kind, id)`, and `persist()` writes the changed ones before an answer goes.
    """

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.clock = Clock(config.time_scale, config.clock_offset)
        self.signer = Signer(self.clock)
        self.rng = random.Random(config.seed)
        self.world_id = f"w{secrets.token_hex(8)}"
        self.next_id = 1
        # Kept on disk: the objects changed since the last save, (kind, id) -> workspace id.
        self.dirty: dict[tuple[str, str], str | None] | None = None
        self.persist: Callable[[], Awaitable[None]] | None = None
        self.workspaces: dict[str, WorkspaceState] = {}
        self.keys: dict[str, tuple[str, ...]] = {}
        self.templates: list[dict[str, Any]] = default_templates()  # as served
        self.analyze_calls: dict[str, deque[float]] = {}
        self.key_calls: dict[str, deque[float]] = {}  # for the general limit, per key
        self.requests: Counter[str] = Counter()
        self.rate_limited: Counter[str] = Counter()  # 429s answered, per route
        self.key_leaks: list[str] = []
        self.files: dict[tuple[str, str], ServedFile] = {}
        self.api_origin = ""
        self._tasks: set[asyncio.Task[Any]] = set()

    def new_id(self, prefix: str) -> str:
        """A unique opaque id (digits after a prefix, like the API's `pw...` ids)."""
        number, self.next_id = self.next_id, self.next_id + 1
        return f"{prefix}{number:06d}{self.rng.randrange(10**8):08d}"

    def changed(self, kind: str, *idents: str, workspace: str | None = None) -> None:
        """Note objects to save (kind: workspace, video, url, submission, render, bulk, post,
        ledger, keys); a deleted one is deleted from the saved state. No-op when not kept."""
        if self.dirty is not None:
            for ident in idents:
                self.dirty[kind, ident] = workspace

    async def saved(self) -> None:
        """Write every change so far to the state file (at once when not kept on disk)."""
        if self.persist is not None:
            await self.persist()

    def spawn(self, work: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        """Run `work` in a task kept until it ends: a request's cancellation does not stop it."""
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def stop(self) -> None:
        """Cancel the work still running, as a server going down would (nothing more commits)."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def publish(self, kind: str, ident: str, served: ServedFile, ttl: float | None = None) -> str:
        """Make a file downloadable and return a signed link to it."""
        self.files.setdefault((kind, ident), served)
        url = self.signer.sign(file_path(kind, ident, served.filename), ttl or self.config.link_ttl)
        if self.config.redirect_downloads:  # a link on the API host that 302s to storage
            url = self.api_origin + "/r" + url.removeprefix(self.signer.base_url)
        return url

    def add_workspace(self, credits: float, name: str = "Simulated workspace") -> WorkspaceState:
        """A new workspace with an opening credit grant and a few connected accounts."""
        ws_id = self.new_id("pw")
        personal = not self.workspaces
        info = workspace_info(ws_id, name, personal, credits, self.clock.wall())
        state = WorkspaceState(info, 0.0, SlotScheduler(self.config.max_concurrent_renders))
        self.workspaces[ws_id] = state
        self.record(state, TransactionType.BONUS, credits, "bonus", None, "Opening grant")
        for platform, status in DEFAULT_CONNECTIONS:
            conn_id = self.new_id("cn")
            state.connections[conn_id] = connection(conn_id, platform, status, self.clock.wall())
        return state

    def add_key(self, key: str, *workspace_ids: str) -> None:
        """Accept `key` for these workspaces (more than one needs `X-Workspace-Id`)."""
        unknown = [ws for ws in workspace_ids if ws not in self.workspaces]
        if unknown or not workspace_ids:
            raise ValueError(f"a key needs existing workspaces, unknown: {unknown}")
        self.keys[key] = workspace_ids
        self.changed("keys", "keys")

    def record(
        self,
        ws: WorkspaceState,
        kind: TransactionType,
        amount: float,
        reference_type: str,
        reference_id: str | None,
        description: str,
    ) -> LedgerRow:
        """Apply a signed amount to the balance and write the ledger row."""
        ws.balance += amount
        row = LedgerRow(
            id=self.new_id("tx"),
            type=kind,
            amount=amount,
            balance_after=ws.balance,
            reference_type=reference_type,
            reference_id=reference_id,
            description=description,
            created_at=self.clock.wall(),
        )
        ws.ledger.append(row)
        self.changed("ledger", row.id, workspace=ws.id)
        self.changed("workspace", ws.id, workspace=ws.id)  # its balance
        return row

    def resolve(self, key: str | None, workspace_id: str | None) -> WorkspaceState:
        """The workspace a request resolves to, or the documented auth errors."""
        allowed = self.keys.get(key or "")
        if allowed is None:
            raise ApiFailure(
                401, "UNAUTHORIZED", "missing or invalid API key: send it as X-Api-Key"
            )
        if workspace_id is None:
            if len(allowed) > 1:
                raise ApiFailure(
                    400,
                    "WORKSPACE_REQUIRED",
                    "this key has several workspaces: send X-Workspace-Id",
                    {"workspace_ids": list(allowed)},
                )
            return self.workspaces[allowed[0]]
        if workspace_id not in allowed:
            raise ApiFailure(
                403, "WORKSPACE_FORBIDDEN", f"this key has no access to workspace {workspace_id!r}"
            )
        return self.workspaces[workspace_id]

    def check_rate(self, key: str, limit: int, window: float) -> None:
        """Sliding-window limit for `/clips/info`; 429 with `retry_after` when exceeded."""
        calls = self.analyze_calls.setdefault(key, deque())
        admit(calls, self.clock.now(), limit, window, "on this endpoint")

    def check_key_rate(self, key: str) -> None:
        """The general limit, when set: `request_limit` requests with one key (all routes,
        every connection) per `request_window`; 429 with `retry_after` when exceeded."""
        limit = self.config.request_limit
        if limit is not None:
            calls = self.key_calls.setdefault(key, deque())
            admit(calls, self.clock.now(), limit, self.config.request_window, "with this key")


def admit(calls: deque[float], now: float, limit: int, window: float, scope: str) -> None:
    """Count a request at `now` in a sliding window of `limit` per `window` seconds, or raise
    429 `RATE_LIMIT_EXCEEDED` with the wait in `extra.retry_after` and `Retry-After` (a
    refused request is not counted)."""
    while calls and calls[0] <= now - window:
        calls.popleft()
    if len(calls) >= limit:
        wait = calls[0] + window - now
        raise ApiFailure(
            429,
            "RATE_LIMIT_EXCEEDED",
            f"at most {limit} requests per {window:g} s {scope}; retry later",
            {"retry_after": round(wait, 3)},
            {"Retry-After": str(max(1, math.ceil(wait)))},
        )
    calls.append(now)
