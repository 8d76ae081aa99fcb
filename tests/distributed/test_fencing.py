"""The paid step's lock across workers: one holder at a time, a lease that a paused holder
loses, a fence that stops it from paying when it wakes, and the intent a dead holder left."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import anyio
import attrs
import psycopg
import pytest

from cutpro_async import CutPro
from cutpro_async.batch.index import index_key
from cutpro_async.distributed import (
    BatchOptions,
    Fenced,
    Paid,
    Tables,
    enqueue,
    pay_once,
    work,
    workflows,
)
from cutpro_async.distributed.fencing import LockSessions, OverBudget, PaidLock, lock_key
from cutpro_async.distributed.tables import attempt_id, ensure_schema
from cutpro_async.distributed.workflows import submit_request
from cutpro_async.errors import InsufficientCredits
from cutpro_async.models import SubmitRequest
from cutpro_async.testing import FakeCutPro
from tests.batch.conftest import video_url

from .conftest import FAST_ENGINE, SIM_SETTINGS, fast_client

pytestmark = pytest.mark.anyio

#: The paid step's lease in these tests: a holder silent for longer loses its lock.
LEASE = 1.0


@attrs.frozen
class Video:
    """A video ready for its paid step: its row, its request and the intent noted."""

    workflow_id: str
    source: str
    request: SubmitRequest
    key: str
    intent: Any


async def priced_video(db_url: str, cp: CutPro, tag: str) -> Video:
    """A video analysed, its row in the batch tables, the intent to pay noted."""
    source = video_url(tag)
    workflow_id = f"fence:{tag}"
    info = await cp.videos.analyze(source)
    priced = {"video_id": info.video_id, "credits_cost": 10.0, "duration": info.duration}
    request = submit_request(priced, BatchOptions())
    key = index_key(cp.settings.base_url, cp.settings.workspace_id, source, request)
    await ensure_schema(db_url)
    async with Tables(db_url) as tables:
        await tables.add_batch("fence", BatchOptions().to_json())
        await tables.add_videos("fence", [(workflow_id, source, 0)])
        intent = await tables.intent(workflow_id, "test", cp.server_time())
    return Video(workflow_id, source, request, key, intent)


async def pay(cp: CutPro, db_url: str, video: Video, holder: str, **kwargs: Any) -> Paid:
    """`pay_once` for `video` as `holder`, with the tests' lease."""
    return await pay_once(
        cp,
        db_url,
        workflow_id=video.workflow_id,
        holder=holder,
        key=video.key,
        request=video.request,
        intent=video.intent,
        lease=LEASE,
        **kwargs,
    )


async def row_of(db_url: str, workflow_id: str) -> tuple[int, str | None, str | None]:
    """(fence, holder, submission id) of a video's row."""
    async with Tables(db_url) as tables:
        row = await tables.video(workflow_id)
    assert row is not None
    return row.fence, row.holder, row.submission_id


async def test_a_paused_holder_loses_its_lock_and_never_pays(db_url: str) -> None:
    """Worker A takes the lock, decides to pay, and stops answering (its event loop blocked,
    as a stopped process) right before its paid request: PostgreSQL ends its session after
    the lease, B takes the lock with the next fence and pays; when A wakes it is fenced out
    instead of paying. One charge."""
    async with FakeCutPro(**SIM_SETTINGS) as fake, fast_client(fake.api_key, fake.base_url) as cp:
        video = await priced_video(db_url, cp, "paused")
        ready = threading.Event()
        outcome: dict[str, object] = {}

        def worker_a() -> None:
            async def main() -> None:
                async with fast_client(fake.api_key, fake.base_url) as own:
                    await own.balance.get()

                    async def pause() -> None:
                        ready.set()
                        time.sleep(4 * LEASE)  # noqa: ASYNC251  # the whole worker stops

                    try:
                        outcome["paid"] = await pay(own, db_url, video, "A", before_attempt=pause)
                    except Fenced as exc:
                        outcome["fenced"] = exc

            asyncio.run(main())

        thread = threading.Thread(target=worker_a)
        thread.start()
        try:
            assert await anyio.to_thread.run_sync(ready.wait, 30)
            paid_b = await pay(cp, db_url, video, "B")
        finally:
            await anyio.to_thread.run_sync(thread.join)
        assert "paid" not in outcome and isinstance(outcome.get("fenced"), Fenced), outcome
        assert paid_b.adopted is False
        assert fake.charges_per_video()[video.request.video_id] == 1
        assert fake.requests["POST /clips"] == 1
        assert await row_of(db_url, video.workflow_id) == (2, "B", paid_b.submission_id)


async def test_a_slow_holder_keeps_its_lock_and_the_next_one_adopts(db_url: str) -> None:
    """A holder busy for three leases (its heartbeat going) keeps the lock and pays; a second
    holder waits for it, then finds the submission recorded and pays nothing."""
    async with FakeCutPro(**SIM_SETTINGS) as fake, fast_client(fake.api_key, fake.base_url) as cp:
        video = await priced_video(db_url, cp, "slow")
        started = anyio.Event()
        results: dict[str, Paid] = {}

        async def slow() -> None:
            started.set()
            await anyio.sleep(3 * LEASE)

        async def first() -> None:
            results["A"] = await pay(cp, db_url, video, "A", before_attempt=slow)

        async with anyio.create_task_group() as group:
            group.start_soon(first)
            await started.wait()
            results["B"] = await pay(cp, db_url, video, "B")
        assert results["A"].adopted is False
        assert results["B"].submission_id == results["A"].submission_id
        assert fake.charges_per_video()[video.request.video_id] == 1
        assert fake.requests["POST /clips"] == 1
        assert await row_of(db_url, video.workflow_id) == (2, "B", results["A"].submission_id)


async def test_a_holder_killed_after_sending_is_adopted_not_paid_again(db_url: str) -> None:
    """A holder records its attempt, sends the paid request, and dies before recording the
    submission: the next holder finds it since the intent and adopts it."""
    async with FakeCutPro(**SIM_SETTINGS) as fake, fast_client(fake.api_key, fake.base_url) as cp:
        video = await priced_video(db_url, cp, "killed")
        request = video.request
        async with PaidLock.hold(db_url, video.key, video.workflow_id, "A", LEASE) as lock:

            async def send_and_die() -> None:
                await lock.attempt(cp.server_time(), cp.server_time)
                await cp.submissions.create(
                    request.video_id, timeframe=request.timeframe, strategy_id=None
                )

            await lock.run(send_and_die)  # the session ends with no submission recorded
        fence, holder, recorded = await row_of(db_url, video.workflow_id)
        assert (fence, holder, recorded) == (1, "A", None)
        paid = await pay(cp, db_url, video, "B")
        assert paid.adopted is True
        assert fake.charges_per_video()[request.video_id] == 1
        assert await row_of(db_url, video.workflow_id) == (2, "B", paid.submission_id)


async def test_two_holders_never_take_the_batch_past_its_budget(db_url: str) -> None:
    """Two videos of 10 credits, a budget of 15, both paid steps at once: one pays, the other
    is skipped with the reason and what it needs; the batch spent 10, charged once."""
    async with FakeCutPro(**SIM_SETTINGS) as fake, fast_client(fake.api_key, fake.base_url) as cp:
        videos = [await priced_video(db_url, cp, tag) for tag in ("budget-a", "budget-b")]
        async with Tables(db_url) as tables:
            await tables.set_budget("fence", 15)
        outcomes: dict[str, Paid | OverBudget] = {}

        async def one(video: Video) -> None:
            try:
                outcomes[video.workflow_id] = await pay(cp, db_url, video, video.workflow_id)
            except OverBudget as exc:
                outcomes[video.workflow_id] = exc

        async with anyio.create_task_group() as group:
            for video in videos:
                group.start_soon(one, video)
        async with Tables(db_url) as tables:
            ledger = await tables.ledger("fence")
            rows = [await tables.video(v.workflow_id) for v in videos]
    paid = [o for o in outcomes.values() if isinstance(o, Paid)]
    skipped = [o for o in outcomes.values() if isinstance(o, OverBudget)]
    assert len(paid) == len(skipped) == 1, outcomes
    assert (
        str(skipped[0]) == "over budget: 10 credits would take the batch past 15 (10 spent or held)"
    )
    assert ledger == (15, 10)
    assert sum(fake.charges_per_video().values()) == 1
    phases = sorted((row.phase, row.error, row.reserved) for row in rows if row is not None)
    assert phases == [
        ("skipped", f"skipped: {skipped[0]}", 0),
        ("submitted", None, 10),
    ]


async def test_a_request_that_never_reached_the_server_gives_its_credits_back(
    db_url: str,
) -> None:
    """The budget has room but the balance does not (402): the reservation is given back."""
    async with (
        FakeCutPro(credits=5, **SIM_SETTINGS) as fake,
        fast_client(fake.api_key, fake.base_url) as cp,
    ):
        video = await priced_video(db_url, cp, "broke")
        async with Tables(db_url) as tables:
            await tables.set_budget("fence", 100)
        with pytest.raises(InsufficientCredits):
            await pay(cp, db_url, video, "A")
        async with Tables(db_url) as tables:
            assert await tables.ledger("fence") == (100, 0)
            row = await tables.video(video.workflow_id)
    assert row is not None and row.reserved == 0 and row.submission_id is None


async def test_only_the_current_attempt_takes_the_paid_step(db_url: str) -> None:
    """Once a video has a new attempt (`KEY#2`), the old workflow's paid step finds no row to
    hold; the new one adopts the submission the first attempt paid for."""
    async with FakeCutPro(**SIM_SETTINGS) as fake, fast_client(fake.api_key, fake.base_url) as cp:
        video = await priced_video(db_url, cp, "again")
        first = await pay(cp, db_url, video, "A")
        async with Tables(db_url) as tables:
            await tables.run(
                "UPDATE cutpro_videos SET phase = 'failed', retryable = true "
                "WHERE workflow_id = %s",
                (video.workflow_id,),
            )
            assert await tables.next_attempts("fence", failed=True) == [(video.workflow_id, 2)]
        with pytest.raises(LookupError):
            await pay(cp, db_url, video, "stale")
        retry = attrs.evolve(video, workflow_id=attempt_id(video.workflow_id, 2))
        again = await pay(cp, db_url, retry, "B")
    assert again.submission_id == first.submission_id
    assert fake.charges_per_video()[video.request.video_id] == 1


async def test_a_worker_that_loses_its_lock_takes_it_again_and_pays_once(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The paid lock's session ends (a pause, a cut connection) right before the paid request
    while this worker still owns the workflow: the step takes the lock again, and under it
    the row and the server say what happened; the video ends done, charged once (before,
    the workflow ended in ERROR with its row stuck in `submitting`)."""
    killed: list[int] = []
    real = workflows.pay_once

    async def losing_its_lock_once(*args: Any, **kwargs: Any) -> Paid:
        async def before_attempt() -> None:
            if not killed:
                killed.append(await _end_lock_session(db_url, kwargs["key"]))

        return await real(*args, before_attempt=before_attempt, **kwargs)

    monkeypatch.setattr(workflows, "pay_once", losing_its_lock_once)
    async with FakeCutPro(**SIM_SETTINGS) as fake:
        await enqueue(db_url, "lost", [video_url("lost-lock")], BatchOptions(top_k=1))

        def client() -> CutPro:
            return fast_client(fake.api_key, fake.base_url)

        report = await work(db_url, "solo-1", tmp_path / "out", client, settings=FAST_ENGINE)
        async with Tables(db_url) as tables:
            (row,) = await tables.videos("lost")
        charges = fake.charges_per_video()
    assert killed == [1]  # the lock's session was ended once
    assert (report.finished, report.failed) == (1, 0)
    assert (row.phase, row.error) == ("done", None)
    assert list(charges.values()) == [1]


async def _end_lock_session(db_url: str, key: str) -> int:
    """End the session holding the paid lock of `key`; how many sessions were ended."""
    number = lock_key(key) & 0xFFFFFFFFFFFFFFFF  # pg_locks splits the 64 bits in two
    async with await psycopg.AsyncConnection.connect(db_url, autocommit=True) as conn:
        cursor = await conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' "
            "AND granted AND classid::bigint = %s AND objid::bigint = %s AND objsubid = 1",
            (number >> 32, number & 0xFFFFFFFF),
        )
        return len(await cursor.fetchall())


async def test_kept_lock_sessions_hold_nothing_between_paid_steps(db_url: str) -> None:
    """Two paid steps through one worker's `LockSessions`: the second reuses the first's
    session, which held no advisory lock between them; a kept session PostgreSQL ended
    meanwhile is replaced, and the third paid step still pays once."""
    sessions = LockSessions(db_url, LEASE)
    async with FakeCutPro(**SIM_SETTINGS) as fake, fast_client(fake.api_key, fake.base_url) as cp:
        try:
            first, second, third = [
                await priced_video(db_url, cp, tag) for tag in ("kept-1", "kept-2", "kept-3")
            ]
            await pay(cp, db_url, first, "A", sessions=sessions)
            (pid,) = await backends(db_url)  # the one kept session, idle between steps
            assert await advisory_locks(db_url) == 0
            await pay(cp, db_url, second, "A", sessions=sessions)
            assert await backends(db_url) == [pid]  # reused, not a new connection
            assert await advisory_locks(db_url) == 0
            async with await psycopg.AsyncConnection.connect(db_url, autocommit=True) as conn:
                await conn.execute("SELECT pg_terminate_backend(%s)", (pid,))
            await pay(cp, db_url, third, "A", sessions=sessions)
            assert await backends(db_url) not in ([], [pid])  # a new session took its place
        finally:
            await sessions.close()
        assert await backends(db_url) == []
    assert sorted(fake.charges_per_video().values()) == [1, 1, 1]


async def backends(db_url: str) -> list[int]:
    """The pids of the other sessions of this test's database."""
    async with await psycopg.AsyncConnection.connect(db_url, autocommit=True) as conn:
        cursor = await conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() AND backend_type = 'client backend' ORDER BY pid"
        )
        return [int(pid) for (pid,) in await cursor.fetchall()]


async def advisory_locks(db_url: str) -> int:
    """Advisory locks granted in this test's database."""
    async with await psycopg.AsyncConnection.connect(db_url, autocommit=True) as conn:
        cursor = await conn.execute(
            "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database "
            "WHERE l.locktype = 'advisory' AND l.granted AND d.datname = current_database()"
        )
        found = await cursor.fetchone()
    return int(found[0]) if found else 0
