"""The file backend's staging entries in `tmp/` (runtime/backends/file/staging.py): a write
that fails removes its own entry at once, and recovery removes every entry no live process
holds, at once, never one being written. Before (issue 17, "tmp cleanup"): a raise-event or
a creation that met ENOSPC left its `msg-*` file or `new-*` folder behind, and recovery
removed only entries older than ten minutes, so a store that once filled up kept the space."""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from runtime.backends.base import BackendError, NewInstance
from runtime.backends.file import FileBackend, staging
from runtime.backends.file.folders import Store
from tests.robustness.conftest import fill


def entries(store: Path) -> list[str]:
    return sorted(os.listdir(store / "tmp"))


def new(instance_id: str) -> NewInstance:
    return NewInstance(instance_id, "2026-01-01T00:00:00Z", {"name": "x", "input": "i" * 2000})


def test_writes_that_meet_a_full_disk_leave_nothing_in_tmp(tmpfs: Callable[..., Path]) -> None:
    store = tmpfs("256k") / "store"
    backend = FileBackend(store)
    backend.ensure()
    assert backend.create(new("w-1"))
    fill(store.parent)
    # creations, one and many, and messages, each refused (by the index or by the staging,
    # whichever meets the full disk first)
    for attempt in range(3):
        with pytest.raises(BackendError, match="No space left on device"):
            backend.create_many([new(f"a-{attempt}-{n}") for n in range(5)])
        with pytest.raises(BackendError, match="No space left on device"):
            backend.create(new(f"b-{attempt}"))
        with pytest.raises(BackendError, match="No space left on device"):
            backend.post("w-1", {"type": "event", "name": "Go", "data": "x" * 10_000})
        assert entries(store) == []
    assert [m.id for m in backend.inbox("w-1")] == []
    backend.close()


@contextmanager
def held(path: Path) -> Iterator[None]:
    """Hold `path`'s lock as the process writing it would (another open file description
    conflicts with the recovery's as another process's would)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def test_recovery_removes_orphans_at_once_and_keeps_entries_being_written(
        tmp_path: Path) -> None:
    backend = FileBackend(tmp_path)
    backend.ensure()
    tmp = tmp_path / "tmp"
    (tmp / "msg-orphan").write_text("{}")  # its writer died a moment ago: not stale, orphaned
    (tmp / "new-orphan").mkdir()
    (tmp / "new-orphan" / "journal").write_text("")
    (tmp / "purged-orphan").mkdir()
    os.symlink("/nonexistent", tmp / "link")
    (tmp / "msg-writing").write_text("")
    (tmp / "new-writing").mkdir()
    with held(tmp / "msg-writing"), held(tmp / "new-writing"):
        backend.recover()
        assert entries(tmp_path) == ["msg-writing", "new-writing"]
    backend.recover()  # their writers are gone now
    assert entries(tmp_path) == []
    backend.close()


def race(monkeypatch: pytest.MonkeyPatch, tmp: Path) -> list[str]:
    """Make a recovery run just before the first staging entry is locked; what it removed."""
    real = fcntl.flock
    raced: list[str] = []
    started: list[bool] = []

    def flock(fd: int, operation: int) -> None:
        if not started:
            started.append(True)
            raced.extend(staging.remove_orphans(tmp))
        real(fd, operation)

    monkeypatch.setattr(staging.fcntl, "flock", flock)
    return raced


def test_a_message_staged_while_recovery_runs_is_delivered(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Recovery takes an entry between its naming and its locking: the writer sees that
    the name no longer holds what it locked and stages again under a new name."""
    store = Store(tmp_path)
    store.ensure()
    assert store.create("w-1", "2026-01-01T00:00:00Z", {"name": "x"})
    raced = race(monkeypatch, store.tmp)

    name = store.post("w-1", {"type": "event", "name": "Go", "data": 1})
    monkeypatch.undo()
    assert len(raced) == 1 and raced[0].startswith("msg-")
    assert [(n, m["data"]) for n, m in store.inbox("w-1")] == [(name, 1)]
    assert os.listdir(store.tmp) == []


def test_a_creation_staged_while_recovery_runs_is_created(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    store = Store(tmp_path)
    store.ensure()
    raced = race(monkeypatch, store.tmp)

    assert store.create_many([("c-1", "2026-01-01T00:00:00Z", {"name": "x"}),
                              ("c-2", "2026-01-01T00:00:00Z", {"name": "y"})]) == ["c-1", "c-2"]
    monkeypatch.undo()
    assert len(raced) == 1 and raced[0].startswith("new-")
    assert [json.loads((store.folder(i) / "journal").read_text().split("\n")[0])["data"]["name"]
            for i in ("c-1", "c-2")] == ["x", "y"]
    assert os.listdir(store.tmp) == []


def test_an_entry_renamed_into_place_meanwhile_is_not_touched(tmp_path: Path) -> None:
    """Recovery opened an entry that its writer then renamed into an inbox and unlocked:
    the lock is free, but the name in tmp/ no longer holds it, so nothing is removed."""
    store = Store(tmp_path)
    store.ensure()
    entry = staging.stage_file(store.tmp, "msg")
    os.write(entry.fd, b"{}")
    opened = os.open(entry.path, os.O_RDONLY)  # as remove_orphans opens it
    moved = tmp_path / "moved"
    os.rename(entry.path, moved)
    entry.close()
    try:
        fcntl.flock(opened, fcntl.LOCK_EX | fcntl.LOCK_NB)  # free now
        assert not staging._same(opened, entry.path)
    finally:
        os.close(opened)
    assert staging.remove_orphans(store.tmp) == []
    assert moved.read_text() == "{}"


def test_an_old_entry_held_by_a_live_writer_is_kept(tmp_path: Path) -> None:
    """Age alone no longer decides: a slow writer's entry stays however old it is."""
    backend = FileBackend(tmp_path)
    backend.ensure()
    slow = tmp_path / "tmp" / "msg-slow"
    slow.write_text("")
    an_hour_ago = time.time() - 3600
    os.utime(slow, (an_hour_ago, an_hour_ago))
    with held(slow):
        backend.recover()
        assert entries(tmp_path) == ["msg-slow"]
    backend.close()
