"""What every resource shares: path building, typed calls, page walking."""

from __future__ import annotations

import re
from collections.abc import AsyncGenerator, Awaitable, Callable, Coroutine, Mapping, Sequence
from typing import Any, Protocol, TypeVar
from urllib.parse import quote

from .._http import Transport
from ..errors import UsageError
from ..models import Pagination

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)
Params = dict[str, str | int | float]


class PageLike(Protocol[T_co]):
    """Any list response: its items and (maybe) its pagination."""

    @property
    def items(self) -> Sequence[T_co]: ...

    @property
    def pagination(self) -> Pagination | None: ...


def page_params(page: int, limit: int, **filters: str | float | None) -> Params:
    """`page`/`limit` checked against the API's bounds, plus the filters that are set."""
    if not isinstance(page, int) or page < 1:
        raise UsageError(f"page must be an integer >= 1, got {page!r}")
    if not isinstance(limit, int) or not 1 <= limit <= 100:
        raise UsageError(f"limit must be an integer from 1 to 100, got {limit!r}")
    params: Params = {"page": page, "limit": limit}
    params.update(
        {k: str(v) if isinstance(v, str) else v for k, v in filters.items() if v is not None}
    )
    return params


async def walk(fetch: Callable[[int], Awaitable[PageLike[T]]]) -> AsyncGenerator[T, None]:
    """Every item of every page, fetching one page at a time."""
    page = 1
    while True:
        result = await fetch(page)
        for item in result.items:
            yield item
        if result.pagination is None or not result.pagination.has_next_page:
            return
        page += 1


class Resource:
    """One API group, bound to a client's transport."""

    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    def _raw(
        self,
        method: str,
        template: str,
        *,
        ids: Mapping[str, str] | None = None,
        json: Any = None,
        params: Params | None = None,
        safe: bool | None = None,
    ) -> Coroutine[Any, Any, Any]:
        """Call `METHOD template` with ids quoted into the path; await it for decoded JSON.

        Not a coroutine itself, nor is `_typed`: the transport's is returned, so a call
        crosses no layer of its own (an id that is no id is refused at once).
        """
        return self._call(method, template, ids, json, params, safe, None)

    def _typed(
        self,
        cls: type[T],
        method: str,
        template: str,
        *,
        ids: Mapping[str, str] | None = None,
        json: Any = None,
        params: Params | None = None,
        safe: bool | None = None,
    ) -> Coroutine[Any, Any, T]:
        """Like `_raw`, structured into `cls` (`UnexpectedResponse` if the answer is not one)."""
        return self._call(method, template, ids, json, params, safe, cls)

    def _call(
        self,
        method: str,
        template: str,
        ids: Mapping[str, str] | None,
        json: Any,
        params: Params | None,
        safe: bool | None,
        into: type[Any] | None,
    ) -> Coroutine[Any, Any, Any]:
        """The transport's coroutine for `METHOD template` with the ids in the path."""
        path = template.format(
            **{name: _segment(name, value) for name, value in (ids or {}).items()}
        )
        route = f"{method} {template}"
        return self._transport.request(
            method, path, route=route, json=json, params=params, safe=safe, into=into
        )


def _segment(name: str, value: str) -> str:
    """An id as one path segment (quoted, so it can never change the path)."""
    if not isinstance(value, str) or not value or value in (".", ".."):
        raise UsageError(f"{name} must be a non-empty string id, got {value!r}")
    return value if _PLAIN_ID.fullmatch(value) else quote(value, safe="")


#: Ids that `quote` leaves as they are (unreserved characters only).
_PLAIN_ID = re.compile(r"[A-Za-z0-9_.~-]+")
