"""What the commands share: one-line errors, exit codes, running a coroutine."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, NoReturn, TypeVar

import click

from ..errors import ConfigurationError, CutProError, UsageError

T = TypeVar("T")
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def fail(message: str, code: int = EXIT_FAILED) -> NoReturn:
    """Print one clear line to stderr and exit."""
    click.secho(f"error: {message}", fg="red", err=True)
    raise SystemExit(code)


def execute(work: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine; library errors become one line and an exit code, not a traceback."""
    try:
        return asyncio.run(work)
    except (ConfigurationError, UsageError) as exc:
        fail(str(exc), EXIT_USAGE)
    except CutProError as exc:
        fail(str(exc), EXIT_FAILED)
    except KeyboardInterrupt:
        fail("interrupted", EXIT_INTERRUPTED)
