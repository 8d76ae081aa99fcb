"""Opening our own files in folders that others may write to, without following links.

A download folder (OUT) is shared ground: someone may have placed a symlink where the project
is about to write its `.part`, lock, record or manifest, pointing at a file they want
overwritten. Everything the project writes there goes through `open_nofollow`.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path


def open_nofollow(path: Path, flags: int, mode: int = 0o644) -> int:
    """`os.open` that never follows a symlink already at `path`.

    A symlink there (placed by someone else in our folder) is removed, not followed, and the
    file is created afresh; so writing our own file can never overwrite another one.
    """
    try:
        return os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    except OSError as exc:
        if exc.errno != errno.ELOOP:
            raise
    os.unlink(path)  # removes the link itself, never its target
    return os.open(path, flags | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
