"""The one credit ledger of a batch: what the record spent, what is reserved, what is left.

`Batch`, `--budget`, the summary and `cutpro status` all count credits here. A paid request
reserves its estimated cost first; the reservation is confirmed at the price the API charged,
or refunded when the request provably never reached the server. A submission adopted instead
of paid (found on the server, in the machine's index, or after a crash) counts at its real
price, without touching the balance that was read before it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import attrs

from .record import Record


def charged(record: Record) -> float:
    """What a record's submission cost: the price the API charged, else the estimate."""
    if record.submission_id is None:
        return 0.0
    if record.credits_charged is not None:
        return record.credits_charged
    return record.credits_cost or 0.0


@attrs.define
class Credits:
    """Budget and balance bookkeeping; one per batch run.

    `budget` caps what the whole record may spend (earlier runs included; None: no cap);
    `balance` is the workspace's balance read at the start of the run.
    """

    budget: float | None = None
    balance: float = math.inf
    spent: float = 0.0
    _reserved: dict[str, float] = attrs.field(factory=dict)

    @classmethod
    def of(
        cls, records: Iterable[Record], budget: float | None = None, balance: float = math.inf
    ) -> Credits:
        """The ledger of a record as saved: everything its submissions cost."""
        return cls(budget, balance, sum(charged(record) for record in records))

    @property
    def reserved(self) -> float:
        """Credits held for paid requests in flight."""
        return sum(self._reserved.values())

    def reserve(self, source: str, cost: float) -> str | None:
        """Hold `cost` for a paid request; the reason it cannot be paid, or None once held."""
        if self.budget is not None and self.spent + self.reserved + cost > self.budget:
            return f"over budget: {cost:g} credits would take the record past {self.budget:g}"
        if cost > self.balance:
            return f"not enough credits: needs {cost:g}, {self.balance:g} left"
        self._reserved[source] = cost
        self.balance -= cost
        return None

    def refund(self, source: str) -> None:
        """The paid request provably never reached the server: give its reservation back."""
        self.balance += self._reserved.pop(source, 0.0)

    def confirm(self, source: str, price: float) -> None:
        """The paid request went through at `price`: the reservation becomes spent."""
        held = self._reserved.pop(source, 0.0)
        self.balance += held - price
        self.spent += price

    def adopt(self, source: str, price: float) -> None:
        """A submission was adopted instead of paid: count it at its real price."""
        self.balance += self._reserved.pop(source, 0.0)
        self.spent += price
