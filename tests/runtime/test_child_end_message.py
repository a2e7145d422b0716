"""A child's end reaches a parent held elsewhere as a `sub_done` message staged with the
child's final record (`Claim.send`), on both backends.

The child runs in `run_inline` while its parent is an instance of the store that this
process does not hold (as when another worker runs it). The process is "killed" right
after the commit of the child's end (the commit returns, then `SimulatedCrash`): the
message must be there already, since nothing after the commit sends it. PostgreSQL
keeps it exactly once, also when the ended child is adopted again; files post it at
least once (a resumed worker re-sends the end it finds)."""

from __future__ import annotations

import sys
from typing import Any

import pytest

from runtime.backends import open_backend
from runtime.backends.base import Backend, NewInstance
from runtime.engine.core import SimulatedCrash
from runtime.executor import run_inline
from runtime.machine import MachineDef
from tests.backends.support import Stores

SOURCE = """
from datetime import timedelta
from tether import activity, orchestrator

@activity
def echo(x):
    return x

@orchestrator
async def kid(ctx, n):
    got = await ctx.call_activity(echo, n)
    await ctx.sleep(timedelta(minutes=5))
    return got * 2
"""
TS = "2026-01-01T00:00:00Z"


def machine() -> MachineDef:
    import compiler

    name = "_tether_child_end_message"
    try:
        module = compiler.load_source(SOURCE, "child_end.py", name)
    finally:
        sys.modules.pop(name, None)
    mdef = module.kid.__tether_machine__
    assert isinstance(mdef, MachineDef)
    return mdef


def family(backend: Backend, mdef: MachineDef) -> None:
    """A live parent "p" that nobody here runs, and its child "p:0" (task 0), Pending."""
    backend.create(NewInstance("p", TS, {"name": "main", "input": None, "graph_hash": "h",
                                         "source": "x.py", "parent": None, "generation": 0,
                                         "start": TS}))
    backend.create(NewInstance("p:0", TS, {
        "name": mdef.name, "input": 21, "graph_hash": mdef.graph_hash, "source": mdef.source,
        "parent": {"id": "p", "task": 0, "generation": 0}, "attempt": 1, "generation": 0,
        "start": TS}))


def sub_done(backend: Backend) -> list[dict[str, Any]]:
    return [m.body for m in backend.inbox("p") if m.body.get("type") == "sub_done"]


def die_after_the_end(backend: Backend) -> None:
    """Make `backend.commit` raise SimulatedCrash right after the commit that ended the
    child returned: the process dies before anything else it would do."""
    real = backend.commit

    def commit(claims: Any) -> None:
        real(claims)
        status = backend.status("p:0")
        if status is not None and status["runtimeStatus"] == "Completed":
            raise SimulatedCrash("killed right after the child's end was committed")

    backend.commit = commit  # type: ignore[method-assign]


@pytest.fixture
def store(stores: Stores) -> str:
    return stores()


def test_the_end_is_sent_with_its_commit(store: str, backend_kind: str) -> None:
    mdef = machine()
    backend = open_backend(store)
    backend.ensure()
    family(backend, mdef)
    die_after_the_end(backend)
    with pytest.raises(SimulatedCrash):
        run_inline(mdef, store=backend, instance_id="p:0")
    reader = open_backend(store)
    reader.ensure()
    expected = {"type": "sub_done", "task": 0, "child": "p:0"}
    assert reader.status("p:0")["runtimeStatus"] == "Completed"
    assert sub_done(reader) == [expected]  # before the fix: posted after the commit, lost
    backend.close()
    # a worker adopts the ended child again (it was never released)
    again = run_inline(mdef, store=store, instance_id="p:0")
    assert (again.status, again.output) == ("Completed", 42)
    got = sub_done(reader)
    if backend_kind == "postgres":
        assert got == [expected]  # in the end's transaction: never re-sent
    else:
        assert got and all(body == expected for body in got)  # at least once
    reader.close()


@pytest.mark.parametrize("crash_at", range(1, 7))
def test_a_crash_at_any_write_never_loses_or_forks_the_end(
        store: str, backend_kind: str, crash_at: int) -> None:
    mdef = machine()
    backend = open_backend(store)
    backend.ensure()
    family(backend, mdef)
    try:
        run_inline(mdef, store=backend, instance_id="p:0", crash_after_writes=crash_at)
    except SimulatedCrash:
        pass
    finally:
        backend.close()
    reader = open_backend(store)
    reader.ensure()
    ended = reader.status("p:0")["runtimeStatus"] == "Completed"
    if backend_kind == "postgres":  # the end and its message: both or neither
        assert len(sub_done(reader)) == int(ended)
    result = run_inline(mdef, store=store, instance_id="p:0")
    assert (result.status, result.output) == ("Completed", 42)
    got = sub_done(reader)
    assert got and all(body == {"type": "sub_done", "task": 0, "child": "p:0"} for body in got)
    if backend_kind == "postgres":
        assert len(got) == 1
    reader.close()
