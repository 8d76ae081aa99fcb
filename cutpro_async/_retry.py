"""Retry decisions: which failures may be repeated, how long to wait, and the retry budget."""

from __future__ import annotations

import email.utils
import random
import time
from typing import Any

from .config import RetryPolicy

SAFE_METHODS = frozenset({"GET", "HEAD", "DELETE", "PUT", "OPTIONS"})


def backoff(policy: RetryPolicy, attempt: int) -> float:
    """Full-jitter exponential backoff for retry number `attempt` (0-based)."""
    ceiling = min(policy.backoff_max, policy.backoff_initial * 2**attempt)
    return random.uniform(0, ceiling)


def retry_after(headers: Any, extra: dict[str, Any]) -> float | None:
    """The server's wait hint: `extra.retry_after` first, else `Retry-After` (seconds or date)."""
    hint = extra.get("retry_after")
    if isinstance(hint, int | float) and not isinstance(hint, bool) and hint >= 0:
        return float(hint)
    header = headers.get("Retry-After") if headers is not None else None
    if not header:
        return None
    header = header.strip()
    if header.isdigit():
        return float(header)
    try:
        when = email.utils.parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class RetryBudget:
    """A token bucket of retries: each success earns `ratio` of a retry, each retry spends one."""

    def __init__(self, policy: RetryPolicy) -> None:
        self._cap = max(policy.budget_initial, 1.0) if policy.budget_initial else 0.0
        self._tokens = float(policy.budget_initial)
        self._ratio = policy.budget_ratio

    def on_success(self) -> None:
        """A request succeeded."""
        self._tokens = min(self._cap, self._tokens + self._ratio)

    def try_spend(self) -> bool:
        """Take one retry if the budget allows it."""
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True
