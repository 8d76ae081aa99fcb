"""cutpro_async: an asyncio-native client for the CutPro video-clipping API.

from cutpro_async import CutPro

async with CutPro() as cp:
    info = await cp.videos.analyze("https://www.youtube.com/watch?v=...")
"""

from ._version import __version__
from .client import CutPro
from .config import (
    DEFAULT_LIMITS,
    DEFAULT_PACING,
    DEFAULT_RETRY,
    DEFAULT_TIMEOUTS,
    Budget,
    Limits,
    Pacing,
    RetryPolicy,
    Timeouts,
)
from .errors import (
    AlreadyInProgress,
    APIError,
    AuthenticationError,
    ConfigurationError,
    Conflict,
    ConnectionError,
    CutProError,
    Expired,
    InsufficientCredits,
    JobError,
    NotFound,
    PermissionDenied,
    RateLimited,
    RenderFailed,
    ServerError,
    SubmissionFailed,
    SubmissionUncertain,
    TimeoutError,
    TransportError,
    UsageError,
    ValidationError,
    WaitTimeout,
)

__all__ = [
    "DEFAULT_LIMITS",
    "DEFAULT_PACING",
    "DEFAULT_RETRY",
    "DEFAULT_TIMEOUTS",
    "APIError",
    "AlreadyInProgress",
    "AuthenticationError",
    "Budget",
    "ConfigurationError",
    "Conflict",
    "ConnectionError",
    "CutPro",
    "CutProError",
    "Expired",
    "InsufficientCredits",
    "JobError",
    "Limits",
    "NotFound",
    "Pacing",
    "PermissionDenied",
    "RateLimited",
    "RenderFailed",
    "RetryPolicy",
    "ServerError",
    "SubmissionFailed",
    "SubmissionUncertain",
    "TimeoutError",
    "Timeouts",
    "TransportError",
    "UsageError",
    "ValidationError",
    "WaitTimeout",
    "__version__",
]
