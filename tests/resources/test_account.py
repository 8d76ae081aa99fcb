"""`workspace` and `balance` against the simulator: typed answers, ledger pages, filters."""

from __future__ import annotations

import anyio
import pytest

from cutpro_async import CutPro, UsageError, ValidationError
from cutpro_async.models import (
    Balance,
    Role,
    Transaction,
    TransactionPage,
    TransactionType,
    Workspace,
)
from cutpro_async.testing import FakeCutPro
from tests.conftest import FAST_RETRY

from .conftest import (
    NO_PACING,
    make_client,
    video_url,
)

pytestmark = pytest.mark.anyio


async def test_workspace_get_is_typed_and_matches_the_key(client: CutPro, fake: FakeCutPro) -> None:
    """`workspace.get` returns a `Workspace` for the key's workspace, with its live credits."""
    ws = await client.workspace.get()
    assert isinstance(ws, Workspace)
    assert ws.id == fake.workspace_id
    assert ws.role is Role.ADMIN
    assert ws.credits == fake.balance()
    assert ws.created_at.tzinfo is not None


async def test_balance_get_follows_the_ledger(client: CutPro, fake: FakeCutPro) -> None:
    """`balance.get` is a `Balance` that drops by the cost of a submission."""
    before = await client.balance.get()
    assert isinstance(before, Balance)
    assert before.balance == fake.balance()
    info = await client.videos.analyze(video_url(600))
    await client.submissions.create(info.video_id)
    after = await client.balance.get()
    assert after.balance == before.balance - info.credits_cost


async def test_history_is_a_typed_page_newest_first(client: CutPro) -> None:
    """`balance.history` lists `Transaction` rows newest first, with pagination."""
    info = await client.videos.analyze(video_url(600))
    created = await client.submissions.create(info.video_id)
    page = await client.balance.history()
    assert isinstance(page, TransactionPage)
    assert [type(row) for row in page.transactions] == [Transaction, Transaction]
    debit, grant = page.transactions
    assert debit.type is TransactionType.DEBIT
    assert debit.amount == -info.credits_cost
    assert debit.reference_id == created.submission_id
    assert grant.type is TransactionType.BONUS
    assert page.pagination.total_count == 2
    assert not page.pagination.has_next_page


async def test_history_filters_by_type_and_reference(client: CutPro) -> None:
    """`type` (enum or string) and `reference_type` filter the ledger on the server."""
    info = await client.videos.analyze(video_url(600))
    await client.submissions.create(info.video_id)
    debits = await client.balance.history(type=TransactionType.DEBIT)
    assert [row.type for row in debits.transactions] == [TransactionType.DEBIT]
    bonuses = await client.balance.history(type="bonus")
    assert [row.type for row in bonuses.transactions] == [TransactionType.BONUS]
    usage = await client.balance.history(reference_type="usage")
    assert [row.reference_type for row in usage.transactions] == ["usage"]


async def test_history_with_an_unknown_type_is_a_validation_error(client: CutPro) -> None:
    """A filter value the API does not know comes back as a 422 `ValidationError`."""
    with pytest.raises(ValidationError) as caught:
        await client.balance.history(type="gift")
    assert caught.value.status == 422
    assert caught.value.extra.get("field") == "type"


@pytest.mark.parametrize(("page", "limit"), [(0, 10), (1, 0), (1, 101), (-1, 10)])
async def test_history_refuses_bad_paging_before_sending(
    client: CutPro, fake: FakeCutPro, page: int, limit: int
) -> None:
    """Out-of-range `page`/`limit` raise `UsageError` and send nothing."""
    with pytest.raises(UsageError):
        await client.balance.history(page=page, limit=limit)
    assert fake.requests["GET /balance/history"] == 0


async def test_iter_history_stops_after_the_last_page(client: CutPro, fake: FakeCutPro) -> None:
    """A one-page ledger is walked with a single request."""
    rows = [row async for row in client.balance.iter_history()]
    assert [row.type for row in rows] == [TransactionType.BONUS]
    assert fake.requests["GET /balance/history"] == 1


async def test_iter_history_walks_every_page() -> None:
    """101 debits plus the grant span two pages of 100: `iter_history` yields all 102 rows."""
    async with (
        FakeCutPro(time_scale=6000, analyze_limit=1000) as fake,
        make_client(fake, pacing=NO_PACING, retry=FAST_RETRY) as cp,
    ):
        limiter = anyio.CapacityLimiter(16)

        async def charge_one() -> None:
            async with limiter:
                info = await cp.videos.analyze(video_url(120))
                await cp.submissions.create(info.video_id)

        async with anyio.create_task_group() as tg:
            for _ in range(101):
                tg.start_soon(charge_one)
        rows = [row async for row in cp.balance.iter_history()]
        assert len(rows) == 102
        assert len({row.id for row in rows}) == 102
        assert fake.requests["GET /balance/history"] == 2
        debits = [row async for row in cp.balance.iter_history(type="debit")]
        assert len(debits) == 101
