"""Shared pieces of the models: tolerant enums, pagination, the page shape."""

from __future__ import annotations

import enum
from typing import Any

import attrs


class OpenEnum(enum.StrEnum):
    """A string enum that accepts values the API adds later instead of failing."""

    @classmethod
    def _missing_(cls, value: object) -> Any:
        # An unknown status must not crash a batch of 500 videos: keep it as a pseudo-member.
        if not isinstance(value, str):
            return None
        member = str.__new__(cls, value)
        member._name_ = f"UNKNOWN_{value.upper()}"
        member._value_ = value
        return cls._value2member_map_.setdefault(value, member)

    def __str__(self) -> str:
        return str(self.value)

    @property
    def is_known(self) -> bool:
        """Whether this value is one the client was built with."""
        return not self._name_.startswith("UNKNOWN_")


@attrs.frozen
class Pagination:
    """The `pagination` object of every list response."""

    current_page: int
    total_pages: int
    total_count: int
    has_next_page: bool
    has_previous_page: bool
    limit: int


@attrs.frozen
class ErrorBody:
    """The API's error body: branch on `code` and `extra`, never on `message`."""

    code: str
    message: str = ""
    extra: dict[str, Any] = attrs.field(factory=dict)
