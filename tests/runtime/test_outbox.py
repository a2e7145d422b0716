"""Fire and forget: work an orchestration schedules and never awaits still runs, as in
Durable Functions (and as `run_direct` runs it, eagerly), after the instance ends or
continues as new, at least once across crashes."""

from __future__ import annotations

import itertools
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import compiler
from runtime.backends.file.journal import iter_records
from runtime.client import Client
from runtime.clock import Clock
from runtime.executor import SimulatedCrash, run_inline
from runtime.machine import MachineDef
from runtime.worker import Worker

_n = itertools.count()

SOURCE = """
from tether import activity, orchestrator

@orchestrator
async def last_step(ctx, n):
    ctx.call_activity("note", ["last", n])
    return "done"

@orchestrator
async def left_running(ctx, n):
    slow = ctx.call_activity("note", ["slow", n])
    fast = ctx.call_activity("quick", n)
    await ctx.when_any([fast, slow])
    return "done"

@orchestrator
async def failing(ctx, n):
    ctx.call_activity("note", ["before the error", n])
    raise ValueError("boom")

@orchestrator
async def generations(ctx, n):
    if n < 2:
        ctx.call_activity("note", ["generation", n])
        ctx.continue_as_new(n + 1)
        return None
    return n
"""


def machine(name: str) -> MachineDef:
    module = compiler.load_source(SOURCE, "outbox.py", f"_tether_outbox_{next(_n)}")
    mdef = getattr(module, name).__tether_machine__
    assert isinstance(mdef, MachineDef)
    return mdef


class Notes:
    def __init__(self, delay: float = 0.0) -> None:
        self.seen: list[Any] = []
        self.delay = delay
        self.lock = threading.Lock()

    def __call__(self, data: Any) -> None:
        if data[0] == "slow":
            time.sleep(self.delay)
        with self.lock:
            self.seen.append(data)


def kinds(store: Path, instance_id: str) -> list[str]:
    return [r.kind for r in iter_records(store / "instances" / instance_id)]


def test_an_activity_scheduled_by_the_last_step_runs(tmp_path: Path) -> None:
    notes = Notes()
    result = run_inline(machine("last_step"), 1, store=tmp_path, instance_id="i",
                        activities={"note": notes})
    assert (result.status, result.output) == ("Completed", "done")
    assert notes.seen == [["last", 1]]
    assert kinds(tmp_path, "i")[-2:] == ["completed", "sent"]


def test_an_activity_left_running_at_the_end_finishes_and_is_recorded(tmp_path: Path) -> None:
    notes = Notes(delay=0.05)
    result = run_inline(machine("left_running"), 2, store=tmp_path, instance_id="i",
                        activities={"note": notes, "quick": lambda n: n}, clock=Clock())
    assert result.output == "done"
    assert notes.seen == [["slow", 2]]  # run once: the attempt in flight, not a second one
    assert kinds(tmp_path, "i")[-2:] == ["completed", "sent"]
    assert Client(tmp_path).status("i")["runtimeStatus"] == "Completed"


def test_a_failing_orchestrator_still_runs_what_it_scheduled(tmp_path: Path) -> None:
    notes = Notes()
    result = run_inline(machine("failing"), 3, store=tmp_path, activities={"note": notes})
    assert result.status == "Failed"
    assert notes.seen == [["before the error", 3]]


def test_owed_work_runs_after_a_crash_right_after_the_end(tmp_path: Path) -> None:
    notes = Notes()
    mdef = machine("last_step")
    crashed = False
    for crash_at in itertools.count(1):
        try:
            run_inline(mdef, 4, store=tmp_path / str(crash_at), instance_id="i",
                       activities={"note": notes}, crash_after_writes=crash_at)
        except SimulatedCrash:
            crashed = True
            if kinds(tmp_path / str(crash_at), "i")[-1] != "completed":
                continue
            notes.seen.clear()
            result = run_inline(mdef, 4, store=tmp_path / str(crash_at), instance_id="i",
                                activities={"note": notes})
            assert result.output == "done"
            assert notes.seen == [["last", 4]]  # the resumed process sends it
            assert kinds(tmp_path / str(crash_at), "i")[-2:] == ["completed", "sent"]
            break
        else:
            pytest.fail("no crash landed right after the completed record")
    assert crashed


def test_work_owed_by_a_generation_runs_in_the_next(tmp_path: Path) -> None:
    notes = Notes()
    result = run_inline(machine("generations"), 0, store=tmp_path, instance_id="g",
                        activities={"note": notes})
    assert (result.status, result.output) == ("Completed", 2)
    assert sorted(notes.seen) == [["generation", 0], ["generation", 1]]
    assert "sent" in kinds(tmp_path, "g")


def test_a_worker_keeps_an_ended_instance_until_it_sent_what_it_owes(tmp_path: Path) -> None:
    notes = Notes(delay=0.1)
    mdef = machine("left_running")
    Client(tmp_path).start(mdef, 5, instance_id="w")
    worker = Worker(tmp_path, report=lambda line: None)
    worker.engine.overrides.update({"note": notes, "quick": lambda n: n})
    worker.serve(until_idle=True)
    assert notes.seen == [["slow", 5]]
    assert kinds(tmp_path, "w")[-2:] == ["completed", "sent"]


def test_owed_work_beyond_concurrency_waits_its_turn_and_all_of_it_runs(tmp_path: Path) -> None:
    source = SOURCE + '''
@orchestrator
async def many(ctx, n):
    for i in range(n):
        ctx.call_activity("note", ["many", i])
    return n
'''
    module = compiler.load_source(source, "outbox_many.py", f"_tether_outbox_{next(_n)}")
    notes = Notes()
    result = run_inline(module.many.__tether_machine__, 7, store=tmp_path, instance_id="m",
                        activities={"note": notes}, concurrency=2)
    assert result.output == 7
    assert sorted(notes.seen) == sorted(["many", i] for i in range(7))
    assert kinds(tmp_path, "m").count("sent") == 7
