"""Issue 17, engine side: one bad value or one damaged instance never stops a store, and
no instance can impersonate another. Each test failed before its fix. Those that take
`stores` run on every backend; the others are about the file backend's own files."""

from __future__ import annotations

import fcntl
import itertools
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import compiler
from runtime.backends import open_backend
from runtime.backends.base import DAMAGED, InstanceDamaged, NewInstance
from runtime.backends.file import FileBackend
from runtime.client import Client
from runtime.clock import Clock
from runtime.engine import run_inline
from runtime.ids import InvalidInstanceId
from runtime.machine import MachineDef
from runtime.worker import Worker, supervise
from tests.backends.support import Stores
from tether.cli import main

_n = itertools.count()

SOURCE = """
import threading
from tether import activity, orchestrator

CALLS = []
RELEASE = threading.Event()

class Gone(Exception):
    pass

@activity
def double(x):
    CALLS.append(x)
    return 2 * x

@activity
def hang(x):
    RELEASE.wait(60)
    return x

@orchestrator
async def chain(ctx, n):
    out = []
    for i in range(n):
        out.append(await ctx.call_activity(double, i))
    return out

@orchestrator
async def deep(ctx, n):
    value = []
    for _ in range(n):
        value = [value]
    await ctx.call_activity(double, 1)
    return len(value)

@orchestrator
async def hung(ctx, n):
    return await ctx.call_activity(hang, n)

@orchestrator
async def keeps_an_error(ctx, n):
    err = Gone("kept in the frame")
    data = await ctx.wait_for_external_event("go")
    return [str(err), data]

@orchestrator
async def child(ctx, n):
    return await ctx.call_activity(double, n)

@orchestrator
async def parent(ctx, n):
    return await ctx.call_sub_orchestrator(child, n)
"""


def load(*, keep: bool = False) -> Any:
    name = f"_robust_{next(_n)}"
    try:
        return compiler.load_source(SOURCE, "robust.py", name)
    finally:
        if not keep:
            sys.modules.pop(name, None)


def machine(module: Any, name: str) -> MachineDef:
    mdef = getattr(module, name).__tether_machine__
    assert isinstance(mdef, MachineDef)
    return mdef


def serve(store: Any, reports: list[str], timeout: float = 30) -> None:
    """A worker with --until-idle, which must return (the test fails if it hangs)."""
    worker = Worker(store, report=reports.append)
    thread = threading.Thread(target=worker.serve, kwargs={"until_idle": True}, daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        worker.stop.set()
        thread.join(5)
        pytest.fail(f"the worker did not finish within {timeout} s; it said: {reports}")


# -- whatever a step raises, that instance fails and the others go on ------------------------


def test_a_value_too_deep_to_checkpoint_fails_its_instance_only(stores: Stores) -> None:
    module = load()
    store = stores()
    client = Client(store)
    bad = client.start(machine(module, "deep"), 100_000, instance_id="deep-1")
    good = client.start(machine(module, "chain"), 3, instance_id="good-1")
    reports: list[str] = []
    serve(store, reports)
    doc = client.status(bad)
    assert doc["runtimeStatus"] == "Failed"
    assert any(word in doc["output"] for word in ("nest", "deep", "Recursion")), doc["output"]
    assert client.status(good)["runtimeStatus"] == "Completed"
    assert client.status(good)["output"] == [0, 2, 4]


@pytest.mark.parametrize("raised", [RecursionError("maximum recursion depth exceeded"),
                                    RuntimeError("a bug of ours"), KeyError("slot")])
def test_whatever_saving_a_step_raises_fails_that_instance_only(
        stores: Stores, monkeypatch: pytest.MonkeyPatch, raised: Exception) -> None:
    from runtime.engine import stepping

    module = load()
    store = stores()
    client = Client(store)
    client.start(machine(module, "deep"), 3, instance_id="victim")
    client.start(machine(module, "chain"), 2, instance_id="bystander")
    real = stepping.encode_slots

    def encode(slots: dict[str, Any], *args: Any, **kw: Any) -> Any:
        if "value" in slots:  # only `deep` has this local
            raise raised
        return real(slots, *args, **kw)

    monkeypatch.setattr(stepping, "encode_slots", encode)
    serve(store, [])
    doc = client.status("victim")
    assert doc["runtimeStatus"] == "Failed" and type(raised).__name__ in doc["output"]
    assert client.status("bystander")["output"] == [0, 2]


@pytest.mark.parametrize("damage", ["journal is a directory", "head is a directory"])
def test_an_unusable_instance_is_refused_once_and_the_others_run(
        tmp_path: Path, damage: str) -> None:
    module = load()
    client = Client(tmp_path)
    client.start(machine(module, "chain"), 2, instance_id="bad")
    client.start(machine(module, "chain"), 2, instance_id="good")
    folder = tmp_path / "instances" / "bad"
    victim = folder / damage.split()[0]
    victim.unlink(missing_ok=True)
    victim.mkdir()
    reports: list[str] = []
    serve(tmp_path, reports)
    assert client.status("good")["output"] == [0, 2]
    errors = [r for r in reports if "bad" in r]
    assert len(errors) == 1, reports
    assert errors[0].startswith("error: instance bad") and "\n" not in errors[0]
    assert "Traceback" not in errors[0]


def test_until_idle_exits_when_instances_holds_a_folder_without_journal_or_a_stray_file(
        tmp_path: Path) -> None:
    module = load()
    Client(tmp_path).start(machine(module, "chain"), 1, instance_id="real")
    (tmp_path / "instances" / "no-journal").mkdir()
    (tmp_path / "instances" / "stray-file").write_text("?")
    (tmp_path / "index.sqlite").unlink()  # as an older store, which has no index yet
    reports: list[str] = []
    serve(tmp_path, reports)
    assert Client(tmp_path).status("real")["runtimeStatus"] == "Completed"


def test_orphaned_staging_files_are_cleaned_when_a_worker_starts(tmp_path: Path) -> None:
    """Old or fresh, an entry no process holds is removed; one being written stays
    (tests/robustness/test_staging.py has the rest)."""
    FileBackend(tmp_path).ensure()
    old, fresh, writing = (tmp_path / "tmp" / n for n in ("msg-old", "msg-fresh", "msg-writing"))
    (tmp_path / "tmp" / "new-old").mkdir()
    for path in (old, fresh, writing):
        path.write_text("{}")
    an_hour_ago = time.time() - 3600
    os.utime(old, (an_hour_ago, an_hour_ago))
    os.utime(tmp_path / "tmp" / "new-old", (an_hour_ago, an_hour_ago))
    fd = os.open(writing, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # as the process writing it holds it
        serve(tmp_path, [])
    finally:
        os.close(fd)
    assert sorted(p.name for p in (tmp_path / "tmp").iterdir()) == ["msg-writing"]


# -- damage is damage, not a torn tail ----------------------------------------------------------


def test_a_flipped_bit_before_good_records_shows_the_instance_as_damaged(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    module = load()
    mdef = machine(module, "chain")
    done = run_inline(mdef, 3, store=tmp_path, instance_id="c1")
    assert done.output == [0, 2, 4]
    folder = tmp_path / "instances" / "c1"
    lines = (folder / "journal").read_bytes().splitlines(keepends=True)
    offset = len(lines[0]) + len(lines[1]) + 30  # inside record 2, with records after it
    data = bytearray((folder / "journal").read_bytes())
    data[offset] ^= 0x01
    (folder / "journal").write_bytes(bytes(data))
    (folder / "head").unlink()  # a crash may lose it: it is never fsynced
    before = bytes(data)
    calls = len(module.CALLS)

    client = Client(tmp_path)
    doc = client.status("c1")
    assert doc["runtimeStatus"] == DAMAGED and "damaged at record 2" in doc["output"]
    assert [d["runtimeStatus"] for d in client.list()] == [DAMAGED]
    with pytest.raises(InstanceDamaged, match="damaged at record 2"):
        client.history("c1")
    serve(tmp_path, [])  # a worker neither reruns its activities nor rewrites it
    FileBackend(tmp_path).recover()
    (tmp_path / "index.sqlite").unlink()  # nor when it has to rebuild the index
    reports: list[str] = []
    serve(tmp_path, reports)
    assert len(module.CALLS) == calls
    assert (folder / "journal").read_bytes() == before  # not truncated
    assert main(["history", "c1", "--store", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: instance c1: the journal is damaged") and err.count("\n") == 1
    client = Client(tmp_path)  # (the index was replaced under the first one)
    assert [d["runtimeStatus"] for d in client.list()] == [DAMAGED]
    client.purge("c1")
    assert not client.backend.exists("c1") and client.list() == []


def test_a_damaged_first_record_is_listed_and_purgeable(tmp_path: Path) -> None:
    module = load()
    run_inline(machine(module, "chain"), 1, store=tmp_path, instance_id="c2")
    journal = tmp_path / "instances" / "c2" / "journal"
    journal.write_bytes(b"garbage" + journal.read_bytes()[7:])
    client = Client(tmp_path)
    assert client.status("c2")["runtimeStatus"] == DAMAGED
    client.purge("c2")
    assert not client.backend.exists("c2")


# -- no instance can impersonate another's child ------------------------------------------------


def test_a_parent_does_not_adopt_an_instance_it_did_not_create(stores: Stores) -> None:
    module = load()
    store = stores()
    backend = open_backend(store)
    backend.ensure()
    # a squatter under the parent's default child id, made behind the client's back
    squat = {"name": "child", "input": 666, "graph_hash": machine(module, "child").graph_hash,
             "source": "robust.py", "parent": None, "generation": 0,
             "start": "2026-01-01T00:00:00Z"}
    assert backend.create(NewInstance("fleet:0", "2026-01-01T00:00:00Z", squat))
    result = run_inline(machine(module, "parent"), 1, store=store, instance_id="fleet")
    assert result.status == "Failed"
    assert result.error is not None and "fleet:0" in result.error[1]
    assert "did not start" in result.error[1]
    doc = Client(store).status("fleet:0")
    assert doc["input"] == 666  # the squatter itself is left alone


def test_clients_cannot_create_ids_in_a_child_namespace(stores: Stores) -> None:
    module = load()
    store = stores()
    with pytest.raises(InvalidInstanceId, match="reserved"):
        Client(store).start(machine(module, "child"), 1, instance_id="fleet:0")
    with pytest.raises(InvalidInstanceId, match="reserved"):
        Client(store).start_many(machine(module, "child"), [1], instance_ids=["x:12"])
    with pytest.raises(InvalidInstanceId, match="reserved"):
        run_inline(machine(module, "child"), 1, store=store, instance_id="fleet:0")
    Client(store).start(machine(module, "child"), 1, instance_id="fleet:zero")  # not a task


# -- management commands succeed fully or change nothing ----------------------------------------


def test_raise_event_and_terminate_work_when_the_checkpoint_names_a_class_now_gone(
        stores: Stores, capsys: pytest.CaptureFixture[str]) -> None:
    module = load(keep=True)
    store = stores()
    result = run_inline(machine(module, "keeps_an_error"), None, store=store, instance_id="k1")
    assert result.status == "Stuck"  # waits for "go", with Gone("...") in its frame
    del sys.modules[module.__name__]  # as a deployment without the module: Gone is gone
    assert main(["raise-event", "k1", "go", "--data", "1", "--store", store]) == 0
    assert main(["terminate", "k1", "--store", store]) == 0
    doc = Client(store).status("k1")
    assert doc["runtimeStatus"] == "Terminated"
    assert capsys.readouterr().err == ""


# -- a hung activity does not keep `run` or a worker alive --------------------------------------


def test_terminate_makes_run_return_while_an_activity_hangs(stores: Stores) -> None:
    module = load()
    store = stores()
    out: list[Any] = []
    runner = threading.Thread(target=lambda: out.append(run_inline(
        machine(module, "hung"), 1, store=store, instance_id="h1", clock=Clock())), daemon=True)
    runner.start()
    client = Client(store)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if client.backend.exists("h1") and client.status("h1")["runtimeStatus"] == "Running":
            break
        time.sleep(0.02)
    client.terminate("h1", "enough")
    runner.join(10)
    module.RELEASE.set()
    assert out and out[0].status == "Terminated"


HUNG_PROGRAM = """
import os, time
from tether import activity, orchestrator

@activity
def slow_call(x):
    with open(os.environ["MARK"], "w") as fh:
        fh.write("started")
    time.sleep(60)
    return x

@orchestrator
async def hung(ctx, n):
    return await ctx.call_activity(slow_call, n)
"""


def test_the_first_ctrl_c_says_what_it_waits_for_and_the_second_exits(tmp_path: Path) -> None:
    src = tmp_path / "prog.py"
    src.write_text(HUNG_PROGRAM)
    store, mark = tmp_path / "store", tmp_path / "mark"
    env = {**os.environ, "MARK": str(mark), "PYTHONPATH": str(Path(__file__).parents[2])}
    tether = [sys.executable, "-m", "tether.cli"]
    subprocess.run([*tether, "start", f"{src}:hung", "--input", "1", "--store", str(store)],
                   check=True, env=env, capture_output=True)
    worker = subprocess.Popen([*tether, "worker", str(src), "--store", str(store)], env=env,
                              stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        while not mark.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert mark.exists(), "the activity never started"
        worker.send_signal(signal.SIGINT)
        assert worker.stderr is not None
        # the worker's INFO log lines (worker and instance started) come first
        line = ""
        for _ in range(10):
            line = worker.stderr.readline()
            if "waiting up to" in line or not line:
                break
        assert "waiting up to 10 s" in line and "slow_call" in line and "Ctrl-C again" in line
        assert worker.poll() is None  # still waiting, as it said
        worker.send_signal(signal.SIGINT)
        assert worker.wait(5) == 0
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()


# -- a worker thread that dies is restarted, or takes the server down ----------------------------


def test_a_dying_worker_thread_is_restarted_then_gives_up_loudly(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    attempts: list[int] = []

    def serve_dies(self: Worker, **_: Any) -> None:
        attempts.append(1)
        raise RuntimeError("boom")

    monkeypatch.setattr(Worker, "serve", serve_dies)
    said: list[str] = []
    gave_up: list[bool] = []
    stop = threading.Event()
    supervise(lambda: Worker(tmp_path), stop, report=said.append,
              give_up=lambda: gave_up.append(True), backoff=0)
    assert len(attempts) == 5 and gave_up == [True]
    assert any("restarting it (1 of 5)" in s for s in said)
    assert said[-1].startswith("error: the worker thread failed 5 times in a row (RuntimeError: boom)")


def test_a_worker_thread_that_died_once_serves_again(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    module = load()
    Client(tmp_path).start(machine(module, "chain"), 2, instance_id="after")
    real = Worker.serve
    calls: list[int] = []

    def flaky_serve(self: Worker, **kw: Any) -> None:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("first one dies")
        real(self, until_idle=True)

    monkeypatch.setattr(Worker, "serve", flaky_serve)
    supervise(lambda: Worker(tmp_path, report=lambda line: None), threading.Event(),
              report=lambda line: None, backoff=0)
    assert Client(tmp_path).status("after")["output"] == [0, 2]


def test_purged_store_folder_is_not_needed(tmp_path: Path) -> None:
    # the file backend recreates what it needs (folders, index) on first use
    shutil.rmtree(tmp_path)
    assert Client(tmp_path).list() == []
