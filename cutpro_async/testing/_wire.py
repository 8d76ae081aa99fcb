"""Building the JSON the simulator sends: objects checked against its own schemas."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import attrs

from ._schema import SCHEMAS

# Property names of every object schema, in the order they go on the wire.
_KEYS: dict[str, tuple[str, ...]] = {
    name: tuple(schema["properties"]) for name, schema in SCHEMAS.items()
}
_KEY_SETS = {name: frozenset(keys) for name, keys in _KEYS.items()}


def wire(schema: str, **values: Any) -> dict[str, Any]:
    """A JSON object of the named component schema, keys in the schema's order.

    The keys must be exactly the schema's properties: an answer that drifts from the
    document is a simulator bug (a 500), never a silent change of the wire format.
    """
    if values.keys() != _KEY_SETS[schema]:
        raise KeyError(f"{schema}: got {sorted(values)}, the schema names {sorted(_KEYS[schema])}")
    return {key: values[key] for key in _KEYS[schema]}


def iso(moment: datetime) -> str:
    """ISO 8601 in UTC with milliseconds and a `Z`, as the API writes timestamps."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def iso_or_none(moment: datetime | None) -> str | None:
    """`iso(moment)`, or None for a moment that has not happened."""
    return None if moment is None else iso(moment)


@attrs.frozen
class Timeframe:
    """The processed segment of a video in seconds (start inclusive, end exclusive)."""

    start: float
    end: float

    @property
    def seconds(self) -> float:
        """Length of the segment."""
        return self.end - self.start

    def json(self) -> dict[str, Any]:
        """The `timeframe` object."""
        return wire("Timeframe", start=self.start, end=self.end)
