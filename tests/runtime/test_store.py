"""The store: creating instances (one at a time and in bulk), the per-instance lock, the
inbox, and group commit of several journals."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest

import compiler
from runtime.backends.file import journal as journal_mod
from runtime.backends.file.folders import InvalidInstanceId, Store
from runtime.backends.file.journal import Journal, sync_all
from runtime.client import Client
from runtime.machine import MachineDef
from runtime.values import NotJSONError
from runtime.worker import Worker

_n = itertools.count()

SOURCE = """
from tether import activity, orchestrator

@activity
def twice(x):
    return 2 * x

@orchestrator
async def main(ctx, n):
    await ctx.call_activity(twice, n)
    return await ctx.call_activity(twice, n + 1)
"""


@pytest.fixture
def mdef() -> MachineDef:
    module = compiler.load_source(SOURCE, "store_prog.py", f"_tether_store_{next(_n)}")
    machine = module.main.__tether_machine__
    assert isinstance(machine, MachineDef)
    return machine


def test_start_many_creates_every_instance_and_a_worker_runs_them(tmp_path: Path, mdef: MachineDef) -> None:
    client = Client(tmp_path)
    ids = client.start_many(mdef, [1, 2, 3], instance_ids=["a", "b", "c"])
    assert ids == ["a", "b", "c"]
    assert [client.status(i)["runtimeStatus"] for i in ids] == ["Pending"] * 3
    assert [client.status(i)["input"] for i in ids] == [1, 2, 3]
    assert list((tmp_path / "tmp").iterdir()) == []  # nothing left in staging
    Worker(tmp_path, report=lambda line: None).serve(until_idle=True)
    assert [client.status(i)["output"] for i in ids] == [4, 6, 8]


def test_start_many_makes_ids_when_none_are_given(tmp_path: Path, mdef: MachineDef) -> None:
    ids = Client(tmp_path).start_many(mdef, [1, 2])
    assert len(set(ids)) == 2
    assert sorted(Store(tmp_path).ids()) == sorted(ids)


@pytest.mark.parametrize(("ids", "message"), [
    (["a", "old"], "instance old already exists"),
    (["a", "a"], "instance id a is given twice"),
    (["a"], "1 instance ids for 2 inputs"),
])
def test_start_many_creates_nothing_when_an_id_is_wrong(
    tmp_path: Path, mdef: MachineDef, ids: list[str], message: str,
) -> None:
    client = Client(tmp_path)
    client.start(mdef, 0, instance_id="old")
    with pytest.raises(ValueError, match=message):
        client.start_many(mdef, [1, 2], instance_ids=ids)
    assert Store(tmp_path).ids() == ["old"]


def test_start_many_refuses_a_bad_id_or_a_non_json_input_before_writing(tmp_path: Path, mdef: MachineDef) -> None:
    client = Client(tmp_path)
    with pytest.raises(InvalidInstanceId):
        client.start_many(mdef, [1, 2], instance_ids=["ok", "not/ok"])
    with pytest.raises(NotJSONError, match=r"input 1 of orchestrator main"):
        client.start_many(mdef, [1, {1, 2}])
    assert Store(tmp_path).ids() == []


def test_the_lock_is_held_by_one_holder_at_a_time(tmp_path: Path, mdef: MachineDef) -> None:
    store = Store(tmp_path)
    Client(tmp_path).start(mdef, 1, instance_id="x")
    first = store.lock("x", blocking=False)
    assert first is not None
    assert store.lock("x", blocking=False) is None
    first.release()
    again = store.lock("x", blocking=False)
    assert again is not None
    store.purge("x")
    again.release()
    assert store.lock("x", blocking=False) is None  # purged: nothing to lock
    assert store.lock("never", blocking=False) is None


def test_a_posted_message_lands_in_a_new_inbox(tmp_path: Path, mdef: MachineDef) -> None:
    store = Store(tmp_path)
    Client(tmp_path).start(mdef, 1, instance_id="x")
    assert not store.has_inbox("x")  # made by the first message, not with the instance
    name = store.post("x", {"type": "event", "name": "go", "data": 1})
    assert list(store.inbox("x")) == [(name, {"type": "event", "name": "go", "data": 1})]


def journals(tmp_path: Path, count: int) -> list[Journal]:
    out = []
    for i in range(count):
        folder = tmp_path / f"j{i}"
        folder.mkdir()
        j = Journal.create(folder, "2026-01-01T00:00:00+00:00", {"n": i})
        j.close()
        out.append(Journal.open(folder))
    return out


def test_several_journals_are_synced_by_one_syncfs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Any] = []
    js = journals(tmp_path, 3)
    monkeypatch.setattr(journal_mod, "_syncfs", lambda fd: calls.append(("syncfs", fd)) or 0)
    monkeypatch.setattr(journal_mod.os, "fsync", lambda fd: calls.append(("fsync", fd)))
    try:
        sync_all(js)
        assert calls == [("syncfs", js[0].fd)]
        calls.clear()
        sync_all(js[:1])
        assert calls == [("fsync", js[0].fd)]
    finally:
        for j in js:
            j.close()


def test_a_failed_syncfs_is_an_error_naming_the_journal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(journal_mod, "_syncfs", lambda fd: -1)
    import ctypes  # the journal imports it only when a syncfs fails

    monkeypatch.setattr(ctypes, "get_errno", lambda: 5)
    js = journals(tmp_path, 2)
    try:
        with pytest.raises(OSError, match="syncfs") as info:
            sync_all(js)
        assert info.value.errno == 5 and "j0" in str(info.value)
    finally:
        for j in js:
            j.close()


def test_syncfs_is_found_on_linux() -> None:
    import sys

    if sys.platform.startswith("linux"):
        assert journal_mod._syncfs_call() is not None
