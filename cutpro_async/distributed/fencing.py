"""The paid step across workers: a per-video lock in PostgreSQL with a fencing token.

`pay_once` is what the video workflow's paid step runs. It takes `PaidLock.hold`: a session
advisory lock keyed by the paid request (API, workspace, source, strategy, language,
template, timeframe: `batch.index_key`), so two workers, or two batches, never pay the same
request at once. Holding it bumps the video row's `fence` (the token) and names the `holder`.
Then, inside the lock, it looks for what exists before paying: what the row already says was
paid, the video's submissions created since the intent (`submissions.reconcile`), a usable one
on the server (`find_reusable`, unless `resubmit`); only if there is none does it pay, with
`submissions.create(attempt_started=...)` (which waits out the commit window of an attempt
that may still commit, and never re-sends blindly).

The lock is a lease. The session runs with `idle_session_timeout = lease`, and a heartbeat
writes the row (fence-checked) every third of it: a worker that stops answering (SIGSTOP, a
long pause, a cut cable) has its session ended by PostgreSQL after `lease`, which frees the
lock for another worker. Every write of the holder is conditioned on its fence, and the one
right before the paid request also records when it may have been sent (`last_attempt`,
advanced by the heartbeat while the request is in flight), so:

- a worker killed at any instant leaves the row's intent and last attempt: the next holder
  reconciles since them and waits out that attempt's commit window before paying;
- a paused worker that wakes after its video was taken over finds its session gone or its
  fence stale at its next write, and raises `Fenced` instead of paying.

The batch's budget is kept there too: right before paying, the holder reserves the request's
cost on the batch's row, only if the batch's `spent` stays within its `budget` (one
conditional update: two workers never both take the last credits); the reservation is set to
the price charged once paid, and given back if the request provably never reached the server.
A video that does not fit is skipped, with the reason (`OverBudget`); an adopted submission
reserves nothing (unless an earlier holder's attempt reserved for it: that attempt may be
what is adopted).

What no lock can close (the API has no idempotency key): a holder paused between its last
fence-checked write and the bytes of its request reaching the API, for longer than the lease
and the next holder's commit window together, pays a second time. The heartbeat and the
write right before the request keep that gap to the few instructions between them.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, NoReturn, TypeVar

import anyio
import attrs
import psycopg

from .._groups import sole_error
from ..client import CutPro
from ..errors import APIError, TransportError, UsageError, WaitTimeout
from ..jobs._polling import wait_for
from ..models import Submission, SubmitRequest
from ..resources.submissions import commit_window
from .tables import attempt_of, connect

log = logging.getLogger("cutpro_async")
T = TypeVar("T")

_ROW = (
    "fence, intent, last_attempt, submission_id, video_id, credits_charged, adopted, "
    "credits_cost, reserved, refused"
)


#: Reserve a paid request's cost on the batch's row if it stays within the budget, and on the
#: video's, in one statement (so a paused holder never sits on the batch's row), only while
#: the holder's fence is the row's: the video's row is locked first, so that its fence holds
#: until the statement commits. Says whether the fence was stale, whether the cost was held,
#: and the batch's budget and spent (for the reason it did not fit).
_RESERVE = """
WITH v AS MATERIALIZED (
    SELECT batch_id FROM cutpro_videos
    WHERE workflow_id = %(key)s AND fence = %(fence)s FOR UPDATE
), b AS (
    UPDATE cutpro_batches SET spent = spent + %(cost)s
    WHERE batch_id = (SELECT batch_id FROM v) AND (budget IS NULL OR spent + %(cost)s <= budget)
    RETURNING batch_id
), r AS (
    UPDATE cutpro_videos SET reserved = reserved + %(cost)s
    WHERE workflow_id = %(key)s AND fence = %(fence)s AND EXISTS (SELECT 1 FROM b)
    RETURNING 1
)
SELECT NOT EXISTS (SELECT 1 FROM v), EXISTS (SELECT 1 FROM r), budget, spent
FROM (SELECT 1) AS one LEFT JOIN cutpro_batches ON batch_id = (SELECT batch_id FROM v)
"""
#: Set what the video holds against the budget to the price charged, on its row (fence-
#: checked) and the batch's, in one statement; says whether the fence held.
_SETTLE = """
WITH v AS (
    UPDATE cutpro_videos SET reserved = %(price)s
    WHERE workflow_id = %(key)s AND fence = %(fence)s RETURNING batch_id
), b AS (
    UPDATE cutpro_batches SET spent = spent + %(delta)s
    WHERE batch_id IN (SELECT batch_id FROM v) RETURNING 1
)
SELECT EXISTS (SELECT 1 FROM v), (SELECT count(*) FROM b)
"""


class Fenced(Exception):
    """This worker lost the video's paid step (its lease ran out, another worker took it):
    it must not pay, nor write as if it still held it."""


class OverBudget(UsageError):
    """The video's paid request would take its batch past the budget: it is skipped."""


def lock_key(key: str) -> int:
    """The advisory lock number of a paid request's key (64 bits of its hash)."""
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big", signed=True)


@attrs.frozen
class Held:
    """What the video's row said when the lock was taken."""

    fence: int
    intent: datetime | None
    last_attempt: datetime | None
    submission_id: str | None
    video_id: str | None
    credits_charged: float | None
    adopted: bool | None
    credits_cost: float | None  # the whole video's price, from its analysis
    reserved: float  # credits an earlier holder reserved for its attempt
    refused: str | None  # a submission whose job failed: its retry pays for a new one


@attrs.frozen
class Paid:
    """The outcome of the paid step: the submission, what it cost, whether it was adopted."""

    submission_id: str
    video_id: str
    credits_charged: float
    adopted: bool


async def _lease_session(db_url: str, lease: float) -> psycopg.AsyncConnection[tuple[Any, ...]]:
    """A session for a paid lock: PostgreSQL ends it after `lease` seconds of silence, idle
    or paused inside a transaction (which holds the batch's row for the budget meanwhile)."""
    conn = await connect(db_url)
    try:
        await conn.execute(
            "SELECT set_config('idle_session_timeout', %s, false), "
            "set_config('idle_in_transaction_session_timeout', %s, false)",
            (f"{int(lease * 1000)}",) * 2,
        )
    except BaseException:
        with anyio.CancelScope(shield=True):
            await conn.close()
        raise
    return conn


@attrs.define
class LockSessions:
    """The sessions of one worker's paid locks, kept from one paid step to the next (opening
    one costs more than the step's statements). A session goes back only after a clean
    release: its advisory locks unlocked, no transaction open; any doubt closes it, which
    ends whatever it held. One left idle for half the lease is not reused (PostgreSQL ends
    it at the lease); at most `keep` wait idle."""

    db_url: str
    lease: float
    keep: int = 4
    _idle: list[tuple[float, psycopg.AsyncConnection[tuple[Any, ...]]]] = attrs.field(
        factory=list, init=False
    )

    async def take(self) -> psycopg.AsyncConnection[tuple[Any, ...]]:
        """A session of its own for one paid lock."""
        while self._idle:
            since, conn = self._idle.pop()
            if not conn.closed and time.monotonic() - since < self.lease / 2:
                return conn
            await conn.close()
        return await _lease_session(self.db_url, self.lease)

    async def give_back(self, conn: psycopg.AsyncConnection[tuple[Any, ...]]) -> None:
        """Release every advisory lock of a session and keep it (else close it)."""
        try:
            await conn.execute("SELECT pg_advisory_unlock_all()")
            clean = conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        except psycopg.Error:
            clean = False
        if clean and len(self._idle) < self.keep:
            self._idle.append((time.monotonic(), conn))
        else:
            await conn.close()

    async def close(self) -> None:
        """End the sessions kept."""
        idle, self._idle = self._idle, []
        for _, conn in idle:
            await conn.close()


class PaidLock:
    """The lock of one video's paid step, held by one worker with one fencing token."""

    def __init__(
        self,
        conn: psycopg.AsyncConnection[tuple[Any, ...]],
        workflow_id: str,
        holder: str,
        held: Held,
        lease: float,
    ) -> None:
        self._conn = conn
        self.workflow_id = workflow_id
        #: The video's row (its key: a retry's workflow id names its attempt too).
        self.key = attempt_of(workflow_id)[0]
        self.holder = holder
        self.held = held
        self.lease = lease
        #: Set once the lock is known lost (the heartbeat or a write found the fence stale).
        self.lost = False
        #: While a paid request is in flight: the server's clock, to advance `last_attempt`.
        self._paying: Callable[[], datetime] | None = None
        #: Credits the video holds against the batch's budget.
        self.reserved = held.reserved

    @property
    def fence(self) -> int:
        """This holder's fencing token."""
        return self.held.fence

    @classmethod
    @contextlib.asynccontextmanager
    async def hold(
        cls,
        db_url: str,
        key: str,
        workflow_id: str,
        holder: str,
        lease: float,
        sessions: LockSessions | None = None,
    ) -> AsyncIterator[PaidLock]:
        """Wait for the lock of `key`, take the next fence of `workflow_id`'s row, and hold
        them (the lock ends with the session, whatever happens to this process). With
        `sessions`, the session comes from them and goes back once the lock is released."""
        if sessions is not None and sessions.lease != lease:
            raise ValueError(f"sessions kept for a lease of {sessions.lease:g} s, not {lease:g} s")
        conn = await (sessions.take() if sessions is not None else _lease_session(db_url, lease))
        released = False
        try:
            try:
                await conn.execute("SELECT pg_advisory_lock(%s)", (lock_key(key),))
            except psycopg.OperationalError:
                if sessions is None:
                    raise
                # A kept session that PostgreSQL ended meanwhile (a restart): a new one.
                await conn.close()
                conn = await _lease_session(db_url, lease)
                await conn.execute("SELECT pg_advisory_lock(%s)", (lock_key(key),))
            cursor = await conn.execute(
                f"UPDATE cutpro_videos SET fence = fence + 1, holder = %s, heartbeat = now() "
                f"WHERE workflow_id = %s AND attempt = %s RETURNING {_ROW}",
                (holder, *attempt_of(workflow_id)),
            )
            row = await cursor.fetchone()
            if row is None:
                raise LookupError(f"no video {workflow_id} in cutpro_videos (or a later attempt)")
            lock = cls(conn, workflow_id, holder, Held(*row), lease)
            yield lock
            released = not lock.lost
        finally:
            with anyio.CancelScope(shield=True):
                if released and sessions is not None:
                    await sessions.give_back(conn)  # unlocked, or closed if in doubt
                else:
                    await conn.close()  # ends the session: the advisory lock goes with it

    async def run(self, work: Callable[[], Awaitable[T]]) -> T:
        """Run `work` under the lock with its heartbeat; `Fenced` if the lock is lost first."""
        done: list[T] = []
        try:
            async with anyio.create_task_group() as group:
                group.start_soon(self._beat, group.cancel_scope)
                done.append(await work())
                group.cancel_scope.cancel()
        except BaseExceptionGroup as errors:
            raise sole_error(errors) from None
        if self.lost or not done:
            raise Fenced(f"{self.holder} lost the paid step of {self.workflow_id}")
        return done[0]

    async def _beat(self, scope: anyio.CancelScope) -> None:
        """Keep the session busy and the fence checked; cancel `scope` once it is lost."""
        while True:
            await anyio.sleep(self.lease / 3)
            try:
                if self._paying is None:
                    await self._write("heartbeat = now()")
                else:  # a send may happen until the next beat: say so before it can
                    ahead = self._paying() + timedelta(seconds=self.lease / 3)
                    await self._write(
                        "heartbeat = now(), last_attempt = GREATEST(last_attempt, %s)", ahead
                    )
            except Fenced:
                scope.cancel()
                return

    async def _write(self, assignments: str, *params: object) -> None:
        """One update of the row, only while this holder's fence is the row's."""
        cursor = await self._execute(
            f"UPDATE cutpro_videos SET {assignments} WHERE workflow_id = %s AND fence = %s",
            (*params, self.key, self.fence),
        )
        if cursor.rowcount != 1:
            self._fenced(" (fence)")

    async def _execute(
        self, query: str, params: Sequence[Any] | Mapping[str, Any]
    ) -> psycopg.AsyncCursor[tuple[Any, ...]]:
        """One statement on the lock's session; `Fenced` if the session is gone (the lease
        ran out) or broken."""
        try:
            return await self._conn.execute(query, params)
        except psycopg.Error as exc:
            self._fenced(f": {exc}", exc)

    def _fenced(self, why: str, cause: BaseException | None = None) -> NoReturn:
        """The lock is lost: say so, and raise `Fenced`."""
        self.lost = True
        raise Fenced(f"{self.holder} lost the paid step of {self.workflow_id}{why}") from cause

    async def reserve(self, cost: float) -> str | None:
        """Hold `cost` credits of the batch's budget for this video's paid request; the reason
        it does not fit, or None once held (fence-checked). One statement."""
        cursor = await self._execute(_RESERVE, {"key": self.key, "fence": self.fence, "cost": cost})
        fenced, held, budget, spent = await cursor.fetchone() or (True, False, 0.0, 0.0)
        if fenced:
            self._fenced(" (fence)")
        if held:
            self.reserved += cost
            return None
        return (
            f"over budget: {cost:g} credits would take the batch past {budget or 0.0:g} "
            f"({spent or 0.0:g} spent or held)"
        )

    async def settle(self, price: float) -> None:
        """The video holds `price` against the budget from now on (the price charged; 0: the
        request provably never reached the server). One statement, fence-checked."""
        if price == self.reserved:
            return
        cursor = await self._execute(
            _SETTLE,
            {"key": self.key, "fence": self.fence, "price": price, "delta": price - self.reserved},
        )
        row = await cursor.fetchone()
        if row is None or not row[0]:
            self._fenced(" (fence)")
        self.reserved = price

    async def skip(self, cost: float, reason: str) -> None:
        """The video does not fit in the budget: skipped, with `reason` and what it needs (a
        later run with room for `cost` gives it a new attempt)."""
        await self._write(
            "phase = 'skipped', needed = %s, error = %s, updated_at = now()",
            cost,
            f"skipped: {reason}",
        )

    async def attempt(self, at: datetime, now: Callable[[], datetime]) -> None:
        """Right before a paid request: check the fence and record when it may be sent; the
        heartbeat keeps advancing that time until `attempted` (`now`: the server's clock)."""
        await self._write("last_attempt = %s, phase = 'submitting'", at)
        self._paying = now

    def stop_paying(self) -> None:
        """No paid request is in flight any more."""
        self._paying = None

    async def attempted(self, *, restore: datetime | None = None, sent: bool = True) -> None:
        """The paid request is over; if it provably never reached the server (`sent=False`),
        the last attempt goes back to `restore` (nothing new may commit)."""
        self._paying = None
        if not sent:
            await self._write("last_attempt = %s", restore)

    async def record(self, paid: Paid) -> None:
        """The video's submission, paid or adopted (fence-checked)."""
        self._paying = None
        await self._write(
            "submission_id = %s, video_id = %s, credits_charged = %s, adopted = %s, "
            "phase = 'submitted', updated_at = now()",
            paid.submission_id,
            paid.video_id,
            paid.credits_charged,
            paid.adopted,
        )


async def pay_once(
    client: CutPro,
    db_url: str,
    *,
    workflow_id: str,
    holder: str,
    key: str,
    request: SubmitRequest,
    intent: datetime,
    resubmit: bool = False,
    lease: float = 30.0,
    before_attempt: Callable[[], Awaitable[None]] | None = None,
    sessions: LockSessions | None = None,
) -> Paid:
    """The video's submission, paid at most once across every worker: adopted if it exists
    (recorded, created since `intent`, or usable on the server), else paid, all under the
    video's lock. `Fenced` if the lock is lost before paying. `before_attempt` runs right
    before the fence-checked write that precedes the paid request (tests pause there);
    `sessions` keeps the lock's session for the next paid step (else one per step)."""
    async with PaidLock.hold(db_url, key, workflow_id, holder, lease, sessions) as lock:

        async def decide_and_pay() -> Paid:
            return await _decide_and_pay(client, lock, request, intent, resubmit, before_attempt)

        return await lock.run(decide_and_pay)


async def _decide_and_pay(
    client: CutPro,
    lock: PaidLock,
    request: SubmitRequest,
    intent: datetime,
    resubmit: bool,
    before_attempt: Callable[[], Awaitable[None]] | None,
) -> Paid:
    """Inside the lock: what the row says, then the server's truth, then pay."""
    held = lock.held
    paid_before = held.submission_id is not None or held.last_attempt is not None
    if held.video_id is not None and paid_before:
        # An earlier attempt paid, or may have paid, for the video its analysis named; this
        # one's analysis may name another (the API need not give one URL the same id twice):
        # look, adopt and pay on the earlier one, or a late commit of it would go unseen.
        request = attrs.evolve(request, video_id=held.video_id)
    video_id = request.video_id
    if held.submission_id is not None:
        # An earlier holder paid or adopted and recorded it, then stopped before its step
        # was checkpointed.
        paid = Paid(held.submission_id, video_id, held.credits_charged or 0.0, bool(held.adopted))
        if lock.reserved:  # it may have stopped before settling its reservation
            await lock.settle(paid.credits_charged)
        return paid
    since = min(at for at in (intent, held.intent) if at is not None)
    found = await client.submissions.reconcile(video_id, since=since, request=request)
    earlier = held.last_attempt  # a holder may have sent the paid request up to then
    if found is None and earlier is not None:
        found = await _committed(client, request, since, earlier)
    if found is not None and found.submission_id == held.refused:
        found = None  # the failed job a retry was asked for; not this attempt's
    if found is None and not resubmit:
        found = await client.submissions.find_reusable(request)
    if found is not None:
        return await _adopt(lock, video_id, found)
    if not lock.reserved:  # else an earlier holder's attempt reserved it, and may have paid
        cost = request_cost(held.credits_cost, request)
        reason = await lock.reserve(cost)
        if reason is not None:
            await lock.skip(cost, reason)
            raise OverBudget(reason)
    if before_attempt is not None:
        await before_attempt()
    await lock.attempt(client.server_time(), client.server_time)
    try:
        # After an earlier attempt, its window has passed: `create` looks once more (since
        # the intent) before it sends; the first attempt sends at once.
        created = await client.submissions.create(
            video_id,
            timeframe=request.timeframe,
            source_language=request.source_language,
            strategy_id=request.strategy_id,
            template_id=request.template_id,
            attempt_started=None if earlier is None else since,
        )
    except (APIError, TransportError) as exc:
        await lock.attempted(restore=earlier, sent=exc.maybe_processed)
        if not exc.maybe_processed and earlier is None:  # no attempt of it can commit
            await lock.settle(0.0)
        raise
    except BaseException:
        lock.stop_paying()
        raise
    paid = Paid(created.submission_id, video_id, created.credits_charged, adopted=False)
    await lock.record(paid)
    await lock.settle(paid.credits_charged)
    return paid


def request_cost(whole: float | None, request: SubmitRequest) -> float:
    """What a paid request is expected to cost: 1 credit a minute of its timeframe, at most
    the whole video's price (as `cutpro run` counts it)."""
    frame = request.timeframe
    minutes = None if frame is None else float(math.ceil(round(frame.seconds, 6) / 60))
    if whole is None or minutes is None:
        return whole if whole is not None else minutes or 0.0
    return min(whole, minutes)


@attrs.frozen
class _Look:
    """One look at a video's submissions for the one an earlier attempt created."""

    found: Submission | None

    @property
    def status(self) -> str:
        """What the look saw (for the poller)."""
        return "listed" if self.found is not None else "not listed"


async def _committed(
    client: CutPro, request: SubmitRequest, since: datetime, last_attempt: datetime
) -> Submission | None:
    """The submission an earlier holder's attempt created, looked for (since the intent) until
    the commit window from its last possible send has passed; None if it never showed."""
    window = commit_window(client.settings.retry, client.settings.timeouts)
    left = (last_attempt - client.server_time()).total_seconds() + window

    async def look() -> _Look:
        found = await client.submissions.reconcile(request.video_id, since=since, request=request)
        return _Look(found)

    try:
        final = await wait_for(
            look,
            lambda seen: seen.found is not None,
            polling=client.settings.polling,
            timeout=max(0.0, left),
            what=f"an earlier paid attempt of {request.video_id}",
        )
    except WaitTimeout:
        return None
    return final.found


async def _adopt(lock: PaidLock, video_id: str, found: Submission) -> Paid:
    """Record an existing submission as this video's, at its real price."""
    log.info("adopting submission %s of %s", found.submission_id, video_id)
    paid = Paid(found.submission_id, video_id, found.credit_cost or 0.0, adopted=True)
    await lock.record(paid)
    if lock.reserved:  # an earlier attempt reserved: what is adopted is likely what it paid
        await lock.settle(paid.credits_charged)
    return paid
