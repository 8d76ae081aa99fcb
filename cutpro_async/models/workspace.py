"""Workspace, balance and credit-ledger models."""

from __future__ import annotations

from datetime import datetime

import attrs

from ._base import OpenEnum, Pagination


class Role(OpenEnum):
    """Role of the user who created the API key."""

    ADMIN = "admin"
    MEMBER = "member"


@attrs.frozen
class Workspace:
    """The workspace a request resolved to (`GET /workspace`)."""

    id: str
    name: str
    is_personal: bool
    status: str
    role: Role
    plan_id: str
    plan_name: str | None
    plan_is_free: bool
    credits: float
    seat_count: int
    max_total_seats: int
    member_count: int
    created_at: datetime


@attrs.frozen
class Balance:
    """Current credit balance (`GET /balance`)."""

    balance: float


class TransactionType(OpenEnum):
    """Kind of a ledger row."""

    CREDIT = "credit"
    DEBIT = "debit"
    REFUND = "refund"
    BONUS = "bonus"
    SUBSCRIPTION_RENEWAL = "subscription_renewal"
    SUBSCRIPTION_ACTIVATION = "subscription_activation"


@attrs.frozen
class Transaction:
    """One ledger row: a signed `amount` (negative for debits) and the balance after it."""

    id: str
    type: TransactionType
    amount: float
    balance_after: float
    reference_type: str
    reference_id: str | None
    description: str
    created_at: datetime


@attrs.frozen
class TransactionPage:
    """A page of the credit ledger, newest first."""

    transactions: list[Transaction]
    pagination: Pagination

    @property
    def items(self) -> list[Transaction]:
        """The page's transactions."""
        return self.transactions
