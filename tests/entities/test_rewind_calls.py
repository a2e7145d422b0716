"""Rewinds and entity calls, on every backend: a rewind keeps the outcomes of the
entity operations its checkpoint was waiting for that arrived before the failure (the
operations were applied, exactly once; the entity drops their re-sent messages as
repeats and answers nothing). Before the fix those outcomes were left behind with the
failure, and the rewound instance waited for an answer that never came when the entity
stayed in the same worker (one that adopts the entity afresh re-sends its last batch's
answers, which hid it)."""

from __future__ import annotations

from typing import Any

from runtime.backends import open_backend
from runtime.client import Client
from runtime.clock import VirtualClock, iso
from runtime.engine import Engine, create_instance
from tests.entities.support import load, machine

PROGRAM = '''
from tether import orchestrator


@orchestrator
async def after_call(ctx, n):
    value = await ctx.call_entity("@counter@rw", "add", n)
    if value < 100:  # the first time: too small, Failed
        ctx.set_custom_status(value)
        raise ValueError(f"too small: {value}")
    return value


@orchestrator
async def other(ctx, n):
    return await ctx.call_entity("@counter@rw", "add", n)
'''


def test_a_rewind_keeps_the_entity_outcomes_that_came_before_the_failure(
        stores: Any) -> None:
    _, compiled = load(PROGRAM)
    machines = {m.name: m for m in (machine(compiled, "after_call"), machine(compiled, "other"))}
    store = stores("rw")
    backend = open_backend(store)
    backend.ensure()
    clock = VirtualClock()
    create_instance(backend, machines["after_call"], 1, "i", iso(clock.now()))
    engine = Engine(backend, clock=clock, machines=machines.get)  # one worker throughout
    try:
        engine.adopt("i", blocking=True)
        assert engine.run(lambda: engine.instances["i"].ended)
        assert engine.instances["i"].status == "Failed"
        # the entity, still this worker's, applies another sender's batch: its last
        # record's answers are no longer the failed instance's
        create_instance(backend, machines["other"], 1000, "o", iso(clock.now()))
        engine.adopt("o", blocking=True)
        assert engine.run(lambda: engine.instances["o"].ended)
        engine.release("i")  # ended: given up, as a worker does, so the rewind can claim it
        with Client(store) as client:
            client.rewind("i")
        engine.adopt("i", blocking=True)
        finished = engine.run(lambda: engine.instances["i"].ended)
        assert finished, "the rewound instance waits for an answer that never comes"
        # the call is not applied again: its answer (1) is the one it had
        assert engine.instances["i"].status == "Failed"
        assert engine.instances["i"].error is not None
        assert "too small: 1" in str(engine.instances["i"].error)
    finally:
        engine.close(wait=False)
        backend.close()
    with Client(store) as client:
        assert client.entity_state("@counter@rw") == {"value": 1001}
