"""The `cutpro` command: thin wrappers over the batch orchestrator, the client and the simulator."""

from __future__ import annotations

import click

from .._version import __version__
from .commands import balance, download, info, renders, status
from .distributed import manifest, worker
from .gallery import gallery
from .login import login, logout
from .posts import posts
from .run import run
from .simulate import simulate


@click.group()
@click.version_option(__version__, prog_name="cutpro")
def main() -> None:
    """Clip long videos into short ones with the CutPro API.

    Credentials come from CUTPRO_API_KEY (and CUTPRO_WORKSPACE_ID, CUTPRO_API_URL), else from
    `cutpro login`; `cutpro run ... --simulate` needs none and spends no real credits.
    """


for command in (
    run,
    worker,
    status,
    manifest,
    posts,
    gallery,
    info,
    balance,
    renders,
    download,
    simulate,
    login,
    logout,
):
    main.add_command(command)
