"""Every exception the package raises, in one tree under `CutProError`.

API errors carry the HTTP status and the API's `code` and `extra`; branch on the class or on
`code`, never on the message. Messages say what to do next and never contain the API key or a
signed URL's query string. The tree (builtin bases in brackets, so generic handlers work):

    CutProError
    ├── UsageError [ValueError]           a bad argument; the message says what to pass
    │   └── ConfigurationError            no key, insecure URL, bad option
    ├── APIError                          the API answered with an error status
    │   ├── ValidationError               400/413/422
    │   ├── AuthenticationError           401
    │   ├── InsufficientCredits           402
    │   ├── PermissionDenied              403
    │   ├── NotFound                      404
    │   ├── Conflict                      409
    │   │   └── AlreadyInProgress         409 `..._ALREADY_...` codes
    │   ├── Expired                       410
    │   ├── RateLimited                   429, with `retry_after`
    │   └── ServerError                   5xx, with `maybe_processed`
    ├── UnexpectedResponse                a success answer that cannot be read
    ├── TransportError                    no HTTP answer, with `maybe_processed`
    │   ├── APIConnectionError [ConnectionError]
    │   └── APITimeoutError [TimeoutError]
    ├── SubmissionUncertain               a paid submit whose outcome could not be confirmed
    ├── JobError                          a remote job ended badly
    │   └── SubmissionFailed, RenderFailed, BulkDownloadFailed, PostFailed
    ├── TransferError                     a file could not be moved to or from storage
    │   ├── LinkExpired                   the signed link was refused as expired
    │   └── IntegrityError                the bytes do not match the promised length or checksum
    ├── LocalFileError [OSError]          a local file could not be read or written
    ├── StoreError                        the batch record cannot be opened, read or saved
    │   └── StoreLocked                   another process holds the batch record
    └── WaitTimeout [TimeoutError]        a waiter's deadline passed (the job goes on)
"""

from __future__ import annotations

import builtins
from datetime import datetime
from typing import Any


class CutProError(Exception):
    """Base class of every error raised by cutpro_async."""


class UsageError(CutProError, ValueError):
    """A method was called with an argument it cannot use; the message says what to pass."""


class ConfigurationError(UsageError):
    """The client was set up wrongly (no key, insecure URL, bad option)."""


class APIError(CutProError):
    """The API answered with an error status."""

    hint = "see the message and the API's error code"

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        extra: dict[str, Any] | None = None,
        *,
        method: str = "",
        path: str = "",
        maybe_processed: bool = False,
        retry_after: float | None = None,
        advice: str | None = None,
    ) -> None:
        self.status = status
        self.code = code
        self.message = message
        self.extra = dict(extra or {})
        self.method = method
        self.path = path
        #: True when the server may have acted on the request despite the error (5xx).
        self.maybe_processed = maybe_processed
        #: The server's wait hint in seconds (`extra.retry_after` or `Retry-After`), if any.
        self.retry_after = retry_after
        if advice is not None:  # this case's own advice, instead of the class's
            self.hint = advice
        super().__init__(self._text())

    def _text(self) -> str:
        """`METHOD path -> status CODE: message (hint)`."""
        where = f"{self.method} {self.path} -> " if self.method else ""
        detail = f": {self.message}" if self.message else ""
        return f"{where}{self.status} {self.code}{detail} ({self.hint})"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status={self.status}, code={self.code!r})"


class ValidationError(APIError):
    """400/413/422: the request was refused as malformed or invalid."""

    hint = "fix the request; `extra.field` names the bad field when the API says"


class AuthenticationError(APIError):
    """401: the API key is missing, invalid or revoked."""

    hint = (
        "check CUTPRO_API_KEY, the api_key argument or the key `cutpro login` saved; keys are "
        "made at cut.pro/studio/me/api-keys"
    )


class PermissionDenied(APIError):
    """403: the key may not use this workspace or resource."""

    hint = "check CUTPRO_WORKSPACE_ID / workspace_id against the key's workspaces"


class InsufficientCredits(APIError):
    """402 `INSUFFICIENT_CREDITS`: the workspace cannot pay for the job."""

    hint = "top up the workspace's credits or process a shorter timeframe"

    @property
    def credits_needed(self) -> float | None:
        """Credits the job needs, as the API reports."""
        value = self.extra.get("credits_needed")
        return float(value) if isinstance(value, int | float) else None

    @property
    def current_balance(self) -> float | None:
        """The workspace's balance, as the API reports."""
        value = self.extra.get("current_balance")
        return float(value) if isinstance(value, int | float) else None


class NotFound(APIError):
    """404: no such object in this workspace."""

    hint = "check the id, and that it belongs to the workspace the key resolves to"


class Conflict(APIError):
    """409: the object's state forbids the call now (e.g. not finished yet)."""

    hint = "wait for the job to reach the needed state, then call again"


class AlreadyInProgress(Conflict):
    """409 `VIDEO_ALREADY_PROCESSING` / `RENDER_ALREADY_IN_PROGRESS`: poll the running job."""

    hint = "poll the running job instead of starting another"


class Expired(APIError):
    """410: the object has expired (e.g. `SUBMISSION_EXPIRED`)."""

    hint = "re-submit the video or render the clip again"


class RateLimited(APIError):
    """429: too many requests; `retry_after` says how long to wait, when known."""

    hint = "slow down; the client's pacing settings (Pacing) control the request rate"


class ServerError(APIError):
    """5xx: the API failed; check `maybe_processed` before repeating a paid call."""

    hint = "transient server trouble; retried automatically where it is safe"


class UnexpectedResponse(CutProError):
    """A success answer this client cannot read (not JSON, or not the documented shape)."""


class TransportError(CutProError):
    """The request did not complete at the HTTP level."""

    def __init__(self, message: str, *, maybe_processed: bool) -> None:
        super().__init__(message)
        #: True when the request may have reached the server before the failure.
        self.maybe_processed = maybe_processed


class APIConnectionError(TransportError, builtins.ConnectionError):
    """Connecting failed or the connection broke."""


class APITimeoutError(TransportError, builtins.TimeoutError):
    """Connecting or reading took longer than the configured timeout."""


class SubmissionUncertain(CutProError):
    """A paid `POST /clips` failed ambiguously and its outcome could not be confirmed.

    The attempt in doubt was not sent again (earlier attempts were, each only after the list
    showed it had created nothing). Call `submissions.create` again with
    `attempt_started=exc.attempt_started`: it adopts the submission if an attempt created one,
    and only submits otherwise (`submissions.reconcile` answers without submitting).
    """

    def __init__(self, video_id: str, cause: BaseException, attempt_started: datetime) -> None:
        self.video_id = video_id
        #: When the first attempt started: what `submissions.create(attempt_started=...)` takes.
        self.attempt_started = attempt_started
        super().__init__(
            f"could not confirm whether the submission of video {video_id!r} was created "
            f"({type(cause).__name__}); it was not sent again: call submissions.create again "
            "with attempt_started=exc.attempt_started (it adopts the submission if one was "
            "created)"
        )


class JobError(CutProError):
    """A remote job ended in a state that is not success."""

    def __init__(self, message: str, *, job_id: str, status: str, error_code: str | None) -> None:
        super().__init__(message)
        self.job_id = job_id
        self.status = status
        self.error_code = error_code


class SubmissionFailed(JobError):
    """A clipping job ended `failed` (see `error_code`, e.g. `download_failed`)."""


class RenderFailed(JobError):
    """A render ended `failed`, `cancelled` or `expired`."""


class BulkDownloadFailed(JobError):
    """A bulk ZIP job ended `failed`."""


class PostFailed(JobError):
    """A post ended `failed`: none of its items was published."""


class TransferError(CutProError):
    """A file could not be moved to or from storage.

    An interrupted download keeps its `.part` to resume (when storage gave a strong
    validator); a body that failed its checks is removed.
    """

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class LinkExpired(TransferError):
    """Storage refused the signed link as expired (400/401/403/410) and renewing it failed."""


class IntegrityError(TransferError):
    """The downloaded bytes do not match the promised length or checksum."""


class LocalFileError(CutProError, OSError):
    """Reading or writing a local file failed (disk full, permissions, missing file)."""


class StoreError(CutProError):
    """The batch record cannot be opened, read or saved (disk full, read-only, not a record)."""


class StoreLocked(StoreError):
    """Another process is running a batch on the same record (its lock file is held)."""


class WaitTimeout(CutProError, builtins.TimeoutError):
    """A waiter's deadline passed before the job finished (the job itself goes on)."""


def error_class(status: int, code: str) -> type[APIError]:
    """The exception class for an HTTP status and API code."""
    if code in ("VIDEO_ALREADY_PROCESSING", "RENDER_ALREADY_IN_PROGRESS"):
        return AlreadyInProgress
    if code == "INSUFFICIENT_CREDITS":
        return InsufficientCredits
    if status >= 500:
        return ServerError
    return _BY_STATUS.get(status, APIError)


_BY_STATUS: dict[int, type[APIError]] = {
    400: ValidationError,
    401: AuthenticationError,
    402: InsufficientCredits,
    403: PermissionDenied,
    404: NotFound,
    409: Conflict,
    410: Expired,
    413: ValidationError,
    422: ValidationError,
    429: RateLimited,
}
