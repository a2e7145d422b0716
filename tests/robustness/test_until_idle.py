"""`worker --until-idle` exits once what is left waits for a client (an event or a resume),
naming those instances in one note line, and still waits for what it can do by itself (a
running activity, a timer, a child that is still working). Before (issue 17, out of inodes):
instances whose event the full disk had refused to post kept it waiting forever.
Runs on every backend."""

from __future__ import annotations

import itertools
import sys
import threading
from typing import Any

import pytest

import compiler
from runtime.backends import open_backend
from runtime.client import Client
from runtime.machine import MachineDef
from runtime.worker import Worker
from tests.backends.support import Stores

SOURCE = '''
from datetime import timedelta
from tether import activity, orchestrator

@activity
def idle_double(x):
    return 2 * x

@orchestrator
async def idle_waiter(ctx, n):
    first = await ctx.call_activity(idle_double, n)
    return first + await ctx.wait_for_external_event("Go")

@orchestrator
async def idle_sleeper(ctx, n):
    await ctx.create_timer(ctx.current_utc_datetime + timedelta(milliseconds=300))
    return await ctx.call_activity(idle_double, n)

@orchestrator
async def idle_parent(ctx, n):
    return await ctx.call_sub_orchestrator(idle_waiter, n) + 1

@orchestrator
async def idle_either(ctx, n):
    winner = await ctx.when_any([ctx.wait_for_external_event("A"),
                                 ctx.wait_for_external_event("B")])
    return winner.result
'''
_n = itertools.count()


@pytest.fixture(scope="module")
def module() -> Any:
    name = f"_idle_{next(_n)}"
    try:
        yield compiler.load_source(SOURCE, "idle.py", name)
    finally:
        sys.modules.pop(name, None)


def mdef(module: Any, name: str) -> MachineDef:
    machine = getattr(module, name).__tether_machine__
    assert isinstance(machine, MachineDef)
    return machine


def serve(store: str, timeout: float = 30) -> list[str]:
    """One `--until-idle` worker, which must return; what it reported."""
    reports: list[str] = []
    worker = Worker(store, report=reports.append)
    thread = threading.Thread(target=worker.serve, kwargs={"until_idle": True}, daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        worker.interrupt()
        worker.interrupt()
        thread.join(10)
        pytest.fail(f"worker --until-idle did not return: {reports}")
    return reports


def test_until_idle_exits_when_what_is_left_waits_for_a_client(
        stores: Stores, module: Any) -> None:
    store = stores()
    client = Client(open_backend(store))
    client.start(mdef(module, "idle_waiter"), 1, instance_id="w-1")
    client.start(mdef(module, "idle_parent"), 2, instance_id="p-1")
    client.start(mdef(module, "idle_either"), 0, instance_id="e-1")
    client.start(mdef(module, "idle_sleeper"), 3, instance_id="s-1")  # a timer: waited for
    client.start(mdef(module, "idle_waiter"), 4, instance_id="s-2")
    client.suspend("s-2", "paused")  # waits for a resume
    assert serve(store) == [
        "note: idle: 5 instances wait for an event or a resume from a client (e-1, p-1, "
        "p-1:0, s-2, w-1); a worker started later runs them on"]
    assert client.status("s-1")["output"] == 6  # its timer and activity were waited for
    assert client.status("w-1")["runtimeStatus"] == "Running"  # its activity ran
    assert client.status("p-1:0")["runtimeStatus"] == "Running"
    for instance_id in ("w-1", "p-1:0"):
        client.raise_event(instance_id, "Go", 10)
    client.raise_event("e-1", "B", "b")
    client.resume("s-2", "go on")
    assert serve(store) == ["note: idle: 1 instance waits for an event or a resume from a "
                            "client (s-2); a worker started later runs it on"]
    client.raise_event("s-2", "Go", 5)
    assert serve(store) == []
    assert [client.status(i)["output"] for i in ("w-1", "p-1", "e-1", "s-2")] == [
        12, 15, "b", 13]

