"""`ctx.signal_entity(...)` is one-way, as in Durable Functions: it returns nothing to
wait for. The compiler refuses `await ctx.signal_entity(...)` with a located error and a
hint (lint's DET007 says the same: tests/lint/test_entity_rules.py), the journal runtime and `runtime.direct` both return None (so the
plain and the compiled run of a program that keeps the value agree), and neither takes
it as a task for `when_all`. The signal itself is still a durable step: sent once,
journaled, in the history."""

from __future__ import annotations

from typing import Any

import pytest

import compiler
from compiler.errors import CompileError
from runtime.direct import run_direct
from runtime.entities.direct import DirectEntities
from tests.entities.support import load, machine, run_journaled, states

AWAITED = '''\
from tether import EntityId, orchestrator


@orchestrator
async def flow(context, n):
    target = EntityId("counter", "s1")
    await context.signal_entity(target, "add", n)
    return n
'''


def test_awaiting_a_signal_is_a_located_compile_error_with_a_hint() -> None:
    with pytest.raises(CompileError) as caught:
        compiler.compile_source(AWAITED, "prog.py")
    error = caught.value
    assert (error.path, error.line, error.col) == ("prog.py", 7, 5)
    assert error.code == "DET007"
    assert error.message == ("`await context.signal_entity(...)`: a signal is one-way, "
                             "there is nothing to wait for")
    assert error.hint == ("call `context.signal_entity(...)` without `await`, or "
                          "`await context.call_entity(...)` for the operation's result")
    assert str(error) == f"prog.py:7:5: DET007 {error.message}"  # one located line


KEPT = '''\
from tether import EntityId, orchestrator


@orchestrator
async def flow(ctx, n):
    target = EntityId("counter", "s2")
    sent = ctx.signal_entity(target, "add", n)
    ctx.signal_entity(target, "add", 1)
    total = await ctx.call_entity(target, "get")
    return [sent, total]
'''


def test_plain_and_compiled_runs_agree_a_signal_returns_none(stores: Any) -> None:
    plain, compiled = load(KEPT)
    model = DirectEntities()
    direct = run_direct(plain.flow, 5, entities=model)
    assert direct.status == "Completed" and direct.output == [None, 6]
    for crash in (None, 2, 4):
        store = stores(f"k{crash}")
        (status, output, _), _ = run_journaled(machine(compiled, "flow"), 5, store, crash)
        assert (status, output) == ("Completed", [None, 6])
        assert states(store) == {"@counter@s2": {"value": 6}}


GROUPED = '''\
from tether import EntityId, orchestrator


@orchestrator
async def flow(ctx, n):
    target = EntityId("counter", "s3")
    await ctx.when_all([ctx.signal_entity(target, "add", n)])
    return n
'''


def test_a_signal_is_no_task_for_when_all_in_either_run(stores: Any) -> None:
    plain, compiled = load(GROUPED)
    direct = run_direct(plain.flow, 1, entities=DirectEntities())
    assert direct.status == "Failed"
    assert direct.error is not None and "when_all takes tasks from this context, got NoneType" \
        in direct.error[1]
    (status, _, error), _ = run_journaled(machine(compiled, "flow"), 1, stores("g"), None)
    assert status == "Failed"
    assert error is not None and "when_all takes tasks from this context, got NoneType" in error[1]
