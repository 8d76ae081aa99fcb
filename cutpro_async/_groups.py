"""Task-group helpers."""

from __future__ import annotations

import anyio


def sole_error(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The one real error of a task group (the other tasks were only cancelled because of it)."""
    errors = [e for e in group.exceptions if not isinstance(e, anyio.get_cancelled_exc_class())]
    first = (errors or list(group.exceptions))[0]
    return sole_error(first) if isinstance(first, BaseExceptionGroup) else first
