"""Where activity attempts run: on the pool, or inline on the engine thread when the
engine has nothing else to do and the activity is sync and judged quick (`judge`:
one attempt far too slow, or three a little slow in a row, send it back to the pool)."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import compiler
from runtime.backends.file import FileBackend
from runtime.clock import Clock
from runtime.executor import Engine, run_inline
from runtime.machine import MachineDef

_n = itertools.count()

SOURCE = """
from tether import activity, orchestrator

@orchestrator
async def chain(ctx, n):
    total = 0
    for i in range(n):
        total = await ctx.call_activity("step", total)
    return total

@orchestrator
async def fan(ctx, n):
    return sum(await ctx.when_all([ctx.call_activity("step", i) for i in range(n)]))
"""


def machine(name: str) -> MachineDef:
    module = compiler.load_source(SOURCE, "dispatch.py", f"_tether_dispatch_{next(_n)}")
    mdef = getattr(module, name).__tether_machine__
    assert isinstance(mdef, MachineDef)
    return mdef


def threads_of(fn: Any) -> tuple[list[str], Any]:
    seen: list[str] = []

    def step(x: Any) -> Any:
        seen.append(threading.current_thread().name)
        return fn(x)

    return seen, step


def test_a_quick_sync_activity_in_a_lone_chain_runs_inline_after_its_first_run(tmp_path: Path) -> None:
    """(A threshold of 50 ms: at the default 1 ms, a loaded machine's scheduling could
    make the quick activity slow once and send it to the pool for good.)"""
    seen, step = threads_of(lambda x: x + 1)
    assert run_chain(tmp_path, 5, step, inline_below=0.05) == 5
    engine_thread = threading.current_thread().name
    assert seen[0].startswith("tether-activity")  # unknown yet: measured on the pool
    assert seen[1:] == [engine_thread] * 4


def test_a_slow_activity_stays_on_the_pool(tmp_path: Path) -> None:
    def slow(x: Any) -> Any:
        time.sleep(0.003)
        return x + 1

    seen, step = threads_of(slow)
    result = run_inline(machine("chain"), 4, store=tmp_path, activities={"step": step}, clock=Clock())
    assert result.output == 4
    assert all(name.startswith("tether-activity") for name in seen), seen


def test_an_activity_far_too_slow_once_never_runs_inline_again(tmp_path: Path) -> None:
    """One attempt 150 times over the threshold (SLOW_AT_ONCE is 100) is enough."""
    calls = itertools.count()

    def sometimes_slow(x: Any) -> Any:
        if next(calls) == 2:
            time.sleep(0.3)
        return x + 1

    seen, step = threads_of(sometimes_slow)
    assert run_chain(tmp_path, 6, step, inline_below=0.002) == 6
    engine_thread = threading.current_thread().name
    assert seen[1:3] == [engine_thread] * 2
    assert all(name.startswith("tether-activity") for name in seen[3:]), seen


def slow_at(which: set[int]) -> tuple[list[str], Any]:
    """A step that takes 40 ms at the calls numbered in `which` (twice a 20 ms threshold:
    a little slow), and no time at the others."""
    calls = itertools.count()

    def step(x: Any) -> Any:
        if next(calls) in which:
            time.sleep(0.04)
        return x + 1

    return threads_of(step)


def test_an_activity_a_little_slow_once_stays_inline(tmp_path: Path) -> None:
    """Regression: one attempt a loaded machine made slow sent a quick activity to the
    pool for good (two thread hand-offs per step for the rest of the chain)."""
    seen, step = slow_at({2})
    assert run_chain(tmp_path, 6, step, inline_below=0.02) == 6
    assert seen[1:] == [threading.current_thread().name] * 5, seen


def test_an_activity_a_little_slow_three_times_in_a_row_goes_to_the_pool(tmp_path: Path) -> None:
    seen, step = slow_at({2, 3, 4})
    assert run_chain(tmp_path, 7, step, inline_below=0.02) == 7
    assert seen[1:5] == [threading.current_thread().name] * 4, seen
    assert all(name.startswith("tether-activity") for name in seen[5:]), seen


def test_a_quick_attempt_forgives_the_strikes_before_it(tmp_path: Path) -> None:
    seen, step = slow_at({2, 3, 5, 6})  # two strikes, a quick one, two strikes
    assert run_chain(tmp_path, 8, step, inline_below=0.02) == 8
    assert seen[1:] == [threading.current_thread().name] * 7, seen


def test_async_activities_always_run_on_the_pool(tmp_path: Path) -> None:
    seen: list[str] = []

    async def step(x: Any) -> Any:
        seen.append(threading.current_thread().name)
        await asyncio.sleep(0)
        return x + 1

    result = run_inline(machine("chain"), 4, store=tmp_path, activities={"step": step}, clock=Clock())
    assert result.output == 4
    assert all(name.startswith("tether-activity") for name in seen), seen


def test_a_fan_out_runs_on_the_pool(tmp_path: Path) -> None:
    seen, step = threads_of(lambda x: x)
    # a first run teaches the engine that `step` is quick; the fan-out still goes to the pool
    result = run_inline(machine("fan"), 1, store=tmp_path / "a", activities={"step": step}, clock=Clock())
    result = run_inline(machine("fan"), 8, store=tmp_path / "b", activities={"step": step}, clock=Clock())
    assert result.output == sum(range(8))
    assert all(name.startswith("tether-activity") for name in seen), seen


def test_inline_below_zero_turns_it_off(tmp_path: Path) -> None:
    seen, step = threads_of(lambda x: x + 1)
    mdef = machine("chain")
    engine = Engine(FileBackend(tmp_path), clock=Clock(), activities={"step": step}, inline_below=0.0,
                    machines=lambda name: mdef)
    try:
        from runtime.executor import create_instance

        engine.backend.ensure()
        create_instance(engine.backend, mdef, 4, "i", "2026-01-01T00:00:00+00:00")
        engine.adopt("i", blocking=True)
        engine.run(lambda: engine.instances["i"].ended)
        assert engine.instances["i"].output == 4
    finally:
        engine.close()
    assert all(name.startswith("tether-activity") for name in seen), seen


def test_ctrl_c_in_an_inline_activity_stops_the_run_and_journals_no_failure(tmp_path: Path) -> None:
    calls = itertools.count()

    def interrupted(x: Any) -> Any:
        if next(calls) == 2:
            raise KeyboardInterrupt
        return x + 1

    with pytest.raises(KeyboardInterrupt):
        run_inline(machine("chain"), 5, store=tmp_path, instance_id="c",
                   activities={"step": interrupted}, clock=Clock())
    journal = (tmp_path / "instances" / "c" / "journal").read_text()
    assert "KeyboardInterrupt" not in journal
    # the run continues where it was: the interrupted attempt runs again
    result = run_inline(machine("chain"), 5, store=tmp_path, instance_id="c",
                        activities={"step": lambda x: x + 1}, clock=Clock())
    assert (result.status, result.output) == ("Completed", 5)


WIDE = """
from tether import activity, orchestrator

@orchestrator
async def wide(ctx, n):
    tasks = [ctx.call_activity("step", i) for i in range(n)]
    first = await ctx.when_any(list(reversed(tasks)))
    return [tasks.index(first), sum(await ctx.when_all(tasks))]
"""


def test_no_more_than_concurrency_attempts_run_at_once(tmp_path: Path) -> None:
    lock = threading.Condition()
    running = [0]
    peak = [0]

    def step(x: Any) -> Any:
        # Each attempt waits (bounded) until three run at once, so the peak does not
        # depend on how the threads happen to be scheduled on a loaded machine.
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
            lock.notify_all()
            lock.wait_for(lambda: running[0] >= 3, timeout=2.0)
            running[0] -= 1
        return x

    module = compiler.load_source(WIDE, "wide.py", f"_tether_wide_{next(_n)}")
    result = run_inline(module.wide.__tether_machine__, 30, store=tmp_path, concurrency=3,
                        activities={"step": step}, clock=Clock())
    assert result.output[1] == sum(range(30))
    assert peak[0] == 3


def test_held_back_attempts_still_finish_at_once_under_the_virtual_clock(tmp_path: Path) -> None:
    from tether.testing import run_direct

    module = compiler.load_source(WIDE, "wide.py", f"_tether_wide_{next(_n)}")
    mdef = module.wide.__tether_machine__
    expected = run_direct(mdef, 12, activities={"step": lambda x: x})
    result = run_inline(mdef, 12, store=tmp_path, concurrency=2, activities={"step": lambda x: x})
    # all twelve complete by one event, so when_any takes its first child: the last task
    assert result.output == expected.output == [11, sum(range(12))]



def run_chain(tmp_path: Path, n: int, step: Any, inline_below: float) -> Any:
    """The chain of `n` on an engine whose inline threshold is `inline_below`."""
    mdef = machine("chain")
    engine = Engine(FileBackend(tmp_path), clock=Clock(), activities={"step": step},
                    inline_below=inline_below, machines=lambda name: mdef)
    try:
        from runtime.executor import create_instance

        engine.backend.ensure()
        create_instance(engine.backend, mdef, n, "i", "2026-01-01T00:00:00+00:00")
        engine.adopt("i", blocking=True)
        engine.run(lambda: engine.instances["i"].ended)
        return engine.instances["i"].output
    finally:
        engine.close()


def test_observers_time_does_not_count_as_the_activitys(tmp_path: Path) -> None:
    """Whether an activity is quick is its own time: a slow observer of its end (a log
    handler writing to a slow disk) does not send it to the pool. (A threshold of 50 ms,
    so that a loaded machine's scheduling cannot make the activity itself slow.)"""
    from runtime import observe

    def slow_observer(event: Any) -> None:
        if isinstance(event, observe.ActivityEnded):
            time.sleep(0.1)

    seen, step = threads_of(lambda x: x + 1)
    observe.subscribe(slow_observer)
    try:
        assert run_chain(tmp_path, 3, step, inline_below=0.05) == 3
    finally:
        observe.unsubscribe(slow_observer)
    assert seen[1:] == [threading.current_thread().name] * 2, seen


def test_a_garbage_collection_during_an_attempt_does_not_count_as_the_activitys(tmp_path: Path) -> None:
    """A collection that lands inside an attempt (here forced, over enough young objects
    to take three times the threshold) is the interpreter's time: the activity stays inline."""
    import gc

    def collect_young() -> None:
        young = [[i] for i in range(300_000)]  # made here, so the collection walks them
        gc.collect(1)
        assert len(young) == 300_000

    began = time.perf_counter()
    collect_young()
    threshold = (time.perf_counter() - began) / 3
    calls = itertools.count()

    def collected(x: Any) -> Any:
        if next(calls) in (2, 3, 4):  # three in a row: as many strikes would be slow
            collect_young()
        return x + 1

    seen, step = threads_of(collected)
    assert run_chain(tmp_path, 6, step, inline_below=threshold) == 6
    assert seen[1:] == [threading.current_thread().name] * 5, seen


def test_an_attempt_slow_without_a_collection_still_counts(tmp_path: Path) -> None:
    """The other side: an attempt slow by itself, with no collection, is slow."""
    calls = itertools.count()

    def sometimes_slow(x: Any) -> Any:
        if next(calls) == 2:
            time.sleep(0.3)
        return x + 1

    seen, step = threads_of(sometimes_slow)
    assert run_chain(tmp_path, 5, step, inline_below=0.002) == 5
    assert seen[1:3] == [threading.current_thread().name] * 2, seen
    assert all(name.startswith("tether-activity") for name in seen[3:]), seen
