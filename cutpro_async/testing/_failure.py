"""The simulator's API errors: an exception that becomes `{code, message, extra}`."""

from __future__ import annotations

from typing import Any


class ApiFailure(Exception):
    """Raised by handlers; the app turns it into a JSON error response."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra or {}
        self.headers = headers or {}


def not_found(kind: str, ident: str) -> ApiFailure:
    """404 for an id that does not exist in the caller's workspace."""
    code = f"{kind.upper()}_NOT_FOUND"
    return ApiFailure(404, code, f"{kind} {ident!r} not found in this workspace", {"id": ident})


def invalid(field: str, message: str, code: str = "VALIDATION_ERROR") -> ApiFailure:
    """422 for a well-formed request with a bad field."""
    return ApiFailure(422, code, f"{field}: {message}", {"field": field})


def conflict(code: str, message: str, **extra: Any) -> ApiFailure:
    """409 for work that is already running or a state that forbids the call."""
    return ApiFailure(409, code, message, extra)
