"""Staging entries in a store's `tmp/`: where new instances (`new-*` folders) and inbox
messages (`msg-*` files) are assembled before they are renamed into place, and where a
purged instance's folder (`purged-*`) waits to be deleted.

Guarantees (issue 17, "tmp cleanup"):

- An entry is flock()ed by the process assembling it from the moment it has a name until
  it is renamed away or removed, so "is anyone still writing this?" has an exact answer:
  the kernel drops the lock when its holder dies, whatever killed it.
- A write that fails (a full disk, a read-only file system, any OSError) removes its
  own entry before the error goes on: a full disk leaves nothing behind in `tmp/`.
- `remove_orphans` deletes every entry no live process holds (its writer was killed,
  or the machine lost power), at once, and never one that is being assembled.

The race between naming an entry and locking it is closed on the writer's side: once
it holds the lock it checks that the name still refers to what it locked, and starts
over under a new name if `remove_orphans` took the entry in between.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import stat
from pathlib import Path

__all__ = ["Staged", "remove_orphans", "stage_dir", "stage_file"]

_ATTEMPTS = 5  # a writer losing the naming race this often in a row is not plausible


class Staged:
    """One staging entry, locked by this process: `fd` is open on it (a file: for
    writing; a folder: read-only) and holds the lock until `close`."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self.fd = fd

    def close(self) -> None:
        """Drop the lock (after the entry was renamed into place, or removed)."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def discard(self) -> None:
        """Remove the entry, if it is still where it was staged, and drop the lock: what a
        failed write does before its error goes on. Never raises."""
        with contextlib.suppress(OSError):
            if _same(self.fd, self.path):
                if stat.S_ISDIR(os.fstat(self.fd).st_mode):
                    shutil.rmtree(self.path, ignore_errors=True)
                else:
                    os.unlink(self.path)
        self.close()


def stage_file(tmp: Path, prefix: str) -> Staged:
    """A new, empty, locked file `tmp/<prefix>-<random>`, open for writing."""
    return _stage(tmp, prefix, directory=False)


def stage_dir(tmp: Path, prefix: str) -> Staged:
    """A new, empty, locked folder `tmp/<prefix>-<random>`."""
    return _stage(tmp, prefix, directory=True)


def _stage(tmp: Path, prefix: str, *, directory: bool) -> Staged:
    for _ in range(_ATTEMPTS):
        path = tmp / f"{prefix}-{os.urandom(16).hex()}"
        if directory:
            os.mkdir(path)
            try:
                fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
            except FileNotFoundError:
                continue  # remove_orphans took it between mkdir and open: another name
        else:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # waits only while remove_orphans looks at it
            if _same(fd, path):
                return Staged(path, fd)
        except BaseException:
            Staged(path, fd).discard()
            raise
        os.close(fd)  # remove_orphans took it before it was locked: another name
    raise OSError(f"cannot stage a file in {tmp}: it was removed under us {_ATTEMPTS} times")


def _same(fd: int, path: Path) -> bool:
    """Does `path` still name the file or folder open as `fd`?"""
    try:
        now = os.lstat(path)
    except FileNotFoundError:
        return False
    return os.path.samestat(os.fstat(fd), now)


def remove_orphans(tmp: Path) -> list[str]:
    """Delete every entry of `tmp` that no live process holds; the names deleted."""
    try:
        names = os.listdir(tmp)
    except FileNotFoundError:
        return []
    removed = []
    for name in names:
        path = tmp / name
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except FileNotFoundError:
            continue  # renamed into place (or removed) meanwhile
        except OSError:  # a symlink or a special file: no process stages those
            with contextlib.suppress(OSError):
                os.unlink(path)
                removed.append(name)
            continue
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # being assembled (or purged) by a live process
            if not _same(fd, path):
                continue  # renamed into place while this looked at it
            if stat.S_ISDIR(os.fstat(fd).st_mode):
                shutil.rmtree(path, ignore_errors=True)
            else:
                os.unlink(path)
            removed.append(name)
        except OSError:
            continue  # could not be removed (permissions): tried again next time
        finally:
            os.close(fd)
    return removed
