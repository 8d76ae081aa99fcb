"""The `.part` file of one download: resume state, writing, and the durable publish.

Runs in the client's file threads, never on the event loop. Nothing here follows a symlink
that someone placed in the folder: `.part` and its sidecar are opened with `O_NOFOLLOW` (a link
there is removed, not followed), and a link at the final name is never taken for a finished
download (the rename replaces the link itself). The sidecar (`<name>.part.json`) keeps the
validator used for `If-Range` and the checksums the storage stated; one holding garbage only
means starting again from byte 0. Publishing is durable: one `fdatasync` of the file, the
rename, then an `fsync` of the folder so that the rename itself survives a power cut. A small
body held in memory whole (`PartFile.save_whole`) is checked, hashed, written, synced and
renamed in that one trip, without a sidecar and without reading the file back.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import hashlib
import os
import stat
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import attrs
import orjson

from .._fs import open_nofollow
from ..errors import UsageError
from ._checks import ALGORITHMS, Hasher, bytes_problem, container_problem, mismatched

CHUNK = 1024 * 1024
#: Dirty bytes after which write-back to the disk is started (without waiting for it).
WRITEBACK_EVERY = 16 * CHUNK


@attrs.frozen
class Resume:
    """What a `.part` left by an earlier attempt allows: its length, validator and checksums."""

    offset: int = 0
    validator: str | None = None
    stated: Mapping[str, str] = attrs.field(factory=dict)


@attrs.frozen
class Expect:
    """What a finished file must be before it gets its final name."""

    size: int | None
    kind: str | None  # "mp4", "zip" or None (no container check)
    stated: Mapping[str, str]


@attrs.frozen
class Saved:
    """A file under its final name: its size, SHA-256, and what was verified."""

    size: int
    sha256: str
    verified: tuple[str, ...]


class BadFile(Exception):
    """The finished bytes are not what was expected; the `.part` was removed."""

    def __init__(self, problem: str, *, integrity: bool, head: bytes = b"") -> None:
        super().__init__(problem)
        self.problem = problem
        self.integrity = integrity  # a checksum or length mismatch, not the wrong kind of file
        self.head = head


@attrs.define
class PartFile:
    """`<final>.part` and `<final>.part.json`; one instance per download."""

    final: Path
    #: Whether publishing fsyncs the folder too (False: the caller does, before it relies on
    #: the final name surviving a power cut).
    sync_folder: bool = True
    #: Where bytes are written until the file is complete.
    path: Path = attrs.field(init=False)
    #: Where the validator and stated checksums of the bytes in `.part` are kept.
    sidecar: Path = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self.path = self.final.with_name(self.final.name + ".part")
        self.sidecar = self.final.with_name(self.final.name + ".part.json")

    def finished(self) -> Saved | None:
        """The final file if it is already there (a regular file, not a link), hashed;
        `UsageError` if the final name is a folder."""
        try:
            info = os.lstat(self.final)
        except FileNotFoundError:
            return None
        if not stat.S_ISREG(info.st_mode):
            self._refuse_folder()
            return None
        fd = open_nofollow(self.final, os.O_RDONLY)
        try:
            digest = _hash_prefix(fd, info.st_size, {"sha256": hashlib.sha256()})
        finally:
            os.close(fd)
        return Saved(info.st_size, digest["sha256"].digest().hex(), ("already there",))

    def state(self) -> tuple[Saved | None, Resume]:
        """The finished file if there is one, else what can be resumed (one trip to a thread);
        `UsageError` if the final name is a folder."""
        done = self.finished()
        return (done, Resume()) if done is not None else (None, self.resume())

    def _refuse_folder(self) -> None:
        """`UsageError` when the final name is a folder (or a link to one)."""
        if os.path.isdir(self.final):
            raise UsageError(
                f"{self.final} is a folder: pass the path of the file to write, "
                f"e.g. {self.final / 'clip.mp4'}"
            )

    def resume(self) -> Resume:
        """What can be resumed: nothing unless `.part` and a readable sidecar agree."""
        try:
            size = os.lstat(self.path).st_size
            data = _read_nofollow(self.sidecar)
        except FileNotFoundError:
            return Resume()
        kept = _parse_sidecar(data)
        if kept is None or not stat.S_ISREG(os.lstat(self.path).st_mode):
            self.reset()  # garbage or a link: start again from byte 0
            return Resume()
        return Resume(size, kept.validator, kept.stated)

    def reset(self) -> None:
        """Forget the partial bytes (links are removed, never followed)."""
        for path in (self.path, self.sidecar):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)

    def save_whole(self, data: bytes, expect: Expect, *, look: bool) -> Saved:
        """A whole small body in one trip: check it, write it to `.part`, `fdatasync`, rename,
        fsync the folder. It is hashed once in memory, never read back from the disk.

        With `look`, a file already complete under the final name is taken instead (as the
        look before a request would have), and a folder there is refused. A body that fails
        a check is never written; any `.part` left by an earlier attempt is removed.
        """
        if look:
            done = self.finished()
            if done is not None:
                return done
        hashers = {name: ALGORITHMS[name]() for name in {"sha256", *expect.stated}}
        for hasher in hashers.values():
            hasher.update(data)
        try:
            verified = _verify(expect, len(data), hashers, bytes_problem(expect.kind, data), data)
        except BadFile:
            self.reset()
            raise
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
        try:
            fd = open_nofollow(self.path, flags)
        except FileNotFoundError:  # the folder is not there yet
            self.final.parent.mkdir(parents=True, exist_ok=True)
            fd = open_nofollow(self.path, flags)
        try:
            _write_all(fd, [data], len(data))
            os.fdatasync(fd)
        finally:
            os.close(fd)
        os.replace(self.path, self.final)  # replaces a link there, never follows it
        if self.sync_folder:
            FOLDER_SYNCS.after_rename(self.final.parent)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.sidecar)  # an earlier attempt's: these bytes need none
        return Saved(len(data), hashers["sha256"].digest().hex(), verified)

    def open(self, resume: Resume, algorithms: Iterable[str]) -> Writer:
        """Open `.part` to append after `resume.offset` bytes (0: afresh), recording the
        validator and stated checksums first; the hashes are primed with the kept bytes."""
        self.final.parent.mkdir(parents=True, exist_ok=True)
        _write_sidecar(self.sidecar, resume)
        flags = os.O_RDWR | os.O_CREAT | (os.O_APPEND if resume.offset else os.O_TRUNC)
        fd = open_nofollow(self.path, flags)
        hashers = {name: ALGORITHMS[name]() for name in {"sha256", *algorithms}}
        try:
            if resume.offset:
                _hash_prefix(fd, resume.offset, hashers)
        except BaseException:
            os.close(fd)
            raise
        return Writer(self, fd, hashers, resume.offset)


@attrs.define
class Writer:
    """Appends blocks to an open `.part`, hashing them, then publishes it."""

    part: PartFile
    fd: int
    hashers: dict[str, Hasher]
    size: int
    _unsynced: int = 0

    def write(self, pieces: list[bytes]) -> int:
        """Append pieces (written as they are, without joining them); returns the new size."""
        for piece in pieces:
            for hasher in self.hashers.values():
                hasher.update(piece)
        total = sum(map(len, pieces))
        _write_all(self.fd, pieces, total)
        self.size += total
        self._unsynced += total
        if self._unsynced >= WRITEBACK_EVERY:
            start_writeback(self.fd, self.size - self._unsynced, self._unsynced)
            self._unsynced = 0
        return self.size

    def close(self) -> None:
        """Close without publishing (the `.part` stays to be resumed)."""
        with contextlib.suppress(OSError):
            os.close(self.fd)

    def publish(self, expect: Expect) -> Saved:
        """Check the bytes, make them durable and give them the final name.

        A file that fails a check is removed (resuming it could never succeed) and `BadFile`
        says why, with its first bytes so that the caller can say what arrived.
        """
        try:
            verified = self._verify(expect)
            os.fdatasync(self.fd)
        except BadFile:
            self.close()
            self.part.reset()
            raise
        except BaseException:
            self.close()
            raise
        os.close(self.fd)
        os.replace(self.part.path, self.part.final)  # replaces a link there, never follows it
        if self.part.sync_folder:
            FOLDER_SYNCS.after_rename(self.part.final.parent)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.part.sidecar)
        return Saved(self.size, self.hashers["sha256"].digest().hex(), verified)

    def _verify(self, expect: Expect) -> tuple[str, ...]:
        """Length, container and stated checksums; `BadFile` at the first that fails."""
        if expect.size is not None and self.size != expect.size:
            raise BadFile(f"got {self.size} bytes, expected {expect.size}", integrity=True)
        problem = container_problem(expect.kind, self.fd, self.size)
        head = os.pread(self.fd, 64, 0) if problem is not None else b""
        return _verify(expect, self.size, self.hashers, problem, head)


def _verify(
    expect: Expect, size: int, hashers: Mapping[str, Hasher], problem: str | None, head: bytes
) -> tuple[str, ...]:
    """Length, container (`problem`: what its check found) and stated checksums, in that
    order; `BadFile` at the first that fails (`head`: the file's first bytes)."""
    if expect.size is not None and size != expect.size:
        raise BadFile(f"got {size} bytes, expected {expect.size}", integrity=True)
    if problem is not None:
        raise BadFile(problem, integrity=False, head=head[:64])
    wrong = mismatched(expect.stated, hashers)
    if wrong:
        raise BadFile(
            f"the {'/'.join(wrong)} checksum stated by the storage does not match the bytes",
            integrity=True,
        )
    checks = ["length"] if expect.size is not None else []
    return (*checks, *([expect.kind] if expect.kind else []), *sorted(expect.stated))


def _write_all(fd: int, pieces: list[bytes], total: int) -> None:
    """Write every piece, in order, without joining them (unless a write comes up short)."""
    written = os.writev(fd, pieces)
    while written < total:  # a short write: rare, but allowed by POSIX
        rest = b"".join(pieces)[written:]
        written += os.write(fd, rest)


class _FolderSyncs:
    """Folder fsyncs shared by the renames that came before them (a group commit).

    A rename is durable once an fsync of its folder has *started* after it. Threads that
    publish into one folder at the same time share one fsync: the first one free runs it,
    the others wait for it; one that arrives while an fsync runs waits for the next.
    """

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._folders: dict[Path, _Folder] = {}

    def after_rename(self, folder: Path) -> None:
        """Return once an fsync of `folder` that started after this call has completed."""
        with self._guard:
            state = self._folders.setdefault(folder, _Folder())
        with state.changed:
            need = state.started + 1  # the first fsync to start from now on covers us
            while state.done < need:
                if not state.running:
                    state.started, state.running = need, True
                    break
                state.changed.wait()
            else:
                return  # another thread's fsync covered this rename
        try:
            sync_folder(folder)
        except BaseException:
            with state.changed:
                state.started, state.running = need - 1, False  # the next waiter tries
                state.changed.notify_all()
            raise
        with state.changed:
            state.done, state.running = max(state.done, need), False
            state.changed.notify_all()


class _Folder:
    """How far the fsyncs of one folder have come."""

    __slots__ = ("changed", "done", "running", "started")

    def __init__(self) -> None:
        self.changed = threading.Condition()
        self.started = 0  # fsyncs started (numbered from 1)
        self.done = 0  # the last one completed
        self.running = False


#: One per process: every client's publishes into a folder share its fsyncs.
FOLDER_SYNCS = _FolderSyncs()


def sync_folder(folder: Path) -> None:
    """fsync a folder, so that a rename in it survives a power cut (where the OS allows it)."""
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.EBADF, errno.ENOTSUP):
            raise
    finally:
        os.close(fd)


def _load_sync_file_range() -> Any:
    """Linux's `sync_file_range`, or None where it is not available."""
    try:
        function = ctypes.CDLL(None, use_errno=True).sync_file_range
    except (OSError, AttributeError):
        return None
    function.argtypes = (ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint)
    return function


_SYNC_FILE_RANGE = _load_sync_file_range()
_SYNC_FILE_RANGE_WRITE = 2


def start_writeback(fd: int, offset: int, length: int) -> None:
    """Ask the OS to start writing a range to disk now, without waiting for it.

    So the final `fdatasync` before the rename finds little left to do, and the download never
    blocks on the disk mid-way. Where the OS has no such call, nothing is done.
    """
    if _SYNC_FILE_RANGE is not None:
        _SYNC_FILE_RANGE(fd, offset, length, _SYNC_FILE_RANGE_WRITE)


def _hash_prefix(fd: int, length: int, hashers: dict[str, Any]) -> dict[str, Any]:
    """Feed the first `length` bytes of a file to the hashers (read back in 1 MiB blocks)."""
    offset = 0
    while offset < length:
        block = os.pread(fd, min(CHUNK, length - offset), offset)
        if not block:
            raise OSError(errno.EIO, f"the file is shorter than {length} bytes")
        for hasher in hashers.values():
            hasher.update(block)
        offset += len(block)
    return hashers


def _read_nofollow(path: Path) -> bytes:
    """A small file's bytes; a link there reads as garbage (b"")."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return b""
        raise
    try:
        return os.read(fd, 64 * 1024)
    finally:
        os.close(fd)


def _parse_sidecar(data: bytes) -> Resume | None:
    """The sidecar's content, or None when it is not what this module writes."""
    try:
        kept = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(kept, dict) or kept.get("v") != 1:
        return None
    validator, stated = kept.get("validator"), kept.get("stated")
    if (
        not isinstance(validator, str)
        or not _header_safe(validator)
        or not isinstance(stated, dict)
    ):
        return None
    if not all(k in ALGORITHMS and isinstance(v, str) for k, v in stated.items()):
        return None
    return Resume(0, validator, stated)


def _header_safe(value: str) -> bool:
    """Whether a validator can go back into an `If-Range` header (visible ASCII and spaces)."""
    return bool(value) and value.isascii() and value.isprintable()


def _write_sidecar(path: Path, resume: Resume) -> None:
    """Record how the bytes in `.part` may be resumed (nothing: no sidecar, no resume)."""
    if resume.validator is None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        return
    data = orjson.dumps({"v": 1, "validator": resume.validator, "stated": dict(resume.stated)})
    fd = open_nofollow(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
