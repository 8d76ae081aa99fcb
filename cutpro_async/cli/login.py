"""`cutpro login` and `cutpro logout`: the API key saved for this user.

The key is asked for without echo (or read from stdin when it is a pipe, or with
`--api-key-stdin`), checked with `GET /balance`, and saved with the workspace and API URL in
use to `config.toml` in the user's config folder (see `_userconfig`), mode 0600. The key is
never printed: `--show` gives its last four characters only.
"""

from __future__ import annotations

import os
import sys

import click
from rich.console import Console

from .._settings import DEFAULT_BASE_URL, KEYS_PAGE, resolve_base_url
from .._userconfig import SavedLogin, config_path, forget_login, load_login, save_login
from ..client import CutPro
from ..errors import AuthenticationError, ConfigurationError, CutProError, PermissionDenied
from ._common import EXIT_FAILED, EXIT_USAGE, execute, fail
from ._words import plural

console = Console()
_MAX_KEY_INPUT = 64 * 1024


@click.command()
@click.option(
    "--api-key-stdin",
    is_flag=True,
    help="Read the key from stdin even from a terminal (a pipe is read without this flag).",
)
@click.option(
    "--workspace",
    metavar="ID",
    help="Workspace to save with the key [default: CUTPRO_WORKSPACE_ID, else the key's own].",
)
@click.option(
    "--api-url",
    metavar="URL",
    help=f"API to check and save the key for [default: CUTPRO_API_URL, else {DEFAULT_BASE_URL}].",
)
@click.option("--no-check", is_flag=True, help="Save the key without checking it with the API.")
@click.option(
    "--show",
    is_flag=True,
    help="Show the saved login (of the key, only its last 4 characters) and exit.",
)
def login(
    api_key_stdin: bool, workspace: str | None, api_url: str | None, no_check: bool, show: bool
) -> None:
    """Save an API key for this user, so that `cutpro` and `CutPro()` need no CUTPRO_API_KEY.

    The key (from https://cut.pro/studio/me/api-keys) is asked for without echo, or read from
    stdin: `cutpro login --api-key-stdin < key.txt`. It is checked with the API (the balance
    is shown; --no-check skips this) and saved, with the workspace and API URL in use, to
    $CUTPRO_CONFIG_DIR, else $XDG_CONFIG_HOME/cutpro, else ~/.config/cutpro, as config.toml
    (mode 0600). Arguments and CUTPRO_* variables still win over it.
    """
    if show:
        _show()
        return
    url = _url(api_url)
    workspace = workspace or os.environ.get("CUTPRO_WORKSPACE_ID") or None
    key = _read_key(api_key_stdin)
    if not no_check:
        execute(_check(key, url, workspace))
    path = config_path()
    try:
        save_login(SavedLogin(key, workspace, None if url == DEFAULT_BASE_URL else url), path)
    except OSError as exc:
        fail(f"cannot save the login to {path}: {exc.strerror or exc}; nothing was saved")
    where = f"{url}" + (f", workspace {workspace}" if workspace else "")
    console.print(f"saved to {path} (mode 0600), for {where}")
    if os.environ.get("CUTPRO_API_KEY"):
        console.print(
            "[yellow]note: CUTPRO_API_KEY is set in this environment and is used instead of "
            "the saved key until it is unset[/]"
        )


def _url(api_url: str | None) -> str:
    """The API URL the key is for: the option, else `CUTPRO_API_URL`, else the public API."""
    try:
        return resolve_base_url(api_url, allow_insecure_http=False)
    except ConfigurationError as exc:
        fail(str(exc), EXIT_USAGE)


def _read_key(from_stdin: bool) -> str:
    """The key: a hidden prompt on a terminal, else stdin (one line)."""
    if from_stdin or not sys.stdin.isatty():
        text = sys.stdin.read(_MAX_KEY_INPUT).strip()
        if "\n" in text or "\r" in text:
            fail("stdin holds more than one line: give only the API key", EXIT_USAGE)
    else:
        text = click.prompt(
            f"CutPro API key (from {KEYS_PAGE}; input hidden)",
            hide_input=True,
            default="",
            show_default=False,
        ).strip()
    if not text:
        fail(f"no API key given: paste the key from {KEYS_PAGE}", EXIT_USAGE)
    return text


async def _check(key: str, url: str, workspace: str | None) -> None:
    """Ask the API for the balance with the key; nothing is saved unless it answers."""
    try:
        async with CutPro(key, base_url=url, workspace_id=workspace) as cp:
            balance = await cp.balance.get()
    except AuthenticationError:
        fail(
            f"the API at {url} refused this key (401): nothing was saved; copy the key again "
            f"or make a new one at {KEYS_PAGE}"
        )
    except PermissionDenied:
        fail(
            f"this key may not use workspace {workspace} (403): nothing was saved; check "
            "--workspace (or CUTPRO_WORKSPACE_ID)"
        )
    except ConfigurationError:
        raise
    except CutProError as exc:
        fail(
            f"could not check the key: {exc}; nothing was saved (run again, or pass --no-check "
            "to save it unchecked)"
        )
    console.print(f"key accepted: {plural(balance.balance, 'credit')} in the workspace")


def _show() -> None:
    """What is saved, and what would win over it; never the key."""
    path = config_path()
    try:
        saved = load_login(path)
    except ConfigurationError as exc:
        fail(str(exc), EXIT_USAGE)
    if saved is None:
        fail(f"no saved login ({path} does not exist): run `cutpro login`")
    workspace = saved.workspace_id or "(none: the key's own)"
    console.print(
        f"saved login {path}\n"
        f"  api_key       …{saved.api_key[-4:]} ({len(saved.api_key)} characters)\n"
        f"  workspace_id  {workspace}\n"
        f"  api_url       {saved.api_url or DEFAULT_BASE_URL}",
        highlight=False,
    )
    overriding = [
        name
        for name in ("CUTPRO_API_KEY", "CUTPRO_WORKSPACE_ID", "CUTPRO_API_URL")
        if os.environ.get(name)
    ]
    if "CUTPRO_API_KEY" in overriding:
        console.print("[yellow]CUTPRO_API_KEY is set: the saved login is not used[/]")
    elif overriding:
        console.print(f"[yellow]{' and '.join(overriding)} set: they win over the saved ones[/]")


@click.command()
def logout() -> None:
    """Remove the API key saved by `cutpro login`."""
    path = config_path()
    try:
        removed = forget_login(path)
    except OSError as exc:
        fail(f"cannot remove {path}: {exc.strerror or exc}", EXIT_FAILED)
    console.print(f"removed {path}" if removed else f"no saved login at {path}")
