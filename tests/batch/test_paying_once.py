"""Pay once per source on a machine, whatever records run: the machine's index, server truth
before paying, and the one credit ledger."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from cutpro_async import CutPro
from cutpro_async.batch import Batch, Credits, Record, RunOptions, SQLiteStore, SubmissionIndex
from cutpro_async.testing import FakeCutPro

from .conftest import check_files, make_client, simulated, video_urls

pytestmark = pytest.mark.anyio


async def run_record(
    cp: CutPro, urls: list[str], out: Path, index: SubmissionIndex | None, **options: object
) -> list[Record]:
    """One batch run on its own record in `out`; returns the record afterwards."""
    store = await SQLiteStore.open(out / "state.sqlite")
    try:
        opts = RunOptions(out=out, top_k=1, **options)  # type: ignore[arg-type]
        await Batch(cp, opts, store, index).run(urls)
        return await store.records()
    finally:
        await store.close()


def charges(fake: FakeCutPro) -> list[int]:
    """Charges per video, in the ledger's order."""
    return list(fake.charges_per_video().values())


async def test_two_records_one_after_the_other_pay_once(tmp_path: Path) -> None:
    """The same sources in a second record (another out, another state) are adopted from the
    machine's index: nothing is paid again, and both records get every file."""
    urls = video_urls(6)
    async with simulated() as (fake, cp), SubmissionIndex(tmp_path / "data") as index:
        first = await run_record(cp, urls, tmp_path / "a", index)
        second = await run_record(cp, urls, tmp_path / "b", index)
    assert charges(fake) == [1] * 6
    assert [r.submission_id for r in first] == [r.submission_id for r in second]
    assert check_files(second, top_k=1) == 6


async def test_two_records_at_the_same_time_pay_once(tmp_path: Path) -> None:
    """Two records on the same sources at once, against a server whose commits are slow: the
    paid step of each source is held by one of them, the other adopts; one charge each."""
    urls = video_urls(6)
    async with (
        SubmissionIndex(tmp_path / "data") as index,
        SubmissionIndex(tmp_path / "data") as twin,  # another process's view of the index
        simulated(faults="slowcommit:0.3=0.5") as (fake, cp),
        make_client(fake) as other,
        anyio.create_task_group() as group,
    ):
        group.start_soon(run_record, cp, urls, tmp_path / "a", index)
        group.start_soon(run_record, other, urls, tmp_path / "b", twin)
    assert charges(fake) == [1] * 6
    assert fake.injected["slowcommit"] > 0


async def test_a_new_video_id_per_analysis_is_still_paid_once(tmp_path: Path) -> None:
    """When analysing a URL again gives a new `video_id` (a gap of the reference), the server's
    list of the new video shows nothing; the machine's index still finds the first payment."""
    urls = video_urls(3)
    async with (
        simulated(same_video_for_same_url=False) as (fake, cp),
        SubmissionIndex(tmp_path / "data") as index,
    ):
        first = await run_record(cp, urls, tmp_path / "a", index)
        second = await run_record(cp, urls, tmp_path / "b", index)
    assert charges(fake) == [1] * 3
    assert [r.video_id for r in second] == [r.video_id for r in first]


async def test_server_truth_adopts_what_another_machine_paid(tmp_path: Path) -> None:
    """Without a shared index (another machine), the server's own list is consulted before
    paying: a running or completed match is adopted. `resubmit` pays again on purpose."""
    urls = video_urls(4)
    async with (
        simulated() as (fake, cp),
        SubmissionIndex(tmp_path / "one") as one,
        SubmissionIndex(tmp_path / "two") as two,
    ):
        await run_record(cp, urls, tmp_path / "a", one)
        await run_record(cp, urls, tmp_path / "b", two)
        assert charges(fake) == [1] * 4
        await run_record(cp, urls, tmp_path / "c", None, resubmit=True)
    assert charges(fake) == [2] * 4


async def test_a_request_that_never_left_gives_its_credits_back(tmp_path: Path) -> None:
    """A paid request refused before processing (503 with a wait hint, every time) refunds its
    reservation: with a budget of one video, the next video is still paid for."""
    urls = video_urls(2)
    async with simulated(faults="503=1#5@POST /clips") as (fake, cp):
        records = await run_record(cp, urls, tmp_path / "a", None, budget=10, max_in_flight=1)
    assert [r.phase for r in records].count("done") == 1
    assert charges(fake) == [1]


def test_the_ledger_reserves_refunds_confirms_and_adopts() -> None:
    """Reservations count against budget and balance until refunded or confirmed at the real
    price; adoptions count at their price without touching the balance read before."""
    credits = Credits(budget=25, balance=100)
    assert credits.reserve("a", 10) is None
    assert credits.reserve("b", 10) is None
    assert "over budget" in (credits.reserve("c", 10) or "")
    credits.refund("b")
    credits.confirm("a", 8)
    credits.adopt("c", 5)
    assert (credits.spent, credits.reserved, credits.balance) == (13, 0, 92)
    assert "not enough credits" in (Credits(balance=3).reserve("d", 4) or "")


async def test_an_expired_submission_in_the_index_is_not_adopted(tmp_path: Path) -> None:
    """What the machine's index notes is checked on the server: clips that expired (410) are
    forgotten and the video is paid again, then finished."""
    urls = video_urls(1)
    async with simulated() as (fake, cp), SubmissionIndex(tmp_path / "data") as index:
        first = await run_record(cp, urls, tmp_path / "a", index)
        assert first[0].submission_id is not None
        fake.expire_submission(first[0].submission_id)
        second = await run_record(cp, urls, tmp_path / "b", index)
    assert second[0].submission_id != first[0].submission_id
    assert charges(fake) == [2]
    assert check_files(second, top_k=1) == 1
