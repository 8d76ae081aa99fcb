"""The one cattrs converter (orjson flavour) that turns API JSON into models and back."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, TypeVar

from cattrs.preconf.orjson import make_converter

T = TypeVar("T")

converter = make_converter(forbid_extra_keys=False)


def _iso(value: datetime) -> str:
    """ISO 8601 in UTC with a `Z`, as the API writes timestamps."""
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _parse_iso(value: Any, _: type) -> datetime:
    """Parse an ISO 8601 timestamp; naive values are taken as UTC."""
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


converter.register_unstructure_hook(datetime, _iso)
converter.register_structure_hook(datetime, _parse_iso)


def structure(data: Any, cls: type[T]) -> T:
    """Build a model of `cls` from decoded JSON, ignoring keys the model does not know."""
    return converter.structure(data, cls)


def unstructure(obj: Any) -> Any:
    """Turn a model (or a list/dict of them) into JSON-ready builtins."""
    return converter.unstructure(obj)
