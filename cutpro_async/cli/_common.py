"""What the commands share: one-line errors, exit codes, running a coroutine, API options."""

from __future__ import annotations

import asyncio
import functools
import os
import signal
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, NoReturn, TypeVar

import anyio
import attrs
import click
from anyio.abc import TaskStatus

from .._groups import sole_error
from .._settings import DEFAULT_BASE_URL, KEYS_PAGE, Connection, resolve_connection
from ..client import CutPro
from ..errors import ConfigurationError, CutProError, UsageError

T = TypeVar("T")
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

#: What a command that needs the API says when no key is found.
NO_KEY = (
    "no CutPro API key: set CUTPRO_API_KEY or run `cutpro login` (keys are made at "
    f"{KEYS_PAGE}); or try everything without a key: cutpro run SOURCES --out DIR --simulate"
)


def fail(message: str, code: int = EXIT_FAILED) -> NoReturn:
    """Print one clear line to stderr and exit."""
    click.secho(f"error: {message}", fg="red", err=True)
    raise SystemExit(code)


class Interrupted(Exception):
    """A command stopped by SIGINT or SIGTERM once its clean-up ran (exit 130)."""


def execute(work: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine; library errors become one line and an exit code, not a traceback."""
    try:
        return asyncio.run(work)
    except (ConfigurationError, UsageError) as exc:
        fail(str(exc), EXIT_USAGE)
    except CutProError as exc:
        fail(str(exc), EXIT_FAILED)
    except (KeyboardInterrupt, Interrupted):
        fail("interrupted", EXIT_INTERRUPTED)


async def interruptible(work: Awaitable[T]) -> T:
    """`work`, stopped by SIGINT or SIGTERM, even ones this process inherited as ignored (as
    a shell's background job does): the first cancels it, its clean-up runs, and
    `Interrupted` is raised; a second quits at once (exit 130)."""
    stop = anyio.CancelScope()
    try:
        async with anyio.create_task_group() as group:
            await group.start(_stopping, stop)
            with stop:
                result = await work
            group.cancel_scope.cancel()
    except BaseExceptionGroup as errors:  # the work's own error, as if it ran alone
        raise sole_error(errors) from None
    if stop.cancelled_caught:
        raise Interrupted
    return result


async def _stopping(stop: anyio.CancelScope, *, task_status: TaskStatus[None]) -> None:
    """Cancel `stop` at the first SIGINT or SIGTERM; quit the process at the second."""
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        task_status.started()
        async for _ in signals:
            if stop.cancel_called:
                os._exit(EXIT_INTERRUPTED)  # the second: the user means now
            stop.cancel()


@attrs.frozen
class ApiOptions:
    """`--api-url` and `--workspace` as given on the command line (None: not given)."""

    api_url: str | None = None
    workspace: str | None = None

    @property
    def given(self) -> bool:
        """Whether either option was given (e.g. to refuse them with `--simulate`)."""
        return self.api_url is not None or self.workspace is not None

    def connection(self) -> Connection:
        """Key, workspace and URL: these options > environment > the saved login."""
        return resolve_connection(workspace_id=self.workspace, base_url=self.api_url, no_key=NO_KEY)

    def client(self, **options: Any) -> CutPro:
        """A client of the real API (`options` are `CutPro`'s other keywords, e.g. `retry`);
        `ConfigurationError` (exit 2 under `execute`) when there is no key."""
        found = self.connection()
        return CutPro(
            found.api_key, workspace_id=found.workspace_id, base_url=found.base_url, **options
        )


def api_options(command: Callable[..., T]) -> Callable[..., T]:
    """Add `--api-url` and `--workspace` to a command; it receives them as `api: ApiOptions`.

    Put it under `@click.command()`; build the client with `async with api.client() as cp`.
    """

    @functools.wraps(command)
    def with_api(*args: Any, api_url: str | None, workspace: str | None, **kwargs: Any) -> T:
        return command(*args, api=ApiOptions(api_url, workspace), **kwargs)

    workspace = click.option(
        "--workspace",
        metavar="ID",
        help="Workspace to act in [default: CUTPRO_WORKSPACE_ID, else the saved login's, "
        "else the key's own].",
    )
    api_url = click.option(
        "--api-url",
        metavar="URL",
        help=f"API base URL [default: CUTPRO_API_URL, else the saved login's, else "
        f"{DEFAULT_BASE_URL}].",
    )
    return api_url(workspace(with_api))
