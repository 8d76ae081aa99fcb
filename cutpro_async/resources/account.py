"""`workspace` and `balance`: who the key is and what it can spend."""

from __future__ import annotations

from collections.abc import AsyncIterator

from ..models import Balance, Transaction, TransactionPage, TransactionType, Workspace
from ._base import Resource, page_params, walk


class WorkspaceResource(Resource):
    """`GET /workspace`."""

    async def get(self) -> Workspace:
        """The workspace this key resolves to (also a cheap check that the key works)."""
        return await self._typed(Workspace, "GET", "/workspace")


class BalanceResource(Resource):
    """`GET /balance` and the credit ledger."""

    async def get(self) -> Balance:
        """The current credit balance."""
        return await self._typed(Balance, "GET", "/balance")

    async def history(
        self,
        *,
        page: int = 1,
        limit: int = 50,
        type: TransactionType | str | None = None,
        reference_type: str | None = None,
    ) -> TransactionPage:
        """One page of the ledger, newest first."""
        params = page_params(page, limit, type=type, reference_type=reference_type)
        return await self._typed(TransactionPage, "GET", "/balance/history", params=params)

    def iter_history(
        self, *, type: TransactionType | str | None = None, reference_type: str | None = None
    ) -> AsyncIterator[Transaction]:
        """Every ledger row, newest first, page by page."""
        return walk(
            lambda p: self.history(page=p, limit=100, type=type, reference_type=reference_type)
        )
