"""Our own files in folders that others may write to: opened without following links, and
checked to be still what was saved.

A download folder (OUT) is shared ground: someone may have placed a symlink where the project
is about to write its `.part`, lock, record or manifest, pointing at a file they want
overwritten. Everything the project writes there goes through `open_nofollow`; whether a saved
clip is still there, whole, is `is_intact`.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
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


def is_intact(path: str, size: int, sha256: str | None = None) -> bool:
    """Whether `path` is still a regular file (a symlink there is not ours) of `size` bytes
    and, if `sha256` is given, of that SHA-256. Blocking: run it in a worker thread."""
    try:
        info = os.lstat(path)
    except OSError:
        return False
    if not stat.S_ISREG(info.st_mode) or info.st_size != size:
        return False
    return sha256 is None or sha256_of(path) == sha256


def sha256_of(path: str) -> str:
    """The SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()
