"""The journal executor on compiled programs: results equal the plain run's, after a
simulated crash at every journal write; timers, events, retries, children, versions."""

from __future__ import annotations

import itertools
import sys
from pathlib import Path
from typing import Any

import pytest

from runtime.executor import SimulatedCrash, run_inline
from runtime.instance import VersionMismatchError
from runtime.machine import MachineDef
from tether.testing import run_direct

_n = itertools.count()

HEADER = """
from datetime import timedelta
from tether import RetryPolicy, TaskFailedError, activity, orchestrator

@activity
def double(x):
    return 2 * x

@activity
def flaky(x):
    raise ValueError(f"no {x}")
"""

PROGRAMS = {
    "chain": ("""
@orchestrator
async def main(ctx, n):
    out = []
    for i in range(n):
        out.append(await ctx.call_activity(double, i))
    return out
""", 4, []),
    "fan_out": ("""
@orchestrator
async def main(ctx, n):
    tasks = [ctx.call_activity(double, i) for i in range(n)]
    first = await ctx.when_any(tasks)
    results = await ctx.when_all(tasks)
    return [tasks.index(first), sum(results), str(ctx.new_uuid())]
""", 20, []),
    "try_finally": ("""
@orchestrator
async def main(ctx, n):
    log = []
    try:
        await ctx.call_activity(flaky, n)
    except TaskFailedError as e:
        log.append(e.message)
    finally:
        log.append(await ctx.call_activity(double, n))
    return log
""", 3, []),
    "timers_events": ("""
@orchestrator
async def main(ctx, n):
    t0 = ctx.current_utc_datetime
    await ctx.sleep(timedelta(days=3))
    a = await ctx.wait_for_external_event("go")
    timeout = ctx.create_timer(ctx.current_utc_datetime + timedelta(hours=1))
    winner = await ctx.when_any([ctx.wait_for_external_event("never"), timeout])
    return [a, (ctx.current_utc_datetime - t0).total_seconds(), winner is timeout]
""", 0, [("go", {"ok": True})]),
    "retry": ("""
@orchestrator
async def main(ctx, n):
    policy = RetryPolicy(3, timedelta(minutes=1), backoff_coefficient=2.0)
    try:
        await ctx.call_activity(flaky, n, retry=policy)
    except TaskFailedError as e:
        return [e.error_type, e.message, ctx.current_utc_datetime.isoformat()]
""", 1, []),
    "sub_and_continue": ("""
@orchestrator
async def child(ctx, x):
    return await ctx.call_activity(double, x) + 1

@orchestrator
async def main(ctx, n):
    got = await ctx.call_sub_orchestrator(child, n)
    if n < 2:
        ctx.continue_as_new(n + 1)
        return None
    return got
""", 0, []),
}


def compiled(source: str) -> tuple[Any, MachineDef]:
    import compiler

    name = f"_tether_rt_{next(_n)}"
    module = compiler.load_source(HEADER + source, "prog.py", name)
    sys.modules.pop(name, None)
    return module, module.main.__tether_machine__


def plain(source: str) -> Any:
    import types

    module = types.ModuleType(f"_tether_rt_plain_{next(_n)}")
    exec(compile(HEADER + source, "prog.py", "exec"), module.__dict__)
    return module


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_crash_after_every_write_matches_the_plain_run(name: str, tmp_path: Path) -> None:
    source, value, events = PROGRAMS[name]
    expected = run_direct(plain(source).main, value, events=events)
    _, mdef = compiled(source)
    clean = run_inline(mdef, value, store=tmp_path / "clean", instance_id="direct", events=events)
    assert (clean.status, clean.output, clean.error) == (expected.status, expected.output, expected.error)
    assert clean.activity_calls == expected.activity_calls
    for n in itertools.count(1):
        store = tmp_path / f"crash{n}"
        try:
            run_inline(mdef, value, store=store, instance_id="direct", events=events, crash_after_writes=n)
        except SimulatedCrash:
            resumed = run_inline(mdef, value, store=store, instance_id="direct", events=events)
            assert (resumed.status, resumed.output) == (expected.status, expected.output), n
            assert [c[0] for c in resumed.activity_calls] == [c[0] for c in expected.activity_calls]
            continue
        break
    assert n > 3


def test_resuming_under_a_changed_graph_is_refused(tmp_path: Path) -> None:
    source, _, _ = PROGRAMS["timers_events"]
    _, mdef = compiled(source)
    stuck = run_inline(mdef, 0, store=tmp_path, instance_id="order-17")
    assert stuck.status == "Stuck"
    changed = MachineDef(mdef.name, mdef.fn, "8b21d4c0", mdef.takes_input, "examples/new.py", mdef.steps)
    with pytest.raises(VersionMismatchError) as err:
        run_inline(changed, 0, store=tmp_path, instance_id="order-17")
    text = str(err.value)
    assert text.startswith(f"instance order-17 was started by main() with graph {mdef.graph_hash}; "
                           "examples/new.py now compiles to 8b21d4c0")
    assert "the journal's next step is s" in text
    assert "finish or terminate the instance before deploying" in text


def test_activity_exception_carries_type_message_and_traceback(tmp_path: Path) -> None:
    _, mdef = compiled("""
@orchestrator
async def main(ctx, n):
    try:
        await ctx.call_activity(flaky, n)
    except TaskFailedError as e:
        return [e.error_type, e.message, e.task_name, "Traceback" in e.details]
""")
    result = run_inline(mdef, 5, store=tmp_path)
    assert result.output == ["ValueError", "no 5", "flaky", True]


def test_uncaught_failure_fails_the_instance(tmp_path: Path) -> None:
    _, mdef = compiled("""
@orchestrator
async def main(ctx, n):
    await ctx.call_activity(flaky, n)
""")
    result = run_inline(mdef, 5, store=tmp_path)
    assert result.status == "Failed"
    assert result.error == ("TaskFailedError", "flaky failed: ValueError: no 5")


def test_a_resumed_instance_reads_only_its_last_checkpoint(tmp_path: Path) -> None:
    source, _, _ = PROGRAMS["chain"]
    _, mdef = compiled(source)
    run_inline(mdef, 200, store=tmp_path, instance_id="long")
    from runtime.backends.file.journal import recover

    opened, _, _ = recover(tmp_path / "instances" / "long")
    assert opened.used_hint and len(opened.tail) <= 2


def test_when_all_of_no_tasks_completes_at_once(tmp_path: Path) -> None:
    _, mdef = compiled("""
@orchestrator
async def main(ctx, n):
    return await ctx.when_all([ctx.call_activity(double, i) for i in range(n)])
""")
    assert run_inline(mdef, 0, store=tmp_path).output == []
