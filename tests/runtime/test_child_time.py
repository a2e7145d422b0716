"""The time a parent sees after a sub-orchestration (issue 4), on both runtimes.

A child's end is an event at the child's end time; at one instant the parent's due timers
fire before children's ends are processed, and children that ended at the same instant
are processed lowest task id first (runtime.direct's docstring states the rule). Each
program runs on `run_direct` (compiled machine) and on `run_inline`, and both must give
the exact output written here.
"""

from __future__ import annotations

import itertools
import sys
from pathlib import Path
from typing import Any

import pytest

from runtime.executor import run_inline
from runtime.machine import MachineDef
from tether.testing import run_direct

_n = itertools.count()

HEADER = """
from datetime import timedelta
from tether import RetryPolicy, TaskFailedError, activity, orchestrator

@activity
def echo(x):
    return x

@orchestrator
async def sleeper(ctx, minutes):
    start = ctx.current_utc_datetime.isoformat()[11:16]
    if minutes:
        await ctx.sleep(timedelta(minutes=minutes))
    return [ctx.instance_id, start, ctx.current_utc_datetime.isoformat()[11:16]]

@orchestrator
async def nested(ctx, minutes):
    got = await ctx.call_sub_orchestrator(sleeper, minutes)
    return [ctx.instance_id, got[2]]
"""

CLOCK = "ctx.current_utc_datetime.isoformat()[11:16]"

CASES: dict[str, tuple[str, Any]] = {
    "the parent's clock is the child's end": (f"""
@orchestrator
async def main(ctx, n):
    got = await ctx.call_sub_orchestrator(sleeper, 120)
    return [got, {CLOCK}]
""", [["p:0", "00:00", "02:00"], "02:00"]),
    "a failed child fails the task at its end": (f"""
@orchestrator
async def failing(ctx, minutes):
    await ctx.sleep(timedelta(minutes=minutes))
    raise ValueError("late")

@orchestrator
async def main(ctx, n):
    try:
        await ctx.call_sub_orchestrator(failing, 45)
    except TaskFailedError as exc:
        return [exc.message, {CLOCK}]
""", ["late", "00:45"]),
    "a timer that fires first wins against a child": (f"""
@orchestrator
async def main(ctx, n):
    kid = ctx.call_sub_orchestrator(sleeper, 120)
    won = await ctx.when_any([kid, ctx.sleep(timedelta(hours=1))])
    early = [won == kid, {CLOCK}]
    kid = ctx.call_sub_orchestrator(sleeper, 30)
    won = await ctx.when_any([ctx.sleep(timedelta(hours=1)), kid])
    return [early, won == kid, {CLOCK}]
""", [[False, "01:00"], True, "01:30"]),
    "at one instant the parent's timer fires before a child's end": (f"""
@orchestrator
async def main(ctx, n):
    # the ids sort before the parent's ("p"), as if the journal went by instance id
    kid = ctx.call_sub_orchestrator(sleeper, 10, instance_id="a-kid")
    won = await ctx.when_any([kid, ctx.sleep(timedelta(minutes=10))])
    first = [won == kid, {CLOCK}]
    kid = ctx.call_sub_orchestrator(sleeper, 0, instance_id="b-kid")
    won = await ctx.when_any([kid, ctx.create_timer(ctx.current_utc_datetime)])
    return [first, won == kid, {CLOCK}]
""", [[False, "00:10"], False, "00:10"]),
    "children that end together: lowest task id first, whatever the index": (f"""
@orchestrator
async def main(ctx, n):
    # ids in the reverse of task order, as if the journal went by instance id
    kids = [ctx.call_sub_orchestrator(sleeper, 15, instance_id=f"k{{3 - i}}") for i in range(3)]
    won = await ctx.when_any(kids[::-1])
    return [kids.index(won), {CLOCK}]
""", [0, "00:15"]),
    "a child whose own child ends at that instant is no later than its siblings": (f"""
@orchestrator
async def main(ctx, n):
    deep = ctx.call_sub_orchestrator(nested, 20)
    flat = ctx.call_sub_orchestrator(sleeper, 20)
    won = await ctx.when_any([flat, deep])
    return [won == deep, await won, {CLOCK}]
""", [True, ["p:0", "00:20"], "00:20"]),
    "a retried child starts each attempt after the delay": (f"""
@orchestrator
async def attempts(ctx, minutes):
    start = {CLOCK}
    await ctx.sleep(timedelta(minutes=minutes))
    raise ValueError(f"started {{start}}")

@orchestrator
async def main(ctx, n):
    try:
        await ctx.call_sub_orchestrator(attempts, 10, retry=RetryPolicy(3, timedelta(minutes=5)))
    except TaskFailedError as exc:
        return [exc.message, {CLOCK}]
""", ["started 00:30", "00:40"]),
    "continue_as_new in a child: the parent sees the last generation's end": (f"""
@orchestrator
async def again(ctx, m):
    await ctx.sleep(timedelta(minutes=7))
    if m < 3:
        ctx.continue_as_new(m + 1)
        return None
    return [m, {CLOCK}]

@orchestrator
async def main(ctx, n):
    got = await ctx.call_sub_orchestrator(again, 1)
    return [got, {CLOCK}]
""", [[3, "00:21"], "00:21"]),
    "an event comes before a child that has yet to end": (f"""
@orchestrator
async def main(ctx, n):
    kid = ctx.call_sub_orchestrator(sleeper, 5)
    go = ctx.wait_for_external_event("go")
    won = await ctx.when_any([kid, go])
    return [won == go, {CLOCK}, (await kid)[2], {CLOCK}]
""", [True, "00:00", "00:05", "00:05"]),
}


def machine(source: str) -> MachineDef:
    import compiler

    name = f"_tether_child_time_{next(_n)}"
    try:
        module = compiler.load_source(HEADER + source, "child_time.py", name)
    finally:
        sys.modules.pop(name, None)
    mdef = module.main.__tether_machine__
    assert isinstance(mdef, MachineDef)
    return mdef


@pytest.mark.parametrize(("source", "expected"), list(CASES.values()), ids=list(CASES))
def test_both_runtimes_give_the_child_time_rule(source: str, expected: Any, tmp_path: Path) -> None:
    mdef = machine(source)
    events = [("go", 1)]
    direct = run_direct(mdef, None, events=events, instance_id="p")
    assert (direct.status, direct.output) == ("Completed", expected)
    inline = run_inline(mdef, None, store=tmp_path, instance_id="p", events=events)
    assert (inline.status, inline.output) == ("Completed", expected)


def test_direct_result_says_when_the_run_ended() -> None:
    result = run_direct(machine(CASES["the parent's clock is the child's end"][0]), None)
    assert result.ended_at is not None
    assert result.ended_at.isoformat() == "2026-01-01T02:00:00+00:00"
