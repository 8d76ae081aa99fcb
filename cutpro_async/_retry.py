"""The one retry loop of the package, and the decisions it rests on.

Every request that is repeated after a failure goes through `Retrier.call`: API calls, storage
downloads and uploads (with link renewal), the reconciling paid submit, render adoption,
cancels. The caller says which
failures are worth another attempt and how long to wait (`decide`); the loop enforces the
attempt limit, the deadline and a retry budget per host, calls the `on_retry` hook, and sleeps.
"""

from __future__ import annotations

import email.utils
import itertools
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import aiohttp
import anyio

from .config import RetryEvent, RetryPolicy

log = logging.getLogger("cutpro_async")
T = TypeVar("T")
SAFE_METHODS = frozenset({"GET", "HEAD", "DELETE", "PUT", "OPTIONS"})
#: 5xx answers that say nothing about whether the request was carried out.
_AMBIGUOUS_STATUSES = frozenset({500, 502, 504})
#: Failures that happen before a request can reach the server.
_NEVER_SENT = (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError)

#: What `decide` answers: seconds to wait before the next attempt, or None to raise at once.
Decide = Callable[[Exception, int], float | None]


def maybe_processed(failure: BaseException | int, *, hinted: bool = False) -> bool:
    """Whether the server may have acted on a request that failed this way.

    `failure` is an HTTP error status or the exception the request raised. A 429, or a 503 with
    a wait hint (`hinted`), was refused before processing; 500/502/504 and a bare 503 are
    unknown. A request that never connected was not processed; one cut off later may have been.
    """
    if isinstance(failure, int):
        return failure in _AMBIGUOUS_STATUSES or (failure == 503 and not hinted)
    return not isinstance(failure, _NEVER_SENT)


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
        self._cap = max(policy.budget_initial, 1.0)  # room for one earned retry at least
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


class Retrier:
    """Runs attempts until one succeeds or retrying must stop; one per client.

    Each host has its own retry budget, so that a storage outage cannot use up the retries
    of API calls (nor the other way round).
    """

    def __init__(self, policy: RetryPolicy) -> None:
        self.policy = policy
        self._budgets: dict[str, RetryBudget] = {}

    def budget(self, host: str) -> RetryBudget:
        """The retry budget of one host."""
        if host not in self._budgets:
            self._budgets[host] = RetryBudget(self.policy)
        return self._budgets[host]

    async def call(
        self,
        attempt: Callable[[int], Awaitable[T]],
        decide: Decide,
        *,
        what: str,
        host: str | None,
        attempts: int | None = None,
    ) -> T:
        """`await attempt(n)` for n = 0, 1, ... until it returns; the last failure is raised.

        `decide(error, n)` gives the wait before another attempt, or None when repeating cannot
        help. At most `attempts` attempts (default: `policy.max_retries + 1`) within
        `policy.deadline`; with a `host`, each retry also spends from that host's budget
        (None: the failure is not the host's, e.g. a job still running, so no budget is spent).
        """
        started = time.monotonic()
        try:
            result = await attempt(0)
        except Exception as exc:
            return await self.retry(
                exc, attempt, decide, what=what, host=host, started=started, attempts=attempts
            )
        self.succeeded(host)
        return result

    async def retry(
        self,
        error: Exception,
        attempt: Callable[[int], Awaitable[T]],
        decide: Decide,
        *,
        what: str,
        host: str | None,
        started: float,
        attempts: int | None = None,
    ) -> T:
        """What `call` does once attempt 0 (begun at monotonic time `started`) raised `error`.

        A caller that makes its first attempt itself, to build none of this for a call that
        succeeds at once, hands its failure here; a success is `succeeded(host)`.
        """
        limit = self.policy.max_retries + 1 if attempts is None else attempts
        budget = None if host is None else self.budget(host)
        for number in itertools.count(1):
            wait = decide(error, number - 1)
            if wait is None or not self._may_retry(number, limit, started, wait, budget):
                raise error
            self._announce(RetryEvent(what, number, wait, error))
            await anyio.sleep(wait)
            try:
                result = await attempt(number)
            except Exception as exc:
                error = exc
            else:
                if budget is not None:
                    budget.on_success()
                return result
        raise AssertionError("unreachable")  # pragma: no cover

    def succeeded(self, host: str | None) -> None:
        """A call to `host` succeeded (at its first attempt): its retry budget earns."""
        if host is not None:
            self.budget(host).on_success()

    def _may_retry(
        self, done: int, limit: int, started: float, wait: float, budget: RetryBudget | None
    ) -> bool:
        """Whether one more attempt fits the attempt limit, the deadline and the budget."""
        if done >= limit:
            return False
        deadline = self.policy.deadline
        if deadline is not None and time.monotonic() + wait - started > deadline:
            return False
        if budget is not None and not budget.try_spend():
            log.warning("retry budget exhausted: not retrying")
            return False
        return True

    def _announce(self, event: RetryEvent) -> None:
        """Log a retry and tell the policy's hook."""
        log.info(
            "retrying %s in %.2fs after %s (attempt %d)",
            event.what,
            event.wait,
            type(event.error).__name__,
            event.attempt,
        )
        if self.policy.on_retry is not None:
            self.policy.on_retry(event)
