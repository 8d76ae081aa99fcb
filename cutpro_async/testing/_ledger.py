"""The credit ledger's rows, as the simulator keeps them and as `FakeCutPro.ledger()` shows them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import attrs

from ._enums import TransactionType
from ._wire import iso, wire


@attrs.frozen
class LedgerRow:
    """One credit movement: a signed `amount` (negative for debits) and the balance after it.

    `type` is a `str` enum, so `row.type == "debit"` holds for a debit.
    """

    id: str
    type: TransactionType
    amount: float
    balance_after: float
    reference_type: str
    reference_id: str | None
    description: str
    created_at: datetime

    def json(self) -> dict[str, Any]:
        """The row as `GET /balance/history` lists it."""
        return wire(
            "Transaction",
            id=self.id,
            type=self.type.value,
            amount=self.amount,
            balance_after=self.balance_after,
            reference_type=self.reference_type,
            reference_id=self.reference_id,
            description=self.description,
            created_at=iso(self.created_at),
        )
