"""Values crossing the JSON boundary are refused the same way by the journal runtime as by
the plain reference run (`run_direct`): the same status, error type and message."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest

import compiler
from runtime.executor import run_inline
from tether.testing import run_direct

_n = itertools.count()

SOURCE = """
from tether import activity, orchestrator

@activity
def give(kind):
    return {"set": {1}, "tuple": (1, 2), "list": [1, 2]}[kind]

@orchestrator
async def result_of(ctx, kind):
    try:
        return await ctx.call_activity(give, kind)
    except Exception as e:
        return [type(e).__name__, e.error_type, e.message]

@orchestrator
async def output_of(ctx, kind):
    return {"tuple": (1, 2), "set": {1}, "nan": float("nan")}[kind]

@orchestrator
async def input_of(ctx, kind):
    await ctx.call_activity(give, {"tuple": (1,), "bytes": b"x"}[kind])

@orchestrator
async def status_of(ctx, kind):
    ctx.set_custom_status({"tuple": (1,), "key": {1: 2}}[kind])
"""


@pytest.mark.parametrize(("orchestrator", "kind"), [
    ("result_of", "set"), ("result_of", "tuple"), ("result_of", "list"),
    ("output_of", "tuple"), ("output_of", "set"), ("output_of", "nan"),
    ("input_of", "tuple"), ("input_of", "bytes"),
    ("status_of", "tuple"), ("status_of", "key"),
])
def test_the_journal_runtime_refuses_what_the_plain_run_refuses(
    tmp_path: Path, orchestrator: str, kind: str,
) -> None:
    module = compiler.load_source(SOURCE, "boundary.py", f"_tether_boundary_{next(_n)}")
    mdef = getattr(module, orchestrator).__tether_machine__
    plain: Any = run_direct(mdef, kind)
    journaled = run_inline(mdef, kind, store=tmp_path)
    assert (journaled.status, journaled.output, journaled.error) == (
        plain.status, plain.output, plain.error)
    assert "NotJSONError" in repr((plain.output, plain.error)) or kind == "list"


UNKNOWN_CHILD = """
from tether import orchestrator

@orchestrator
async def calls_a_ghost(ctx, _):
    try:
        await ctx.call_sub_orchestrator("ghost", 1)
    except Exception as e:
        return [e.error_type, e.message]
"""


def test_an_unregistered_child_fails_its_task_alike_in_both_runtimes(tmp_path: Path) -> None:
    module = compiler.load_source(UNKNOWN_CHILD, "ghost.py", f"_tether_ghost_{next(_n)}")
    mdef = module.calls_a_ghost.__tether_machine__
    plain: Any = run_direct(mdef, None)
    journaled = run_inline(mdef, None, store=tmp_path)
    assert journaled.output == plain.output == [
        "OrchestrationError", "no orchestrator named 'ghost' is registered"]
