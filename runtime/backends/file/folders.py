"""The file backend's folders: a directory of instances, safe to share between processes.

    <store>/instances/<id>/            flock()ed by whoever runs or changes the instance
    <store>/instances/<id>/journal     the instance's records (journal.py)
    <store>/instances/<id>/head        hint: byte offset of the last checkpoint
    <store>/instances/<id>/inbox/      messages for the instance (events, terminate, ...)
    <store>/tmp/                       where new instances and messages are assembled
    <store>/removed/<id>               an entity's tombstone: the memory of its senders that
                                       `remove_if_empty` kept when it removed the entity

New instances and inbox messages are written in `tmp/` and renamed into place, so a
reader never sees half of one, and two clients creating one id cannot both succeed; a
write that fails leaves nothing in `tmp/` (staging.py).
Only the holder of an instance's lock appends to its journal. A post holds its inbox
folder's flock shared while it renames the message in, and removing an idle instance
(`remove_if_empty`) holds it exclusively, so no message lands in a removed instance; in
that same critical section, before the folder goes, it writes the tombstone (a file
staged in `tmp/`, synced, renamed into `removed/`, the folder synced), so a removed
entity never lacks one (a crash in between leaves the entity with a tombstone that its
own next removal replaces). The lock is the instance's
folder itself (flock on a directory), and `head` is made with the instance: creating a
file costs about 0.2 ms here, twice per instance when a worker first touched them.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import shutil
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from runtime.backends.file.journal import HEAD, Journal, sync_fds
from runtime.backends.file.staging import Staged, stage_dir, stage_file
from runtime.ids import ID_PATTERN, InvalidInstanceId, validate_id

__all__ = ["ID_PATTERN", "InvalidInstanceId", "Lock", "Store", "message_name", "validate_id"]

POST_CHUNK = 256  # messages staged at once by `post_many` (each holds a file open until renamed)


@dataclass
class Lock:
    fd: int

    def release(self) -> None:
        if self.fd >= 0:
            with contextlib.suppress(OSError):
                fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = -1


class Store:
    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self.instances = self.root / "instances"
        self.tmp = self.root / "tmp"
        self.removed = self.root / "removed"

    def ensure(self) -> None:
        self.instances.mkdir(parents=True, exist_ok=True)
        self.tmp.mkdir(parents=True, exist_ok=True)

    def folder(self, instance_id: str) -> Path:
        return self.instances / validate_id(instance_id)

    def exists(self, instance_id: str) -> bool:
        return (self.folder(instance_id) / "journal").is_file()

    def ids(self) -> list[str]:
        try:
            names = os.listdir(self.instances)
        except FileNotFoundError:
            return []
        return sorted(n for n in names if ID_PATTERN.fullmatch(n) and n not in (".", ".."))

    def create(self, instance_id: str, ts: str, data: dict[str, Any]) -> bool:
        """Create an instance whose journal starts with `created`; False if the id exists."""
        return self.create_many([(instance_id, ts, data)]) == [instance_id]

    def create_many(self, items: list[tuple[str, str, dict[str, Any]]]) -> list[str]:
        """Create instances (id, created time, `created` record data); the ids created, in
        order (an id that exists is skipped). However many, it costs two syncs: the new
        journals together, then `instances/` once all are renamed into it. Many are
        assembled by a few threads at once (`each`)."""
        self.ensure()
        single = len(items) == 1

        def assemble(item: tuple[str, str, dict[str, Any]]) -> tuple[str, Staged, int] | None:
            instance_id, ts, data = item
            if self.folder(instance_id).exists():
                return None
            entry = stage_dir(self.tmp, "new")
            try:
                # no hint yet
                os.close(os.open(entry.path / HEAD, os.O_WRONLY | os.O_CREAT, 0o644))
                Journal.create(entry.path, ts, data, sync=single).close()
                fd = -1 if single else os.open(entry.path / "journal", os.O_RDONLY)
            except BaseException:
                entry.discard()
                raise
            return instance_id, entry, fd

        done, error = each(assemble, items)
        staged = [d for d in done if d is not None]
        try:
            if error is not None:
                raise error
            sync_fds([(fd, os.fstat(fd).st_dev, str(e.path)) for _, e, fd in staged if fd >= 0])
        except BaseException:  # a full disk, say: none is created, and nothing is left
            for _, entry, _ in staged:
                entry.discard()
            raise
        finally:
            for _, _, fd in staged:
                if fd >= 0:
                    os.close(fd)
        created: list[str] = []
        for instance_id, entry, _ in staged:
            try:
                os.rename(entry.path, self.folder(instance_id))
            except OSError:  # another client created it first (ENOTEMPTY / EEXIST)
                entry.discard()
                continue
            entry.close()  # held until renamed: see staging.py
            created.append(instance_id)
        if created:
            _fsync_dir(self.instances)
        return created

    def lock(self, instance_id: str, *, blocking: bool) -> Lock | None:
        """The instance's lock, or None if someone else holds it (non-blocking) or it is gone."""
        try:
            fd = os.open(self.folder(instance_id), os.O_RDONLY | os.O_DIRECTORY)
        except (FileNotFoundError, NotADirectoryError):
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            os.close(fd)
            return None
        if not (self.folder(instance_id) / "journal").exists():  # purged meanwhile
            os.close(fd)
            return None
        return Lock(fd)

    def post(self, instance_id: str, message: dict[str, Any], name: str | None = None) -> str:
        """Drop a message into the instance's inbox (atomically); returns its file name."""
        inbox = self.folder(instance_id) / "inbox"
        self.ensure()
        name = name or message_name()
        entry = stage_file(self.tmp, "msg")
        try:
            _write_all(entry.fd, json.dumps(message).encode("ascii"), entry.path)
            os.fsync(entry.fd)
            try:
                inbox.mkdir()
                _fsync_dir(inbox.parent)
            except FileExistsError:
                pass
            fd = _inbox_lock(inbox, fcntl.LOCK_SH)  # FileNotFoundError: removed
            try:
                os.rename(entry.path, name, dst_dir_fd=fd)
                os.fsync(fd)  # the message is durable once its name is
            finally:
                os.close(fd)
        except BaseException:  # a full disk, say: the staging file goes with the message
            entry.discard()
            raise
        entry.close()
        return name

    def post_many(self, items: list[tuple[str, dict[str, Any]]]) -> list[str | None]:
        """`post` of many messages (instance id, message), durable on return; their file
        names, in order (time-ordered, so one inbox reads them in the order given), None
        for a message whose instance folder is gone (removed or purged meanwhile: nothing
        delivered to it). Each chunk of POST_CHUNK costs two syncs (one syncfs(2) each on
        Linux): the staged files, then the inboxes they were renamed into; `post` costs
        two per message. Each inbox is renamed into under its shared lock, as `post` does,
        so a `remove_if_empty` sees the messages or removed the folder first."""
        self.ensure()
        names: list[str | None] = []
        for start in range(0, len(items), POST_CHUNK):
            names += self._post_chunk(items[start:start + POST_CHUNK])
        return names

    def _post_chunk(self, items: list[tuple[str, dict[str, Any]]]) -> list[str | None]:
        def assemble(item: tuple[str, dict[str, Any]]) -> tuple[Path, Staged]:
            entry = stage_file(self.tmp, "msg")
            try:
                _write_all(entry.fd, json.dumps(item[1]).encode("ascii"), entry.path)
            except BaseException:
                entry.discard()
                raise
            return self.folder(item[0]) / "inbox", entry

        done, error = each(assemble, items)
        # named here, in order: the names order one inbox's messages as given
        staged = [(inbox, message_name(), entry) for inbox, entry in done]
        made: list[Path] = []  # folders whose `inbox/` was created here
        names: dict[int, str | None] = {}
        delivered: list[Path] = []
        try:
            if error is not None:
                raise error
            sync_fds([(e.fd, os.fstat(e.fd).st_dev, str(e.path)) for _, _, e in staged])
            by_inbox: dict[Path, list[int]] = {}
            for n, (inbox, _, _) in enumerate(staged):
                by_inbox.setdefault(inbox, []).append(n)
            for inbox, numbers in by_inbox.items():
                try:
                    try:
                        inbox.mkdir()
                        made.append(inbox.parent)
                    except FileExistsError:
                        pass
                    fd = _inbox_lock(inbox, fcntl.LOCK_SH)
                except FileNotFoundError:  # the instance is gone: nothing for it
                    for n in numbers:
                        staged[n][2].discard()
                        names[n] = None
                    continue
                try:
                    for n in numbers:
                        _, name, entry = staged[n]
                        os.rename(entry.path, name, dst_dir_fd=fd)
                        entry.close()  # renamed into place: no longer ours to discard
                        names[n] = name
                finally:
                    os.close(fd)
                delivered.append(inbox)
        except BaseException:  # a full disk: the unsent staging files go
            for _, _, entry in staged:
                if entry.fd >= 0:
                    entry.discard()
            with contextlib.suppress(OSError):  # the ones delivered are made durable
                _fsync_dirs([*delivered, *made])
            raise
        # the messages are durable once their names are
        with contextlib.suppress(FileNotFoundError):  # a folder removed since: nothing of ours
            _fsync_dirs([*delivered, *made])
        return [names[n] for n in range(len(staged))]

    def remove_if_empty(self, instance_id: str, memory: Any) -> bool:
        """Remove the instance if its inbox is empty (the caller holds its lock), with
        the inbox locked so that no `post` lands meanwhile: a post waits, then finds the
        instance gone (FileNotFoundError) instead of writing into a removed folder. The
        instance's tombstone becomes `memory` first (None: dropped), durably."""
        inbox = self.folder(instance_id) / "inbox"
        with contextlib.suppress(FileExistsError):
            inbox.mkdir()
        fd = _inbox_lock(inbox, fcntl.LOCK_EX)
        try:
            if os.listdir(fd):
                return False
            self.write_removed(instance_id, memory)
            self.purge(instance_id)
            return True
        finally:
            os.close(fd)

    def write_removed(self, instance_id: str, memory: Any) -> None:
        """Make `memory` the instance's tombstone, durably (None: drop it): staged in
        `tmp/`, synced, renamed into `removed/`, which is synced."""
        path = self.removed / validate_id(instance_id)
        if memory is None:
            self.drop_removed(instance_id)
            return
        blob = json.dumps(memory, separators=(",", ":"), allow_nan=False).encode("ascii")
        self.ensure()
        entry = stage_file(self.tmp, "removed")
        try:
            _write_all(entry.fd, blob, entry.path)
            os.fsync(entry.fd)
            try:
                os.rename(entry.path, path)
            except FileNotFoundError:  # the first tombstone of the store
                self.removed.mkdir(exist_ok=True)
                _fsync_dir(self.root)
                os.rename(entry.path, path)
            _fsync_dir(self.removed)
        except BaseException:
            entry.discard()
            raise
        entry.close()

    def read_removed(self, instance_id: str) -> Any:
        """The instance's tombstone (`write_removed`), or None. ValueError: not JSON."""
        try:
            with open(self.removed / validate_id(instance_id), encoding="ascii") as fh:
                return json.load(fh)
        except FileNotFoundError:
            return None

    def drop_removed(self, instance_id: str) -> None:
        """Delete the instance's tombstone, durably, if it has one."""
        try:
            os.unlink(self.removed / validate_id(instance_id))
        except FileNotFoundError:
            return
        _fsync_dir(self.removed)

    def inbox(self, instance_id: str) -> Iterator[tuple[str, dict[str, Any]]]:
        """Messages waiting for the instance, oldest first."""
        inbox = self.folder(instance_id) / "inbox"
        try:
            names = sorted(os.listdir(inbox))
        except FileNotFoundError:
            return
        for name in names:
            try:
                with open(inbox / name, encoding="utf-8") as fh:
                    message = json.load(fh)
            except (OSError, ValueError):
                continue
            if isinstance(message, dict):
                yield name, message

    def has_inbox(self, instance_id: str) -> bool:
        try:
            with os.scandir(self.folder(instance_id) / "inbox") as it:
                return any(True for _ in it)
        except FileNotFoundError:
            return False

    def discard(self, instance_id: str, name: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.folder(instance_id) / "inbox" / name)

    def purge(self, instance_id: str) -> None:
        """Remove the instance (the caller holds its lock)."""
        folder = self.folder(instance_id)
        self.ensure()
        trash = self.tmp / f"purged-{_random_hex(16)}"
        os.rename(folder, trash)
        shutil.rmtree(trash, ignore_errors=True)


PARALLEL_FROM = 8  # items from which `each` runs in threads
THREADS = 8
_pool: Any = None


def threads() -> Any:
    """The few threads the file backend overlaps file system calls in (made on first use,
    shared by every store of the process; concurrent.futures is imported here, not at
    the top). Creating or deleting a file waits for the disk far longer than it takes
    the CPU (about 0.3 ms to create, 3 ms to delete a file with blocks where the file
    system is mounted with `discard`), and those waits overlap."""
    global _pool
    if _pool is None:
        from concurrent.futures import ThreadPoolExecutor

        _pool = ThreadPoolExecutor(THREADS, thread_name_prefix="tether-files")
    return _pool


T = TypeVar("T")
R = TypeVar("R")


def each(fn: Callable[[T], R], items: Sequence[T]) -> tuple[list[R], BaseException | None]:
    """`fn` of every item (in threads when there are many): the results of those that
    succeeded, in order, and the first error (every item is tried, so the caller can
    undo what the others did)."""
    if len(items) < PARALLEL_FROM:
        out: list[R] = []
        for item in items:
            try:
                out.append(fn(item))
            except BaseException as exc:
                return out, exc
        return out, None
    futures = [threads().submit(fn, item) for item in items]
    results: list[R] = []
    error: BaseException | None = None
    for future in futures:
        failed = future.exception()
        if failed is not None:
            error = error or failed
        else:
            results.append(future.result())
    return results, error


_last_name = [0]


def message_name() -> str:
    """A new inbox message's id (its file name): unique, ordered by time."""
    return f"{_monotonic_name()}.json"


def _random_hex(size: int) -> str:
    # os.urandom, not uuid: `uuid` imports `platform`, a cost on every `tether status`
    return os.urandom(size).hex()


def _monotonic_name() -> str:
    # Time-ordered names, unique across processes: nanoseconds, then a random suffix.
    now = max(time_ns(), _last_name[0] + 1)
    _last_name[0] = now
    return f"{now:020d}-{_random_hex(6)}"


def time_ns() -> int:
    import time

    return time.time_ns()


def _write_all(fd: int, data: bytes, path: Path) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        if written == 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        view = view[written:]


def _fsync_dirs(paths: list[Path]) -> None:
    """Make the entries of these folders durable: one syncfs(2) for all where there is
    one (`sync_fds`), else an fsync each."""
    fds: list[tuple[int, int, str]] = []
    try:
        for path in paths:
            fd = os.open(path, os.O_RDONLY)
            fds.append((fd, os.fstat(fd).st_dev, str(path)))
        sync_fds(fds)
    finally:
        for fd, _, _ in fds:
            os.close(fd)

def _inbox_lock(inbox: Path, how: int) -> int:
    """An fd of `inbox`, flock()ed `how` (posts share it, a removal takes it alone), and
    still the folder at that path once locked: a removal renames the instance's folder
    away while it holds the lock, so a post that waited finds the path gone
    (FileNotFoundError) rather than delivering into the removed instance."""
    fd = os.open(inbox, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, how)
        if os.stat(inbox).st_ino != os.fstat(fd).st_ino:
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), str(inbox))
    except BaseException:
        os.close(fd)
        raise
    return fd


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
