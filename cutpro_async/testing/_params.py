"""Strict reading of request bodies and query strings: bad input is a 4xx, never a 500."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, TypeVar

import orjson
from aiohttp import web

from ._failure import ApiFailure, invalid
from ._wire import wire

T = TypeVar("T")
MAX_JSON_BYTES = 1024 * 1024
_NUMBER = (int, float)


async def json_body(request: web.Request) -> dict[str, Any]:
    """The request's JSON object; 400 for malformed JSON or anything but an object."""
    if request.content_length is not None and request.content_length > MAX_JSON_BYTES:
        raise ApiFailure(
            413, "PAYLOAD_TOO_LARGE", f"JSON bodies are limited to {MAX_JSON_BYTES} bytes"
        )
    raw = await request.read()
    try:
        data = orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError as exc:
        raise ApiFailure(400, "INVALID_JSON", f"request body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ApiFailure(400, "INVALID_JSON", "request body must be a JSON object")
    return data


def _type_ok(value: Any, kind: type | tuple[type, ...]) -> bool:
    """isinstance, except that a bool is not a number and numbers must be finite."""
    if isinstance(value, bool) and kind is not bool:
        return False
    if isinstance(value, float) and not math.isfinite(value):
        return False
    return isinstance(value, kind)


def field(body: dict[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    """A required field of the given JSON type."""
    if name not in body or body[name] is None:
        raise invalid(name, "is required")
    return optional(body, name, kind)


def optional(body: dict[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    """An optional field (absent or null gives None) of the given JSON type."""
    value = body.get(name)
    if value is not None and not _type_ok(value, kind):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise invalid(name, f"must be of type {names}, got {type(value).__name__}")
    return value


def number(body: dict[str, Any], name: str, *, required: bool = True) -> float | None:
    """A numeric field (int or float, not bool)."""
    value: float | None = field(body, name, _NUMBER) if required else optional(body, name, _NUMBER)
    return value


def string_list(body: dict[str, Any], name: str, *, required: bool) -> list[str] | None:
    """A list of strings."""
    value: list[str] | None = field(body, name, list) if required else optional(body, name, list)
    if value is not None and not all(isinstance(item, str) for item in value):
        raise invalid(name, "must be a list of strings")
    return value


def query_int(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    """An integer query parameter within [low, high]."""
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise invalid(name, f"must be an integer, got {raw!r}") from None
    if not low <= value <= high:
        raise invalid(name, f"must be between {low} and {high}, got {value}")
    return value


def query_float(request: web.Request, name: str, low: float, high: float) -> float | None:
    """An optional numeric query parameter within [low, high]."""
    raw = request.query.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = float(raw)
    except ValueError:
        raise invalid(name, f"must be a number, got {raw!r}") from None
    if not (math.isfinite(value) and low <= value <= high):
        raise invalid(name, f"must be between {low} and {high}, got {raw}")
    return value


def query_choice(
    request: web.Request, name: str, choices: Sequence[str], default: str | None = None
) -> str | None:
    """An optional query parameter restricted to `choices`."""
    value = request.query.get(name) or default
    if value is not None and value not in choices:
        raise invalid(name, f"must be one of {', '.join(choices)}, got {value!r}")
    return value


def paginate(
    request: web.Request, items: Sequence[T], default_limit: int = 20
) -> tuple[list[T], dict[str, Any]]:
    """Slice `items` by the `page`/`limit` query and describe the slice."""
    page = query_int(request, "page", 1, 1, 1_000_000)
    limit = query_int(request, "limit", default_limit, 1, 100)
    total = len(items)
    pages = max(1, math.ceil(total / limit))
    start = (page - 1) * limit
    info = wire(
        "Pagination",
        current_page=page,
        total_pages=pages,
        total_count=total,
        has_next_page=page < pages,
        has_previous_page=page > 1,
        limit=limit,
    )
    return list(items[start : start + limit]), info
